#!/usr/bin/env bash
# The container bench: start-to-VNC-ready latency of a container app (p50, mean and max
# of N starts, 10 by default) through the API, and the same start as bare engine calls,
# on podman's Docker API with the desktop test image (Xvfb + x11vnc).
#
#   bash bench/container.sh            # BENCH_CONTAINER_N=10, BENCH_NO_DOCS=1 to skip docs
#
# - Starts `podman system service` on a socket of its own and builds the test images
#   (scripts/container-test-images) when missing.
# - Starts `daas serve` on a temporary site (db on SQLite, testbackend whose `testing`
#   layer makes the caller from x-test-user-id, container) and creates one container
#   app (id_docker = the desktop image) as user 7.
# - bench/src/bin/container-start.rs alternates: a start through the API (timed from
#   request to answer: instance row, container, RFB greeting, connection row) and the
#   same engine work from its own process with the plugin's functions (no host, no
#   database); each container is removed, untimed, before the next start.
# - Debug build (what the tests use): the engine's work dominates a start, and a
#   release build of the workspace takes longer than the whole bench.
#
# Prints a markdown section and rewrites the one between <!-- bench:container:start -->
# and <!-- bench:container:end --> in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_CONTAINER_N:-10}
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    for c in $(podman ps -aq --filter label=daas.site=bench --filter label=daas.bench=container-start 2>/dev/null); do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
    for c in $(podman ps -aq --filter label=daas.bench=container-start 2>/dev/null); do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
    for c in $(podman ps -aq --filter label=daas.site=bench-container 2>/dev/null); do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
log() { echo "container bench: $*" >&2; }

bash scripts/container-test-images >&2
cargo build --quiet --locked -p daas -p daas-plugin-db -p daas-plugin-testbackend -p daas-plugin-container -p daas-bench --bin container-start

podman system service --time=0 "unix://$TMP/podman.sock" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do [ -S "$TMP/podman.sock" ] && break; sleep 0.05; done
[ -S "$TMP/podman.sock" ] || { log "podman system service did not start"; exit 1; }

mkdir -p "$TMP/site"
cat > "$TMP/site/extensions.toml" <<TOML
[extensions]
library_dir = "$PWD/target/debug"
layers = ["testing"]

[[extensions.plugin]]
name = "db"

[[extensions.plugin]]
name = "testbackend"

[[extensions.plugin]]
name = "container"
TOML
printf '[db]\ndb_type = "sqlite"\ndata_path = "data"\nsecret_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="\n' > "$TMP/site/db.toml"
printf '[container_request]\nhost = "unix://%s/podman.sock"\nsite_label = "bench-container"\n' "$TMP" > "$TMP/site/container.toml"
printf '[log]\nlevel = "warn"\n' > "$TMP/site/logging.toml"

./target/debug/daas serve --site "$TMP/site" --listen 127.0.0.1:0 > "$TMP/serve.out" 2> "$TMP/serve.err" &
PIDS+=($!)
ADDR=
for _ in $(seq 300); do
    ADDR=$(sed -n 's/^daas: listening on //p' "$TMP/serve.out")
    [ -n "$ADDR" ] && break
    sleep 0.1
done
[ -n "$ADDR" ] || { log "daas did not start:"; cat "$TMP/serve.err" >&2; exit 1; }
case $ADDR in http://*) ;; *) ADDR="http://$ADDR" ;; esac

APP=$(curl -sf -X POST -H 'x-test-user-id: 7' -H 'content-type: application/json' \
    -d '{"object_type":"container","object_mode":"app","id_docker":"localhost/daas-test-desktop:latest"}' \
    "$ADDR/api/v1/db/objects" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
log "app $APP on $ADDR; $N starts each way"
TABLE=$(./target/debug/container-start --engine "unix://$TMP/podman.sock" --api "$ADDR" --app "$APP" --n "$N")

SECTION=$(cat <<MD
<!-- bench:container:start -->
## container: start-to-VNC-ready latency of a container app

- Date: $(date -u +%Y-%m-%d); machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); commit $(git rev-parse --short HEAD).
- Command: \`bash bench/container.sh\` (debug build; podman $(podman --version | awk '{print $3}') with runc, its Docker API on a socket of the bench's own; image \`localhost/daas-test-desktop\`: Xvfb + x11vnc from the host, \`scripts/container-test-images\`).
- A start is ready when the published 127.0.0.1 port answers \`RFB 003.008\\n\`. Through the API: \`POST /api/v1/container/apps/{id}/start\` (instance row, container, RFB wait, connection row) from request to answer. Bare: the container plugin's own engine functions from another process (create, start, published port, RFB wait), no host and no database. $N starts each, alternating; every container removed (untimed) before the next.

$TABLE
<!-- bench:container:end -->
MD
)
echo "$SECTION"
if [ "${BENCH_NO_DOCS:-0}" != 1 ]; then
    python3 - "$SECTION" <<'PY'
import re, sys
section = sys.argv[1]
path = "docs/benchmarks.md"
text = open(path).read()
pattern = re.compile(r"<!-- bench:container:start -->.*?<!-- bench:container:end -->", re.S)
text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
    log "docs/benchmarks.md updated"
fi
