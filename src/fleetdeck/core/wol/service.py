"""Wake-on-LAN for computers, by their inventoried MAC addresses.

``wake`` satisfies ``core.ports.Waker`` for other services (deployments), which have checked
permissions already; it skips computers without a usable MAC. ``wake_computers`` is the
operation users call: it needs ``Perm.RUN_COMMANDS``, is audited, and fails when a computer has
no usable MAC (OCO's ``no_mac_addresses_for_wol``).

Packets go to every address in the setting ``wol.broadcast_addresses``, or, when that is empty,
to the IPv4 broadcast address of each network the computer was inventoried in (the limited
broadcast 255.255.255.255 if none is known), on UDP port ``wol.port``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import NotFound, Reason, ValidationFailed
from fleetdeck.core.settings.service import SettingsService
from fleetdeck.core.wol.magic import (
    LIMITED_BROADCAST,
    PacketSender,
    UdpSender,
    broadcasts,
    magic_packet,
    parse_mac,
)
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer, ComputerInterface
from fleetdeck.storage.uow import UnitOfWork

NO_MAC = "No WOL packet could be sent because no MAC address of this computer is known."


@dataclass(frozen=True, slots=True)
class WakeTarget:
    computer_id: int
    macs: list[bytes]
    addresses: list[str]  # broadcast addresses of its networks


class WolService:
    def __init__(
        self, db: Database, audit: AuditLog, settings: SettingsService, sender: PacketSender | None = None
    ) -> None:
        self._db = db
        self._audit = audit
        self._settings = settings
        self._sender = sender or UdpSender()

    def wake(self, computer_ids: Sequence[int]) -> int:
        """Send magic packets to the computers' MACs; returns the number of packets sent."""
        with UnitOfWork(self._db, readonly=True) as uow:
            targets = self._targets(uow.session, computer_ids)
        return self._send(targets.values())

    def wake_computers(self, actor: Actor, computer_ids: Sequence[int]) -> int:
        ids = sorted(set(computer_ids))
        first = ids[0] if len(ids) == 1 else ""
        with self._audit.mutation(actor, "computer.wake", "computer", first, perm=Perm.RUN_COMMANDS) as m:
            targets = self._targets(m.session, ids)
            for cid in ids:
                if cid not in targets:
                    raise NotFound("computer", cid)
                if not targets[cid].macs:
                    raise ValidationFailed(NO_MAC, reason=Reason.NO_MAC_ADDRESS, computer_id=cid)
            sent = self._send(targets.values())
            m.detail = {"computer_ids": ids, "packets_sent": sent}
            return sent

    def _targets(self, s: Session, computer_ids: Sequence[int]) -> dict[int, WakeTarget]:
        ids = sorted(set(computer_ids))
        targets = {
            cid: WakeTarget(cid, [], []) for cid in s.scalars(select(Computer.id).where(Computer.id.in_(ids)))
        }
        rows = s.execute(
            select(ComputerInterface.computer_id, ComputerInterface.mac, ComputerInterface.addresses)
            .where(ComputerInterface.computer_id.in_(ids))
            .order_by(ComputerInterface.computer_id, ComputerInterface.id)
        )
        for cid, mac_text, addresses in rows:
            target = targets[cid]
            mac = parse_mac(mac_text)
            if mac is not None and mac not in target.macs:
                target.macs.append(mac)
            for address in broadcasts(addresses or []):
                if address not in target.addresses:
                    target.addresses.append(address)
        return targets

    def _send(self, targets: Iterable[WakeTarget]) -> int:
        configured = [a for a in self._settings.value("wol.broadcast_addresses") if a]
        port = int(self._settings.value("wol.port"))
        packets: list[tuple[bytes, str]] = []
        for target in targets:
            addresses = configured or target.addresses or [LIMITED_BROADCAST]
            packets.extend((magic_packet(mac), address) for mac in target.macs for address in addresses)
        return self._sender.send(packets, port)
