// Bundled by scripts/webroot (esbuild) into static/build/guacamole.js.
import Guacamole from "guacamole-common-js";
window.Guacamole = Guacamole;
