"""JSON bodies, decoded strictly and encoded safely, for every dialect.

Python's ``json`` accepts what no JSON peer sends and what fleetdeck cannot store: ``NaN`` and
``Infinity``, numbers such as ``1e400`` (an infinite float), and strings with lone UTF-16
surrogates (``"\\ud800"``), which then fail deep inside (a settings comparison, the database
driver) as a 500. msgspec's decoder refuses all of them at the edge, and it is several times
faster. Encoding with msgspec writes a non-finite float as ``null`` instead of the invalid
``Infinity`` that ``json.dumps`` writes.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec


class BodyInvalid(ValueError):
    """The body is not JSON fleetdeck accepts; the message says why, for the client."""


def decode_json(body: bytes | str) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.ValidationError as exc:  # a number out of range
        raise BodyInvalid(f"not valid JSON: {exc}") from None
    except msgspec.DecodeError as exc:
        reason = str(exc)
        if "truncated" in reason and _has_lone_surrogate(body):
            reason = "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)"
        raise BodyInvalid(f"not valid JSON: {reason}") from None


def encode_json(value: Any) -> bytes:
    return msgspec.json.encode(value)


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")  # no nested repetition: linear


def _has_lone_surrogate(body: bytes | str) -> bool:
    """Only to word the error: msgspec reports a lone surrogate as a truncated input."""
    data = body.encode("utf-8", "replace") if isinstance(body, str) else body
    return _SURROGATE.search(data) is not None
