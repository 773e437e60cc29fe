// The terminal page: xterm.js over the same-origin WebSocket /computers/{id}/terminal/ws.
// Binary messages are terminal bytes both ways; text messages are JSON control messages
// (to the server {"resize": [cols, rows]}; from it {"opened"}, {"exit"} or {"error"}).
(function () {
  "use strict";
  const box = document.getElementById("terminal");
  const status = document.getElementById("terminal-status");
  if (!box || !window.Terminal) {
    if (status) status.textContent = "The terminal's script is missing (run `make assets`).";
    return;
  }
  const term = new window.Terminal({ cursorBlink: true, convertEol: false, scrollback: 5000 });
  const fit = window.FitAddon ? new window.FitAddon.FitAddon() : null;
  if (fit) term.loadAddon(fit);
  term.open(box);
  if (fit) fit.fit();
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = scheme + "//" + location.host + box.dataset.socket +
    "?csrf=" + encodeURIComponent(box.dataset.csrf) + "&cols=" + term.cols + "&rows=" + term.rows;
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const encoder = new TextEncoder();
  let ended = false;
  ws.onmessage = (event) => {
    if (typeof event.data !== "string") {
      term.write(new Uint8Array(event.data));
      return;
    }
    const msg = JSON.parse(event.data);
    if ("opened" in msg) {
      status.textContent = "Connected to " + msg.opened + ".";
      term.focus();
    } else if ("exit" in msg) {
      ended = true;
      status.textContent = "The shell exited" + (msg.exit === null ? "." : " with code " + msg.exit + ".");
    } else if ("error" in msg) {
      ended = true;
      status.textContent = msg.error;
    }
  };
  ws.onclose = (event) => {
    if (!ended) status.textContent = "Disconnected" + (event.reason ? ": " + event.reason : ".");
    box.dataset.closed = "1";
  };
  term.onData((data) => { if (ws.readyState === 1) ws.send(encoder.encode(data)); });
  term.onBinary((data) => {
    if (ws.readyState !== 1) return;
    const bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 255;
    ws.send(bytes);
  });
  term.onResize((size) => { if (ws.readyState === 1) ws.send(JSON.stringify({ resize: [size.cols, size.rows] })); });
  if (fit) window.addEventListener("resize", () => fit.fit());
})();
