"""Bodies opsi's server must not choke on: non-finite numbers, lone surrogates, and a small
compressed body that expands into a huge batch."""

from __future__ import annotations

import gzip
import json

import pytest

from .conftest import Rpc


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc":"2.0","id":Infinity,"method":"getDomain","params":[]}',
        b'{"jsonrpc":"2.0","id":1e400,"method":"getDomain","params":[]}',
        b'{"jsonrpc":"2.0","id":1,"method":"host_getObjects","params":[[],{"id":"\\ud800"}]}',
    ],
)
def test_what_json_cannot_carry_is_a_400_with_opsis_error(rpc: Rpc, body: bytes) -> None:
    r = rpc.post(None, content=body)
    assert r.status_code == 400
    answer = json.loads(r.content)  # valid JSON (no Infinity echoed back)
    assert answer["error"]["class"] == "ValueError"
    assert "invalid json body" in answer["error"]["message"]


def test_a_compressed_batch_bomb_is_refused_cheaply(rpc: Rpc) -> None:
    inflated = b"[" + b"{}," * 200_000 + b"{}]"  # 600 kB of calls from a few kB of gzip
    r = rpc.post(None, content=gzip.compress(inflated), headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["class"] == "ValueError" and "at most 10000 calls" in error["message"]
    assert len(r.content) < 500  # one small error, not 200,000 of them


def test_a_body_inflating_beyond_the_cap_is_refused(rpc: Rpc) -> None:
    bomb = gzip.compress(b" " * (17 * 1024 * 1024))
    r = rpc.post(None, content=bomb, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400
    assert "larger than" in r.json()["error"]["message"]
