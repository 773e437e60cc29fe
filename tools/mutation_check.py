"""Run mutants by name against chosen test files, in one process (docs/testing.md).

For checking that new tests kill the survivors of an earlier `make mutation` run without a second
mutmut run: in ``mutants/`` (mutmut's working copy, with the new test files copied into
``mutants/tests``) each mutant is switched on the way mutmut does it, ``MUTANT_UNDER_TEST=<name>``
(mutmut's trampolines read it at each call), and pytest runs the given files with ``-x``. A
mutant whose code runs only at import (e.g. a function that builds a module-level table) is
never switched on this way, as in mutmut itself: apply those by hand (``mutmut show NAME |
patch -p0``, run the tests, ``git checkout`` the file).

Usage (from the repository root):
    python tools/mutation_check.py NAMES.json tests/unit/core/test_x.py [...]
NAMES.json is a JSON list of mutant names. Prints "killed NAME" or "survived NAME" per mutant,
after a baseline run with no mutant, which must pass.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    if os.environ.get("MUTATION_CHECK_CHILD") != "1":
        root = Path("mutants").resolve()
        env = {
            **os.environ,
            "MUTATION_CHECK_CHILD": "1",
            "MUTANT_UNDER_TEST": "none",
            "PYTHONPATH": f"{root / 'src'}:{root}",
            "FLEETDECK_TEST_DB": "sqlite",
        }
        script = str(Path(__file__).resolve())
        args = [str(Path(argv[0]).resolve()), *argv[1:]]
        return subprocess.call(["nice", "-n", "19", sys.executable, script, *args], cwd=root, env=env)
    import pytest

    names: list[str] = json.loads(Path(argv[0]).read_text())
    tests = argv[1:]

    def run() -> int:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return int(pytest.main(["-n", "0", "-q", "-x", "-p", "no:cacheprovider", *tests]))

    if run() != 0:
        print("the tests fail without a mutant: fix them first")
        return 1
    for name in names:
        os.environ["MUTANT_UNDER_TEST"] = name
        print(("survived " if run() == 0 else "killed ") + name, flush=True)
    os.environ["MUTANT_UNDER_TEST"] = "none"
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
