"""``/messagebus/v1``: opsi 4.3's message bus is not served. opsi's ServiceClient offers
``connect_messagebus()`` because fleetdeck announces opsiconfd 4.3; it gets this refusal, an
HTTP 501 with an opsi error body that says why (a WebSocket handshake is answered the same way,
where the server supports denial responses, else closed with the reason)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from fleetdeck.api.dialects.opsi.envelope import base_headers

PATH = "/messagebus/v1"
REASON = (
    "fleetdeck does not serve opsi's message bus (/messagebus/v1): use JSON-RPC over /rpc;"
    " clients and hosts are reached through the fleetdeck agent (hostControl_* methods)"
)


def _refusal() -> Response:
    body = {"class": "NotImplementedError", "code": 501, "message": REASON, "status": 501, "details": None}
    return JSONResponse(body, status_code=501, headers=base_headers())


async def _http(request: Request) -> Response:
    return _refusal()


async def _websocket(websocket: WebSocket) -> None:
    try:
        await websocket.send_denial_response(_refusal())
    except RuntimeError:  # the server has no denial responses: refuse the handshake with the reason
        await websocket.close(code=1008, reason=REASON[:120])


ROUTES = [
    Route(PATH, _http, methods=["GET", "POST", "HEAD"], name="opsi:messagebus"),
    WebSocketRoute(PATH, _websocket, name="opsi:messagebus-ws"),
]
