"""Job runners per platform (issue #20): the argv a Windows or macOS agent would start, checked
on Linux, and the decoding of recorded Windows output (OEM code pages, UTF-16, UTF-8), through
real processes here. Nothing in this file ran on Windows or macOS."""

from __future__ import annotations

import asyncio
import base64
import codecs
import shutil
from pathlib import Path

import pytest

from fleetdeck.agent import process, shells
from fleetdeck.agent.command import CommandExecution
from fleetdeck.agent.decoding import OutputDecoder, decode_bytes, decode_tool_output, oem_codepage, sniff
from fleetdeck.protocol import messages as m

from .recorded import FIXTURES

WIN = FIXTURES / "windows"
WHICH_WIN = {"powershell": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"}
ENV_WIN = {"ComSpec": "C:\\WINDOWS\\system32\\cmd.exe"}


def win(command: str, interpreter: str | None = None) -> shells.Launch:
    spec = m.CommandSpec(command=command, interpreter=interpreter)  # type: ignore[arg-type]
    return shells.launch(spec, "win32", WHICH_WIN.get, ENV_WIN, "cp850")


def posix(platform: str, command: str, interpreter: str | None = None) -> shells.Launch:
    which = {"bash": "/opt/homebrew/bin/bash", "zsh": "/bin/zsh", "pwsh": "/usr/local/bin/pwsh"}.get
    spec = m.CommandSpec(command=command, interpreter=interpreter)  # type: ignore[arg-type]
    return shells.launch(spec, platform, which, {})


# ------------------------------------------------------------------ argv per platform


def test_windows_default_is_cmd_with_the_command_line_verbatim() -> None:
    how = win('dir "C:\\Program Files" & echo %ERRORLEVEL%')
    assert how.argv == ['dir "C:\\Program Files" & echo %ERRORLEVEL%']
    assert how.via_comspec  # %ComSpec% /c "..." by Python, no MSVC quoting of the text
    assert how.script is None
    assert how.output_codepage == "cp850"
    assert win("ver", "cmd") == win("ver")


def test_a_multi_line_cmd_script_goes_to_a_batch_file_in_the_oem_code_page() -> None:
    how = win("set X=Grüße\necho %X%\r\nexit /b 3\n", "cmd")
    assert how.argv == ["C:\\WINDOWS\\system32\\cmd.exe", "/d", "/c", shells.SCRIPT]
    assert how.suffix == ".cmd"
    assert how.script == "@echo off\r\nset X=Grüße\r\necho %X%\r\nexit /b 3\r\n".encode("cp850")


def test_powershell_on_windows_is_encoded_without_profile_or_prompts() -> None:
    how = win("Get-Service | Where-Object Status -eq 'Running' | Select-Object -First 3", "powershell")
    exe, *flags, encoded = how.argv
    assert exe == WHICH_WIN["powershell"]
    assert flags == ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand"]
    script = base64.b64decode(encoded).decode("utf-16-le")
    assert (
        script
        == shells.PS_PRELUDE + "Get-Service | Where-Object Status -eq 'Running' | Select-Object -First 3"
    )
    assert "[Console]::OutputEncoding = [Text.UTF8Encoding]::new($false)" in script
    assert "$ProgressPreference = 'SilentlyContinue'" in script
    assert not how.via_comspec and how.script is None


def test_powershell_falls_back_to_pwsh_and_to_a_file_for_long_scripts() -> None:
    spec = m.CommandSpec(command="Write-Output 1", interpreter="powershell")
    only_pwsh = shells.launch(spec, "win32", {"pwsh": "C:\\pwsh\\pwsh.exe"}.get, ENV_WIN, "cp850")
    assert only_pwsh.argv[0] == "C:\\pwsh\\pwsh.exe"
    assert shells.launch(spec, "win32", {}.get, ENV_WIN, "cp850").argv[0] == "powershell.exe"
    long = "\n".join(f"Write-Output 'Zeile {i} \u2013 äöü'" for i in range(1500))
    how = win(long, "powershell")
    assert how.argv[-2:] == ["-File", shells.SCRIPT]
    assert how.suffix == ".ps1"
    assert how.script == codecs.BOM_UTF8 + (shells.PS_PRELUDE + long).encode("utf-8")


def test_macos_shells() -> None:
    assert posix("darwin", "sw_vers").argv == ["/bin/sh", "-c", "sw_vers"]
    assert posix("darwin", "print -l $path", "zsh").argv == ["/bin/zsh", "-c", "print -l $path"]
    assert posix("darwin", "echo $BASH_VERSION", "bash").argv == [
        "/opt/homebrew/bin/bash",
        "-c",
        "echo $BASH_VERSION",
    ]
    pwsh = posix("darwin", "Get-Date", "powershell").argv
    assert pwsh[:4] == ["/usr/local/bin/pwsh", "-NoProfile", "-NonInteractive", "-EncodedCommand"]
    no_zsh = shells.launch(m.CommandSpec(command="true", interpreter="zsh"), "linux", {}.get, {})
    assert no_zsh.argv == ["/bin/zsh", "-c", "true"]  # not installed: fails to start, as it should


def test_cmd_off_windows_does_not_start() -> None:
    how = posix("linux", "dir", "cmd")
    assert how.argv == ["cmd.exe", "/c", "dir"] and not how.via_comspec


# ------------------------------------------------------------------ decoding recorded output


RECORDED = [
    ("job-cmd-dir-cp850.bin", "job-cmd-dir-cp850.txt", "cp850"),  # `dir`, German Windows
    ("job-ipconfig-cp866.bin", "job-ipconfig-cp866.txt", "cp866"),  # `ipconfig`, Russian Windows
    ("job-powershell-utf8.bin", "job-powershell.txt", "cp850"),  # with the prelude's UTF-8
    ("job-powershell-utf16.bin", "job-powershell.txt", "cp850"),  # Out-File: UTF-16 LE, BOM
    ("job-cmd-u-utf16.bin", "job-cmd-u.txt", "cp850"),  # `cmd /u`: UTF-16 LE, no BOM
]


@pytest.mark.parametrize(("raw", "text", "codepage"), RECORDED)
def test_recorded_output_decodes_whole_and_in_every_chunking(raw: str, text: str, codepage: str) -> None:
    data = (WIN / raw).read_bytes()
    expected = (WIN / text).read_text(encoding="utf-8").replace("\n", "\r\n")
    assert decode_bytes(data, codepage) == expected
    assert decode_tool_output(data, codepage) == expected.replace("\r\n", "\n")
    for size in (1, 2, 3, 5, 64):
        decoder = OutputDecoder(codepage)
        chunks = [decoder.decode(data[i : i + size]) for i in range(0, len(data), size)]
        assert "".join(chunks) + decoder.decode(b"", final=True) == expected, size


def test_decoding_edge_cases() -> None:
    assert sniff(b"") == (None, 0)
    assert sniff(codecs.BOM_UTF8 + b"x") == ("utf-8", 3)
    assert decode_bytes(b"\xef\xbb\xbfGr\xc3\xbc\xc3\x9fe") == "Grüße"
    assert decode_bytes("Grüße".encode("cp1252"), "cp1252") == "Grüße"
    assert decode_bytes(b"caf\xe9") == "caf\ufffd"  # POSIX: UTF-8 with replacement, as before
    # a program that switches from UTF-8 to the code page: what came first stays UTF-8
    decoder = OutputDecoder("cp850")
    first = decoder.decode("Grüße\n".encode())
    assert first + decoder.decode("Größe\n".encode("cp850"), final=True) == "Grüße\nGröße\n"
    # a UTF-8 sequence split between chunks
    decoder = OutputDecoder("cp850")
    assert decoder.decode(b"\xc3") == "" and decoder.decode(b"\xbc!!!") == "ü!!!"
    assert decoder.decode(b"", final=True) == ""
    assert oem_codepage("linux") == "utf-8"


# ------------------------------------------------------------------ real processes on Linux


async def _run(spec: m.CommandSpec) -> tuple[m.JobResult, str]:
    live: list[m.JobOutput] = []

    async def send(msg: m.Message) -> None:
        if isinstance(msg, m.JobOutput):
            live.append(msg)

    async def started() -> None:
        return None

    result = await CommandExecution(1, spec, send).run(started)
    return result, "".join(o.data for o in live if o.stream == "stdout")


def test_a_commands_code_page_output_is_decoded_live_and_in_the_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(process, "output_codepage", lambda: "cp850")  # as on a German Windows
    raw = WIN / "job-cmd-dir-cp850.bin"
    expected = (WIN / "job-cmd-dir-cp850.txt").read_text(encoding="utf-8").replace("\n", "\r\n")
    result, live = asyncio.run(_run(m.CommandSpec(command=f"cat '{raw}'")))
    assert result.status == "succeeded"
    assert result.stdout == expected
    assert live == expected


def test_a_script_file_is_written_run_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []
    real = process.write_script

    def recording(how: shells.Launch) -> tuple[list[str], Path | None]:
        argv, path = real(how)
        assert path is not None
        seen.append(path)
        return argv, path

    monkeypatch.setattr(process, "write_script", recording)
    monkeypatch.setattr(
        process,
        "plan",
        lambda spec: shells.Launch(["/bin/sh", shells.SCRIPT], script=spec.command.encode(), suffix=".sh"),
    )
    result, _ = asyncio.run(_run(m.CommandSpec(command="echo one\necho two >&2\nexit 3\n")))
    assert (result.status, result.exit_code, result.stdout, result.stderr) == ("failed", 3, "one\n", "two\n")
    assert seen and seen[0].suffix == ".sh"
    assert not seen[0].parent.exists()  # removed with its directory once the job ended


def test_zsh_is_announced_only_where_it_is_installed() -> None:
    assert shells.features("darwin", {"zsh": "/bin/zsh"}.get) == [m.FEATURE_ZSH]
    assert shells.features("linux", {"zsh": "/usr/bin/zsh"}.get) == [m.FEATURE_ZSH]
    assert shells.features("linux", {}.get) == []
    assert shells.features("win32", {"zsh": "C:\\msys64\\usr\\bin\\zsh.exe"}.get) == []


async def _zsh_started() -> None:
    return None


async def _zsh_drop(_msg: m.Message) -> None:
    return None


def _run_zsh(spec: m.CommandSpec) -> m.JobResult:
    return asyncio.run(CommandExecution(1, spec, _zsh_drop).run(_zsh_started))


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed here (apt-get install zsh)")
def test_a_zsh_job_runs_in_zsh() -> None:
    result = _run_zsh(m.CommandSpec(command="print -r -- $ZSH_NAME ${(U)a:-x}; exit 4", interpreter="zsh"))
    assert (result.status, result.exit_code, result.stdout) == ("failed", 4, "zsh X\n")


def test_a_missing_zsh_fails_the_job_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        process, "plan", lambda spec: shells.Launch(["/nonexistent/bin/zsh", "-c", spec.command])
    )
    result = _run_zsh(m.CommandSpec(command="true", interpreter="zsh"))
    assert result.status == "failed"
    assert result.message.startswith("cannot start command: zsh is not installed on this computer (")
