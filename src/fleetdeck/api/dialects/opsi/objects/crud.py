"""opsi's ten CRUD methods per object family, generated from one ``Adapter``.

The parameter names and defaults of each generated method are opsi's own (from its published
interface), so positional calls, named calls and ``backend_getInterface`` all line up.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from fleetdeck.api.dialects.opsi.errors import (
    BackendBadValueError,
    BackendPermissionDeniedError,
    OpsiValueError,
)
from fleetdeck.api.dialects.opsi.interface import SPEC
from fleetdeck.api.dialects.opsi.objects.filters import check_keys, matches
from fleetdeck.api.dialects.opsi.registry import METHODS, Context
from fleetdeck.api.dialects.opsi.render import ident_string, project
from fleetdeck.api.dialects.opsi.schemas import annotation_of, param_type

Row = dict[str, Any]


class Adapter(Protocol):
    """One opsi object family over fleetdeck's core. Rows are dicts in opsi's attribute names,
    with every attribute of their ``type`` present (null when unknown). An adapter may also
    name ``nullable_ident``: ident attributes that may be null (AuditHardware's), and have
    ``refuse_changes(ctx, rows)``: raise before ``update`` writes anything when a row would
    change what fleetdeck cannot change or the caller may not (see ``refuse_unchangeable``)."""

    ident: tuple[str, ...]
    attributes: tuple[str, ...]  # every attribute of every type of the family
    family: Mapping[str, tuple[str, ...]]  # type -> itself and its supertypes

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]: ...

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row: ...

    def insert(self, ctx: Context, obj: Row) -> None: ...

    def update(self, ctx: Context, obj: Row, create: bool) -> None: ...

    def delete(self, ctx: Context, idents: list[Row]) -> int: ...


def _objects(value: Any) -> list[Mapping[str, Any]]:
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if not isinstance(item, Mapping):
            raise OpsiValueError(f"Invalid object: {item!r}")
    return list(items)


class Crud:
    def __init__(self, adapter: Adapter) -> None:
        self.a = adapter

    def rows(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        check_keys(flt, self.a.attributes)
        return [r for r in self.a.fetch(ctx, flt) if matches(r, flt, self.a.family)]

    def get_objects(self, ctx: Context, attributes: Any = None, **flt: Any) -> list[Row]:
        out = []
        # an adapter whose rows are built afresh for every call (``fresh_rows``) lends them
        # out as they are when every attribute is asked for: no copy of half a million rows
        fresh = not attributes and getattr(self.a, "fresh_rows", False)
        ident = self.a.ident
        ident_of = getattr(self.a, "ident_of", None)  # an adapter's faster ident_string
        for r in self.rows(ctx, flt):
            row = r if fresh else project(r, attributes, ident)
            row["ident"] = ident_of(r) if ident_of is not None else ident_string(r, ident)
            out.append(row)
        return out

    def answer_objects(self, ctx: Context, attributes: Any = None, **flt: Any) -> Any:
        """``<family>_getObjects`` as called over ``/rpc``: the same objects as ``get_objects``;
        an adapter with ``whole_list(ctx)`` answers the whole list (no attributes, no filter)
        with it: objects that encode like the rows, built for opsi's half a million
        productOnClient objects (``ProductOnClientAdapter.whole_list``)."""
        whole = getattr(self.a, "whole_list", None)
        if whole is not None and not attributes and not flt:
            return whole(ctx)
        return self.get_objects(ctx, attributes, **flt)

    def get_hashes(self, ctx: Context, attributes: Any = None, **flt: Any) -> list[Row]:
        return [project(r, attributes, self.a.ident) for r in self.rows(ctx, flt)]

    def get_idents(self, ctx: Context, returnType: Any = "str", **flt: Any) -> list[Any]:
        kind = str(returnType or "str").lower()
        rows = self.rows(ctx, flt)
        if kind in {"str", "unicode"}:
            return [ident_string(r, self.a.ident) for r in rows]
        if kind in {"dict", "hash"}:
            return [{a: r.get(a) for a in self.a.ident} for r in rows]
        if kind in {"list", "tuple", "array"}:
            return [[r.get(a) for a in self.a.ident] for r in rows]
        raise OpsiValueError(f"Invalid returnType '{returnType}'")

    def insert(self, ctx: Context, obj: Any) -> None:
        for o in _objects(obj):
            self.a.insert(ctx, self.a.coerce(o, partial=False))

    def update(self, ctx: Context, obj: Any, create: bool) -> None:
        """Every object is coerced and checked before the first is written: an update that
        names an attribute fleetdeck cannot change fails whole, instead of answering success
        for what it silently dropped."""
        rows = [self.a.coerce(o, partial=True) for o in _objects(obj)]
        refuse = getattr(self.a, "refuse_changes", None)
        if refuse is not None:
            refuse(ctx, rows)
        for row in rows:
            self.a.update(ctx, row, create)

    def delete_objects(self, ctx: Context, objs: Any) -> None:
        if objs is None or objs == []:
            return
        idents: list[Row] = []
        nullable = getattr(self.a, "nullable_ident", ())
        for o in _objects(objs):
            ident = {a: o.get(a) for a in self.a.ident}
            missing = [a for a, v in ident.items() if v is None and a not in nullable]
            if missing:
                raise OpsiValueError(f"Ident attribute '{missing[0]}' must not be null")
            idents.append(ident)
        existing = {ident_string(r, self.a.ident).lower() for r in self.a.fetch(ctx, {})}
        idents = [i for i in idents if ident_string(i, self.a.ident).lower() in existing]
        if not idents or self.a.delete(ctx, idents) == 0:
            raise BackendPermissionDeniedError("No objects to delete")

    def delete(self, ctx: Context, **flt: Any) -> None:
        found = self.rows(ctx, {k: v for k, v in flt.items() if v is not None})
        if found:
            self.delete_objects(ctx, [{a: r.get(a) for a in self.a.ident} for r in found])


def _comparable(value: Any) -> str:
    return "" if value is None else str(value).strip().lower()


def refuse_unchangeable(
    kind: str,
    ident: str,
    given: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    why: Mapping[str, str],
) -> None:
    """BackendBadValueError naming the first attribute of ``why`` (attribute -> reason) that
    ``given`` sets (not null) to another value than the existing object (``current``) has;
    the same value, as a client sends back what it read, is fine. A given ``ident`` that
    names another object is an attempt to rename it, which updates cannot do either."""
    named = given.get("ident")
    if isinstance(named, str) and _comparable(named) != _comparable(ident):
        raise BackendBadValueError(
            f"Attribute 'id' of {kind} '{named}' cannot be changed to '{ident}' by an update:"
            " the id names the object (nothing was changed)"
        )
    for attr, reason in why.items() if current is not None else ():
        value = given.get(attr)
        if value is not None and _comparable(value) != _comparable((current or {}).get(attr)):
            raise BackendBadValueError(
                f"Attribute '{attr}' of {kind} '{ident}' cannot be changed: {reason} (nothing was changed)"
            )


def declare(name: str, impl: Callable[..., Any]) -> None:
    """Register ``impl`` under opsi's method ``name`` with opsi's exact parameters: names,
    defaults and types (``schemas.param_type`` of opsi's annotations)."""
    entry = SPEC[name]["entry"]
    args: list[str] = [a for a in entry["args"] if a != "self"]
    defaults: list[Any] = list(entry["defaults"] or [])
    annotations = entry.get("annotations") or {}
    first_default = len(args) - len(defaults)
    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    types: dict[str, Any] = {}
    for i, arg in enumerate(args):
        default = defaults[i - first_default] if i >= first_default else inspect.Parameter.empty
        kind = param_type(annotation_of(name, arg, annotations.get(arg)))
        types[arg] = kind | None if default is None and kind is not Any else kind  # null = the default
        params.append(
            inspect.Parameter(arg, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=types[arg])
        )
    if entry["keywords"]:
        params.append(inspect.Parameter(entry["keywords"], inspect.Parameter.VAR_KEYWORD))

    def method(ctx: Context, **kwargs: Any) -> Any:
        return impl(ctx, **kwargs)

    method.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    method.__annotations__ = types
    method.__name__ = method.__qualname__ = name
    method.__doc__ = impl.__doc__
    METHODS.method(name, deprecated=bool(entry["deprecated"]), alternative=entry["alternative_method"])(
        method
    )


def register(prefix: str, adapter: Adapter) -> Crud:
    """opsi's ten methods for ``prefix`` (``host``, ``group``, ...) over ``adapter``."""
    crud = Crud(adapter)

    def one(name: str) -> str:
        return str(next(a for a in SPEC[f"{prefix}_{name}"]["entry"]["args"] if a != "self"))

    obj, objs = one("insertObject"), one("createObjects")
    methods: dict[str, Callable[..., Any]] = {
        "getObjects": crud.answer_objects,
        "getHashes": crud.get_hashes,
        "getIdents": crud.get_idents,
        "insertObject": lambda ctx, **kw: crud.insert(ctx, kw[obj]),
        "updateObject": lambda ctx, **kw: crud.update(ctx, kw[obj], create=False),
        "createObjects": lambda ctx, **kw: crud.insert(ctx, kw[objs]),
        "updateObjects": lambda ctx, **kw: crud.update(ctx, kw[objs], create=True),
        "deleteObjects": lambda ctx, **kw: crud.delete_objects(ctx, kw[objs]),
        "delete": crud.delete,
    }
    for verb, impl in methods.items():
        if f"{prefix}_{verb}" in SPEC:  # opsi does not publish every verb for every family
            declare(f"{prefix}_{verb}", impl)
    return crud
