// The desktop page: noVNC (RFB) over the same-origin WebSocket /computers/{id}/desktop/ws, which
// the server bridges to the computer's VNC server through its agent. Binary messages are RFB
// bytes; why the socket ended is its close reason (4403 refused, 4500 no connection, 4408 idle).
const box = document.getElementById("desktop");
const status = document.getElementById("desktop-status");
const form = document.getElementById("desktop-password");
const script = document.getElementById("desktop-script");

async function main() {
  let RFB;
  try {
    RFB = (await import(script.dataset.rfb)).default;
  } catch (err) {
    status.textContent = "The desktop's script (noVNC) is missing (run `make assets`).";
    return;
  }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = box.dataset.link
    ? "link=" + encodeURIComponent(box.dataset.link)
    : "csrf=" + encodeURIComponent(box.dataset.csrf) + "&port=" + encodeURIComponent(box.dataset.port);
  const ws = new WebSocket(scheme + "//" + location.host + box.dataset.socket + "?" + query);
  ws.binaryType = "arraybuffer";
  let closeReason = "";
  ws.addEventListener("close", (event) => { closeReason = event.reason || ""; });
  const rfb = new RFB(box, ws);
  rfb.scaleViewport = true;
  let name = "";
  rfb.addEventListener("connect", () => {
    status.textContent = "Connected to " + (name || "the desktop") + ".";
    box.dataset.connected = "1";
    form.hidden = true;
  });
  rfb.addEventListener("desktopname", (event) => {
    name = event.detail.name;
    if (box.dataset.connected) status.textContent = "Connected to " + name + ".";
  });
  rfb.addEventListener("credentialsrequired", () => {
    status.textContent = "The VNC server asks for a password.";
    form.hidden = false;
    form.elements.password.focus();
  });
  rfb.addEventListener("securityfailure", (event) => {
    status.textContent = "The VNC server refused: " + (event.detail.reason || "security failure") + ".";
  });
  rfb.addEventListener("disconnect", () => {
    // the close event has come by now: say why, in the server's words
    setTimeout(() => {
      if (!status.textContent.startsWith("The VNC server refused")) {
        status.textContent = "Disconnected" + (closeReason ? ": " + closeReason : ".");
      }
      box.dataset.closed = "1";
    }, 0);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    rfb.sendCredentials({ password: form.elements.password.value });
    form.elements.password.value = "";
    form.hidden = true;
  });
}

main();
