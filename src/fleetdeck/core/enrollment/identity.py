"""Is a newly enrolling agent on the same hardware as an enrolled computer?

Cloned virtual machines and re-installed ones look alike to a server: the same host name, often
the same machine id (``/etc/machine-id`` is copied with the disk image). What tells them apart is
the hardware: a hypervisor gives a clone a new firmware (SMBIOS) UUID and new MAC addresses,
while a re-install keeps both. Neither is always known (the UUID is readable by root only, a
container has no hardware of its own), so the answer has three values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_NO_MAC = "00:00:00:00:00:00"


def normalize_mac(mac: str) -> str:
    return mac.strip().lower().replace("-", ":")


def normalize_uuid(value: str) -> str:
    """Lower case, without braces; ``""`` for the placeholders firmware uses when it has none."""
    text = value.strip().strip("{}").lower()[:64]
    if not text or set(text) <= {"0", "-"} or set(text) <= {"f", "-"}:
        return ""
    return text


@dataclass(frozen=True, slots=True)
class HardwareFacts:
    uuid: str = ""
    macs: frozenset[str] = frozenset()

    @classmethod
    def of(cls, uuid: str, macs: Iterable[str]) -> HardwareFacts:
        found = {normalize_mac(m) for m in macs}
        return cls(normalize_uuid(uuid), frozenset(m for m in found if m and m != _NO_MAC))


def same_hardware(known: HardwareFacts, new: HardwareFacts) -> bool | None:
    """True: the same machine; False: another one; None: cannot tell (a fact is missing).

    The firmware UUID decides when both sides have one. Otherwise one MAC address in common is
    enough: a re-install keeps its network cards, a hypervisor gives a clone new addresses.
    """
    if known.uuid and new.uuid:
        return known.uuid == new.uuid
    if known.macs and new.macs:
        return not known.macs.isdisjoint(new.macs)
    return None
