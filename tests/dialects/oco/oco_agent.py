"""An OCO agent as the tests need one, written from the protocol notes
(shared/specs/oco-notes.md section 8; OCO-Agent's ``jsonRequest``/``downloadFile``/``mainloop``):
every request a JSON-RPC body signed with HMAC-SHA256 of the agent key in
``x-oco-agent-signature``, with ``params.timestamp`` the time rounded to 4 places; every answer
checked as the real agent checks it (HTTP 200, ``result.timestamp`` greater than the last one,
``x-oco-server-signature`` = HMAC of the answer text under the server key once it has one).
``run_jobs`` does what the real agent's main loop does with ``software-jobs``: download and
unzip the payload, report progress, run the procedure in a shell, report the exit code and
output, stop a sequence-mode-1 container after a failure."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

DOWNLOADING, EXECUTING, FINISHED, ERROR = 1, 2, 3, -1
REGISTRATION_KEY = "registration-key-0123456789"  # what the tests set as oco.agent_registration_key


class ServerRefused(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.status_code}: {response.text}")
        self.status = response.status_code
        self.text = response.text


def signature(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class OcoAgent:
    url: str  # the server's base URL
    hostname: str
    agent_key: str  # the registration key until the server hands out the agent's own
    server_key: str = ""
    workdir: Path | None = None
    server_timestamp: float = 0.0
    last_sent: bytes = b""
    last_signature: str = ""
    log: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"{self.url}/api-agent.php"

    def body(self, method: str, data: Any = None, **params: Any) -> bytes:
        p: dict[str, Any] = {"uid": "test-uid", "hostname": self.hostname, "timestamp": round(time.time(), 4)}
        p.update(params)
        if data is not None:
            p["data"] = data
        time.sleep(0.0002)  # the next request's timestamp differs (4 decimal places)
        return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": p}).encode()

    def send(
        self, raw: bytes, *, key: str | None = None, http_method: str = "POST", signed: bool = True
    ) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if signed:
            headers["x-oco-agent-signature"] = signature(self.agent_key if key is None else key, raw)
        self.last_sent, self.last_signature = raw, headers.get("x-oco-agent-signature", "")
        return httpx.request(http_method, self.endpoint, content=raw, headers=headers, timeout=30)

    def checked(self, response: httpx.Response) -> dict[str, Any]:
        """The answer, checked as OCO's agent checks it."""
        if response.status_code != 200:
            raise ServerRefused(response)
        answer: dict[str, Any] = response.json()
        stamp = float(answer["result"]["timestamp"])
        assert stamp > self.server_timestamp, "server timestamp did not grow"
        self.server_timestamp = stamp
        if self.server_key:
            expected = signature(self.server_key, response.text.encode())
            assert response.headers["x-oco-server-signature"] == expected, "bad server signature"
        return answer

    def call(self, method: str, data: Any = None) -> dict[str, Any]:
        return self.checked(self.send(self.body(method, data)))

    def hello(self, **data: Any) -> dict[str, Any]:
        answer = self.call(
            "oco.agent.hello",
            {"agent_version": "1.1.9", "networks": [], "services": [], "uptime": 3600.5, **data},
        )
        params: dict[str, Any] = answer["result"]["params"]
        if params.get("server-key") and not self.server_key:
            self.server_key = params["server-key"]  # trust on first use, as the agent does
        if params.get("agent-key"):
            self.agent_key = params["agent-key"]
        return params

    def update(self, inventory: dict[str, Any]) -> dict[str, Any]:
        return self.call("oco.agent.update", inventory)

    def job_state(self, job_id: Any, state: int, code: int | None, message: str = "", **extra: Any) -> bool:
        answer = self.call(
            "oco.agent.update_job_state",
            {"job-id": job_id, "state": state, "return-code": code, "message": message, **extra},
        )
        return bool(answer["result"]["params"].get("job-succeeded"))

    def download(self, package_id: Any) -> bytes:
        r = self.send(self.body("oco.agent.download", None, **{"package-id": package_id}), http_method="GET")
        if r.status_code != 200:
            raise ServerRefused(r)
        return r.content

    def run_jobs(self, jobs: list[dict[str, Any]]) -> list[tuple[Any, bool]]:
        """Run ``software-jobs`` as OCO's agent does; (job id, job-succeeded) per job run."""
        assert self.workdir is not None
        done: list[tuple[Any, bool]] = []
        skip: set[Any] = set()
        for job in jobs:
            if job["container-id"] in skip:
                continue
            staging = self.workdir / f"job-{job['id']}"
            staging.mkdir(parents=True)
            try:
                if job["download"]:
                    self.job_state(job["id"], DOWNLOADING, None, **{"download-progress": 0})
                    data = self.download(job["package-id"])
                    self.job_state(job["id"], DOWNLOADING, None, **{"download-progress": 50})
                    self.job_state(job["id"], DOWNLOADING, None, **{"download-progress": 101})
                    zipfile.ZipFile(io.BytesIO(data)).extractall(staging)
                self.job_state(job["id"], EXECUTING, None, **{"download-progress": 100})
                proc = subprocess.run(
                    job["procedure"], shell=True, cwd=staging, capture_output=True, timeout=60, check=False
                )
                output = (proc.stdout + proc.stderr).decode(errors="replace")
                self.job_state(job["id"], EXECUTING, None, output[:10])  # partial output
                ok = self.job_state(job["id"], FINISHED, proc.returncode, output)
            except ServerRefused:
                raise
            except Exception as exc:  # as the agent: -9999 and the error
                ok = self.job_state(job["id"], ERROR, -9999, str(exc))
            done.append((job["id"], ok))
            if not ok and job["sequence-mode"] == 1:
                skip.add(job["container-id"])
        return done
