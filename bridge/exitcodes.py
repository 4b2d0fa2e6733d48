"""The exit codes of ``booking-bridge``, one meaning each, so a supervisor can act on them:
systemd's RestartPreventExitStatus=2 keeps a broken configuration from restarting in a loop,
while an address still in use (3) is worth another try."""

from __future__ import annotations

OK = 0
# check: it found problems. serve: an unexpected failure while serving (a bug; logged with
# its traceback). record, mappings check, outbox: see their help.
PROBLEMS = 1
# The configuration, the environment it names or the files it names (TLS, store, mappings,
# Google key) keep serve from starting; restarting will not help until they are fixed.
CONFIG = 2
# An address to listen on is in use or cannot be had, or the PostgreSQL store does not
# answer; it may come free (come back).
LISTEN = 3
# Interrupted (Ctrl-C) before serve was up.
INTERRUPTED = 130

EPILOG = """\
exit codes:
  0    ok; serve: stopped by SIGTERM or SIGINT
  1    check: problems found (one "error:" line each); serve: unexpected failure while serving
  2    configuration or start-up error: the file, the environment, TLS files, the store,
       mappings or the Google key (one "error:" line each); fix before restarting
  3    serve: an address to listen on is in use or unavailable, or the PostgreSQL store
       ([store] url) does not answer (may come free: worth a restart)
  130  interrupted
healthcheck exits 0 when the server answers SERVING and 1 otherwise (Docker reserves 2).
signals (serve): SIGTERM/SIGINT stop gracefully; SIGHUP reloads TLS certificates, mapping
files and REST credentials, keeping the old ones (one log line) when the new ones do not load.
"""


class StartupFailure(Exception):
    """Why ``serve`` cannot start: one line per problem, and the exit code saying which kind."""

    code = CONFIG

    def __init__(self, *problems: str, code: int | None = None):
        super().__init__("; ".join(problems))
        self.problems = list(problems)
        if code is not None:
            self.code = code
