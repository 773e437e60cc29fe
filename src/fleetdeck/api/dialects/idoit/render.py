"""Core's CMDB values in i-doit's shapes: objects with integer ids (the modern API), category
entries with numeric-string ids and i-doit's value shapes (dialogs as ``{id, title, const,
title_lang}``, yes/no as ``{value, title}``, links as ``{id, title, sysid, type, type_title}``,
unit values as ``{title}``), dates as ``Y-m-d H:i:s``, titles in English or German."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fleetdeck.core.cmdb.catalog import Attribute, Category, DialogItem, catalog
from fleetdeck.core.cmdb.values import CmdbObjectInfo, DialogRef, Entry, ObjectRef

# German titles of what clients show most (i-doit's "de" language file); the rest stays English.
GERMAN: dict[str, str] = {
    "Unfinished": "Unfertig",
    "Normal": "Normal",
    "Archived": "Archiviert",
    "Deleted": "Gelöscht",
    "Template": "Vorlage",
    "Mass change template": "Massenänderungsvorlage",
    "planned": "geplant",
    "ordered": "bestellt",
    "delivered": "geliefert",
    "assembled": "montiert",
    "tested": "getestet",
    "in operation": "in Betrieb",
    "defect": "defekt",
    "under repair": "in Reparatur",
    "inoperative": "außer Betrieb",
    "stored": "eingelagert",
    "scrapped": "verschrottet",
    "Server": "Server",
    "Client": "Client",
    "Workstation": "Arbeitsplatz",
    "Persons": "Personen",
    "Person groups": "Personengruppen",
    "Organization": "Organisation",
    "Application": "Anwendung",
    "Operating System": "Betriebssystem",
    "Printer": "Drucker",
    "Monitor": "Monitor",
    "Building": "Gebäude",
    "Room": "Raum",
    "General": "Allgemein",
    "Model": "Modell",
    "Memory": "Speicher",
    "Software assignment": "Softwarezuweisung",
    "Host address": "Hostadresse",
    "Port": "Port",
    "Drive": "Laufwerk",
    "Operating system": "Betriebssystem",
    "Contact assignment": "Kontaktzuweisung",
    "Location": "Standort",
    "Accounting": "Buchhaltung",
    "Software": "Software",
    "Infrastructure": "Infrastruktur",
    "Other": "Andere",
    "Contact": "Kontakt",
    "Title": "Bezeichnung",
    "Description": "Beschreibung",
    "Manufacturer": "Hersteller",
    "Serial number": "Seriennummer",
    "Yes": "Ja",
    "No": "Nein",
}

# What cmdb.category_info.read shows for each attribute type (i-doit's property patterns).
PATTERNS: dict[str, tuple[str, str, str]] = {
    "text": ("text", "text", "text"),
    "textarea": ("textarea", "text_area", "textarea"),
    "commentary": ("commentary", "text_area", "textarea"),
    "double": ("double", "double", "text"),
    "float": ("float", "float", "text"),
    "int": ("int", "int", "text"),
    "dialog": ("dialog", "int", "dialog"),
    "dialog_plus": ("dialog_plus", "int", "popup"),
    "dialog_list": ("dialog_list", "int", "f_dialog_list"),
    "date": ("date", "date", "date"),
    "datetime": ("datetime", "date_time", "datetime"),
    "object_browser": ("object_browser", "int", "popup"),
    "multiselect": ("multiselect", "int", "popup"),
    "money": ("money", "double", "text"),
    "upload": ("upload", "text", "upload"),
    "virtual": ("text", "text", "text"),
    "password": ("password", "text", "text"),
    "timeperiod": ("timeperiod", "text", "text"),
}


def tr(title: str, lang: str) -> str:
    return GERMAN.get(title, title) if lang == "de" else title


def when(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else None


def image(info: CmdbObjectInfo) -> str:
    return f"images/objecttypes/{info.type_image}" if info.type_image else ""


def object_read(info: CmdbObjectInfo, lang: str) -> dict[str, Any]:
    return {
        "id": info.id,
        "title": info.title,
        "sysid": info.sysid,
        "objecttype": info.type_id,
        "type_title": tr(info.type_title, lang),
        "type_icon": info.type_icon,
        "status": info.status,
        "cmdb_status": info.cmdb_status,
        "cmdb_status_title": tr(info.cmdb_status_title, lang),
        "created": when(info.created_at),
        "updated": when(info.updated_at or info.created_at),
        "image": image(info),
    }


def object_row(info: CmdbObjectInfo, lang: str) -> dict[str, Any]:
    group = catalog().groups.get(info.type_group, {})
    return {
        "id": info.id,
        "title": info.title,
        "sysid": info.sysid,
        "type": info.type_id,
        "created": when(info.created_at),
        "updated": when(info.updated_at or info.created_at),
        "type_title": tr(info.type_title, lang),
        "type_group_title": tr(str(group.get("title", "")), lang),
        "status": info.status,
        "cmdb_status": info.cmdb_status,
        "cmdb_status_title": tr(info.cmdb_status_title, lang),
        "image": image(info),
    }


def _number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def value(attr: Attribute | None, v: Any, lang: str) -> Any:
    if v is None:
        return None
    if isinstance(v, DialogRef):
        title = tr(v.title, lang)
        if attr is not None and attr.type == "dialog" and attr.dialog_table is None and v.id in (0, 1):
            return {"value": str(v.id), "title": title}
        return {
            "id": str(v.id) if v.id is not None else None,
            "title": title,
            "const": v.const or "",
            "title_lang": v.title,
        }
    if isinstance(v, ObjectRef):
        return {
            "id": str(v.id) if v.id is not None else None,
            "title": v.title,
            "sysid": v.sysid,
            "type": v.type_const,
            "type_title": tr(v.type_title, lang),
        }
    if isinstance(v, list):
        return [value(attr, item, lang) for item in v]
    if isinstance(v, datetime):
        return when(v)
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int | float):
        if attr is not None and attr.unit_property:
            return {"title": v}
        return _number(v)
    return v


def entry(category: Category, e: Entry, lang: str) -> dict[str, Any]:
    row: dict[str, Any] = {"id": str(e.id), "objID": str(e.object_id)}
    for key, v in e.values.items():
        row[key] = value(category.attributes.get(key), v, lang)
    return row


def category_info(category: Category, lang: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, attr in category.attributes.items():
        info_type, data_type, ui_type = PATTERNS.get(attr.type, PATTERNS["text"])
        out[key] = {
            "title": tr(attr.title, lang),
            "check": {"mandatory": False},
            "info": {"type": info_type, "primary_field": False, "backward": False, "title": attr.title},
            "data": {
                "type": data_type,
                "field": f"{category.const.lower()}__{key}",
                "readonly": attr.readonly or attr.virtual,
                "index": False,
                **({"source_table": attr.dialog_table} if attr.dialog_table else {}),
            },
            "ui": {"type": ui_type, "id": f"{category.const}__{key.upper()}", "default": None, "params": {}},
            "format": {"callback": None, "unit": attr.unit_property} if attr.unit_property else None,
        }
    return out


def dialog_item(item: DialogItem, lang: str, parents: dict[int, DialogItem] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"id": str(item.id), "const": item.const or "", "title": tr(item.title, lang)}
    if item.parent_id is not None:
        parent = (parents or {}).get(item.parent_id)
        row["parent"] = {
            "id": str(item.parent_id),
            "const": parent.const if parent else "",
            "title": parent.title if parent else "",
        }
    return row


def constants(lang: str) -> dict[str, Any]:
    cat = catalog()
    return {
        "objectTypes": {t.const: tr(t.title, lang) for t in cat.types_by_id.values()},
        "categories": {
            "g": {c.const: tr(c.title, lang) for c in cat.categories.values() if c.kind == "g"},
            "s": {c.const: tr(c.title, lang) for c in cat.categories.values() if c.kind == "s"},
            "g_custom": {},
        },
        "recordStates": {r["const"]: tr(r["title"], lang) for r in cat.raw["record_status"]},
        "relationTypes": {r["const"]: r["title"] for r in cat.raw["relation_types"]},
        "staticObjects": {o["const"]: o["title"] for o in cat.raw["static_objects"]},
    }
