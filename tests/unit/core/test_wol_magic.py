"""Magic packets, MAC parsing and broadcast addresses (no sockets)."""

from __future__ import annotations

import pytest

from fleetdeck.core.wol import broadcasts, magic_packet, parse_mac


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
