#!/usr/bin/env bash
# The lifecycle bench: on containers, the time of each transition (environment,
# deployment, app) and of an app start through the phases plugin, p50 and p95 over N
# rounds (10 by default), and the same app start as bare engine calls in the same run,
# on podman's Docker API with the desktop test image (Xvfb + x11vnc).
#
#   bash bench/phases.sh               # BENCH_PHASES_N=10, BENCH_NO_DOCS=1 to skip docs
#
# - Starts `podman system service` on a socket of its own and builds the test images
#   (scripts/container-test-images) when missing.
# - Starts `daas serve` on a temporary site (db on SQLite, testbackend whose `testing`
#   layer makes the caller from x-test-user-id, container, phases) and creates the
#   administrator's shared base image (the desktop image).
# - bench/src/bin/phases-lifecycle.rs runs the rounds (see there for what is timed).
# - Debug build (what the tests use): the engine's work dominates, and a release build
#   of the workspace takes longer than the whole bench.
#
# Prints a markdown section and rewrites the one between <!-- bench:phases:start -->
# and <!-- bench:phases:end --> in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${BENCH_PHASES_N:-10}
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    for c in $(podman ps -aq --filter label=daas.bench=phases-lifecycle 2>/dev/null); do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
    for c in $(podman ps -aq --filter label=daas.site=bench-phases 2>/dev/null); do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
    # The environments' and deployments' images (a commit keeps the container's labels).
    for i in $(podman images -q --filter label=daas.site=bench-phases 2>/dev/null | sort -u); do podman rmi -f "$i" >/dev/null 2>&1 || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
log() { echo "phases bench: $*" >&2; }

bash scripts/container-test-images >&2
cargo build --quiet --locked -p daas -p daas-plugin-db -p daas-plugin-testbackend -p daas-plugin-container -p daas-plugin-phases -p daas-bench --bin phases-lifecycle

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

[[extensions.plugin]]
name = "phases"
TOML
printf '[db]\ndb_type = "sqlite"\ndata_path = "data"\nsecret_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="\n' > "$TMP/site/db.toml"
printf '[container_request]\nhost = "unix://%s/podman.sock"\nsite_label = "bench-phases"\n' "$TMP" > "$TMP/site/container.toml"
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

BASE=$(curl -sf -X POST -H 'x-test-user-id: 1' -H 'x-test-admin: true' -H 'content-type: application/json' \
    -d '{"id_owner":0,"object_type":"container","object_mode":"baseimage","id_docker":"localhost/daas-test-desktop:latest"}' \
    "$ADDR/api/v1/db/objects" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
log "base image $BASE on $ADDR; $N rounds"
TABLE=$(./target/debug/phases-lifecycle --engine "unix://$TMP/podman.sock" --api "$ADDR" --base "$BASE" --n "$N")

SECTION=$(cat <<MD
<!-- bench:phases:start -->
## phases: the lifecycle on containers

- Date: $(date -u +%Y-%m-%d); machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); commit $(git rev-parse --short HEAD).
- Command: \`bash bench/phases.sh\` (debug build; podman $(podman --version | awk '{print $3}') with runc, its Docker API on a socket of the bench's own; image \`localhost/daas-test-desktop\`: Xvfb + x11vnc from the host, \`scripts/container-test-images\`).
- Each round as one user: an environment from the administrator's base image (one ConfigAuto command), a deployment of it, an app of that, then an app start through the phases plugin and the same start as bare engine calls from the deployment's image, alternating which goes first. A transition or start is timed from its request until its task has succeeded (polled every 10 ms). A start is ready when the published 127.0.0.1 port answers \`RFB 003.008\\n\` (through phases also: instance row under the limits, connection row). Bare: the container plugin's own engine functions from another process, no host and no database. Every app instance removed (untimed) before the next start.

$TABLE
<!-- bench:phases:end -->
MD
)
echo "$SECTION"
bench_docs phases "$SECTION"
