"""opsi ``Config`` (UnicodeConfig, BoolConfig) = core config entries; ``ConfigState`` = a
computer's own values for one (core's per-computer config values)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetdeck.api.dialects.opsi.default_configs import default_configs
from fleetdeck.api.dialects.opsi.errors import (
    BackendMissingDataError,
    BackendPermissionDeniedError,
    OpsiValueError,
)
from fleetdeck.api.dialects.opsi.objects.filters import plain_values, sql_conditions, type_matches
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, force_host_id, server_host_id
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.settings.configs import Config

Row = dict[str, Any]
TYPES = {"UnicodeConfig": "str", "BoolConfig": "bool", "Config": "str"}
KIND_OF = {"UnicodeConfig": "str", "BoolConfig": "bool"}  # opsi type of a row -> core kind


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def force_config_id(value: Any) -> str:
    text = str(value or "").strip().lower()
    if not text or any(c.isspace() for c in text):
        raise OpsiValueError(f"Bad config id: '{value}'")
    return text


def builtins(ctx: Context) -> dict[str, Config]:
    """opsiconfd's default configs for this server (``default_configs``)."""
    url = str((ctx.extras or {}).get("server_url") or f"https://{server_host_id(ctx)}:4447")
    return default_configs(server_host_id(ctx), url)


def _row(c: Config) -> Row:
    return {
        "id": c.key,
        "description": c.description,
        "possibleValues": list(c.possible_values) if c.kind == "str" else [False, True],
        "defaultValues": list(c.default_values),
        "editable": c.editable if c.kind == "str" else False,
        "multiValue": c.multi_value if c.kind == "str" else False,
        "type": "BoolConfig" if c.kind == "bool" else "UnicodeConfig",
    }


def build_config(obj: Mapping[str, Any], base: Config | None) -> Config:
    """A core Config from an opsi (Unicode|Bool)Config-shaped dict (``id``, ``type``, values);
    attributes absent from ``obj`` come from ``base``."""
    kind = TYPES[obj["type"]] if obj["type"] != "Config" or base is None else base.kind
    defaults = (
        _list(obj["defaultValues"]) if "defaultValues" in obj else (base.default_values if base else [])
    )
    if kind == "bool":
        defaults = [
            bool(v) if isinstance(v, bool) else str(v).lower() in {"1", "true", "yes", "on"} for v in defaults
        ] or [False]
        possible: list[Any] = [False, True]
    else:
        possible = (
            _list(obj["possibleValues"])
            if "possibleValues" in obj
            else (base.possible_values if base else [])
        )
        possible = [str(v) for v in possible]
        defaults = [str(v) for v in defaults]
        possible += [d for d in defaults if d not in possible]  # opsi adds defaults to possible values
    return Config(
        key=obj["id"],
        kind=kind,
        description=str(obj.get("description", base.description if base else "")),
        possible_values=possible,
        default_values=defaults,
        editable=bool(obj.get("editable", base.editable if base else True)),
        multi_value=bool(obj.get("multiValue", base.multi_value if base else False)),
    )


class ConfigAdapter:
    ident: tuple[str, ...] = ("id",)
    attributes: tuple[str, ...] = (
        "id",
        "description",
        "possibleValues",
        "defaultValues",
        "editable",
        "multiValue",
    )
    family: Mapping[str, tuple[str, ...]] = {
        "UnicodeConfig": ("UnicodeConfig", "Config"),
        "BoolConfig": ("BoolConfig", "Config"),
    }

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        # id, description and the type (the entry's kind) in SQL; the value lists and the
        # booleans (opsi's own comparison rules) are left to ``matches``
        kinds = [kind for name, kind in KIND_OF.items() if type_matches(name, flt.get("type"), self.family)]
        if not kinds:
            return []
        where = sql_conditions(flt, {"id": "key", "description": "description"})
        if len(kinds) < len(KIND_OF):
            where += (Cond("kind", Op.IN, tuple(kinds)),)
        stored = [_row(c) for c in ctx.services.configs.entries(ctx.actor, Query(where=where, limit=None))]
        defaults = builtins(ctx)
        have = {r["id"] for r in stored}
        if where:  # which built-ins are replaced, also by entries this filter leaves out
            replaced = Query(where=(Cond("key", Op.IN, tuple(defaults)),), limit=None)
            have |= {c.key for c in ctx.services.configs.entries(ctx.actor, replaced)}
        # the built-in defaults no stored entry replaces (the filter applies to them afterwards)
        extra = [_row(c) for key, c in defaults.items() if key not in have and c.kind in kinds]
        return sorted(stored + extra, key=lambda r: str(r["id"]))

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        kind = obj.get("type") or "UnicodeConfig"
        if kind not in TYPES:
            raise OpsiValueError(f"Invalid config type '{kind}'")
        out: Row = {"type": kind, "id": force_config_id(obj.get("id"))}
        for key in ("description", "possibleValues", "defaultValues", "editable", "multiValue"):
            if obj.get(key) is not None:
                out[key] = obj[key]
        return out

    def insert(self, ctx: Context, obj: Row) -> None:
        ctx.services.configs.put(ctx.actor, build_config(obj, None))

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        """Merge the given (non-null) attributes into the stored entry in core's transaction
        (a change made in between is not lost); a missing entry is created by updateObjects
        (``create``) and left alone otherwise."""

        builtin = builtins(ctx).get(obj["id"])

        def change(base: Config | None) -> Config | None:
            base = base or builtin  # a built-in default config exists without being stored
            return None if base is None and not create else build_config(obj, base)

        ctx.services.configs.merge(ctx.actor, obj["id"], change)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        return ctx.services.configs.delete(ctx.actor, [str(i["id"]).lower() for i in idents])


class ConfigStateAdapter:
    ident: tuple[str, ...] = ("configId", "objectId")
    attributes: tuple[str, ...] = ("configId", "objectId", "values")
    family: Mapping[str, tuple[str, ...]] = {"ConfigState": ("ConfigState",)}

    def __init__(self, hosts: HostAdapter) -> None:
        self.hosts = hosts

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        """Only the hosts an ``objectId`` filter names (a client: itself) are read, and the
        ``configId`` filter chooses the values in SQL."""
        wanted = plain_values(flt.get("objectId"))
        if ctx.is_client and wanted is None:
            wanted = [str(ctx.host_id)]  # a client sees its own values only
        _, computers = self.hosts.computers(ctx, wanted)
        names = {c.id: hid for hid, c in computers.items()}
        only = None if wanted is None else list(names)
        where = sql_conditions(flt, {"configId": "key"})
        return [
            {"configId": v.key, "objectId": names[v.computer_id], "values": v.values, "type": "ConfigState"}
            for v in ctx.services.configs.values(ctx.actor, only, Query(where=where, limit=None))
            if v.computer_id in names and (not ctx.is_client or names[v.computer_id] == ctx.host_id)
        ]

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        out: Row = {
            "type": "ConfigState",
            "configId": force_config_id(obj.get("configId")),
            "objectId": force_host_id(obj.get("objectId")),
        }
        if obj.get("values") is not None or not partial:
            out["values"] = _list(obj.get("values"))
        return out

    def _computer(self, ctx: Context, host_id: str) -> int:
        if ctx.is_client and host_id != ctx.host_id:
            raise BackendPermissionDeniedError(f"Access to '{host_id}' denied for {ctx.host_id}")
        _, computers = self.hosts.computers(ctx)
        if host_id not in computers:
            raise BackendMissingDataError(f"Host '{host_id}' not found")
        return computers[host_id].id

    def insert(self, ctx: Context, obj: Row) -> None:
        ctx.services.configs.set_value(
            ctx.actor,
            obj["configId"],
            self._computer(ctx, obj["objectId"]),
            obj["values"],
            builtin=builtins(ctx).get(obj["configId"]),
        )

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        if "values" not in obj:
            return
        cid = self._computer(ctx, obj["objectId"])
        exists = any(v.key == obj["configId"] for v in ctx.services.configs.values(ctx.actor, [cid]))
        if exists or create:
            ctx.services.configs.set_value(
                ctx.actor, obj["configId"], cid, obj["values"], builtin=builtins(ctx).get(obj["configId"])
            )

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        done = 0
        for ident in idents:
            cid = self._computer(ctx, str(ident["objectId"]).lower())
            done += ctx.services.configs.clear_value(ctx.actor, str(ident["configId"]).lower(), cid)
        return done
