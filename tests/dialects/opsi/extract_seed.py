"""Extract the example calls and answers of opsi's API document into ``seed_examples.json``.

    .venv/bin/python -m tests.dialects.opsi.extract_seed /work/shared/seeds/001_9f04911c29ab860f.txt

Each example is a line ``method <name> <params...>`` followed by a JSON answer; the params are
opsi-admin's shell words (``[]`` and JSON objects).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

LINE = re.compile(r"^\s*method\s+(\w+)\s*(.*)$")


def _params(rest: str) -> list[Any]:
    out: list[Any] = []
    decoder = json.JSONDecoder()
    text = rest.strip().replace("'", "")
    while text:
        value, end = decoder.raw_decode(text)
        out.append(value)
        text = text[end:].strip()
    return out


def extract(text: str) -> list[dict[str, Any]]:
    lines = text.splitlines()
    examples = []
    for i, line in enumerate(lines):
        m = LINE.match(line)
        if not m or i + 1 >= len(lines) or not lines[i + 1].strip().startswith("["):
            continue
        body = "\n".join(lines[i + 1 :])
        try:
            result, _ = json.JSONDecoder().raw_decode(body.strip())
            params = _params(m.group(2))
        except ValueError:
            continue
        examples.append({"method": m.group(1), "params": params, "result": result})
    return examples


def main() -> None:
    examples = extract(Path(sys.argv[1]).read_text())
    out = Path(__file__).with_name("seed_examples.json")
    out.write_text(json.dumps(examples, indent=1) + "\n")
    print(f"{len(examples)} examples -> {out}")


if __name__ == "__main__":
    main()
