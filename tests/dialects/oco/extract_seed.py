"""Extract the request/response examples of OCO's client API document into seed_examples.json.

Run once from the repository root (CI has only the committed JSON):

    .venv/bin/python -m tests.dialects.oco.extract_seed /work/shared/seeds/000_336526ca341fccf5.txt

Every method section ("oco.x.y - Title") holds two JSON blocks: the request and the response.
The document's examples are not all valid JSON; the fixes applied are listed per example under
"fixups" so that nothing is changed silently.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

HEADING = re.compile(r"^(oco\.[a-z_.]+) - (.+)$", re.MULTILINE)
OUT = Path(__file__).with_name("seed_examples.json")

# (method, part, broken text, replacement, why)
FIXUPS = [
    (
        "oco.computer.list",
        "response",
        re.compile(r",\s*\.{5,}\s*"),
        "\n",
        "removed the '.........' placeholder standing for more computers",
    ),
    (
        "oco.computer.create",
        "response",
        re.compile(r'"data": \[\s*"id": 123\s*\]'),
        '"data": {"id": 123}',
        'the document shows \'["id": 123]\', which is not JSON; read as the object {"id": 123}',
    ),
]


def json_blocks(text: str) -> list[str]:
    """Top-level {...} blocks, by brace matching outside strings."""
    blocks, depth, start, in_str, esc = [], 0, 0, False, False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"' and depth:
            in_str = True
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                blocks.append(text[start : i + 1])
    return blocks


def load(text: str, notes: list[dict[str, str]], part: str) -> Any:
    """json.loads, noting duplicate keys (the last one wins, as in PHP's json_decode)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                notes.append({"part": part, "why": f"duplicate key {key!r}: the last value is kept"})
            seen.add(key)
        return dict(items)

    return json.loads(text, object_pairs_hook=pairs)


def extract(text: str) -> list[dict[str, Any]]:
    examples = []
    heads = list(HEADING.finditer(text))
    for n, head in enumerate(heads):
        end = heads[n + 1].start() if n + 1 < len(heads) else text.find("Error Format")
        section = text[head.end() : end]
        blocks = json_blocks(section)
        assert len(blocks) == 2, f"{head.group(1)}: expected 2 JSON blocks, found {len(blocks)}"
        parts = dict(zip(("request", "response"), blocks, strict=True))
        fixups = []
        for method, part, pattern, replacement, why in FIXUPS:
            if method == head.group(1):
                parts[part], count = pattern.subn(replacement, parts[part])
                assert count, f"fixup for {method} did not apply"
                fixups.append({"part": part, "why": why})
        examples.append(
            {
                "method": head.group(1),
                "title": head.group(2).strip(),
                "request": load(parts["request"], fixups, "request"),
                "response": load(parts["response"], fixups, "response"),
                "fixups": fixups,
            }
        )
    error_section = text[text.find("Error Format") :]
    error = json.loads(json_blocks(error_section)[0])
    return [*examples, {"method": None, "title": "Error Format", "response": error, "fixups": []}]


def main() -> None:
    source = Path(sys.argv[1])
    examples = extract(source.read_text(encoding="utf-8"))
    OUT.write_text(json.dumps(examples, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(examples)} examples -> {OUT}")


if __name__ == "__main__":
    main()
