"""The examples of the Dutch seed (RemotePC's documentation), read from the stored file: each
endpoint's URL, method, request examples (verbatim, trailing commas included), and the
descriptions of its error sample."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SEED = Path("/work/shared/seeds/003_586f83569ed9ca5f.txt")
_SECTION = re.compile(r"^(\d+)\. (.+)$")


@dataclass
class Section:
    number: int
    title: str
    path: str = ""
    method: str = ""
    requests: list[str] = field(default_factory=list)
    error_descriptions: list[str] = field(default_factory=list)


def sections(text: str | None = None) -> list[Section]:
    text = text if text is not None else SEED.read_text(encoding="utf-8")
    out: list[Section] = []
    mode = ""
    buffer: list[str] = []

    def flush() -> None:
        if out and buffer:
            chunk = "\n".join(buffer)
            if mode == "request":
                out[-1].requests.append(chunk)
            elif mode == "error":
                out[-1].error_descriptions += re.findall(r'"description": "(.*)"', chunk)
        buffer.clear()

    for line in text.splitlines():
        if (m := _SECTION.match(line)) and not line.startswith(("1 ", "200")):
            flush()
            mode = ""
            out.append(Section(int(m.group(1)), m.group(2)))
        elif line.startswith("URL:"):
            out[-1].path = line.split("/rpcnew/api/msp/", 1)[1].strip()
        elif line.startswith("Methode-Type:"):
            out[-1].method = line.split(":", 1)[1].strip()
        elif re.match(r"^Voorbeeld( \d)? aanvragen$", line):
            flush()
            mode = "request"
        elif line.startswith(("Antwoordmonster", "De beschrijving", "Verwachte foutmelding", "Opmerking")):
            flush()
            mode = ""
        elif line.startswith(("Responsfoutenmonster", "Verwachte foutmonster")):
            flush()
            mode = "error"
        elif mode:
            buffer.append(line)
    flush()
    return out
