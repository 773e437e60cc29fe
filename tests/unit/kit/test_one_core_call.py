"""Transports only translate: at most one mutating core call per request element.

docs/architecture.md, "One core call per request element". A transport function that changes
things through two core calls (or reads, decides and then changes through a second call) is a
domain operation assembled outside core: it is not one transaction, so a concurrent request can
slip in between and a failure half-way leaves half a change. This test finds such functions by
reading the source:

* **mutating core methods** are derived from core itself: a public method of a service class
  (the types of ``core.services.Services``' fields and their base classes) is mutating when its
  body opens ``self._audit.mutation(...)``, or calls another mutating method of its class;
* **transport functions** are every function and method in ``api/dialects/*/methods``,
  ``api/dialects/*/objects``, ``api/v1/routes`` and ``web/`` (a function defined inside another,
  such as a route factory's handler, is one of its own); a call site ``<x>.services.<svc>.<name>(...)``
  (or ``services.<svc>.<name>(...)``) counts when ``<name>`` is a mutating method of ``<svc>``.
  A call to another function or method of the same module (``f(...)``, ``self.f(...)``) adds
  that function's count, so a helper cannot hide a second call.

A call inside a loop over the request's elements counts once: that is one core call per
element, which the rule allows (opsi's ``*_createObjects`` take lists). What this cannot see:
calls through variables holding a service, and check-then-act where the check is a read (the
audit in docs/architecture.md lists those by hand).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import typing
from collections.abc import Iterator
from pathlib import Path

import fleetdeck.api
from fleetdeck.core.services import Services

API = Path(fleetdeck.api.__path__[0])
SRC = API.parent
# the transports, relative to src/fleetdeck: every dialect, /api/v1's routes and the web UI
TRANSPORT_GLOBS = (
    "api/dialects/*/methods/*.py",
    "api/dialects/*/objects/*.py",
    "api/v1/routes/*.py",
    "web/*.py",
)

# Functions that still make more than one mutating core call, with why they may for now.
# Shrink this list; never grow it without a line in docs/architecture.md's audit.
KNOWN: dict[str, str] = {}


def _opens_mutation(node: ast.AST) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.With | ast.AsyncWith):
            for item in n.items:
                call = item.context_expr
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "mutation"
                ):
                    return True
    return False


def _self_calls(node: ast.AST) -> set[str]:
    """``m`` of every ``self.m(...)``, and ``*.m`` of every ``self.<helper>.m(...)`` (a call
    delegated to another service the class holds, e.g. ``self._groups.create``)."""
    out = set()
    for n in ast.walk(node):
        if not isinstance(n, ast.Call) or not isinstance(n.func, ast.Attribute):
            continue
        owner = n.func.value
        if isinstance(owner, ast.Name) and owner.id == "self":
            out.add(n.func.attr)
        elif (
            isinstance(owner, ast.Attribute)
            and isinstance(owner.value, ast.Name)
            and owner.value.id == "self"
        ):
            out.add(f"*.{n.func.attr}")
    return out


def _bodies(cls: type) -> dict[str, ast.AST]:
    bodies: dict[str, ast.AST] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("fleetdeck."):
            for name, value in vars(klass).items():
                if inspect.isfunction(value):
                    bodies[name] = ast.parse(textwrap.dedent(inspect.getsource(value)))
    return bodies


def mutating_by_service() -> dict[str, set[str]]:
    """Service field of ``Services`` -> its public methods that change the database: those that
    open ``self._audit.mutation(...)``, call such a method of their own class, or delegate to
    a mutating method of another service (``self._groups.create``), to a fixed point."""
    hints = typing.get_type_hints(Services)
    classes = {
        f.name: hints[f.name]
        for f in dataclasses.fields(Services)
        if isinstance(hints[f.name], type) and hints[f.name].__module__.startswith("fleetdeck.core")
    }
    bodies = {svc: _bodies(cls) for svc, cls in classes.items()}
    calls = {svc: {name: _self_calls(body) for name, body in b.items()} for svc, b in bodies.items()}
    mutating = {svc: {n for n, body in b.items() if _opens_mutation(body)} for svc, b in bodies.items()}
    changed = True
    while changed:
        changed = False
        anywhere = {f"*.{n}" for names in mutating.values() for n in names if not n.startswith("_")}
        for svc, per in calls.items():
            for name, called in per.items():
                if name not in mutating[svc] and called & (mutating[svc] | anywhere):
                    mutating[svc].add(name)
                    changed = True
    return {svc: {n for n in names if not n.startswith("_")} for svc, names in mutating.items()}


def _service_call(call: ast.Call, mutating: dict[str, set[str]]) -> str | None:
    """``svc.name`` when ``call`` is ``<x>.services.<svc>.<name>(...)`` of a mutating method."""
    func = call.func
    if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Attribute):
        return None
    svc, owner = func.value.attr, func.value.value
    via_services = (isinstance(owner, ast.Attribute) and owner.attr == "services") or (
        isinstance(owner, ast.Name) and owner.id == "services"
    )
    if via_services and func.attr in mutating.get(svc, set()):
        return f"{svc}.{func.attr}"
    return None


Fn = ast.FunctionDef | ast.AsyncFunctionDef


def _own_nodes(fn: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``fn``'s body, not descending into functions defined inside it: a route
    factory's handlers (``web/``) are transport functions of their own, each with its calls."""
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        n = stack.pop()
        yield n
        if not isinstance(n, Fn):
            stack.extend(ast.iter_child_nodes(n))


def _nested(prefix: str, fn: ast.AST) -> Iterator[tuple[str, Fn]]:
    for node in _own_nodes(fn):
        if isinstance(node, Fn):
            name = f"{prefix}.{node.name}"
            yield name, node
            yield from _nested(name, node)


def _functions(tree: ast.Module) -> Iterator[tuple[str, Fn]]:
    for node in tree.body:
        if isinstance(node, Fn):
            yield node.name, node
            yield from _nested(node.name, node)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, Fn):
                    yield f"{node.name}.{item.name}", item
                    yield from _nested(f"{node.name}.{item.name}", item)


def _local_calls(fn: Fn) -> list[str]:
    out = []
    for n in _own_nodes(fn):
        if isinstance(n, ast.Call):
            if isinstance(n.func, ast.Name):
                out.append(n.func.id)
            elif (
                isinstance(n.func, ast.Attribute)
                and isinstance(n.func.value, ast.Name)
                and n.func.value.id == "self"
            ):
                out.append(f"self.{n.func.attr}")
    return out


def module_offenders(tree: ast.Module, mutating: dict[str, set[str]]) -> dict[str, list[str]]:
    """function -> the mutating core calls it makes (directly or through helpers of its
    module), for every function of ``tree`` that makes two or more."""
    functions = dict(_functions(tree))
    direct = {
        name: [
            c
            for n in _own_nodes(fn)
            if isinstance(n, ast.Call) and (c := _service_call(n, mutating)) is not None
        ]
        for name, fn in functions.items()
    }

    def total(name: str, seen: frozenset[str]) -> list[str]:
        calls = list(direct[name])
        cls = name.split(".", maxsplit=1)[0] if "." in name else None
        parent = name.rsplit(".", 1)[0] if "." in name else None
        for callee in _local_calls(functions[name]):
            if callee.startswith("self.") and cls:
                candidates = [f"{cls}.{callee[5:]}"]
            else:  # a function of its own, of the enclosing function, or of the module
                candidates = [f"{name}.{callee}", *([f"{parent}.{callee}"] if parent else []), callee]
            target = next((c for c in candidates if c in functions), None)
            if target is not None and target not in seen:
                calls += total(target, seen | {target})
        return calls

    found = {name: total(name, frozenset({name})) for name in functions}
    return {name: calls for name, calls in found.items() if len(calls) >= 2}


def offenders(mutating: dict[str, set[str]]) -> dict[str, list[str]]:
    """``module:function`` -> its mutating core calls, for every transport function with two or more."""
    found: dict[str, list[str]] = {}
    for pattern in TRANSPORT_GLOBS:
        for path in sorted(SRC.glob(pattern)):
            rel = path.relative_to(SRC).with_suffix("").as_posix().removeprefix("api/")
            for name, calls in module_offenders(ast.parse(path.read_text()), mutating).items():
                found[f"{rel}:{name}"] = calls
    return found


def test_mutating_methods_are_derived_from_core() -> None:
    """The derivation sees the methods everyone knows to be mutating, and no reads."""
    mutating = mutating_by_service()
    assert {"deploy", "uninstall", "remove_job", "apply_package_actions"} <= mutating["deployments"]
    assert {"create", "delete", "assign_installation", "remove_installation"} <= mutating["packages"]
    assert {"add_members", "remove_members"} <= mutating["groups"]
    assert not {"find", "get", "computer_jobs", "list_containers"} & mutating["deployments"]
    assert not {"find", "get", "list_installations"} & mutating["packages"]


def test_no_transport_function_makes_two_mutating_core_calls() -> None:
    found = offenders(mutating_by_service())
    new = {k: v for k, v in found.items() if k not in KNOWN}
    assert not new, (
        "these transport functions make two or more mutating core calls; give core one operation "
        f"that does the whole thing (docs/architecture.md, 'One core call per request element'): {new}"
    )
    fixed = sorted(set(KNOWN) - set(found))
    assert not fixed, f"no longer offending, remove from KNOWN: {fixed}"


def test_the_checker_catches_a_helper_hiding_a_second_call(tmp_path: Path) -> None:
    """Guard against the checker going blind: a function that mutates twice, once through a
    local helper, is reported."""
    source = textwrap.dedent(
        """
        def helper(ctx):
            ctx.services.deployments.remove_job(ctx.actor, 1)

        def method(ctx):
            helper(ctx)
            ctx.services.deployments.deploy(ctx.actor, "x")
        """
    )
    found = module_offenders(ast.parse(source), mutating_by_service())
    assert found == {"method": ["deployments.deploy", "deployments.remove_job"]}


def test_the_checker_sees_each_handler_of_a_route_factory() -> None:
    """The web UI defines its handlers inside a factory: each handler is judged on its own (one
    call each is fine), and a handler that mutates twice, once through a sibling helper, is
    reported under its own name."""
    source = textwrap.dedent(
        """
        def routes(services):
            def cancel(call):
                services.deployments.remove_job(call.actor, 1)

            def helper(call):
                services.deployments.remove_job(call.actor, 2)

            async def deploy(call):
                helper(call)
                services.deployments.deploy(call.actor, "x")

            return [cancel, deploy]
        """
    )
    found = module_offenders(ast.parse(source), mutating_by_service())
    assert found == {"routes.deploy": ["deployments.deploy", "deployments.remove_job"]}


if __name__ == "__main__":  # the audit: python -m tests.unit.kit.test_one_core_call
    for where, calls in sorted(offenders(mutating_by_service()).items()):
        print(f"{where}: {', '.join(calls)}")
