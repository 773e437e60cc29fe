"""How a command job is started on each platform: which shell, which arguments, which encoding.

:func:`launch` is pure (platform, ``which`` and environment are parameters), so the argv a
Windows or macOS agent would run is tested on Linux.

- POSIX: ``sh`` (the default; /bin/sh), ``bash``, ``zsh`` (macOS's login shell), each ``-c``.
- Windows ``cmd`` (the default there): a one-line command goes to ``%ComSpec% /c "..."``
  verbatim (Python's ``shell=True``; an argv would be quoted by MSVC rules, which cmd does not
  follow). A script of several lines (rport's scripts) would run only its first line that way,
  so it is written to a ``.cmd`` file (CRLF, OEM code page, ``@echo off`` first, as an admin's
  batch file would be) and run with ``cmd /d /c FILE``.
- ``powershell``: Windows PowerShell (``powershell.exe``; ``pwsh`` where it is missing, and
  on Linux/macOS) with ``-NoProfile -NonInteractive``, ``-ExecutionPolicy Bypass`` on Windows,
  and the command as ``-EncodedCommand`` (base64 of UTF-16 LE: no quoting problem whatever the
  text). A prelude makes it write UTF-8 and hides progress bars (which PowerShell otherwise
  sends as CLIXML on a redirected stderr). A text too long for the 32,767-character Windows
  command line goes to a ``.ps1`` file (UTF-8 with BOM, which Windows PowerShell 5.1 needs)
  run with ``-File``.

Exit codes are the shell's: ``cmd /c`` gives the last command's, PowerShell 0 or 1 for
``-EncodedCommand`` (whether the last statement succeeded) unless the script says ``exit N``.
Output is decoded as UTF-8 when it is valid UTF-8, else in the OEM code page on Windows
(fleetdeck.agent.decoding).
"""

from __future__ import annotations

import base64
import dataclasses
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fleetdeck.agent.decoding import UTF8
from fleetdeck.protocol import messages as m

SCRIPT = "\x00script\x00"  # in Launch.argv: stands for the script file's path
MAX_WINDOWS_COMMAND_LINE = 32_000  # CreateProcess takes 32,767 characters
PS_PRELUDE = (
    "try { [Console]::OutputEncoding = [Text.UTF8Encoding]::new($false) } catch {}\n"
    "$ProgressPreference = 'SilentlyContinue'\n"
)

Which = Callable[[str], str | None]


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    via_comspec: bool = False  # argv[0] is a command line for %ComSpec% /c (Windows cmd)
    script: bytes | None = None  # written to a file whose path replaces SCRIPT in argv
    suffix: str = ""
    output_codepage: str = UTF8  # for output that is not UTF-8


def features(platform: str, which: Which) -> list[str]:
    """The interpreters this agent announces in its hello (protocol FEATURE_*): zsh where a
    ``zsh`` is on the PATH (not on Windows). sh, bash, powershell and cmd are not announced:
    every agent knows them, and a missing one fails the job with "not installed"."""
    return [m.FEATURE_ZSH] if platform != "win32" and which("zsh") else []


def default_interpreter(platform: str) -> str:
    return "cmd" if platform == "win32" else "sh"


def encoded_command(text: str) -> str:
    return base64.b64encode(text.encode("utf-16-le")).decode("ascii")


def powershell(command: str, platform: str, which: Which, codepage: str) -> Launch:
    windows = platform == "win32"
    names = ("powershell", "pwsh") if windows else ("pwsh", "powershell")
    exe = next((p for p in map(which, names) if p), "powershell.exe" if windows else "pwsh")
    argv = [exe, "-NoProfile", "-NonInteractive"]
    if windows:
        argv += ["-ExecutionPolicy", "Bypass"]
    text = PS_PRELUDE + command
    encoded = encoded_command(text)
    if len(encoded) + sum(len(a) + 3 for a in argv) < MAX_WINDOWS_COMMAND_LINE:
        return Launch([*argv, "-EncodedCommand", encoded], output_codepage=codepage)
    script = b"\xef\xbb\xbf" + text.encode("utf-8")
    return Launch([*argv, "-File", SCRIPT], script=script, suffix=".ps1", output_codepage=codepage)


def cmd(command: str, environ: Mapping[str, str], codepage: str) -> Launch:
    if "\n" not in command.strip():
        return Launch([command.strip()], via_comspec=True, output_codepage=codepage)
    lines = ["@echo off", *command.replace("\r\n", "\n").split("\n")]
    script = "\r\n".join(lines).encode(codepage, errors="replace")
    comspec = environ.get("ComSpec") or environ.get("COMSPEC") or "cmd.exe"
    return Launch([comspec, "/d", "/c", SCRIPT], script=script, suffix=".cmd", output_codepage=codepage)


def launch(
    spec: m.CommandSpec,
    platform: str,
    which: Which = shutil.which,
    environ: Mapping[str, str] | None = None,
    codepage: str = UTF8,
) -> Launch:
    """How to run ``spec`` on ``platform`` (``sys.platform``); ``codepage``: the OEM code page.
    ``spec.sudo`` runs it through ``sudo -n --`` (not on Windows, as rportd's client)."""
    how = _launch(spec, platform, which, environ, codepage)
    if spec.sudo and platform != "win32" and not how.via_comspec:
        return dataclasses.replace(how, argv=["sudo", "-n", "--", *how.argv])
    return how


def _launch(
    spec: m.CommandSpec,
    platform: str,
    which: Which,
    environ: Mapping[str, str] | None,
    codepage: str,
) -> Launch:
    interpreter = spec.interpreter or default_interpreter(platform)
    if interpreter == "powershell":
        return powershell(spec.command, platform, which, codepage)
    if interpreter == "cmd" and platform != "win32":
        return Launch(["cmd.exe", "/c", spec.command])  # fails to start: "cannot start command"
    if interpreter == "cmd":
        return cmd(spec.command, environ or {}, codepage)
    exe = "/bin/sh" if interpreter == "sh" else which(interpreter) or f"/bin/{interpreter}"  # bash, zsh
    return Launch([exe, "-c", spec.command], output_codepage=codepage)
