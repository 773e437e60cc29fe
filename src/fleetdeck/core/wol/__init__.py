"""Wake-on-LAN: magic packets to computers' inventoried MAC addresses."""

from fleetdeck.core.wol.magic import PacketSender, UdpSender, broadcasts, magic_packet, parse_mac
from fleetdeck.core.wol.service import WolService

__all__ = ["PacketSender", "UdpSender", "WolService", "broadcasts", "magic_packet", "parse_mac"]
