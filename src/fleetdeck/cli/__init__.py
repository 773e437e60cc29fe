"""Command line. ``fleetdeck agent ...`` is dispatched before anything heavy is imported, so the
agent process pays neither typer's nor the server's memory (it must stay under 40 MB RSS)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "agent" and args[1:2] not in (["publish"], ["rollout"], ["releases"], ["updates"]):
        from fleetdeck.agent.main import main as agent_main

        raise SystemExit(agent_main(args[1:]))
    from fleetdeck.cli import remote

    if remote.wants(args):  # a verb against a running server: none of the server's code is needed
        remote.lean_app()(args=args, prog_name="fleetdeck")
        return
    from fleetdeck.cli.main import app

    app(args=args, prog_name="fleetdeck")
