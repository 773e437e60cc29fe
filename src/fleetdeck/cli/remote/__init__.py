"""The verbs against a running server over /api/v1 (docs/cli.md); the commands beside this
package work on the local data directory instead.

``register`` is the one call ``cli/main.py`` makes: the nouns as sub-commands, ``run``,
``deploy``, ``login`` and ``logout`` as commands, and ``use/list/delete`` added to the existing
``fleetdeck config`` group (whose ``show`` prints a server's settings)."""

from __future__ import annotations

import os

import typer


def register(app: typer.Typer, config: typer.Typer) -> None:
    from fleetdeck.cli.remote import auth, computers, groups, jobs, packages, reports

    app.command("login", rich_help_panel="Remote")(auth.login)
    app.command("logout", rich_help_panel="Remote")(auth.logout)
    app.add_typer(computers.app, name="computers", rich_help_panel="Remote")
    app.add_typer(groups.app, name="groups", rich_help_panel="Remote")
    app.add_typer(jobs.app, name="jobs", rich_help_panel="Remote")
    app.add_typer(packages.app, name="packages", rich_help_panel="Remote")
    app.add_typer(reports.app, name="reports", rich_help_panel="Remote")
    app.command("run", rich_help_panel="Remote")(jobs.run)
    app.command("deploy", rich_help_panel="Remote")(packages.deploy)
    config.command("use")(auth.use)
    config.command("list")(auth.list_contexts)
    config.command("delete")(auth.delete)


# The first words that name a remote verb: ``fleetdeck.cli.main`` dispatches these to
# ``lean_app`` before importing the server (0.5 s to start instead of 5 s).
VERBS = frozenset({"login", "logout", "run", "deploy", "computers", "groups", "jobs", "packages", "reports"})
CONFIG_VERBS = frozenset({"use", "list", "delete"})
AGENT_VERBS = frozenset({"publish", "rollout", "releases", "updates"})  # cli/remote/agents.py


def wants(args: list[str]) -> bool:
    """Whether the command line names a remote verb; for shell completion (typer's, which runs
    ``fleetdeck`` without arguments and the words in the environment), the words typed so far."""
    if not args and os.environ.get("_FLEETDECK_COMPLETE"):
        typed = os.environ.get("COMP_WORDS") or os.environ.get("_TYPER_COMPLETE_ARGS") or ""
        args = typed.split()[1:]
        if len(args) < 2 and not typed.endswith(" "):
            return False  # still completing the first word: every command is a candidate
    words = [a for a in args if not a.startswith("-")]
    return bool(words) and (
        words[0] in VERBS
        or (words[0] == "agent" and words[1:2] != [] and words[1] in AGENT_VERBS)
        or (words[0] == "config" and words[1:2] != [] and words[1] in CONFIG_VERBS)
    )


def lean_app() -> typer.Typer:
    """Only the remote verbs, for a command line that names one (``wants``)."""
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
    config = typer.Typer(help="The servers the CLI talks to.", no_args_is_help=True)
    app.add_typer(config, name="config")
    register(app, config)
    from fleetdeck.cli.remote import agents

    # Only here: in the full app ``agent`` is the command that runs the agent, and
    # ``cli.__init__`` sends ``agent publish/rollout/releases/updates`` here first.
    app.add_typer(agents.app, name="agent", rich_help_panel="Remote")
    return app
