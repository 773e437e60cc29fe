"""Wake-on-LAN magic packets: building them, where to send them, and sending them over UDP."""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

log = logging.getLogger("fleetdeck.wol")

LIMITED_BROADCAST = "255.255.255.255"
_HEX = re.compile(r"^[0-9a-f]{12}$")


def parse_mac(text: str) -> bytes | None:
    """Six bytes for ``aa:bb:cc:dd:ee:ff`` (also ``-``, ``.`` or no separators); None for an
    unknown placeholder ("", "-", "?"), an all-zero or otherwise unusable address."""
    digits = re.sub(r"[\s:.\-]", "", text or "").lower()
    if not _HEX.match(digits):
        return None
    mac = bytes.fromhex(digits)
    if mac == bytes(6) or mac == b"\xff" * 6:
        return None
    return mac


def magic_packet(mac: bytes) -> bytes:
    """6 x 0xFF followed by the MAC 16 times: 102 bytes."""
    if len(mac) != 6:
        raise ValueError("a MAC address has 6 bytes")
    return b"\xff" * 6 + mac * 16


def broadcasts(addresses: Iterable[Any]) -> list[str]:
    """The IPv4 broadcast address of each network in an interface's ``addresses`` inventory
    (``{"address", "family", "netmask", "broadcast"}``), loopback excluded."""
    found: list[str] = []
    for entry in addresses:
        if not isinstance(entry, dict) or entry.get("family") != "ipv4":
            continue
        try:
            address = ipaddress.IPv4Address(str(entry.get("address", "")))
            if address.is_loopback or address.is_link_local:
                continue
            given = str(entry.get("broadcast") or "")
            if given:
                target = str(ipaddress.IPv4Address(given))
            else:
                netmask = str(entry.get("netmask") or "")
                if not netmask:
                    continue
                network = ipaddress.IPv4Network(f"{address}/{netmask}", strict=False)
                if network.prefixlen >= 31:
                    continue
                target = str(network.broadcast_address)
        except ValueError:
            continue
        if target not in found:
            found.append(target)
    return found


class PacketSender(Protocol):
    def send(self, packets: Sequence[tuple[bytes, str]], port: int) -> int:
        """Send each (payload, address) datagram; the number actually sent."""
        ...


class UdpSender:
    """Sends datagrams from one UDP socket with SO_BROADCAST set."""

    def send(self, packets: Sequence[tuple[bytes, str]], port: int) -> int:
        if not packets:
            return 0
        sent = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            for payload, address in packets:
                try:
                    sock.sendto(payload, (address, port))
                    sent += 1
                except OSError as exc:
                    log.warning("could not send a WOL packet to %s:%d: %s", address, port, exc)
        return sent
