"""The CMDB's default set, loaded once from ``data/catalog.json``: object types and their
groups, categories (global ``g`` and specific ``s``) with their typed attributes, the built-in
dialog values, record and CMDB statuses. Kept as data because it is large, fixed and shared
with the transports that show it; core reads it, never writes it."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "catalog.json"

# Attribute types whose values the CMDB stores and checks. The rest (virtual, dialog_list,
# upload, password...) are shown but not written.
TEXT_TYPES = frozenset({"text", "commentary", "textarea", "date", "datetime"})
INT_TYPES = frozenset({"int", "timeperiod"})
FLOAT_TYPES = frozenset({"float", "double", "money"})
DIALOG_TYPES = frozenset({"dialog", "dialog_plus"})
LINK_TYPES = frozenset({"object_browser"})
MULTI_TYPES = frozenset({"multiselect"})
WRITABLE_TYPES = TEXT_TYPES | INT_TYPES | FLOAT_TYPES | DIALOG_TYPES | LINK_TYPES | MULTI_TYPES


@dataclass(frozen=True, slots=True)
class Attribute:
    key: str
    type: str
    title: str
    dialog_table: str | None = None
    readonly: bool = False
    virtual: bool = False
    unit_property: str | None = None

    @property
    def writable(self) -> bool:
        return self.type in WRITABLE_TYPES and not self.readonly and not self.virtual

    @property
    def editable_dialog(self) -> bool:
        """A dialog whose table users may extend (dialog+)."""
        return self.type in ("dialog_plus", "multiselect")


@dataclass(frozen=True, slots=True)
class Category:
    id: int
    const: str
    title: str
    kind: str  # "g" global, "s" specific
    multi_value: bool
    parent: str | None
    attributes: Mapping[str, Attribute]
    object_types: frozenset[str]


@dataclass(frozen=True, slots=True)
class ObjectType:
    id: int
    const: str
    title: str
    group: str
    icon: str
    image: str
    color: str
    sort: int
    container: bool
    status: int


@dataclass(frozen=True, slots=True)
class DialogItem:
    id: int
    title: str
    const: str = ""
    parent_id: int | None = None


@dataclass(frozen=True)
class Catalog:
    raw: Mapping[str, Any]
    types_by_id: Mapping[int, ObjectType]
    types_by_const: Mapping[str, ObjectType]
    categories: Mapping[str, Category]
    categories_by_id: Mapping[tuple[str, int], Category]
    dialogs: Mapping[str, tuple[DialogItem, ...]]
    groups: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def object_type(self, ref: int | str) -> ObjectType | None:
        """A type by id or constant (numeric strings are ids)."""
        if isinstance(ref, str) and ref.strip().isdigit():
            ref = int(ref)
        return self.types_by_id.get(ref) if isinstance(ref, int) else self.types_by_const.get(ref)

    def categories_of(self, type_const: str) -> list[Category]:
        """The global categories an object type shows, then its specific ones."""
        return [c for c in self.categories.values() if type_const in c.object_types]

    def status_title(self, kind: str, value: int) -> str:
        for row in self.raw[kind]:
            if row["id"] == value:
                return str(row["title"])
        return ""

    def status_by_const(self, kind: str, const: str) -> int | None:
        for row in self.raw[kind]:
            if row["const"] == const:
                return int(row["id"])
        return None


@functools.cache
def catalog() -> Catalog:
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    types = [ObjectType(**t) for t in raw["object_types"]]
    categories = {}
    for c in raw["categories"]:
        attrs = {
            key: Attribute(
                key=key,
                type=a.get("type") or "text",
                title=a.get("title", key),
                dialog_table=a.get("dialog_table"),
                readonly=bool(a.get("readonly")),
                virtual=bool(a.get("virtual")),
                unit_property=a.get("unit_property"),
            )
            for key, a in c["attributes"].items()
        }
        categories[c["const"]] = Category(
            id=c["id"],
            const=c["const"],
            title=c["title"],
            kind=c["kind"],
            multi_value=c["multi_value"],
            parent=c["parent"],
            attributes=attrs,
            object_types=frozenset(c["object_types"]),
        )
    dialogs = {
        name: tuple(DialogItem(int(i["id"]), str(i["title"]), str(i.get("const") or "")) for i in items)
        for name, items in raw["dialogs"].items()
    }
    return Catalog(
        raw=raw,
        types_by_id={t.id: t for t in types},
        types_by_const={t.const: t for t in types},
        categories=categories,
        categories_by_id={(c.kind, c.id): c for c in categories.values()},
        dialogs=dialogs,
        groups={g["const"]: g for g in raw["object_type_groups"]},
    )
