"""Measurements for the server's monitoring (``Measurement`` frames), with psutil only.

A ``Sampler`` keeps the previous counters, so each sample is a rate over the time since the
last one: CPU and IO-wait percentages (psutil's since-last-call values), network bytes/s of the
non-loopback interfaces summed, mountpoints with their total and free bytes, and the top
``TOP_PROCESSES`` processes by CPU then resident memory. Bounded: at most ``MAX_MOUNTPOINTS``
mountpoints, command lines cut to ``MAX_CMDLINE`` characters.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psutil

from fleetdeck.protocol import messages as m

TOP_PROCESSES = 30
MAX_MOUNTPOINTS = 64
MAX_CMDLINE = 1024
_ATTRS = ["pid", "ppid", "name", "username", "cmdline", "num_threads", "memory_info", "memory_percent"]


def _loopback(name: str) -> bool:
    return name == "lo" or name.startswith("lo") or name.lower().startswith("loopback")


class Sampler:
    def __init__(self) -> None:
        self._net: tuple[float, int, int] | None = None  # (monotonic, bytes in, bytes out)
        self._procs: dict[int, psutil.Process] = {}
        psutil.cpu_percent(interval=None)  # primes the since-last-call counters
        with contextlib.suppress(Exception):
            psutil.cpu_times_percent(interval=None)

    def sample(self) -> m.Measurement:
        cpu = psutil.cpu_percent(interval=None)
        io: float | None = None
        with contextlib.suppress(Exception):
            io = getattr(psutil.cpu_times_percent(interval=None), "iowait", None)
        net_in, net_out, speed = self._network()
        return m.Measurement(
            cpu_usage_percent=min(max(cpu, 0.0), 100.0),
            memory_usage_percent=min(max(psutil.virtual_memory().percent, 0.0), 100.0),
            io_usage_percent=None if io is None else min(max(io, 0.0), 100.0),
            net_lan_in=net_in,
            net_lan_out=net_out,
            net_lan_mbit=speed,
            mountpoints=self._mountpoints(),
            processes=self._processes(),
        )

    def _network(self) -> tuple[float | None, float | None, float | None]:
        try:
            counters = psutil.net_io_counters(pernic=True)
            stats = psutil.net_if_stats()
        except Exception:
            return None, None, None
        names = [n for n in counters if not _loopback(n)]
        now = time.monotonic()
        received = sum(counters[n].bytes_recv for n in names)
        sent = sum(counters[n].bytes_sent for n in names)
        previous, self._net = self._net, (now, received, sent)
        speed = float(sum(stats[n].speed for n in names if n in stats and stats[n].isup)) or None
        if previous is None or now <= previous[0]:
            return None, None, speed
        elapsed = now - previous[0]
        return max(received - previous[1], 0) / elapsed, max(sent - previous[2], 0) / elapsed, speed

    @staticmethod
    def _mountpoints() -> list[m.Mountpoint]:
        out: list[m.Mountpoint] = []
        try:
            partitions = psutil.disk_partitions(all=False)
        except Exception:
            return out
        for part in partitions[:MAX_MOUNTPOINTS]:
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except (OSError, PermissionError):
                continue
            out.append(m.Mountpoint(path=part.mountpoint, total_bytes=usage.total, free_bytes=usage.free))
        return out

    def _processes(self) -> list[m.ProcessSample]:
        """Top processes by CPU (since the previous sample) then RSS. Process objects are kept
        between samples: a process's CPU percentage needs its previous times."""
        seen: dict[int, psutil.Process] = {}
        rows: list[tuple[float, int, dict[str, Any]]] = []
        for listed in psutil.process_iter():
            pid = listed.pid
            proc = self._procs.get(pid, listed)
            try:
                cpu = proc.cpu_percent(interval=None)
                info = proc.as_dict(attrs=_ATTRS, ad_value=None)
            except (psutil.Error, OSError):
                continue
            seen[pid] = proc
            rss = int(getattr(info.get("memory_info"), "rss", 0) or 0)
            rows.append((cpu, rss, info))
        self._procs = seen
        rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
        return [
            m.ProcessSample(
                pid=int(info["pid"]),
                parent_pid=int(info.get("ppid") or 0),
                name=str(info.get("name") or ""),
                user=str(info.get("username") or ""),
                cmdline=" ".join(info.get("cmdline") or []).strip()[:MAX_CMDLINE],
                num_threads=int(info.get("num_threads") or 0),
                cpu_percent=round(float(cpu), 2),
                memory_percent=round(float(info.get("memory_percent") or 0.0), 2),
                rss_bytes=rss,
            )
            for cpu, rss, info in rows[:TOP_PROCESSES]
        ]
