"""Running the platform's inventory tools (``reg``, ``powershell``, ``system_profiler``...).

Every collector asks for a tool's output through a :data:`Runner` (argv in, stdout bytes out,
None when the tool could not be run), so that the tests can replace the machine by recorded
outputs of the real tools (tests/fixtures/windows, tests/fixtures/darwin). A missing tool,
a timeout, a failure or output that cannot be parsed leaves the fields it would have filled
empty and is logged once per agent process, not at every collection.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str]], bytes | None]

TOOL_TIMEOUT_SEC = 60.0
OUTPUT_CAP = 64 * 1024 * 1024  # a tool that writes more than this is not telling us anything
_warned: set[str] = set()


def warn_once(key: str, message: str, *args: object) -> None:
    """Log ``message`` the first time ``key`` comes up in this process."""
    if key in _warned:
        return
    _warned.add(key)
    log.warning(message, *args)


def run_tool(argv: Sequence[str]) -> bytes | None:
    """stdout of ``argv`` (C/UTF-8 locale, no window, bounded time), or None if it failed.

    A non-zero exit with output still gives the output (``quser`` exits 1 when nobody is
    logged in, ``reg query`` of a missing key says so on stderr): the parsers judge.
    """
    kwargs: dict[str, object] = {}
    if sys.platform == "win32":
        kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=TOOL_TIMEOUT_SEC,
            check=False,
            env={**os.environ, "LC_ALL": "C"} if sys.platform != "win32" else None,
            **kwargs,  # type: ignore[call-overload]
        )
    except (OSError, subprocess.SubprocessError) as exc:
        warn_once(f"run:{argv[0]}", "inventory: %s cannot be run: %s", argv[0], exc)
        return None
    out: bytes = proc.stdout[:OUTPUT_CAP]
    if proc.returncode != 0 and not out.strip():
        why = proc.stderr[:200].decode("utf-8", errors="replace").strip()
        warn_once(f"exit:{argv[0]}", "inventory: %s exited %s: %s", argv[0], proc.returncode, why)
        return None
    return out


PLACEHOLDERS = frozenset(
    {
        "", "0", "none", "n/a", "na", "default string", "to be filled by o.e.m.", "system serial number",
        "system manufacturer", "system product name", "not specified", "not applicable", "oem",
        "chassis serial number", "0123456789", "invalid",
    }
)  # fmt: skip


def clean(value: object) -> str:
    """A firmware string, or "" for the placeholders OEMs leave in SMBIOS fields."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    text = str(value).replace("\x00", "").strip()
    return "" if text.lower() in PLACEHOLDERS else text
