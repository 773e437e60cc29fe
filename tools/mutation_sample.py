"""A whole-core mutation score from a uniform random sample of core's mutants (`make mutation-sample`).

A full `make mutation` run (about 13,000 mutants, two CPU-hours) does not fit on a shared machine;
a seeded uniform sample of N mutants gives the same score to within a known error. This tool:

1. generates all mutants (`mutmut run` with a pattern that matches none: mutmut writes
   ``mutants/`` and collects which tests run which function, then stops with "nothing matches";
   both are cached, so the run of step 3 reuses them),
2. lists every mutant name from ``mutants/**/*.py.meta`` and draws N of them with
   ``random.Random(seed).sample`` over the sorted names (the same seed gives the same sample),
3. forgets the sampled mutants' earlier verdicts and runs only them (`mutmut run NAME...`, one
   worker, ``nice -n 19``): mutmut orders the run by expected time, so a run stopped early would be
   biased towards cheap mutants; the report says how many were not run,
4. prints the score with a 95 % Wilson interval, the counts per module and the survivors.

The score counts a mutant as killed when a test failed or the time limit stopped it (how an
endless loop fails), as `tools/mutation_report.py` does; "no tests" mutants count as not killed.

Usage (from the repository root, after `make mutation-sample` made mutants/template.db):
    python tools/mutation_sample.py run -n 360 --seed 20261202     # steps 1-4
    python tools/mutation_sample.py report --seed 20261202         # step 4 again
    python tools/mutation_sample.py rerun --seed 20261202 [NAME..] # re-run the sample's survivors
    python tools/mutation_sample.py report --seed 20261202 --before  # the sampled run's verdicts
The sample is written to ``mutants/sample-<seed>.json`` (names and the size of the population),
so `report` and `rerun` need only the seed.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import random
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path("mutants/src/fleetdeck")
MUTMUT = [str(Path(sys.executable).parent / "mutmut")]
NO_MATCH = "fleetdeck.core.__generate_only__"  # no mutant has this name: mutmut stops after its stats
# mutmut workers: one by default (the machine is shared); MUTATION_CHILDREN=2 on an idle 2-core box
CHILDREN = os.environ.get("MUTATION_CHILDREN", "1")

KILLED = {1, 3}
TIMEOUT = {24, -24, 152, 255, 36}
SURVIVED = {0}
NO_TESTS = {5, 33}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of k successes in n: honest near 0 % and 100 %, unlike p ± z·se."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def meta_files() -> list[Path]:
    return sorted(ROOT.rglob("*.py.meta"))


def module_of(meta: Path) -> str:
    return str(meta.relative_to(ROOT))[: -len(".meta")]


def all_verdicts() -> dict[str, tuple[str, int | None]]:
    """Every mutant of core: name -> (module path, mutmut exit code or None if not run)."""
    out: dict[str, tuple[str, int | None]] = {}
    for meta in meta_files():
        module = module_of(meta)
        if not module.startswith("core/"):
            continue
        for key, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            out[key] = (module, code)
    return out


def mutmut_env() -> dict[str, str]:
    env = dict(os.environ)
    env["FLEETDECK_TEST_DB"] = "sqlite"
    env["FLEETDECK_TEST_SQLITE_TEMPLATE"] = str(Path("mutants/template.db").resolve())
    return env


def mutmut_run(names: list[str]) -> int:
    """One mutmut worker at the lowest priority: the machine is shared."""
    cmd = ["nice", "-n", "19", *MUTMUT, "run", "--max-children", CHILDREN, *names]
    return subprocess.call(cmd, env=mutmut_env())


def generate() -> None:
    """Step 1: mutants and mutmut's test map, without running any mutant."""
    proc = subprocess.run(
        ["nice", "-n", "19", *MUTMUT, "run", "--max-children", CHILDREN, NO_MATCH],
        env=mutmut_env(),
        check=False,  # it exits with an error by design: see the comment on NO_MATCH
        capture_output=True,
        text=True,
    )
    if "nothing matches" not in proc.stdout + proc.stderr:
        sys.stdout.write(proc.stdout[-4000:])
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit("mutmut did not generate the mutants (output above)")


def sample_path(seed: int) -> Path:
    return Path(f"mutants/sample-{seed}.json")


def forget(names: list[str]) -> None:
    """Set the sampled mutants back to "not checked", so a stopped run cannot report old verdicts."""
    wanted = set(names)
    for meta in meta_files():
        data = json.loads(meta.read_text())
        hit = wanted & data["exit_code_by_key"].keys()
        if hit:
            for key in hit:
                data["exit_code_by_key"][key] = None
            meta.write_text(json.dumps(data, indent=4))


def module_of_name(name: str) -> str:
    """``fleetdeck.core.a.b.x_f__mutmut_3`` -> ``core/a/b.py`` (for mutants no longer generated)."""
    dotted = name.partition("__mutmut_")[0].rpartition(".")[0]
    return dotted.removeprefix("fleetdeck.").replace(".", "/") + ".py"


def classify(code: int | None) -> str:
    if code in KILLED:
        return "killed"
    if code in TIMEOUT:
        return "timeout"
    if code in SURVIVED:
        return "survived"
    if code in NO_TESTS:
        return "no tests"
    return "not run" if code is None else f"other ({code})"


def snapshot(seed: int) -> None:
    """Keep the sample's verdicts of this run in the sample file: the "before" of a later `rerun`.

    A change of mutmut's test selection makes mutmut forget every verdict; a mutant a test killed
    stays killed when tests are only added, so `rerun` runs only the others and `report` takes the
    rest from here."""
    path = sample_path(seed)
    sample = json.loads(path.read_text())
    verdicts = all_verdicts()
    sample["before"] = {name: verdicts[name][1] for name in sample["names"]}
    path.write_text(json.dumps(sample, indent=1))


def report(seed: int, before: bool = False) -> int:
    sample = json.loads(sample_path(seed).read_text())
    names: list[str] = sample["names"]
    kept: dict[str, int | None] = sample.get("before", {})
    verdicts = {
        name: (module, kept.get(name) if before or code is None else code)
        for name, (module, code) in all_verdicts().items()
    }
    print(
        "BEFORE (the verdicts of the sampled run)"
        if before
        else "NOW (re-run verdicts over those of the sampled run)"
    )
    per_module: dict[str, Counter[str]] = defaultdict(Counter)
    missed: list[tuple[str, str]] = []
    for name in names:
        if name in verdicts:
            module, code = verdicts[name]
            status = classify(code)
        elif before:
            module, status = module_of_name(name), classify(kept.get(name))
        else:  # its code was deleted since the draw (dead code): no longer a mutant of core
            module, status = module_of_name(name), "removed"
        per_module[module][status] += 1
        if status in ("survived", "no tests"):
            missed.append((status, name))
    total: Counter[str] = Counter()
    for c in per_module.values():
        total.update(c)
    killed = total["killed"] + total["timeout"]
    checked = killed + total["survived"] + total["no tests"]
    low, high = wilson(killed, checked)
    print(
        f"sample of {len(names)} of {sample['population']} mutants of core, seed {seed}, "
        f"drawn {sample['drawn']}"
    )
    print(
        f"killed {killed} of {checked} checked ({total['timeout']} of them by the time limit): "
        f"score {100.0 * killed / checked if checked else 0:.1f} %, "
        f"95 % Wilson interval {100 * low:.1f}-{100 * high:.1f} %"
    )
    others = len(names) - checked
    if others:
        print(
            f"NOT in the score: {others} mutants not run, removed (their code deleted since the draw)"
            " or with another verdict (see the table)"
        )
    print()
    print("| module | population | sampled | killed | timeout | survived | no tests | other | score |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    population = Counter(module for module, _ in verdicts.values())
    for module in sorted(per_module):
        c = per_module[module]
        k = c["killed"] + c["timeout"]
        n = k + c["survived"] + c["no tests"]
        other = sum(v for s, v in c.items() if s not in ("killed", "timeout", "survived", "no tests"))
        score = f"{100.0 * k / n:.0f} %" if n else "-"
        print(
            f"| {module} | {population[module]} | {sum(c.values())} | {c['killed']} | {c['timeout']} "
            f"| {c['survived']} | {c['no tests']} | {other} | {score} |"
        )
    print()
    for status, name in sorted(missed, key=lambda m: m[1]):
        print(f"{status:9} {name}")
    for name in sorted(n for n in names if n in verdicts and classify(verdicts[n][1]) == "timeout"):
        print(f"timeout   {name}")
    return 0


def run(n: int, seed: int) -> int:
    load_before = os.getloadavg()
    started = time.time()
    generate()
    verdicts = all_verdicts()
    population = sorted(verdicts)
    names = sorted(random.Random(seed).sample(population, min(n, len(population))))  # noqa: S311 (a reproducible draw, not a secret)
    sample_path(seed).write_text(
        json.dumps(
            {
                "seed": seed,
                "population": len(population),
                "drawn": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "names": names,
            },
            indent=1,
        )
    )
    forget(names)
    run_started = time.time()
    mutmut_run(names)
    wall = time.time() - run_started
    snapshot(seed)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    print()
    print(
        f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}; "
        f"mutant run {wall / 60:.1f} min wall for {len(names)} mutants ({len(names) / wall:.2f}/s), "
        f"all steps {(time.time() - started) / 60:.1f} min, CPU of children "
        f"{(cpu.ru_utime + cpu.ru_stime) / 60:.1f} min"
    )
    return report(seed)


def rerun(seed: int, patterns: list[str], timeouts: bool = False) -> int:
    """Run the sample's survivors (and untested mutants) again, e.g. after adding tests: those
    whose latest verdict is one of these; only those matching ``patterns`` (fnmatch) if given.
    ``timeouts``: the mutants the time limit stopped too; on a loaded machine a surviving mutant
    whose tests ran slowly is stopped by the clock and counted as killed (seed 20261204: 10 of
    the 14 timeouts at a load average of 8-14 were survivors of a quiet run)."""
    wanted = ("survived", "no tests", "timeout") if timeouts else ("survived", "no tests")
    sample = json.loads(sample_path(seed).read_text())
    exist = all_verdicts()
    now = {
        n: code if n not in exist or exist[n][1] is None else exist[n][1]
        for n, code in sample["before"].items()
    }
    again = [
        n
        for n, code in now.items()
        if classify(code) in wanted
        and n in exist
        and (not patterns or any(fnmatch.fnmatch(n, p) for p in patterns))
    ]
    if not again:
        print("no survivors to re-run")
        return report(seed)
    print(f"re-running {len(again)} mutants")
    forget(again)
    mutmut_run(again)
    return report(seed)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["run", "report", "rerun", "snapshot"])
    parser.add_argument("patterns", nargs="*", help="rerun: only these mutants (fnmatch patterns)")
    parser.add_argument("--before", action="store_true", help="report: the sampled run's verdicts")
    parser.add_argument("--timeouts", action="store_true", help="rerun: the time limit's kills too")
    parser.add_argument("-n", type=int, default=360, help="sample size (run)")
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_intermixed_args(argv)
    if args.action == "run":
        return run(args.n, args.seed)
    if args.action == "rerun":
        return rerun(args.seed, args.patterns, args.timeouts)
    if args.action == "snapshot":
        snapshot(args.seed)
        return 0
    return report(args.seed, args.before)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
