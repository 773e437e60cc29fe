"""Core has no dialect vocabulary: no identifier or string in ``fleetdeck.core`` names a dialect.

A dialect's numbers, message keys, settings and check order live in its own package; core
speaks its own terms (``Reason``, ``JobStatus``...) and each dialect maps them. Docstrings and
comments may still explain where a rule comes from ("as opsi does"): they are not code. Any
name that reaches code (an identifier, an attribute, an argument, an import, a string literal,
a setting key) is checked, so ``numeric_state``-style helpers named ``oco_*`` or a ``"opsi.x"``
setting in core fail here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import fleetdeck.api.dialects
import fleetdeck.core
from fleetdeck.api.dialects.oco.errors import TEXTS as OCO_TEXTS
from fleetdeck.core.errors import FleetdeckError

CORE = Path(fleetdeck.core.__file__).parent
DIALECTS_DIR = Path(fleetdeck.api.dialects.__file__).parent

# The dialects built, and the ones planned (docs/dialects), each in every spelling a name could
# take in code (``i-doit`` is ``idoit`` or ``i_doit`` as an identifier).
PLANNED = {"oco", "opsi", "idoit", "i-doit", "i_doit", "remotepc", "rport"}

# (file relative to core, the offending text) -> why it is allowed. Empty: nothing needs it.
ALLOWED: dict[tuple[str, str], str] = {}


def dialect_names() -> set[str]:
    built = {p.name for p in DIALECTS_DIR.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return built | PLANNED


def _words(text: str) -> set[str]:
    """The lower-case words of an identifier or string: split at anything not a letter or digit
    and at camelCase humps, so ``ocoState``, ``OCO_KEYS``, ``"opsi.default_domain"`` all give
    their dialect word while ``protocol`` or ``Protocol`` does not."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    words = {w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w}
    # hyphenated and underscored names as a whole, too (``i-doit``, ``i_doit``)
    words |= {w.lower() for w in re.findall(r"[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)+", text)}
    return words


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _names(node: ast.AST) -> Iterator[str]:
    match node:
        case ast.Name(id=name) | ast.Attribute(attr=name):
            yield name
        case ast.FunctionDef(name=name) | ast.AsyncFunctionDef(name=name) | ast.ClassDef(name=name):
            yield name
        case ast.arg(arg=name):
            yield name
        case ast.keyword(arg=str() as name):
            yield name
        case ast.alias(name=name, asname=asname):
            yield name
            if asname:
                yield asname
        case ast.ImportFrom(module=str() as module):
            yield module


def findings(source: str, filename: str, names: set[str]) -> list[str]:
    """Every place in ``source`` where code names one of ``names``, as ``file:line: text``."""
    tree = ast.parse(source, filename)
    docstrings = _docstrings(tree)
    out = []
    for node in ast.walk(tree):
        texts = list(_names(node))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            texts.append(node.value)
        for text in texts:
            if _words(text) & names and (filename, text) not in ALLOWED:
                out.append(f"{filename}:{getattr(node, 'lineno', '?')}: {text[:80]!r}")
    return out


def test_core_code_names_no_dialect() -> None:
    names = dialect_names()
    assert {"oco", "opsi"} <= names
    problems = []
    for path in sorted(CORE.rglob("*.py")):
        problems += findings(path.read_text(encoding="utf-8"), str(path.relative_to(CORE)), names)
    assert problems == [], "core names a dialect; move it to the dialect:\n" + "\n".join(problems)


def _core_codes() -> set[str]:
    """Core's own error codes (``NotFound.code`` is ``"not_found"``...): core's words, which a
    dialect may happen to share."""
    todo, codes = [FleetdeckError], set()
    while todo:
        cls = todo.pop()
        codes.add(cls.code)
        todo += cls.__subclasses__()
    return codes


def test_core_uses_no_dialect_message_key() -> None:
    """Core reports ``Reason``s; OCO's translation keys (``please_fill_required_fields``...) are
    the OCO dialect's, mapped from those reasons in its ``errors.py``."""
    keys = set(OCO_TEXTS) - _core_codes()
    problems = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in keys:
                problems.append(f"{path.relative_to(CORE)}:{node.lineno}: {node.value!r}")
    assert problems == [], "core uses OCO's message keys; use a core Reason:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "def oco_state(): pass",
        "x = numeric.ocoState",
        "KEY = 'opsi.default_domain'",
        "f(opsi_host_key=1)",
        "from fleetdeck.api.dialects.oco import errors",
        "raise E('x', reason='i-doit says no')",
        "class RportTunnel: pass",
        "def f(remotepc_id): pass",
    ],
)
def test_the_check_sees_a_dialect_name_in_code(source: str) -> None:
    assert findings(source, "x.py", dialect_names())


@pytest.mark.parametrize(
    "source",
    [
        '"""Mirrors what opsi does (a docstring may explain)."""',
        "def f():\n    '''as OCO does'''\n    return 1  # a comment may say OCO",
        "from typing import Protocol\nclass P(Protocol): pass",
        "x = 'protocol'",
    ],
)
def test_explanations_and_lookalikes_pass(source: str) -> None:
    assert findings(source, "x.py", dialect_names()) == []


def test_allow_list_entries_still_exist() -> None:
    """An allowed entry whose text is gone would silently allow it again later."""
    for filename, text in ALLOWED:
        assert text in (CORE / filename).read_text(encoding="utf-8"), (filename, text)
