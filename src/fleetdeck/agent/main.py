"""``fleetdeck-agent`` command line (argparse: typer and rich would double the agent's RSS).

First start: ``fleetdeck-agent --server https://fleet:8443 --enroll-token TOKEN`` enrolls and
stores credentials in the state dir; every later start needs only ``--state-dir`` (the
default suits the systemd unit); install scripts can enroll with ``--enroll-only`` and leave
the rest to the service. Exit codes: 0 stopped by SIGINT/SIGTERM (or ``--once-inventory`` /
``--enroll-only`` done), 1 enrollment refused, 2 usage or configuration error, 3 the server
rejected the stored credentials (the computer was deleted, or another agent re-enrolled it;
the systemd unit does not restart it then).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from fleetdeck.agent import AGENT_VERSION
from fleetdeck.agent.config import (
    AgentState,
    StateStore,
    default_state_dir,
    normalize_fingerprint,
    server_to_ws_url,
)
from fleetdeck.agent.power import simulate_from_env
from fleetdeck.agent.terminal import enabled_from_env as terminal_from_env

log = logging.getLogger("fleetdeck.agent")

EXIT_REJECTED = 3  # the server refused the stored credentials; a service manager must not loop
EXIT_RESTART = -1  # not an exit code: main() re-executes the agent (a new release was installed)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fleetdeck-agent", description="fleetdeck endpoint agent")
    p.add_argument("--server", help="server URL, http(s)://HOST[:PORT] (needed only to enroll)")
    p.add_argument("--enroll-token", help="one-time enrollment token (ignored once enrolled)")
    p.add_argument(
        "--client-auth-file",
        help="file holding ID:PASSWORD, an agent credential to enroll with instead of a token",
    )
    p.add_argument(
        "--state-dir",
        default=default_state_dir(),
        help="credentials and job journal (default: $FLEETDECK_AGENT_STATE_DIR or /var/lib/fleetdeck-agent)",
    )
    p.add_argument(
        "--server-fingerprint",
        help="sha256:HEX of the server certificate, checked at enrollment instead of trust on first use",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument(
        "--once-inventory", action="store_true", help="print this machine's inventory as JSON and exit"
    )
    p.add_argument("--enroll-only", action="store_true", help="enroll if needed, then exit (install scripts)")
    p.add_argument("--reconnect-min", type=float, default=1.0, help="minimum reconnect delay, s (default 1)")
    p.add_argument(
        "--reconnect-max", type=float, default=60.0, help="maximum reconnect delay, s (default 60)"
    )
    p.add_argument(
        "--simulate-power-actions",
        action="store_true",
        default=simulate_from_env(),
        help="only log the restart/shutdown a package asks for (default: $FLEETDECK_AGENT_SIMULATE_POWER=1)",
    )
    p.add_argument(
        "--no-terminal",
        dest="terminal",
        action="store_false",
        default=terminal_from_env(),
        help="refuse terminals from the web UI (default: on unless $FLEETDECK_AGENT_TERMINAL=0)",
    )
    p.add_argument("--probe-update", type=float, help=argparse.SUPPRESS)  # agent.update: try a release
    p.add_argument("--version", action="version", version=f"fleetdeck-agent {AGENT_VERSION}")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``fleetdeck-agent`` and ``fleetdeck agent``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from fleetdeck.agent import update

    update.ARGV[:] = [a for a in (sys.argv[1:] if argv is None else argv)]
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.once_inventory:
        return _print_inventory()
    if not 0 < args.reconnect_min <= args.reconnect_max:
        print("error: need 0 < --reconnect-min <= --reconnect-max", file=sys.stderr)
        return 2
    try:
        url = server_to_ws_url(args.server) if args.server else None
        fingerprint = normalize_fingerprint(args.server_fingerprint) if args.server_fingerprint else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    store = StateStore(args.state_dir)
    if args.probe_update is not None:
        return _probe(store, args.probe_update)
    if not args.enroll_only:
        update.boot(store.dir)  # re-executes into the release ``current`` names, if any
    try:
        state = store.load()
    except (OSError, ValueError) as exc:  # msgspec.DecodeError is a ValueError
        print(f"error: cannot read {store.path}: {exc}", file=sys.stderr)
        return 2
    try:
        args.client_auth = _client_auth(args.client_auth_file)
    except (OSError, ValueError) as exc:
        print(f"error: --client-auth-file: {exc}", file=sys.stderr)
        return 2
    if state is None and not ((args.enroll_token or args.client_auth) and url):
        print(
            f"error: {store.path} holds no credentials; enroll first with --server URL --enroll-token TOKEN",
            file=sys.stderr,
        )
        return 2
    if state is not None:
        if args.enroll_token:
            log.info("already enrolled as computer %s; ignoring --enroll-token", state.computer_id)
        if url and url != state.server:
            log.warning(
                "ignoring --server %s: enrolled with %s (remove state.json to re-enroll)", url, state.server
            )
    try:
        code = asyncio.run(_run(args, store, state, url, fingerprint))
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the handlers were installed
        return 0
    if code == EXIT_RESTART:
        update.restart()  # does not return
    return code


def _probe(store: StateStore, timeout: float) -> int:
    """``--probe-update SECONDS``: connect once with the stored credentials (agent.update)."""
    from fleetdeck.agent import update

    state = store.load()
    if state is None:
        print(f"error: {store.path} holds no credentials", file=sys.stderr)
        return 2

    async def attempt() -> int:
        async with asyncio.timeout(timeout):
            return await update.probe(state.server, state.uid, state.key, state.ca_pem, state.fingerprint)

    return asyncio.run(attempt())


def _client_auth(path: str | None) -> tuple[str, str] | None:
    """``ID:PASSWORD`` from the file (first line), or None without one."""
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        line = f.readline().strip()
    key, sep, password = line.partition(":")
    if not sep or not key or not password:
        raise ValueError("expected one line ID:PASSWORD")
    return key, password


async def _run(
    args: argparse.Namespace,
    store: StateStore,
    state: AgentState | None,
    url: str | None,
    fingerprint: str | None,
) -> int:
    from fleetdeck.agent.backoff import Backoff
    from fleetdeck.agent.connection import Agent
    from fleetdeck.agent.enroll import EnrollmentRefusedError, enroll
    from fleetdeck.agent.transport import PinMismatchError

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, or not the main thread
            loop.add_signal_handler(sig, stop.set)

    if state is None:
        assert url is not None
        assert args.enroll_token or args.client_auth
        log.info("enrolling with %s", url)
        try:
            state = await enroll(
                url,
                "" if args.client_auth else args.enroll_token,
                fingerprint,
                Backoff(args.reconnect_min, args.reconnect_max),
                stop,
                attempt=store.enroll_attempt(),
                client_auth=args.client_auth,
            )
        except (EnrollmentRefusedError, PinMismatchError) as exc:
            print(f"error: enrollment failed: {exc}", file=sys.stderr)
            return 1
        if state is None:
            return 0
        _set_aside_journal(store)
        store.save(state)
        store.forget_enroll_attempt()
        from fleetdeck.agent.update import pin_key

        pin_key(store.dir, state.update_key)
        log.info("enrolled as computer %s; credentials stored in %s", state.computer_id, store.path)
    if args.enroll_only:
        return 0

    try:
        agent = Agent(
            store,
            state,
            reconnect_min=args.reconnect_min,
            reconnect_max=args.reconnect_max,
            stop=stop,
            simulate_power=args.simulate_power_actions,
            terminals=args.terminal,
        )
    except (OSError, ValueError) as exc:
        # Starting with an empty journal could re-run jobs; that decision belongs to an admin.
        print(
            f"error: cannot read the job journal in {store.dir}: {exc}; move jobs.jsonl aside to start "
            "anyway (jobs it recorded may then run again)",
            file=sys.stderr,
        )
        return 2
    await agent.run()
    if agent.rejected is not None:
        print(
            f"error: the server rejected this agent's credentials ({agent.rejected}); "
            f"delete {store.path} and enroll again with --enroll-token to make it a new computer",
            file=sys.stderr,
        )
        return EXIT_REJECTED
    if agent.restart:
        return EXIT_RESTART
    log.info("agent stopped")
    return agent.exit_code


def _set_aside_journal(store: StateStore) -> None:
    """A journal left by an earlier enrollment names jobs of another computer; the new one
    would resend their results, which the server refuses. Keep it for the admin, out of the way."""
    from fleetdeck.agent.journal import FILE_NAME, LEGACY_NAME

    for name in (FILE_NAME, LEGACY_NAME):
        journal = store.dir / name
        if journal.exists():
            aside = journal.with_name(f"{name}.before-enroll")
            journal.replace(aside)
            log.warning("moved the job journal of the earlier enrollment to %s", aside)


def _print_inventory() -> int:
    import msgspec

    from fleetdeck.agent.collectors import collect

    inventory = collect()
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(inventory)).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
