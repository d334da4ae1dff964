// Bundled by scripts/webroot (esbuild) into static/build/novnc.js from noVNC's ES
// modules (core/; 1.7.0 ships them; its older packages only had a CommonJS lib/ whose
// top-level await does not survive bundling).
import RFB from "@novnc/novnc";
window.RFB = RFB;
