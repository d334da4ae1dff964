#!/usr/bin/env bash
# The VM bench: the QEMU backend on real VMs (TCG on these machines) from the guest
# image. p50 and p95 over N rounds (10 by default) of a linked clone, a cold boot, a
# live snapshot and a start from that snapshot, five starts at once, and the memory of
# a running guest, in one run (see bench/src/bin/vm-start.rs for what is timed).
#
#   bash bench/vm.sh               # BENCH_VM_N=10, BENCH_NO_DOCS=1 to skip docs
#
# Prints a markdown section and rewrites the one between <!-- bench:vm:start --> and
# <!-- bench:vm:end --> in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${BENCH_VM_N:-10}
# Short: the VMs' control sockets live under it.
TMP=$(mktemp -d /tmp/vmb.XXXX)
cleanup() {
    for pid in $(pgrep -f "qemu-system.*$TMP" || true); do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
log() { echo "vm bench: $*" >&2; }

bash scripts/vm-guest-image >&2
cargo build --quiet --locked -p daas-bench --bin vm-start
log "$N rounds; state in $TMP"
JSON=$(./target/debug/vm-start "$PWD/.cache/vm-guest" "$TMP" "$N")

TABLE=$(python3 - "$JSON" <<'PY'
import json, sys
m = json.loads(sys.argv[1])
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
rows = [
    ("linked clone (`qemu-img create -b`)", m["clone_ms"]),
    ("cold boot until a non-blank authenticated frame", m["cold_ms"]),
    ("live snapshot of a running VM (memory saved, VM stopped)", m["snapshot_ms"]),
    ("start from the live snapshot until a non-blank authenticated frame", m["resume_ms"]),
    ("each of five starts from the snapshot at once", m["five_ms"]),
]
print("| operation | p50 | p95 |")
print("|---|---|---|")
for name, xs in rows:
    print(f"| {name} | {pct(xs, 50):.0f} ms | {pct(xs, 95):.0f} ms |")
cold, resume = pct(m["cold_ms"], 50), pct(m["resume_ms"], 50)
print()
print(f"- Start from the live snapshot vs cold boot (p50): **{resume:.0f} ms vs {cold:.0f} ms, {resume / cold:.2f}×**; five starts at once took {m['five_wall_ms']:.0f} ms until all five showed a frame.")
rss = [r / 2**20 for r in m["rss_bytes"]]
print(f"- Resident memory per running guest (256 MiB VM, `-accel tcg,tb-size=32`, after a resume): {min(rss):.0f}–{max(rss):.0f} MiB.")
PY
)

SECTION=$(cat <<MD
<!-- bench:vm:start -->
## vm: QEMU, cold boot vs live snapshot

- Date: $(date -u +%Y-%m-%d); machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); commit $(git rev-parse --short HEAD).
- Command: \`bash bench/vm.sh\` (debug build; $(qemu-system-x86_64 --version | head -1), TCG; the guest image of \`scripts/vm-guest-image\`, 256 MiB, 1 CPU; $N rounds).
- The vm plugin's QEMU backend linked into the bench, no server. A start is timed from the request until a VNC client, authenticated with the instance's password, receives a frame with a pixel that is not black (QEMU's VNC server greets before the guest runs, so a greeting says nothing). A cold boot instantiates from the template (a linked clone, then a PVH boot until the guest agent answers); a start from the snapshot makes a linked clone of the snapshot's frozen disk and resumes its saved memory (\`-incoming\`).

$TABLE
<!-- bench:vm:end -->
MD
)
echo "$SECTION"
bench_docs vm "$SECTION"
