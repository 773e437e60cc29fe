"""Running the ``fleetdeck`` CLI's remote verbs as another process, with a config file of the
test's own (``FLEETDECK_CLI_CONFIG``) and nothing of the caller's environment that could point
it elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


class Cli:
    def __init__(self, config: Path, **env: str) -> None:
        self.config = config
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETDECK_")}
        self.env |= {"FLEETDECK_CLI_CONFIG": str(config), "COLUMNS": "200", **env}

    @staticmethod
    def argv() -> list[str]:
        return [sys.executable, "-m", "fleetdeck"]

    def __call__(self, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [*self.argv(), *args],
            env=self.env | env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "Traceback" not in out.stderr, out.stderr
        return out

    def ok(self, *args: str, stdin: str | None = None, **env: str) -> str:
        out = self(*args, stdin=stdin, **env)
        assert out.returncode == 0, f"fleetdeck {' '.join(args)}: {out.returncode} {out.stderr}"
        return out.stdout

    def json(self, *args: str, **env: str) -> Any:
        return json.loads(self.ok(*args, "--json", **env))

    def fails(self, code: int, *args: str, stdin: str | None = None, **env: str) -> str:
        """The command's stderr, after checking it exited with ``code`` and printed no traceback."""
        out = self(*args, stdin=stdin, **env)
        assert out.returncode == code, (
            f"fleetdeck {' '.join(args)}: {out.returncode} {out.stdout} {out.stderr}"
        )
        return out.stderr
