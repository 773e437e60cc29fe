"""Magic packets, MAC parsing, broadcast addresses, and sending datagrams on loopback."""

from __future__ import annotations

import socket

import pytest

from fleetdeck.core.wol import broadcasts, magic_packet, parse_mac
from fleetdeck.core.wol.magic import UdpSender


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aa:bb:cc:dd:ee:ff", bytes.fromhex("aabbccddeeff")),
        ("AA-BB-CC-DD-EE-01", bytes.fromhex("aabbccddee01")),
        ("aabb.ccdd.ee02", bytes.fromhex("aabbccddee02")),
        ("", None),
        ("-", None),
        ("?", None),
        ("00:00:00:00:00:00", None),
        ("ff:ff:ff:ff:ff:ff", None),
        ("aa:bb:cc", None),
        ("zz:bb:cc:dd:ee:ff", None),
    ],
)
def test_parse_mac(text: str, expected: bytes | None) -> None:
    assert parse_mac(text) == expected


def test_magic_packet() -> None:
    mac = bytes.fromhex("010203040506")
    packet = magic_packet(mac)
    assert len(packet) == 102
    assert packet[:6] == b"\xff" * 6
    assert packet[6:] == mac * 16


def test_broadcasts() -> None:
    addresses = [
        {"address": "192.168.1.20", "family": "ipv4", "netmask": "255.255.255.0", "broadcast": ""},
        {"address": "10.1.2.3", "family": "ipv4", "netmask": "255.255.0.0", "broadcast": "10.1.255.255"},
        {"address": "127.0.0.1", "family": "ipv4", "netmask": "255.0.0.0", "broadcast": ""},
        {"address": "fe80::1", "family": "ipv6", "netmask": "", "broadcast": ""},
        {"address": "172.16.0.5", "family": "ipv4", "netmask": "", "broadcast": ""},
        {"address": "bogus", "family": "ipv4", "netmask": "255.255.255.0", "broadcast": ""},
        "not a dict",
    ]
    assert broadcasts(addresses) == ["192.168.1.255", "10.1.255.255"]


def test_broadcasts_skip_unusable_entries_one_by_one() -> None:
    """Each unusable entry is skipped; the entries after it still count."""
    usable = {"address": "192.168.5.20", "family": "ipv4", "netmask": "255.255.255.0"}
    for unusable in (
        "not a dict",
        {"address": "fe80::1", "family": "ipv6"},
        {"address": "127.0.0.1", "family": "ipv4", "netmask": "255.0.0.0"},
        {"address": "169.254.1.1", "family": "ipv4", "netmask": "255.255.0.0"},  # link-local
        {"address": "172.16.0.5", "family": "ipv4", "netmask": ""},
        {"address": "10.0.0.1", "family": "ipv4", "netmask": "255.255.255.254"},  # /31: no broadcast
        {"address": "10.0.0.1", "family": "ipv4", "netmask": "255.255.255.255"},  # /32
        {"address": "bogus", "family": "ipv4", "netmask": "255.255.255.0"},
        {"address": "10.0.0.1", "family": "ipv4", "broadcast": "not an address"},
    ):
        assert broadcasts([unusable, usable]) == ["192.168.5.255"], unusable


def test_a_reported_broadcast_address_wins_over_the_netmask() -> None:
    entry = {
        "address": "192.168.1.20",
        "family": "ipv4",
        "netmask": "255.255.255.0",
        "broadcast": "192.168.1.127",
    }
    assert broadcasts([entry]) == ["192.168.1.127"]
    assert broadcasts([{**entry, "broadcast": None}]) == ["192.168.1.255"]
    assert broadcasts([entry, {**entry, "address": "192.168.1.21"}]) == ["192.168.1.127"]  # once
    assert broadcasts([{"address": "10.0.0.1", "family": "ipv4", "netmask": "255.255.255.252"}]) == [
        "10.0.0.3"
    ]


def test_magic_packets_need_six_bytes() -> None:
    for bad in (b"", bytes(5), bytes(7)):
        with pytest.raises(ValueError, match="6 bytes"):
            magic_packet(bad)


def test_udp_sender_counts_what_it_sent(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2)
        port = sock.getsockname()[1]
        assert UdpSender().send([], port) == 0
        too_big = b"x" * 70_000  # refused locally: larger than any UDP datagram
        sent = UdpSender().send(
            [(b"first", "127.0.0.1"), (too_big, "127.0.0.1"), (b"second", "127.0.0.1")], port
        )
        assert sent == 2
        assert sorted(sock.recvfrom(1024)[0] for _ in range(2)) == [b"first", b"second"]
    assert any(r.levelname == "WARNING" and r.name == "fleetdeck.wol" for r in caplog.records)
