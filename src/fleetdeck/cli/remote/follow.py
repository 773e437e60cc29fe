"""Following jobs until they end, with their output as it arrives.

Each job is followed over /api/v1's WebSocket ``/jobs/{id}/stream`` (its first message is the
job with the output so far, then output frames, then the final job). Jobs are followed
``STREAMS`` at a time; the others wait their turn, and lose nothing meanwhile since a stream
starts with the output so far. Where the stream cannot be had (a proxy without WebSocket
upgrades, a server going away), the remaining jobs are polled, all of them in one request
per second (``GET /jobs?filter[id][in]=...``), printing what output is new.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from fleetdeck.cli.remote.client import Remote, fail

STREAMS = 64
POLL_SEC = 1.0
FINAL = frozenset({"succeeded", "failed", "timeout", "cancelled", "expired", "skipped"})
CLOSE_REASONS = {4401: "authentication failed", 4403: "permission denied", 4404: "no such job"}

# (job id, "stdout" | "stderr", text)
Sink = Callable[[int, str, str], None]


class Printer:
    """Output to the terminal: as is for one job; for several, whole lines prefixed with the
    computer's host name (a line's pieces arriving apart are joined first)."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self.prefixed = len(names) > 1
        self.partial: dict[tuple[int, str], str] = {}

    def __call__(self, job_id: int, stream: str, text: str) -> None:
        out = sys.stderr if stream == "stderr" else sys.stdout
        if not self.prefixed:
            out.write(text)
            out.flush()
            return
        key = (job_id, stream)
        lines = (self.partial.pop(key, "") + text).split("\n")
        self.partial[key] = lines.pop()
        prefix = f"[{self.names.get(job_id, job_id)}] "
        if lines:
            out.write("".join(prefix + line + "\n" for line in lines))
            out.flush()

    def close(self) -> None:
        for (job_id, stream), rest in self.partial.items():
            if rest:
                self(job_id, stream, rest + "\n")
        self.partial.clear()


def _ws_url(remote: Remote, job_id: int) -> str:
    base = "ws" + remote.server[4:] if remote.server.startswith("http") else remote.server
    return f"{base}/api/v1/jobs/{job_id}/stream"


Offsets = dict[tuple[int, str], int]  # characters of each job's stdout/stderr printed so far


def _catch_up(job: dict[str, Any], sink: Sink, shown: Offsets) -> None:
    """Print what a job record holds beyond what was printed (the output before the stream
    began, or what polling finds new)."""
    for stream in ("stdout", "stderr"):
        seen = shown.get((job["id"], stream), 0)
        if len(job[stream]) > seen:
            sink(job["id"], stream, job[stream][seen:])
            shown[job["id"], stream] = len(job[stream])


async def _stream(remote: Remote, job_id: int, sink: Sink, shown: Offsets) -> dict[str, Any] | None:
    """The final job, or None when the stream ended early (the caller polls then)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake

    headers = {"Authorization": f"Bearer {remote.ctx.token}"}
    last: dict[str, Any] | None = None
    try:
        async with connect(
            _ws_url(remote, job_id),
            additional_headers=headers,
            ssl=remote.ssl,
            open_timeout=15,
            max_size=None,
            user_agent_header="fleetdeck-cli",
        ) as ws:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "output":
                    key = (job_id, msg["stream"])
                    shown[key] = shown.get(key, 0) + len(msg["data"])
                    sink(job_id, msg["stream"], msg["data"])
                elif msg.get("type") == "job":
                    last = msg["job"]
                    _catch_up(last, sink, shown)
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        if code in CLOSE_REASONS:
            fail(f"job {job_id}: {CLOSE_REASONS[code]} ({exc.rcvd.reason if exc.rcvd else ''})")
        return None
    except (OSError, InvalidHandshake, TimeoutError):
        return None
    return last if last is not None and last["status"] in FINAL else None


def _poll(
    remote: Remote, pending: set[int], sink: Sink, shown: Offsets, done: dict[int, dict[str, Any]]
) -> None:
    while pending:
        ids = sorted(pending)
        for start in range(0, len(ids), 1000):
            part = ids[start : start + 1000]
            rows = remote.get("/jobs", **{"filter[id][in]": ",".join(map(str, part)), "page[limit]": 1000})
            for job in rows["data"]:
                _catch_up(job, sink, shown)
                if job["status"] in FINAL:
                    done[job["id"]] = job
                    pending.discard(job["id"])
        if pending:
            time.sleep(POLL_SEC)


def follow(remote: Remote, job_ids: list[int], sink: Sink) -> dict[int, dict[str, Any]]:
    """Every job's final state, by id, with ``sink`` called for output as it arrives."""
    shown: Offsets = {}

    async def streamed() -> dict[int, dict[str, Any] | None]:
        gate = asyncio.Semaphore(STREAMS)

        async def one(job_id: int) -> dict[str, Any] | None:
            async with gate:
                return await _stream(remote, job_id, sink, shown)

        finals = await asyncio.gather(*(one(j) for j in job_ids))
        return dict(zip(job_ids, finals, strict=True))

    results = asyncio.run(streamed())
    done = {j: job for j, job in results.items() if job is not None}
    pending = {j for j, job in results.items() if job is None}
    if pending:
        _poll(remote, pending, sink, shown, done)
    return done
