"""Summarise a mutmut run for `make mutation`: the score per core module and the survivors.

mutmut keeps one verdict per mutant in ``mutants/<source file>.meta`` (its exit code); its own
``mutmut results`` lists survivors but gives no per-module score, which docs/testing.md records.
A mutant counts as killed when a test failed, or when the run was stopped by the time limit
(how an endless loop fails; shown apart, since a limit set too tight would stop healthy runs).
"No tests" means no test in the chosen subset runs that function, so it is not killed either.

Usage: python tools/mutation_report.py [PATH_PREFIX ...] [--survivors]
    PATH_PREFIX  only modules under it, e.g. core/packages/ordering.py or core/reports
    --survivors  also list each surviving (or untested) mutant by name (`mutmut show NAME`)
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("mutants/src/fleetdeck")
KILLED = {1, 3}  # a test failed (or pytest stopped with an error)
TIMEOUT = {24, -24, 152, 255, 36}  # stopped by the time limit: an endless loop, counted as killed
SURVIVED = {0}
NO_TESTS = {5, 33}


@dataclass
class Module:
    name: str
    killed: int = 0
    timeout: int = 0
    survived: int = 0
    no_tests: int = 0
    other: int = 0  # not checked yet, skipped, suspicious, segfault
    missed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.killed + self.timeout + self.survived + self.no_tests + self.other

    @property
    def score(self) -> str:
        checked = self.killed + self.timeout + self.survived + self.no_tests
        return f"{100.0 * (self.killed + self.timeout) / checked:.1f} %" if checked else "-"


def load(prefixes: list[str]) -> list[Module]:
    modules = []
    for meta in sorted(ROOT.rglob("*.py.meta")):
        name = str(meta.relative_to(ROOT))[: -len(".meta")]
        if not any(name.startswith(p) for p in prefixes):
            continue
        verdicts: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not verdicts:
            continue
        module = Module(name)
        for key, code in sorted(verdicts.items()):
            if code in KILLED:
                module.killed += 1
            elif code in TIMEOUT:
                module.timeout += 1
            elif code in SURVIVED:
                module.survived += 1
                module.missed.append(("survived", key))
            elif code in NO_TESTS:
                module.no_tests += 1
                module.missed.append(("no tests", key))
            else:
                module.other += 1
        modules.append(module)
    return modules


def main(argv: list[str]) -> int:
    survivors = "--survivors" in argv
    args = [a for a in argv if not a.startswith("--")]
    prefixes = [a.removeprefix("src/fleetdeck/").rstrip("/") for a in args] or ["core"]
    modules = load(prefixes)
    if not modules:
        print(f"no mutmut results for {' '.join(prefixes)} in mutants/: run `make mutation` first")
        return 1
    print("| module | mutants | killed | timeout | survived | no tests | not run | score |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    total = Module("**all**")
    for m in modules:
        print(
            f"| {m.name} | {m.total} | {m.killed} | {m.timeout} | {m.survived} | {m.no_tests} | {m.other} "
            f"| {m.score} |"
        )
        total.killed += m.killed
        total.timeout += m.timeout
        total.survived += m.survived
        total.no_tests += m.no_tests
        total.other += m.other
    t = total
    print(
        f"| {t.name} | {t.total} | {t.killed} | {t.timeout} | {t.survived} | {t.no_tests} | {t.other} "
        f"| {t.score} |"
    )
    if survivors:
        print()
        for m in modules:
            for status, key in m.missed:
                print(f"{status:9} {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
