"""Regenerate the protobuf and gRPC modules in bridge/_proto from proto/*.proto.

The one way generated code is made. protoc writes into a temporary folder, and bridge/_proto
is made to hold exactly that: changed files rewritten, missing ones added, and generated
files that no .proto produces any more removed. Only bridge/_proto/__init__.py is not
generated. With ``--check`` nothing is written: any difference (changed, missing or extra
file) is listed and the exit code is 1. CI runs the check.

The sources map under the virtual path bridge/_proto so the generated imports are
package-absolute (``from bridge._proto import ...``).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import grpc_tools
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = ROOT / "proto"
PACKAGE = ROOT / "bridge" / "_proto"
HAND_WRITTEN = {"__init__.py"}


def generate(out: pathlib.Path) -> int:
    """protoc over every proto/*.proto; the modules land in out/bridge/_proto."""
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(SOURCES.glob("*.proto"))
    args = [
        "protoc",
        f"-Ibridge/_proto={SOURCES}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(f"bridge/_proto/{p.name}" for p in protos),
    ]
    code = protoc.main(args)
    if code != 0:
        print(f"protoc failed with exit code {code}", file=sys.stderr)
    return code


def files(folder: pathlib.Path) -> dict[str, bytes]:
    """Every file under folder by relative path, less the hand-written ones and caches."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and "__pycache__" not in path.relative_to(folder).parts
        and path.relative_to(folder).as_posix() not in HAND_WRITTEN
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when bridge/_proto is not exactly what proto/ generates",
    )
    check = parser.parse_args(argv).check

    with tempfile.TemporaryDirectory() as tmp:
        code = generate(pathlib.Path(tmp))
        if code != 0:
            return code
        made = files(pathlib.Path(tmp) / "bridge" / "_proto")
    committed = files(PACKAGE)

    changes = [
        *(("changed", name) for name in sorted(made.keys() & committed.keys()) if made[name] != committed[name]),
        *(("missing", name) for name in sorted(made.keys() - committed.keys())),
        *(("not generated from any .proto", name) for name in sorted(committed.keys() - made.keys())),
    ]
    if check:
        for what, name in changes:
            print(f"bridge/_proto/{name}: {what}", file=sys.stderr)
        if changes:
            print(
                "bridge/_proto differs from what scripts/gen_proto.py makes of proto/: "
                "run python scripts/gen_proto.py and commit the result",
                file=sys.stderr,
            )
            return 1
        return 0

    for what, name in changes:
        target = PACKAGE / name
        if name in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(made[name])
            print(f"wrote bridge/_proto/{name} ({what})")
        else:
            target.unlink()
            print(f"removed bridge/_proto/{name} ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
