#!/usr/bin/env bash
# The proxy bench: one run, a printed table, the table into docs/benchmarks.md between
# <!-- bench:proxy:start --> and <!-- bench:proxy:end --> (unless BENCH_NO_DOCS=1).
#
# On this machine, all on loopback, release builds:
# - the far ends (bench/src/bin/proxy-bench.rs `serve`): a fake desktop (streams bytes or
#   echoes), a raw TCP relay to it written in the bench, a fake guacd (handshake, then
#   streams blob instructions or echoes instructions);
# - websockify from PyPI (in target/bench-venv) in front of the fake desktop;
# - `daas serve` with db, auth and proxy: the noVNC relay (instance inst-v, no VNC
#   password: bytes pass unchanged, as through websockify) and the Guacamole tunnel
#   (inst-g, through the fake guacd), opened with their viewer links.
# Per path: MB/s of a desktop → browser stream (PROXY_BYTES, 1 GiB) and p50/p99 of
# PROXY_ROUNDS (2000) round trips of a 64-byte message, PROXY_EVENTS (200000) input events
# browser → desktop (a frame each), the median of PROXY_REPEAT (7)
# turns; the Guacamole parser's MB/s on a
# display-update stream; PROXY_TUNNELS (500) Guacamole tunnels held for PROXY_HOLD (60) s
# with the server's memory per tunnel (VmRSS with all open minus before, / tunnels).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

BYTES=${PROXY_BYTES:-1073741824}
ROUNDS=${PROXY_ROUNDS:-2000}
EVENTS=${PROXY_EVENTS:-200000}
REPEAT=${PROXY_REPEAT:-7}
TUNNELS=${PROXY_TUNNELS:-500}
HOLD=${PROXY_HOLD:-60}
# PROXY_PROFILE=debug: a quick check of the script itself, not a measurement.
PROFILE=${PROXY_PROFILE:-release}
TOKEN_G=benchGuacamoleViewerToken0123456789
TOKEN_V=benchNoVncViewerToken0123456789abcd

# 500 tunnels are 1000 sockets in the server (browser side and guacd side).
ulimit -n 8192 2>/dev/null || ulimit -n 4096 2>/dev/null || true

die() { echo "proxy bench: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; die "nothing listens on $1"; }

echo "proxy bench: building ($PROFILE)" >&2
cargo build $([ "$PROFILE" = release ] && echo --release) --locked -p daas -p daas-plugin-db -p daas-plugin-auth -p daas-plugin-proxy -p daas-bench >&2
bash scripts/webroot >&2
if [ ! -x target/bench-venv/bin/websockify ]; then
    python3 -m venv target/bench-venv >&2
    target/bench-venv/bin/pip install -q websockify >&2
fi
BIN=target/$PROFILE/proxy-bench
DAAS=target/$PROFILE/daas

TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

DESKTOP=$(free_port); RELAY=$(free_port); GUACD=$(free_port); WSFY=$(free_port)
"$BIN" serve --desktop "$DESKTOP" --guacd "$GUACD" & PIDS+=($!)
"$BIN" serve --relay "$RELAY" --relay-to "127.0.0.1:$DESKTOP" & RELAY_PID=$!; PIDS+=($!)
target/bench-venv/bin/websockify "127.0.0.1:$WSFY" "127.0.0.1:$DESKTOP" 2>"$TMP/websockify.log" & WSFY_PID=$!; PIDS+=($!)
wait_port "$DESKTOP"; wait_port "$RELAY"; wait_port "$GUACD"; wait_port "$WSFY"

# The site: db, auth, proxy; the rows through `daas import`.
SITE=$TMP/site
mkdir -p "$SITE"
cat >"$SITE/extensions.toml" <<EOF
[extensions]
layers = ["auth"]
# The bench holds 500 tunnels from 127.0.0.1, over the default cap per client address.
max_connections_per_client = 0
library_dir = "$PWD/target/$PROFILE"

[[extensions.plugin]]
name = "db"

[[extensions.plugin]]
name = "auth"

[[extensions.plugin]]
name = "proxy"
EOF
printf '[db]\ndb_type = "sqlite"\ndata_path = "%s/data"\nsecret_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="\nadmin_credentials = "admin:bench-admin-1"\n' "$TMP" >"$SITE/db.toml"
printf '[viewer]\nwebroot = "%s/webroot"\n\n[guacd]\naddress = "127.0.0.1:%s"\n' "$PWD" "$GUACD" >"$SITE/proxy.toml"
printf '[log]\nlevel = "warn"\n' >"$SITE/logging.toml"
cat >"$TMP/rows.yaml" <<EOF
daas_objects:
  - {id: app-g, id_owner: 1, object_type: container, object_mode: app, viewer_contype: guacamole}
  - {id: app-v, id_owner: 1, object_type: container, object_mode: app, viewer_contype: novnc}
instances:
  - {id: inst-g, id_owner: 1, id_app: app-g, id_con: con-g, host: 127.0.0.1}
  - {id: inst-v, id_owner: 1, id_app: app-v, id_con: con-v, host: 127.0.0.1}
guacamole_connections:
  - {id: con-g, protocol: vnc, hostname: 127.0.0.1, port: $DESKTOP, viewer_token: $TOKEN_G}
  - {id: con-v, protocol: vnc, hostname: 127.0.0.1, port: $DESKTOP, viewer_token: $TOKEN_V}
EOF
"$DAAS" config check --site "$SITE" >&2 || die "the bench site does not check out"
"$DAAS" import "$TMP/rows.yaml" --site "$SITE" >&2
PORT=$(free_port)
BASE=ws://127.0.0.1:$PORT
# A fresh server for each memory measurement: memory freed by earlier connections stays
# in the allocator and would be reused, hiding what new ones cost.
start_daas() {
    "$DAAS" serve --site "$SITE" --listen "127.0.0.1:$PORT" >>"$TMP/daas.out" 2>>"$TMP/daas.log" & DAAS_PID=$!; PIDS+=($DAAS_PID)
    wait_port "$PORT"
}
stop_daas() {
    kill "$DAAS_PID"; wait "$DAAS_PID" 2>/dev/null || true
    for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null || return 0; sleep 0.1; done
}

measure() { "$BIN" measure --bytes "$BYTES" --rounds "$ROUNDS" "$@"; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

echo "proxy bench: holding $TUNNELS tunnels for $HOLD s" >&2
rss() { awk '/VmRSS/ {print $2}' "/proc/$DAAS_PID/status"; }
# Proportional set size (KiB) of a process and its children: websockify forks one
# process per connection, whose pages it shares copy-on-write; Pss counts each shared
# page once across them.
pss_tree() {
    local total=0 p
    for p in $1 $(pgrep -P "$1" 2>/dev/null); do
        total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
# hold KIND URL N SECS OUT: start holding, return once all are open (the caller samples
# memory), the JSON in OUT when `wait $HOLD_PID` returns.
hold() {
    "$BIN" hold --kind "$1" --url "$2" --n "$3" --secs "$4" >"$5" 2>"$5.log" & HOLD_PID=$!
    for _ in $(seq $(($4 * 10))); do grep -q "tunnels open" "$5.log" 2>/dev/null && break; sleep 0.1; done
    sleep 2
}
start_daas
RSS_BEFORE=$(rss)
hold guac "$BASE/instance/inst-g?token=$TOKEN_G" "$TUNNELS" "$HOLD" "$TMP/hold.json"
RSS_OPEN=$(rss)
wait "$HOLD_PID" || die "the hold run failed: $(cat "$TMP/hold.json.log")"
HELD=$(cat "$TMP/hold.json")
stop_daas


# Memory per connection, the noVNC relay vs websockify, at the same count.
CONNS=${PROXY_COMPARE_CONNS:-100}
echo "proxy bench: $CONNS binary WebSockets through each of daas and websockify" >&2
start_daas
D_BEFORE=$(pss_tree "$DAAS_PID")
hold ws "$BASE/instance/inst-v?token=$TOKEN_V" "$CONNS" 8 "$TMP/hold-v.json"
D_OPEN=$(pss_tree "$DAAS_PID")
wait "$HOLD_PID" || die "the noVNC hold failed: $(cat "$TMP/hold-v.json.log")"
stop_daas
W_BEFORE=$(pss_tree "$WSFY_PID")
hold ws "ws://127.0.0.1:$WSFY/" "$CONNS" 8 "$TMP/hold-w.json"
W_OPEN=$(pss_tree "$WSFY_PID")
W_PROCS=$(( $(pgrep -P "$WSFY_PID" | wc -l) + 1 ))
wait "$HOLD_PID" || die "the websockify hold failed: $(cat "$TMP/hold-w.json.log")"
D_PER=$(( (D_OPEN - D_BEFORE) / CONNS )); W_PER=$(( (W_OPEN - W_BEFORE) / CONNS ))

start_daas
echo "proxy bench: measuring" >&2
# The paths take turns, PROXY_REPEAT times; each path's row is its median turn, its
# ratios the medians of the ratios within each turn (see `rows`). One stream lasts
# about a second, so a single turn mostly measures what else the shared machine did.
# CPU time (user + system, children included: websockify forks one per connection and
# reaps it) of a server process, in clock ticks.
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
# run_path NAME SERVER_PID ARGS...: the stream alone (with the server's CPU time around
# it), then the round trips; one JSON line into NAME.runs.
run_path() {
    local name=$1 pid=$2 before after stream rtt
    shift 2
    before=$(cpu_ticks "$pid")
    stream=$("$BIN" measure --bytes "$BYTES" --rounds 0 "$@")
    sleep 0.5
    after=$(cpu_ticks "$pid")
    rtt=$("$BIN" measure --bytes 65536 --rounds "$ROUNDS" "$@")
    ebefore=$(cpu_ticks "$pid")
    events=$("$BIN" events --n "$EVENTS" "$@")
    sleep 0.5
    eafter=$(cpu_ticks "$pid")
    python3 -c "import json,sys; s,r,e=json.loads(sys.argv[1]),json.loads(sys.argv[2]),json.loads(sys.argv[7]); print(json.dumps({'mb_s': s['mb_s'], 'p50_us': r['p50_us'], 'p99_us': r['p99_us'], 'cpu_ms_gib': round((int(sys.argv[4]) - int(sys.argv[3])) * 1000 / int(sys.argv[5]) / (int(sys.argv[6]) / 2**30)), 'events_s': e['events_s'], 'cpu_us_event': round((int(sys.argv[9]) - int(sys.argv[8])) * 1e6 / int(sys.argv[5]) / e['events'], 2)}))" \
        "$stream" "$rtt" "$before" "$after" "$HZ" "$BYTES" "$events" "$ebefore" "$eafter" >>"$TMP/$name.runs"
}
for _ in $(seq "$REPEAT"); do
    run_path raw "$RELAY_PID" --kind tcp --url "127.0.0.1:$RELAY"
    run_path websockify "$WSFY_PID" --kind ws --url "ws://127.0.0.1:$WSFY/"
    run_path novnc "$DAAS_PID" --kind ws --url "$BASE/instance/inst-v?token=$TOKEN_V"
    run_path guac "$DAAS_PID" --kind guac --url "$BASE/instance/inst-g?token=$TOKEN_G"
done
PARSER=$("$BIN" parser --mib 256)
stop_daas

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }
# rows KIND: the table rows of every path from its turns (TMP/<path>.runs, one JSON line
# per turn, turn i of every path run back to back). Absolute numbers are each path's
# median turn; the ratios are the medians of the ratios within each turn, so that the
# shared machine's drift between turns does not count against one path.
rows() {
    python3 - "$1" "$TMP" "$(target/bench-venv/bin/pip show websockify 2>/dev/null | awk '/^Version/ {print $2}')" <<'PY'
import json, statistics, sys
kind, tmp, version = sys.argv[1:4]
paths = [("raw", "raw TCP relay (in the bench)"), ("websockify", f"websockify {version} (PyPI)"),
         ("novnc", "daas noVNC relay (WebSocket)"), ("guac", "daas Guacamole tunnel (WebSocket + guacd TCP)")]
runs = {p: [json.loads(l) for l in open(f"{tmp}/{p}.runs")] for p, _ in paths}
key = "mb_s" if kind == "stream" else "events_s"
def median_turn(p):
    return sorted(runs[p], key=lambda r: r[key])[len(runs[p]) // 2]
def ratio(p, to):
    return statistics.median(a[key] / b[key] for a, b in zip(runs[p], runs[to]))
for p, name in paths:
    m = median_turn(p)
    if kind == "stream":
        rest = [m["cpu_ms_gib"], m["p50_us"], m["p99_us"]]
    else:
        rest = [m["cpu_us_event"]]
    print("| " + " | ".join(str(x) for x in [name, m[key], f"{ratio(p, 'raw'):.2f}", f"{ratio(p, 'websockify'):.2f}", *rest]) + " |")
PY
}

TABLE=$(
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on this machine ($(nproc) cores, shared), \`bash bench/proxy.sh\`; loopback, $PROFILE build; the paths took $REPEAT turns in alternation; each row shows its path's median turn, and its ratios are the medians of the ratios within each turn."
    echo "Stream: $((BYTES >> 20)) MiB desktop → browser; server CPU: the relaying process's user + system time during the stream (the raw relay runs in a process of its own); latency: $ROUNDS round trips of 64 bytes (Guacamole: a 60-byte \`sync\`), measured apart from the stream."
    echo
    echo "| path | MB/s | × raw relay | × websockify | server CPU ms per GiB | p50 µs | p99 µs |"
    echo "|---|---|---|---|---|---|---|"
    rows stream
    echo
    echo "Input events, browser → desktop: $EVENTS events, each its own frame as noVNC and guacamole-common-js send them (RFB: an 8-byte KeyEvent in a binary frame; Guacamole: a 24-byte \`mouse\` instruction in a text frame; the raw relay: the same 8-byte events as bytes), the client flushing every 64; events/s until the far end has them all, and the server's CPU per event."
    echo
    echo "| path | events/s | × raw relay | × websockify | server CPU µs per event |"
    echo "|---|---|---|---|---|"
    rows events
    echo
    echo "Guacamole parser: $(field "$PARSER" parser_mb_s) MB/s on a display-update stream ($(field "$PARSER" instructions) instructions, $(( $(field "$PARSER" bytes) >> 20 )) MiB, 64 KiB reads, best of 5)."
    echo
    echo "$(field "$HELD" tunnels) Guacamole tunnels held for $HOLD s: $(field "$HELD" opened) opened, $(field "$HELD" failed) failed$( [ "$(field "$HELD" failed)" != 0 ] && echo " (first: $(field "$HELD" first_error))"); the server's memory $((RSS_BEFORE / 1024)) MiB before, $((RSS_OPEN / 1024)) MiB with all open: $(( (RSS_OPEN - RSS_BEFORE) / TUNNELS )) KiB per tunnel."
    echo
    echo "Memory per open connection, $CONNS binary WebSockets each (proportional set size of the server's processes, all open minus before):"
    echo
    echo "| server | processes | KiB per connection | × daas |"
    echo "|---|---|---|---|"
    echo "| daas noVNC relay | 1 | $D_PER | 1.00 |"
    echo "| websockify | $W_PROCS | $W_PER | $(ratio "$W_PER" "$(( D_PER > 0 ? D_PER : 1 ))") |"
)
echo "$TABLE"

bench_docs proxy "$(printf '<!-- bench:proxy:start -->\n## Proxy: relays, tunnel, parser\n\n%s\n<!-- bench:proxy:end -->' "$TABLE")"
