"""A ``fleetdeck server`` that has done its imports once and forks a fresh server per request.

The fault trials restart the server twenty times and more. A new ``python -m fleetdeck server``
spends 2-5 s of CPU importing (FastAPI, SQLAlchemy, every dialect) before it serves anything;
on a loaded machine that is 15-20 s of wall time per restart, the whole budget of the trials.
Forking from a process that has already imported gives a fresh process that runs the very same
``fleetdeck server`` command (the CLI's typer app): its own database connections, sockets,
event loop and state, none of which exist before the fork. What a kill can break is all in the
child: SIGKILL to the child is SIGKILL to a server.

Protocol (one line each way): the test writes ``<log path> <argv...>``, the zygote answers with
the new server's pid. Its environment (data dir, database URL, ...) is the zygote's own.
Children are reaped by the kernel (SIGCHLD ignored), so a killed server leaves no zombie and
the test sees it gone with ``psutil.pid_exists``. Run it by path; it imports nothing from tests.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback


def serve(log_path: str, argv: list[str]) -> None:
    """In the child: stdout/stderr to the log, no stdin, then the ordinary command line."""
    from fleetdeck.cli.main import app  # what fleetdeck.cli.main() runs for ``server``

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    code = 1
    try:
        app(args=argv, prog_name="fleetdeck")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    import fleetdeck.app
    import fleetdeck.cli.main
    import fleetdeck.cli.server  # noqa: F401  (what ``fleetdeck server`` imports, loaded once)

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin:
        log_path, *argv = line.split()
        pid = os.fork()
        if pid == 0:
            serve(log_path, argv)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
