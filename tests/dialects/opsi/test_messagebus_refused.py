"""``/messagebus/v1`` is not served: plain HTTP and the WebSocket handshake get a 501 with an
opsi error body that says why, never the web UI or a bare 404."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from fleetdeck.api.dialects.opsi.messagebus import REASON

from .conftest import Rpc


def test_http_gets_a_501_that_says_why(rpc: Rpc) -> None:
    r = rpc.client.get("/messagebus/v1", headers={"Authorization": rpc.auth})
    assert r.status_code == 501
    assert r.json()["message"] == REASON and "message bus" in REASON
    assert r.headers["server"].startswith("opsiconfd")


def test_the_websocket_handshake_is_refused_with_the_reason(client: TestClient, rpc: Rpc) -> None:
    headers = {"Authorization": rpc.auth}
    with (
        pytest.raises(WebSocketDenialResponse) as caught,
        client.websocket_connect("/messagebus/v1", headers=headers),
    ):
        pass
    assert caught.value.status_code == 501
    assert caught.value.json()["message"] == REASON
