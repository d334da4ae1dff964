// The direct VNC viewer: noVNC over the proxy's binary relay.
import "/static/build/novnc.js";
import { config, tunnelUrl, setStatus, wants, scheduleReconnect } from "./common.js";

const screen = document.getElementById("screen");

function connect() {
  setStatus("Connecting…");
  // noVNC offers no subprotocol by default; the relay needs none.
  const rfb = new window.RFB(screen, tunnelUrl());
  rfb.scaleViewport = wants(config.scale, "local");
  rfb.resizeSession = wants(config.resize, "remote");
  rfb.focusOnClick = true;
  rfb.addEventListener("connect", () => {
    setStatus("");
    rfb.focus();
  });
  rfb.addEventListener("disconnect", (e) => {
    window.daasViewer = null;
    scheduleReconnect(connect, e.detail.clean ? "the session ended" : "the connection was lost");
  });
  rfb.addEventListener("securityfailure", (e) => setStatus(`Refused: ${e.detail.reason || "security failure"}`));
  // For tests and the browser console.
  window.daasViewer = rfb;
}

connect();
