"""Free ports on 127.0.0.1 for tests that need one number for both TCP and UDP (tcp+udp tunnels)."""

from __future__ import annotations

import socket


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_tcp_and_udp_port() -> int:
    """A port free for TCP and UDP alike (a free UDP port is usually free for TCP too)."""
    for _ in range(50):
        port = free_udp_port()
        with socket.socket() as t:
            try:
                t.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no port free for both TCP and UDP")
