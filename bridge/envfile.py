"""Environment files: ``NAME=value`` lines, as systemd's EnvironmentFile= and Docker's
--env-file read them.

A running process's environment cannot be changed from outside, so secrets that must
rotate without a restart (the REST front's Basic passwords) may come from such a file,
which the bridge reads at start and again on SIGHUP. The variables it sets win over the
process environment. Values are never logged; errors name the file and the line number.
"""

from __future__ import annotations

import pathlib
import stat
from collections.abc import Mapping


class EnvFileError(Exception):
    """One line: the file and what is wrong with it."""


def read(path: pathlib.Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    if mode & stat.S_IROTH:
        # Holding passwords, it must not be readable by every account on the machine.
        raise EnvFileError(f"{path}: readable by others (chmod o-rwx)")
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name.replace("_", "a").isalnum():
            raise EnvFileError(f"{path}: line {number}: expected NAME=value")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


def overlay(environ: Mapping[str, str], path: pathlib.Path | None) -> Mapping[str, str]:
    """``environ`` with the file's variables on top; EnvFileError when it cannot be read."""
    if path is None:
        return environ
    return {**environ, **read(path)}
