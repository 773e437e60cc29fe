"""``GET /install/agent.sh?token=...``: a shell script that installs the agent from this server.

``curl -fsSL 'https://fleet:8443/install/agent.sh?token=fde_...' | sudo sh`` on a managed
computer downloads the ``fleetdeck-agent`` wheel and its dependencies' wheels from this server
(``GET /install/files/{name}?token=...``; no internet needed), checks each one's SHA-256
against the list in the script, unpacks them into ``$FLEETDECK_PREFIX/lib`` (no pip, no venv:
only ``python3`` >= 3.11 is needed), enrolls with the token and starts the agent (a systemd
unit as root where systemd runs, else in the background). With TLS the script carries the
server certificate's fingerprint: downloads and the agent's enrollment are pinned to it.

The script is handed out only for a token that would enroll an agent now (the token itself is
used up only when the agent enrolls); a bad one gets 403 and an error text, no script.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from fleetdeck.core.agentdist import AgentDist, DistFile, agent_unit
from fleetdeck.core.errors import AuthenticationFailed
from fleetdeck.core.services import Services

SCRIPT_PATH = "/install/agent.sh"
FILES_PATH = "/install/files/{name}"

# Runs on the managed computer with the server URL, token, fingerprint, prefix and manifest as
# arguments: picks the wheel that fits this Python per project, downloads it (pinned to the
# fingerprint over https), checks its SHA-256, unpacks everything into PREFIX/lib.new, checks
# the agent imports, then swaps lib.new into place (an update never leaves half an agent).
_INSTALLER = r"""
import hashlib, json, os, platform, shutil, ssl, subprocess, sys, sysconfig, urllib.parse, zipfile
import http.client
server, token, fingerprint, prefix, manifest = sys.argv[1:6]
files = json.loads(manifest)
minor = sys.version_info[1]
machine = platform.machine().lower()
libc = "musl" if platform.libc_ver()[0] != "glibc" and sys.platform == "linux" else "glibc"

def fits(name):
    py, abi, plat = name[:-4].split("-")[-3:]
    pys, abis, plats = py.split("."), abi.split("."), plat.split(".")
    exact = "cp3%d" % minor
    py_ok = any(p in ("py3", "py3%d" % minor, exact) for p in pys) or (
        "abi3" in abis and any(p.startswith("cp3") and p[3:].isdigit() and int(p[3:]) <= minor for p in pys))
    abi_ok = any(a in ("none", "abi3", exact) for a in abis)
    def plat_ok(p):
        if p == "any":
            return True
        if sys.platform == "linux":
            linux = p.startswith("musllinux") if libc == "musl" else p.startswith(("manylinux", "linux"))
            return linux and p.endswith("_" + machine)
        if sys.platform == "darwin":
            return p.startswith("macosx") and (p.endswith(machine) or p.endswith("universal2"))
        return p == sysconfig.get_platform().replace("-", "_").lower()
    return py_ok and abi_ok and any(plat_ok(p) for p in plats), exact in pys

chosen = {}
for f in files:
    ok, exact = fits(f["name"])
    if ok and (f["project"] not in chosen or exact):
        chosen[f["project"]] = f
missing = sorted({f["project"] for f in files} - set(chosen))
if missing:
    sys.exit("fleetdeck: the server has no wheel of %s for this computer (Python 3.%d, %s %s);"
             " see 'Installing agents' in the server's docs/operations.md" % (
                 ", ".join(missing), minor, sys.platform, machine))

parts = urllib.parse.urlsplit(server)
def get(name):
    path = "%s/install/files/%s?token=%s" % (parts.path.rstrip("/"), urllib.parse.quote(name),
                                          urllib.parse.quote(token))
    if parts.scheme == "https":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # pinned below: the server's certificate is its own
        conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, context=ctx, timeout=60)
        conn.connect()
        seen = "sha256:" + hashlib.sha256(conn.sock.getpeercert(True)).hexdigest()
        if fingerprint and seen != fingerprint:
            sys.exit("fleetdeck: the server's certificate %s is not the expected %s" % (seen, fingerprint))
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
    conn.request("GET", path)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        text = data[:200].decode("utf-8", "replace")
        sys.exit("fleetdeck: downloading %s: HTTP %s %s" % (name, resp.status, text))
    return data

new, lib = os.path.join(prefix, "lib.new"), os.path.join(prefix, "lib")
shutil.rmtree(new, ignore_errors=True)
os.makedirs(new)
for project, f in sorted(chosen.items()):
    data = get(f["name"])
    if hashlib.sha256(data).hexdigest() != f["sha256"]:
        sys.exit("fleetdeck: %s does not have the SHA-256 the install script names" % f["name"])
    wheel = os.path.join(new, f["name"])
    with open(wheel, "wb") as fh:
        fh.write(data)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(new)
    os.unlink(wheel)
    print("fleetdeck: unpacked " + f["name"], file=sys.stderr)
env = dict(os.environ, PYTHONPATH=new)
check = [sys.executable, "-c", "import fleetdeck.agent.main, msgspec, psutil, wsproto"]
if subprocess.run(check, env=env).returncode != 0:
    sys.exit("fleetdeck: the unpacked agent does not import with %s" % sys.executable)
old = os.path.join(prefix, "lib.old")
shutil.rmtree(old, ignore_errors=True)
if os.path.isdir(lib):
    os.rename(lib, old)
os.rename(new, lib)
shutil.rmtree(old, ignore_errors=True)
os.makedirs(os.path.join(prefix, "bin"), exist_ok=True)
launcher = os.path.join(prefix, "bin", "fleetdeck-agent")
with open(launcher + ".tmp", "w") as fh:
    fh.write("#!/bin/sh\n# fleetdeck agent, installed from %s\n" % server)
    fh.write("PYTHONPATH='%s' exec '%s' -m fleetdeck.agent \"$@\"\n" % (lib, sys.executable))
os.chmod(launcher + ".tmp", 0o755)
os.replace(launcher + ".tmp", launcher)
"""

_SCRIPT = """#!/bin/sh
# fleetdeck agent installer from @SERVER@ for one enrollment token.
# Installs the agent from that server (no internet needed), enrolls it and starts it.
#   FLEETDECK_PREFIX     where the agent goes (default /opt/fleetdeck-agent)
#   FLEETDECK_STATE_DIR  its credentials and job journal (default /var/lib/fleetdeck-agent)
#   FLEETDECK_START      systemd | background | no (default: systemd as root where systemd
#                        runs, else background)
#   FLEETDECK_PYTHON     the Python (3.11 or newer) to run it with (default python3)
set -eu
SERVER=@SERVER_Q@
TOKEN=@TOKEN_Q@
FINGERPRINT=@FINGERPRINT_Q@
PREFIX="${FLEETDECK_PREFIX:-/opt/fleetdeck-agent}"
STATE_DIR="${FLEETDECK_STATE_DIR:-/var/lib/fleetdeck-agent}"
PYTHON="${FLEETDECK_PYTHON:-python3}"
START="${FLEETDECK_START:-auto}"
say() { echo "fleetdeck: $*" >&2; }
command -v "$PYTHON" >/dev/null 2>&1 || { say "needs $PYTHON (Python 3.11 or newer)"; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \\
  || { say "needs Python 3.11 or newer; $PYTHON is older (set FLEETDECK_PYTHON)"; exit 1; }
mkdir -p "$PREFIX"
"$PYTHON" - "$SERVER" "$TOKEN" "$FINGERPRINT" "$PREFIX" @MANIFEST_Q@ <<'FLEETDECK_PY'
@INSTALLER@
FLEETDECK_PY
AGENT="$PREFIX/bin/fleetdeck-agent"
set -- --state-dir "$STATE_DIR" --server "$SERVER" --enroll-token "$TOKEN" --enroll-only
if [ -n "$FINGERPRINT" ]; then set -- "$@" --server-fingerprint "$FINGERPRINT"; fi
"$AGENT" "$@" </dev/null
if [ "$START" = auto ]; then
  if [ "$(id -u)" = 0 ] && [ -d /run/systemd/system ]; then START=systemd; else START=background; fi
fi
case "$START" in
systemd)
  cat > /etc/systemd/system/fleetdeck-agent.service <<FLEETDECK_UNIT
@UNIT@
FLEETDECK_UNIT
  systemctl daemon-reload
  systemctl enable fleetdeck-agent >/dev/null 2>&1 || true
  systemctl restart fleetdeck-agent
  say "installed in $PREFIX; running as the systemd service fleetdeck-agent" ;;
background)
  nohup "$AGENT" --state-dir "$STATE_DIR" >>"$STATE_DIR/agent.log" 2>&1 </dev/null &
  echo $! > "$STATE_DIR/agent.pid"
  say "installed in $PREFIX; running in the background (pid $!, log $STATE_DIR/agent.log)" ;;
no)
  say "installed in $PREFIX and enrolled; start it with: $AGENT --state-dir $STATE_DIR" ;;
*)
  say "FLEETDECK_START must be systemd, background or no, not $START"; exit 2 ;;
esac
"""


def install_script(server: str, token: str, fingerprint: str | None, files: list[DistFile]) -> str:
    """The script for one token; every value the server puts in is shell-quoted."""
    manifest = json.dumps([{"name": f.name, "project": f.project, "sha256": f.sha256} for f in files])
    unit = agent_unit("$PREFIX/bin/fleetdeck-agent --state-dir $STATE_DIR", "$STATE_DIR")
    values = {
        "@SERVER_Q@": shlex.quote(server),
        "@TOKEN_Q@": shlex.quote(token),
        "@FINGERPRINT_Q@": shlex.quote(fingerprint or ""),
        "@MANIFEST_Q@": shlex.quote(manifest),
        "@INSTALLER@": _INSTALLER.strip("\n"),
        "@UNIT@": unit.rstrip("\n"),
        "@SERVER@": server.replace("\n", " "),
    }
    script = _SCRIPT
    for key, value in values.items():
        script = script.replace(key, value)
    return script


def _token(request: Request) -> str | None:
    token = request.query_params.get("token", "").strip()
    return token or None


def install_routes(
    services: Services, dist: AgentDist, public_url: str | None, fingerprint: Callable[[], str | None]
) -> list[Route]:
    """The install script and the wheels it downloads; both need a usable enrollment token."""

    async def check(request: Request) -> Response | None:
        token = _token(request)
        if token is None:
            return PlainTextResponse("fleetdeck: ?token=<enrollment token> is required\n", 400)
        try:
            await asyncio.to_thread(services.enrollment.check_token, token)
        except AuthenticationFailed as exc:
            return PlainTextResponse(f"fleetdeck: {exc.message}; ask for a new token\n", 403)
        return None

    async def script(request: Request) -> Response:
        refused = await check(request)
        if refused is not None:
            return refused
        files = await asyncio.to_thread(dist.files)
        server = (public_url or str(request.base_url)).rstrip("/")
        body = install_script(server, str(_token(request)), fingerprint(), list(files.values()))
        return PlainTextResponse(body, media_type="text/x-shellscript", headers={"Cache-Control": "no-store"})

    async def download(request: Request) -> Response:
        refused = await check(request)
        if refused is not None:
            return refused
        files = await asyncio.to_thread(dist.files)
        found = files.get(request.path_params["name"])
        if found is None:
            return PlainTextResponse("fleetdeck: no such file\n", 404)
        return FileResponse(found.path, media_type="application/zip", filename=found.name)

    return [
        Route(SCRIPT_PATH, script, methods=["GET"]),
        Route(FILES_PATH, download, methods=["GET", "HEAD"]),
    ]
