"""One declaration per RPC method, shared by the JSON-RPC dialects (OCO, opsi; i-doit next).

A method is a plain function ``def f(ctx, *, name: type = default, ...)``. Decorating it with
``registry.method("exact.protocol.name")`` records the protocol name, the parameters with their
types and defaults (read from the signature), whether it is deprecated and what replaces it, and
how far it is built. That one record drives dispatch (``Method.invoke``), parameter validation
(a pydantic model built from the signature) and introspection (``Registry.describe``) for docs,
tests and ``*_getInterface``-style methods.

The registry knows nothing about envelopes, authentication or error codes: a dialect looks a
method up, binds the arguments it parsed from its own envelope, and renders what comes back.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

F = TypeVar("F", bound=Callable[..., Any])


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class ParamsInvalid(Exception):
    """The arguments do not fit the declaration (wrong type, missing, too many positionals)."""

    def __init__(self, message: str, errors: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors)


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    annotation: Any
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(slots=True, eq=False)
class Method:
    name: str
    func: Callable[..., Any]
    params: tuple[Param, ...]
    summary: str = ""
    deprecated: bool = False
    alternative: str | None = None
    status: str = "implemented"
    varkw: str | None = None  # name of a ``**kwargs`` parameter (opsi's ``**filter``), if any
    _model: type[BaseModel] | None = field(default=None, repr=False)

    @property
    def model(self) -> type[BaseModel]:
        """The validation model, built at the first call: building ~500 pydantic models at
        import would cost every process start (server, CLI, each test server) seconds."""
        if self._model is None:
            self._model = _model(self.name, self.params)
        return self._model

    def bind(self, kwargs: Mapping[str, Any] | None = None, args: Sequence[Any] = ()) -> dict[str, Any]:
        """Validate arguments against the declaration; unknown keyword arguments are ignored
        (PHP-style APIs tolerate them), surplus positionals are an error."""
        if len(args) > len(self.params):
            raise ParamsInvalid(f"{self.name} takes at most {len(self.params)} arguments, got {len(args)}")
        values = dict(kwargs or {})
        for param, value in zip(self.params, args, strict=False):
            if param.name in values:
                raise ParamsInvalid(f"{self.name} got multiple values for argument '{param.name}'")
            values[param.name] = value
        try:
            model = self.model.model_validate(values)
        except ValidationError as exc:
            errs = exc.errors(include_url=False, include_context=False, include_input=False)
            first = errs[0] if errs else {"loc": (), "msg": "invalid parameters"}
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise ParamsInvalid(f"{where}: {first.get('msg', '')}".strip(": "), errs) from None
        bound = {p.name: getattr(model, p.name) for p in self.params}
        if self.varkw is not None:
            known = {p.name for p in self.params}
            bound.update({k: v for k, v in values.items() if k not in known})
        return bound

    def invoke(self, ctx: Any, kwargs: Mapping[str, Any] | None = None, args: Sequence[Any] = ()) -> Any:
        return self.func(ctx, **self.bind(kwargs, args))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": [
                {"name": p.name, "required": p.required, "default": None if p.required else p.default}
                for p in self.params
            ],
            "summary": self.summary,
            "deprecated": self.deprecated,
            "alternative": self.alternative,
            "status": self.status,
        }


def _varkw(func: Callable[..., Any]) -> str | None:
    for p in inspect.signature(func).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return p.name
    return None


def _params(func: Callable[..., Any]) -> tuple[Param, ...]:
    hints = get_type_hints(func, include_extras=True)  # keep Annotated validators
    sig = inspect.signature(func)
    found: list[Param] = []
    for i, p in enumerate(sig.parameters.values()):
        if i == 0 or p.kind is p.VAR_KEYWORD:
            continue  # the dialect's context; ``**kwargs`` is recorded as ``varkw``
        if p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            raise TypeError(f"{func.__qualname__}: parameter {p.name} must be a named parameter")
        default = REQUIRED if p.default is p.empty else p.default
        found.append(Param(p.name, hints.get(p.name, Any), default))
    return tuple(found)


def _model(name: str, params: tuple[Param, ...]) -> type[BaseModel]:
    fields: dict[str, Any] = {p.name: (p.annotation, ... if p.required else p.default) for p in params}
    model_name = "Params_" + "".join(c if c.isalnum() else "_" for c in name)
    return create_model(
        model_name, __config__=ConfigDict(extra="ignore", arbitrary_types_allowed=True), **fields
    )


class Registry:
    """The methods of one dialect, in declaration order."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._methods: dict[str, Method] = {}

    def method(
        self,
        name: str,
        *,
        deprecated: bool = False,
        alternative: str | None = None,
        status: str = "implemented",
    ) -> Callable[[F], F]:
        def register(func: F) -> F:
            if name in self._methods:
                raise ValueError(f"{self.dialect}: method {name} declared twice")
            params = _params(func)
            doc = inspect.getdoc(func) or ""
            self._methods[name] = Method(
                name=name,
                func=func,
                params=params,
                summary=doc.splitlines()[0] if doc else "",
                deprecated=deprecated,
                alternative=alternative,
                status=status,
                varkw=_varkw(func),
            )
            return func

        return register

    def get(self, name: str) -> Method | None:
        return self._methods.get(name)

    def __iter__(self) -> Iterator[Method]:
        return iter(self._methods.values())

    def __len__(self) -> int:
        return len(self._methods)

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def names(self) -> list[str]:
        return list(self._methods)

    def describe(self) -> list[dict[str, Any]]:
        return [m.describe() for m in self]
