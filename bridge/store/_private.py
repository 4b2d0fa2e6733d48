"""The store file holds customers' names, e-mails and phone numbers: owner-only.

SQLite creates the -wal and -shm files with the main file's permissions, so creating that
one 0600 is enough for a new store. An existing store readable by others (made before this
rule, or copied in) is tightened and the change logged, once per file, when it is opened.
"""

from __future__ import annotations

import logging
import os
import pathlib
import stat

log = logging.getLogger("bridge.store")

OWNER_ONLY = 0o600


def make_private(path: pathlib.Path) -> None:
    # O_CREAT with mode 0600: no moment at which the new file is readable by others,
    # whatever the umask (which can only take permissions away).
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, OWNER_ONLY))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if not mode & 0o077:
            continue
        try:
            os.chmod(file, mode & 0o700)
        except PermissionError:
            log.warning("store file is readable by others and cannot be tightened; chmod 600 it",
                        extra={"path": str(file), "mode": oct(mode)})
            continue
        log.warning("store file was readable by others; now owner-only",
                    extra={"path": str(file), "was": oct(mode), "now": oct(mode & 0o700)})
