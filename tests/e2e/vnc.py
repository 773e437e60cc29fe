"""A real VNC server on loopback for the desktop tests: Debian's ``Xvfb`` (a virtual X display
that picks a free display number itself, ``-displayfd``) and ``x11vnc`` serving it on a free port
of 127.0.0.1, without a password (security type None) or with one (VNC authentication). The
tests skip, saying why, where either program is missing (``make chromium`` installs both as root).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port

WIDTH, HEIGHT = 800, 600


@dataclass(frozen=True)
class Vnc:
    port: int
    display: str
    password: str


def _require() -> None:
    for program in ("Xvfb", "x11vnc"):
        if shutil.which(program) is None:
            pytest.skip(
                f"{program} is not installed (apt-get install xvfb x11vnc, or `make chromium` as root)"
            )


@contextmanager
def vnc_server(tmp: Path, password: str = "") -> Iterator[Vnc]:
    _require()
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{WIDTH}x{HEIGHT}x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    procs = [xvfb]
    try:
        with os.fdopen(read) as pipe:
            display = ":" + pipe.readline().strip()
        assert display != ":", "Xvfb did not start"
        port = free_port()
        auth = ["-nopw"]
        if password:
            (tmp / "vncpasswd").parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["x11vnc", "-storepasswd", password, str(tmp / "vncpasswd")], check=True, capture_output=True
            )
            auth = ["-rfbauth", str(tmp / "vncpasswd")]
        procs.append(
            subprocess.Popen(
                [
                    "x11vnc",
                    "-display",
                    display,
                    "-localhost",
                    "-rfbport",
                    str(port),
                    *auth,
                    "-forever",
                    "-shared",
                    "-quiet",
                    "-nossl",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or procs[1].poll() is not None:
                    raise AssertionError("x11vnc did not start listening") from None
                time.sleep(0.1)
        yield Vnc(port, display, password)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
