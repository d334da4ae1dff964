// What both viewers share: the page's settings, the tunnel's URL, status and reconnects.

/** The settings the proxy put into the page (no host, port or password). */
export const config = JSON.parse(document.getElementById("viewer-config").textContent);

/** The WebSocket is the page's own URL, query (the viewer link's token) included. */
export function tunnelUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${location.pathname}${location.search}`;
}

const status = document.getElementById("status");

/** Show a state line; empty hides it. */
export function setStatus(text) {
  status.textContent = text;
}

/** Whether the seed's `viewer_resize`/`viewer_scale` value asks for `what`. */
export function wants(value, what) {
  return value === "both" || value === what;
}

/** Run `connect` again after the configured delay, unless reconnecting is off. */
export function scheduleReconnect(connect, why) {
  if (config.reconnectSeconds < 0) {
    setStatus(`Disconnected: ${why}`);
    return;
  }
  setStatus(`Disconnected: ${why}. Reconnecting in ${config.reconnectSeconds} s…`);
  setTimeout(connect, config.reconnectSeconds * 1000);
}
