"""A TCP proxy on loopback that drops one connection midway, as a broken link does: for the
tests of what resumes after a drop (agents' payload downloads, the CLI's resumable uploads).
Real sockets both ways; only the cut is staged."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Literal

Side = Literal["request", "response"]


class CuttingProxy:
    """Forwards TCP to ``upstream_port``. The first request that starts with ``cut_at`` is cut
    after ``cut_after`` bytes of its answer (``side="response"``) or of the request itself
    (``side="request"``), both sides of that connection closed. ``heads`` records the head
    (request line and headers) of every request whose request line contains ``record``
    (``cut_at`` when not given)."""

    def __init__(
        self, upstream_port: int, cut_after: int, cut_at: bytes, side: Side, record: bytes | None = None
    ) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.cut_at = cut_at
        self.side = side
        self.record = record if record is not None else cut_at
        self.cuts = 0
        self.heads: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        budget: list[int | None] = [None]  # bytes of the answer still to pass, once armed
        threading.Thread(target=self._pipe, args=(upstream, client, budget, False), daemon=True).start()
        self._pipe(client, upstream, budget, True)

    def _arm(self, data: bytes) -> bool:
        """Records a request head; True when this request is the one to cut."""
        line = data.split(b"\r\n", 1)[0]
        if self.record in line:
            with self._lock:
                self.heads.append(data.split(b"\r\n\r\n", 1)[0])
        if not data.startswith(self.cut_at):
            return False
        with self._lock:
            if self.cuts:
                return False
            self.cuts = 1
            return True

    def _pipe(self, src: socket.socket, dst: socket.socket, budget: list[int | None], requests: bool) -> None:
        left: int | None = None
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if requests and self._arm(data):
                    if self.side == "request":
                        left = self.cut_after
                    else:
                        budget[0] = self.cut_after
                if not requests and budget[0] is not None:
                    left, budget[0] = budget[0], None
                if left is not None and len(data) >= left:
                    dst.sendall(data[:left])
                    break
                if left is not None:
                    left -= len(data)
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.listener.close()
