// The Guacamole viewer: guacamole-common-js over the proxy's tunnel to guacd.
import "/static/build/guacamole.js";
import { config, tunnelUrl, setStatus, wants, scheduleReconnect } from "./common.js";

const Guacamole = window.Guacamole;
const screen = document.getElementById("screen");

function windowSize() {
  return { width: Math.max(1, screen.clientWidth), height: Math.max(1, screen.clientHeight) };
}

function connect() {
  setStatus("Connecting…");
  screen.replaceChildren();
  // The tunnel appends "?" and the data below to the URL: the page's own query (the
  // viewer token) goes first, so the URL is built without its "?".
  const url = tunnelUrl();
  const [base, query] = url.split("?");
  const tunnel = new Guacamole.WebSocketTunnel(base);
  const client = new Guacamole.Client(tunnel);
  const display = client.getDisplay();
  screen.appendChild(display.getElement());

  const remoteResize = wants(config.resize, "remote");
  const size = remoteResize ? windowSize() : { width: config.width, height: config.height };
  const params = new URLSearchParams(query || "");
  params.set("GUAC_WIDTH", size.width);
  params.set("GUAC_HEIGHT", size.height);
  params.set("GUAC_DPI", Math.round(config.dpi * (window.devicePixelRatio || 1)));
  for (const mime of Guacamole.AudioPlayer.getSupportedTypes()) params.append("GUAC_AUDIO", mime);
  for (const mime of Guacamole.VideoPlayer.getSupportedTypes()) params.append("GUAC_VIDEO", mime);
  for (const mime of ["image/png", "image/jpeg", "image/webp"]) params.append("GUAC_IMAGE", mime);
  try {
    params.set("GUAC_TIMEZONE", Intl.DateTimeFormat().resolvedOptions().timeZone);
  } catch (e) { /* no time zone: guacd uses its own */ }

  function fit() {
    if (wants(config.scale, "local") && display.getWidth() > 0) {
      const { width, height } = windowSize();
      display.scale(Math.min(width / display.getWidth(), height / display.getHeight()));
    }
  }
  display.onresize = fit;

  const mouse = new Guacamole.Mouse(display.getElement());
  mouse.onEach(["mousedown", "mouseup", "mousemove"], (e) => {
    const scale = display.getScale();
    client.sendMouseState(new Guacamole.Mouse.State(
      e.state.x / scale, e.state.y / scale, e.state.left, e.state.middle, e.state.right, e.state.up, e.state.down));
  });
  const keyboard = new Guacamole.Keyboard(document);
  keyboard.onkeydown = (keysym) => client.sendKeyEvent(1, keysym);
  keyboard.onkeyup = (keysym) => client.sendKeyEvent(0, keysym);

  let resizeTimer = null;
  const onWindowResize = () => {
    fit();
    if (remoteResize) {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        const { width, height } = windowSize();
        client.sendSize(width, height);
      }, 250);
    }
  };
  window.addEventListener("resize", onWindowResize);

  let failure = null;
  client.onerror = (status) => {
    failure = status.message || `error ${status.code}`;
  };
  // Guacamole.Client does not watch its tunnel (guacamole-client's web app does that
  // itself): without this, a tunnel closed without an `error` instruction (guacd ending
  // the session, a lost network) would leave a frozen picture that never reconnects.
  tunnel.onerror = (status) => {
    failure = failure || status.message || `error ${status.code}`;
  };
  tunnel.onstatechange = (state) => {
    if (state === Guacamole.Tunnel.State.CLOSED) {
      client.disconnect();
    }
  };
  client.onstatechange = (state) => {
    // For tests and the browser console.
    window.daasViewerState = state;
    if (state === Guacamole.Client.State.CONNECTED) {
      setStatus("");
    } else if (state === Guacamole.Client.State.DISCONNECTED) {
      window.removeEventListener("resize", onWindowResize);
      keyboard.reset();
      keyboard.onkeydown = keyboard.onkeyup = null;
      window.daasViewer = null;
      scheduleReconnect(connect, failure || "the session ended");
    }
  };
  client.connect(params.toString());
  window.daasViewer = client;
}

connect();
