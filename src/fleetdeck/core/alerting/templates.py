"""Notification texts: rport-style placeholders (``{{.Rule.ID}}``, ``{{.Client.Name}}``,
``{{.Outcome}}``) filled from a fixed set of fields.

Only ``{{ .Dotted.Name }}`` is a placeholder (no Go template logic: no pipes, conditions or
loops); an unknown name is refused when the template is saved, so a typo shows at once instead
of in an empty alert at night. Scanning is one left-to-right pass with ``str.find``: linear in
the text, no regular expression on user input.
"""

from __future__ import annotations

from collections.abc import Mapping

PLACEHOLDERS = (
    "Rule.ID",
    "Rule.Severity",
    "Rule.Expr",
    "Client.ID",
    "Client.Name",
    "Problem.ID",
    "Outcome",  # "triggered" or "resolved"
    "Timestamp",
    "Subject",
    "Severity",
    "CustomData",
)


class TemplateError(ValueError):
    pass


def _pieces(text: str) -> list[tuple[bool, str]]:
    """(is_placeholder, text) in order."""
    out: list[tuple[bool, str]] = []
    i = 0
    while True:
        start = text.find("{{", i)
        if start < 0:
            out.append((False, text[i:]))
            return out
        end = text.find("}}", start + 2)
        if end < 0:
            raise TemplateError("a placeholder opened with {{ is not closed with }}")
        out.append((False, text[i:start]))
        name = text[start + 2 : end].strip()
        if not name.startswith("."):
            raise TemplateError(f"placeholders are {{{{.Name}}}}: {name[:40]!r} is not one")
        out.append((True, name[1:]))
        i = end + 2


def check(text: str) -> None:
    for is_name, piece in _pieces(text):
        if is_name and piece not in PLACEHOLDERS:
            raise TemplateError(
                f"unknown placeholder {{{{.{piece[:40]}}}}}; known: {', '.join(PLACEHOLDERS)}"
            )


def render(text: str, values: Mapping[str, str]) -> str:
    return "".join(values.get(piece, "") if is_name else piece for is_name, piece in _pieces(text))
