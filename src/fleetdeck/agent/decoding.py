"""Bytes from a child process to text, whatever encoding the tool chose.

POSIX tools write UTF-8 (the agent runs them with a UTF-8 or C locale). Windows tools do not
agree on anything: ``cmd`` and ``reg``/``wmic``/``quser`` write in the console's OEM code page
(cp437, cp850, cp866, cp932...), ``cmd /u`` and PowerShell's ``Out-File``/``>`` write UTF-16 LE
(with a BOM from PowerShell), PowerShell 7 writes UTF-8, sometimes with a BOM. So: a BOM
decides; then UTF-16 LE without a BOM is recognised by its NUL bytes; then UTF-8 if the bytes
are valid UTF-8; else the fallback code page (the OEM code page on Windows), which decodes any
byte. :class:`OutputDecoder` does the same incrementally for live job output: it stays with
UTF-8 until a chunk is not UTF-8, then uses the code page for the rest of the stream.
"""

from __future__ import annotations

import codecs
import contextlib
import sys

UTF8 = "utf-8"
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
SNIFF_BYTES = 64  # enough to tell UTF-16 LE from an 8-bit encoding by its NULs


def oem_codepage(platform: str = sys.platform) -> str:
    """The code page console programs write in on this machine ("utf-8" off Windows)."""
    if platform != "win32":
        return UTF8
    with contextlib.suppress(Exception):
        import ctypes

        cp = int(getattr(ctypes, "windll").kernel32.GetOEMCP())  # noqa: B009 (Windows only)
        return valid_codec(f"cp{cp}") if cp != 65001 else UTF8
    return "cp437"


def valid_codec(name: str, default: str = "cp437") -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return default


def sniff(head: bytes) -> tuple[str | None, int]:
    """(encoding, BOM length) told by the first bytes, or (None, 0) when they say nothing."""
    for bom, name in BOMS:
        if head.startswith(bom):
            return name, len(bom)
    sample = head[: min(len(head), SNIFF_BYTES) // 2 * 2]
    if len(sample) >= 4:
        odd = sample[1::2]
        if odd.count(0) * 4 >= len(odd) * 3 and sample[0::2].count(0) == 0:
            return "utf-16-le", 0  # `cmd /u`, or a tool that writes wide chars with no BOM
    return None, 0


def decode_bytes(data: bytes, fallback: str = UTF8) -> str:
    """The whole output as text: BOM, UTF-16 LE, UTF-8, else ``fallback`` (never raises)."""
    if not data:
        return ""
    encoding, skip = sniff(data)
    if encoding is not None:
        return data[skip:].decode(encoding, errors="replace")
    try:
        return data.decode(UTF8)
    except UnicodeDecodeError:
        return data.decode(fallback, errors="replace")


def decode_tool_output(data: bytes, fallback: str = UTF8) -> str:
    """:func:`decode_bytes` with line ends made ``\\n`` (CRLF, and wmic's CR CR LF)."""
    text = decode_bytes(data, fallback)
    return text.replace("\r\n", "\n").replace("\r", "\n")


class OutputDecoder:
    """Incremental :func:`decode_bytes` for one stream of live output."""

    def __init__(self, fallback: str = UTF8) -> None:
        self.fallback = fallback
        self.head = b""
        self.encoding: str | None = None
        self.decoder: codecs.IncrementalDecoder | None = None

    def _choose(self, head: bytes) -> bytes:
        encoding, skip = sniff(head)
        self.encoding = encoding or UTF8
        strict = self.encoding == UTF8 and self.fallback != UTF8
        self.decoder = codecs.getincrementaldecoder(self.encoding)("strict" if strict else "replace")
        return head[skip:]

    def decode(self, chunk: bytes, final: bool = False) -> str:
        if self.decoder is None:
            if final and not chunk and not self.head:
                return ""  # a stream without output (most jobs' stderr): no decoder needed
            self.head += chunk
            if len(self.head) < 4 and not final:
                return ""  # a BOM may still be arriving
            chunk, self.head = self._choose(self.head), b""
        assert self.decoder is not None
        try:
            return self.decoder.decode(chunk, final)
        except UnicodeDecodeError:
            # Not UTF-8 after all: the rest of the stream is in the code page. What was
            # buffered in the UTF-8 decoder goes with it (it is part of the same bad run).
            pending, _ = self.decoder.getstate()
            self.encoding = self.fallback
            self.decoder = codecs.getincrementaldecoder(self.fallback)("replace")
            return self.decoder.decode(pending + chunk, final)
