"""In which order a computer's requested package actions run, and which actions their
dependency rules add.

This is the sequencing opsi clients rely on (opsiconfd's ``get_product_action_groups``), kept
free of any wire format: requests come in as (product, action) pairs, rules as
:class:`~fleetdeck.core.packages.entities.DependencyRule` resolved to products, and the result is
a list of action groups, each sorted. The rules:

1. Every requested action is looked at with the rules of the product's offered package for that
   action. A rule that pins a version of the required product the depot does not offer is left
   out (opsi: ``OpsiProductNotAvailableOnDepotError``, ignored). A rule whose required product
   is already in the required state (status and, where both the rule and the computer's state
   name them, versions) is fulfilled and adds nothing; otherwise it adds the required action
   (``installed`` -> setup, ``not_installed`` -> uninstall), recursively. A product that has no
   procedure for the required action cannot fulfil it, and is left out.
2. Rules with a requirement type ("before"/"after") tie the two products into one group; the
   actions of a group are sorted by priority (highest first), then moved until every "before"
   product precedes and every "after" product follows its dependent (at most as many passes as
   actions, so a cycle ends instead of looping).
3. Actions without such ties form groups of their own; groups are sorted by priority: the
   highest priority > 0 of a group counts, else its lowest < 0.
4. A product asked for twice keeps the one request that is not "none".

Circular dependencies are not an error, because they are not one in opsi 4.3: opsiconfd's
``get_product_action_groups`` skips a rule whose required product is already on the path being
followed, and bounds the sort passes, so "a before b" plus "b before a" yields both actions in
one group, in priority order. opsi's ``OpsiProductOrderingError`` ("Potentially conflicting
requirements for: [...]") was raised only by python-opsi's older ``algorithm1``/``algorithm2``
sorter, which opsiconfd 4.3 replaced; raising it here would refuse orders opsi accepts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

NONE = "none"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rule:
    """A dependency rule resolved to products (see ``DependencyRule``)."""

    product: str
    action: str
    required_product: str
    required_version: str | None = None
    required_package_version: str | None = None
    required_action: str | None = None
    required_status: str | None = None
    requirement_type: str = ""


@dataclass(frozen=True, slots=True)
class Offered:
    """What the depot offers of a product: its priority, the actions it has a procedure for,
    and its rules."""

    priority: int
    actions: frozenset[str]
    rules: tuple[Rule, ...] = ()
    version: str | None = None
    package_version: str | None = None

    def offers(self, rule: Rule) -> bool:
        """Whether this is the version ``rule`` pins (if it pins one), as opsi's depot check."""
        return (not rule.required_version or rule.required_version == self.version) and (
            not rule.required_package_version or rule.required_package_version == self.package_version
        )


@dataclass(frozen=True, slots=True)
class State:
    """A product's state on the computer."""

    status: str = "not_installed"
    version: str | None = None
    package_version: str | None = None


@dataclass
class Action(Generic[T]):
    product: str
    action: str
    priority: int = 0
    request: T | None = None  # the caller's object for a requested action; None when added


@dataclass
class Group(Generic[T]):
    priority: int = 0
    actions: list[Action[T]] = field(default_factory=list)
    rules: dict[str, list[Rule]] = field(default_factory=dict)

    def add(self, action: Action[T]) -> None:
        self.actions.append(action)
        top, bottom = max(self.priority, action.priority), min(self.priority, action.priority)
        if top > 0:
            self.priority = top
        elif bottom < 0:
            self.priority = bottom

    def sort(self) -> None:
        self.actions.sort(key=lambda a: a.priority, reverse=True)
        for _ in range(len(self.actions)):
            before = list(self.actions)
            for action in before:
                for rule in self.rules.get(action.product, []):
                    names = [a.product for a in self.actions]
                    if rule.required_product not in names:
                        continue
                    pos, req = names.index(action.product), names.index(rule.required_product)
                    if rule.requirement_type == "before" and req > pos:
                        self.actions.insert(pos, self.actions.pop(req))
                    elif rule.requirement_type == "after" and req < pos:
                        self.actions.insert(pos + 1, self.actions.pop(req))  # as opsi does
            if before == self.actions:
                break


def _fulfilled(rule: Rule, state: State) -> bool:
    return (
        rule.required_status == state.status
        and (not rule.required_version or not state.version or rule.required_version == state.version)
        and (
            not rule.required_package_version
            or not state.package_version
            or rule.required_package_version == state.package_version
        )
    )


def action_groups(
    requests: Sequence[tuple[str, str, T]],
    offered: Mapping[str, Offered],
    state: Callable[[str], State],
) -> list[Group[T]]:
    """``requests``: (product, action or "none", the caller's object) for one computer.
    Products the depot does not offer are left out, as opsi does."""
    unsorted: dict[str, list[Action[T]]] = defaultdict(list)
    ties: list[set[str]] = []
    rules_of: dict[str, list[Rule]] = defaultdict(list)

    def tie(a: str, b: str) -> None:
        for group in ties:
            if a in group or b in group:
                group.update((a, b))
                return
        ties.append({a, b})

    def follow(action: Action[T], path: list[str]) -> None:
        path = [*path, action.product]
        product = offered.get(action.product)
        if product is None:
            return
        for rule in product.rules:
            if rule.action != action.action or rule.required_product in path:
                continue
            required = offered.get(rule.required_product)
            if required is None or not required.offers(rule):
                continue
            if rule.requirement_type and rule not in rules_of[action.product]:
                rules_of[action.product].append(rule)
                tie(action.product, rule.required_product)
            wanted = rule.required_action
            if not wanted:
                if _fulfilled(rule, state(rule.required_product)):
                    continue
                wanted = "setup" if rule.required_status == "installed" else "uninstall"
            if wanted not in required.actions:
                continue  # no procedure for it: cannot be fulfilled
            added: Action[T] = Action(rule.required_product, wanted, required.priority)
            unsorted[added.product].append(added)
            follow(added, path)

    for product, wanted, obj in requests:
        if product in offered:
            unsorted[product].append(Action(product, wanted or NONE, offered[product].priority, obj))
    for actions in list(unsorted.values()):
        for requested in list(actions):
            follow(requested, [])
    for product, actions in unsorted.items():
        if len(actions) > 1:
            chosen = next((a for a in reversed(actions) if a.action and a.action != NONE), actions[0])
            request = next((a.request for a in actions if a.request is not None), None)
            chosen.request = request
            unsorted[product] = [chosen]

    groups: list[Group[T]] = []
    for members in ties:
        group: Group[T] = Group()
        for product in sorted(members):
            found = unsorted.pop(product, [])
            if found:
                group.add(found[0])
                if rules_of.get(product):
                    group.rules[product] = rules_of[product]
        group.sort()
        groups.append(group)
    for actions in unsorted.values():
        single: Group[T] = Group()
        single.add(actions[0])
        groups.append(single)
    groups.sort(key=lambda g: g.priority, reverse=True)
    return groups
