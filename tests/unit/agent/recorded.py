"""A :data:`~fleetdeck.agent.collectors.tools.Runner` that answers from recorded tool outputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

Rule = tuple[Callable[[Sequence[str]], bool], str | None]


class Recorded:
    """Answers each argv with the first matching rule's file (None: the tool failed); records
    every argv it was asked, so a test can check what would have been run."""

    def __init__(self, folder: str, rules: list[Rule]) -> None:
        self.folder = FIXTURES / folder
        self.rules = rules
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> bytes | None:
        self.calls.append(list(argv))
        for matches, name in self.rules:
            if matches(argv):
                return None if name is None else (self.folder / name).read_bytes()
        return None


def starts(*prefix: str) -> Callable[[Sequence[str]], bool]:
    return lambda argv: tuple(argv[: len(prefix)]) == prefix
