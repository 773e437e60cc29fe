"""docs/compat/idoit.md is what the registry says (regenerate it when a method changes)."""

from __future__ import annotations

from pathlib import Path

from fleetdeck.api.dialects.idoit import compat_document

DOC = Path(__file__).resolve().parents[3] / "docs" / "compat" / "idoit.md"


def test_compat_document_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == compat_document(), (
        "regenerate: .venv/bin/python -m fleetdeck.api.dialects.idoit > docs/compat/idoit.md"
    )
