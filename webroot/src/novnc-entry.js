// Bundled by scripts/webroot (esbuild) into static/build/novnc.js: noVNC's npm package
// ships CommonJS (lib/), which a browser cannot load as it is.
import RFB from "@novnc/novnc/lib/rfb.js";
window.RFB = RFB;
