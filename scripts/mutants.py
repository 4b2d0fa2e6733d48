"""Break each guarantee on purpose and check that a named test notices.

Every entry of scripts/mutants.toml names one edit to the bridge's code (a snippet found
exactly once, and what replaces it) and the tests that must fail with that edit made.
The edits are made in a throwaway copy of the checkout, never in the working tree, so
this can run beside anything else. A mutant whose tests all pass "survived": the
guarantee it breaks is no longer proven, and this exits non-zero.

    python scripts/mutants.py                 # every mutant
    python scripts/mutants.py confirm-        # those whose id starts with this
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "scripts" / "mutants.toml"


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return [line for line in out.splitlines() if line and (ROOT / line).is_file()]


def copy_checkout(dest: pathlib.Path) -> None:
    for name in tracked_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)


def pytest(copy: pathlib.Path, tests: list[str]) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, ahead of any installed or editable bridge.
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests],
        cwd=copy, env=env, capture_output=True, text=True, timeout=600,
    )


def imports_from(copy: pathlib.Path) -> bool:
    env = dict(os.environ, PYTHONPATH=str(copy))
    out = subprocess.run([sys.executable, "-c", "import bridge; print(bridge.__file__)"],
                         cwd=copy, env=env, capture_output=True, text=True, check=True).stdout
    return pathlib.Path(out.strip()).resolve().is_relative_to(copy.resolve())


def main(argv: list[str]) -> int:
    mutants = tomllib.loads(CATALOGUE.read_text())["mutant"]
    prefix = argv[0] if argv else ""
    chosen = [m for m in mutants if m["id"].startswith(prefix)]
    failures = 0
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp:
        copy = pathlib.Path(tmp)
        copy_checkout(copy)
        if not imports_from(copy):
            print("the copy's bridge is not the one imported; refusing to run", file=sys.stderr)
            return 2
        tests = sorted({t for m in chosen for t in m["tests"]})
        base = pytest(copy, tests)
        if base.returncode != 0:
            print(base.stdout[-3000:], base.stderr[-2000:])
            print("the named tests do not pass without mutants", file=sys.stderr)
            return 2
        for m in chosen:
            path = copy / m["file"]
            original = path.read_text()
            if original.count(m["find"]) != 1:
                print(f"STALE    {m['id']}: the snippet is not found exactly once in {m['file']}")
                failures += 1
                continue
            path.write_text(original.replace(m["find"], m["replace"]))
            started = time.monotonic()
            try:
                run = pytest(copy, m["tests"])
            finally:
                path.write_text(original)
            took = time.monotonic() - started
            if run.returncode == 0:
                print(f"SURVIVED {m['id']}: {m['why']}")
                failures += 1
            else:
                failed = [line.split()[1] for line in run.stdout.splitlines()
                          if line.startswith(("FAILED tests/", "ERROR tests/"))]
                print(f"killed   {m['id']} in {took:.1f} s by {', '.join(failed) or 'a failing run'}")
    print(f"{len(chosen) - failures} of {len(chosen)} mutants killed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
