"""RemotePC's request parameters: a JSON object (POST bodies, and GET bodies as documented),
or query parameters for GETs (most HTTP clients cannot send a GET body).

RemotePC's own samples carry trailing commas (``["a", "b"],\n}``), so clients copied from them
send those: a comma right before a closing bracket, outside strings, is dropped before the
strict decoder (kit ``bodies``) reads the body. Anything else that is not JSON is refused."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fleetdeck.api.dialects.remotepc import errors as e
from fleetdeck.api.kit import listing
from fleetdeck.api.kit.bodies import BodyInvalid, decode_json
from fleetdeck.core import query as q

PAGE_INDEX = "pageIndex"
RECORDS_PER_PAGE = "recordPerPage"
MAX_PER_PAGE = 500
MAX_REMOVE = 50  # computers removed per call


def without_trailing_commas(text: str) -> str:
    """``text`` without commas that only whitespace separates from a following ``]`` or ``}``,
    outside strings. One pass, linear."""
    out: list[str] = []
    pending: int | None = None  # index in out of a comma that may be trailing
    in_string = escaped = False
    for ch in text:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch in "]}" and pending is not None:
            out[pending] = ""
        if not ch.isspace():
            pending = None
        if ch == ",":
            pending = len(out)
        elif ch == '"':
            in_string = True
        out.append(ch)
    return "".join(out)


def body_object(raw: bytes) -> dict[str, Any]:
    """The body's object; empty body = no parameters. 400 "Invalid parameters" otherwise."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
        value = decode_json(without_trailing_commas(text))
    except (UnicodeDecodeError, BodyInvalid):
        raise e.RemotePcError(400, e.INVALID_PARAMETERS) from None
    if not isinstance(value, dict):
        raise e.RemotePcError(400, e.INVALID_PARAMETERS)
    return value


def merged(body: Mapping[str, Any], query: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A GET's parameters: the body's, and the query string's over them."""
    out = dict(body)
    out.update(query)
    return out


class Params:
    """Typed access to one request's parameters; a value of the wrong type is a 400."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def text(self, key: str) -> str | None:
        """A string, or None when absent or null."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or "\x00" in value:
            raise e.RemotePcError(400, e.INVALID_PARAMETERS)
        return value

    def texts(self, key: str, *, missing: str = e.INVALID_PARAMETERS) -> list[str] | None:
        """A list of strings, or None when absent or null; a lone string counts as a list of
        one (clients built from the single-valued fields send that). ``missing``: the text for a
        value that is no list of strings."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and "\x00" not in v for v in value):
            raise e.RemotePcError(400, missing)
        return list(value)

    def switch(self, key: str, invalid: str) -> bool | None:
        """0 or 1 (a number, or its text from a query string): False/True; absent: None."""
        value = self.data.get(key)
        if value is None:
            return None
        if value in (0, 1, "0", "1") and not isinstance(value, bool | float):
            return str(value) == "1"
        raise e.RemotePcError(400, invalid)

    def whole(self, key: str, default: int, invalid: str) -> int:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit() and len(value) < 19:
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62:
            return value
        raise e.RemotePcError(400, invalid)

    def page(self) -> tuple[int, int]:
        """(pageIndex, recordPerPage): 1-based, default 1 and 500, at most 500 per page."""
        index = self.whole(PAGE_INDEX, 1, e.INVALID_PAGE)
        per_page = self.whole(RECORDS_PER_PAGE, MAX_PER_PAGE, e.INVALID_PARAMETERS)
        if index < 1:
            raise e.RemotePcError(400, e.INVALID_PAGE)
        return index, per_page


# Pages through the kit's list parser, so page sizes follow one rule set for every REST list.
PAGE_RULES = listing.ListRules(
    filters={},
    sorts=frozenset(),
    default_sort=(q.SortKey("id"),),
    default_limit=MAX_PER_PAGE,
    min_limit=1,
    max_limit=MAX_PER_PAGE,
)
PAGE_SYNTAX = listing.ListSyntax(ops={}, messages={k: e.INVALID_PARAMETERS for k in listing.MESSAGES})


def page_query(index: int, per_page: int) -> q.Query:
    """Core's query for page ``index`` (1-based) of ``per_page`` rows, by id."""
    params = [("page[limit]", str(per_page)), ("page[offset]", str((index - 1) * per_page))]
    return listing.parse(params, PAGE_RULES, PAGE_SYNTAX).query


def check_page(index: int, per_page: int, total: int) -> None:
    """A page after the last one (page 1 of nothing is fine) is RemotePC's "Invalid page index"."""
    if index > max(1, -(-total // per_page)):
        raise e.RemotePcError(400, e.INVALID_PAGE)
