#!/usr/bin/env bash
# Every bench, one after another, each rewriting its own section of docs/benchmarks.md
# (with the date and the command it was run with):
#
#   bash bench/all.sh
#
# - bench/run.sh        the plugin ABI (HTTP, WebSocket echo, start-up, instructions
#                       per request) and, first, bench/db.sh (db backend operations)
# - bench/auth.sh       the auth layer's cost per request, privilege verification
# - bench/phases.sh     the lifecycle on containers: each transition, an app start
#                       through phases vs bare engine calls, on podman
# - bench/proxy.sh      the proxy's relays vs a raw relay and websockify, the parser,
#                       500 tunnels held, memory per connection
# - bench/vm.sh         QEMU: linked clone, cold boot vs start from a live snapshot,
#                       five at once, memory per guest
#
# About 15 minutes after the builds. Each script's own knobs (see its header) apply;
# BENCH_NO_DOCS=1 leaves docs/benchmarks.md alone. One failing bench stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."
for bench in run auth phases proxy vm; do
    echo "bench/all.sh: bench/$bench.sh" >&2
    bash "bench/$bench.sh"
done
