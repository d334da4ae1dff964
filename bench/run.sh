#!/usr/bin/env bash
# The plugin ABI benchmark: what crossing the plugin boundary costs, from one run.
#
#   bash bench/run.sh
#
# 1. HTTP: the same small JSON answer ({"status":"ok"}) served natively by the host
#    (GET /healthz, a poem-openapi route of the host) and by the testbackend plugin
#    across the dylib boundary (GET /api/v1/testbackend/health); wrk, 32 connections,
#    2 threads; 3 rounds, each measuring both routes (in alternating order) after a
#    warm-up; the table shows the medians over the rounds. Both routes take the same
#    way through the host up to where they part: the host's router, then its layer
#    stage (`Layered`; the bench site configures no layers, so it passes them on), then
#    a poem-openapi service with its own router: the host's for /healthz, the plugin's,
#    behind `Forward` and the boundary, for the plugin route. Both answer with the same
#    status, headers and body.
# 2. WebSocket echo: 32 connections, each sending a 64-byte text message and waiting
#    for its echo; native = bench/src/bin/ws-echo-native.rs (same poem, same loop),
#    plugin = ws://.../api/v1/testbackend/echo (subprotocol echo); alternating rounds.
# 3. Start-up: spawn `daas serve --site bench/site`, time until GET /readyz answers 200;
#    5 times.
# 4. Size of the release plugin libraries.
# 5. Instructions per request, counted by valgrind's callgrind (they do not depend on
#    the machine's load, unlike the wall-clock numbers above, which swing by ±20% on a
#    shared VM; but thread interleaving changes the allocator's work from run to run,
#    which moves a single run's per-request numbers by up to about 2%, so each run is
#    repeated and the median total taken). `daas serve` runs under
#    `valgrind --tool=callgrind` four times per repetition; each run answers GET
#    /healthz once (the readiness probe), then N requests sent one after another over
#    ONE keep-alive connection (bench/keepalive.py), then SIGTERM; the total is
#    valgrind's "Collected" line. A = 500 x /healthz, B = 1500 x /healthz,
#    C = 500 x /api/v1/testbackend/health, D = 500 x /testbackend (a plain poem handler
#    of the plugin, root-level browser route, text/html). Start-up and shutdown cancel
#    out in the differences: native = (B - A) / 1000 per request,
#    plugin = native + (C - A) / 500, plain plugin route = native + (D - A) / 500.
# 6. The db bench (bench/db.sh, which says how; it runs first): db backend operations
#    per second across the plugin boundary vs the same calls in-process, on SQLite,
#    with its own section in docs/benchmarks.md (<!-- bench:db:start --> to
#    <!-- bench:db:end -->). Knobs: BENCH_DB=0 skips it, BENCH_DB=only runs nothing
#    else; its own are in bench/db.sh.
#
# Prints a markdown table on stdout (progress goes to stderr) and rewrites the section
# between <!-- bench:abi:start --> and <!-- bench:abi:end --> in docs/benchmarks.md.
# Everything listens on and targets 127.0.0.1 only. Takes about 3 minutes after the
# build. Other work on the machine skews the numbers: the script waits (at most 30 s)
# for the CPUs to be idle before measuring and reports how busy they were.
# Knobs (for a quick try, not for the recorded numbers): BENCH_HTTP_SECS (10),
# BENCH_WS_SECS (6), BENCH_WARMUP_SECS (2), BENCH_ROUNDS (3), BENCH_STARTUP_RUNS (5),
# BENCH_CALLGRIND=0 (skip the callgrind instruction counts), BENCH_CALLGRIND=only (only
# them: prints their table, leaves docs/benchmarks.md alone), BENCH_CG_RUNS (3
# repetitions of the callgrind runs), BENCH_NO_DOCS=1 (do not touch docs/benchmarks.md).

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

HTTP_SECS=${BENCH_HTTP_SECS:-10}
WS_SECS=${BENCH_WS_SECS:-6}
WARMUP_SECS=${BENCH_WARMUP_SECS:-2}
ROUNDS=${BENCH_ROUNDS:-3}
STARTUP_RUNS=${BENCH_STARTUP_RUNS:-5}
CALLGRIND=${BENCH_CALLGRIND:-1}
CG_RUNS=${BENCH_CG_RUNS:-3}
CG_BASE=500    # requests of runs A, C and D
CG_MORE=1500   # requests of run B
CONNECTIONS=32
THREADS=2
WS_SIZE=64
SITE=bench/site
DOCS=docs/benchmarks.md
REL=target/release
DAAS=$REL/daas

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ cleanup

TMP=$(mktemp -d "${TMPDIR:-/tmp}/daas-bench.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    # The start-up timer records the server it is running; kill it too if the timer
    # itself was interrupted.
    if [[ -s "$TMP/startup.pid" ]]; then
        kill -TERM "$(cat "$TMP/startup.pid")" 2>/dev/null || true
    fi
    for pid in "${PIDS[@]}"; do
        # Bounded wait (5 s), then SIGKILL.
        local i
        for i in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ build and tools

log "building the workspace in release mode"
cargo build --release --workspace >&2

# ensure_tool COMMAND [WHY]: install COMMAND's Debian package (same name) when missing.
ensure_tool() {
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $1${2:+ ($2)}"
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$1" >&2
    command -v "$1" >/dev/null 2>&1 || die "$1 is not installed and could not be installed${2:+ ($2)}"
}

[[ $CALLGRIND == only ]] || ensure_tool wrk
command -v curl >/dev/null 2>&1 || die "curl is needed"
if [[ $CALLGRIND != 0 ]]; then
    ensure_tool valgrind "BENCH_CALLGRIND=0 skips the instruction counts"
    command -v python3 >/dev/null 2>&1 || die "python3 is needed for the callgrind runs (BENCH_CALLGRIND=0 skips them)"
fi

"$DAAS" config check --site "$SITE" >&2 || die "the bench site $SITE does not check out"

# ------------------------------------------------------------------ quiet machine

# cpu_busy_pct SECONDS: how busy the CPUs are (every process), in percent, over SECONDS.
cpu_busy_pct() {
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    sleep "$1"
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN {
        split(a, x, " "); split(b, y, " "); busy = y[1] - x[1]; idle = y[2] - x[2]
        printf "%.0f", ((busy + idle) > 0 ? 100 * busy / (busy + idle) : 0) }'
}
BUSY=100
for i in $(seq 15); do
    BUSY=$(cpu_busy_pct 2)
    (( BUSY <= 15 )) && break
    log "the CPUs are ${BUSY}% busy with other work; waiting for them to settle ($i/15)"
done
log "CPUs ${BUSY}% busy before measuring"

# ------------------------------------------------------------------ helpers

# median COLUMN "a b c;a b c;": the median of one column over the rounds.
median() {
    awk -v col="$1" -v s="$2" 'BEGIN {
        n = split(s, runs, ";"); k = 0
        for (i = 1; i <= n; i++) { if (runs[i] == "") continue; split(runs[i], f, " "); v[++k] = f[col] + 0 }
        for (i = 2; i <= k; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
        printf "%.6f", (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2 }'
}
# round_ratios "plugin rounds" "native rounds": plugin/native requests or messages per
# second of each round (the two sides of a round ran back to back).
round_ratios() {
    awk -v p="$1" -v n="$2" 'BEGIN {
        k = split(p, pr, ";"); split(n, nr, ";"); out = ""
        for (i = 1; i <= k; i++) { if (pr[i] == "") continue; split(pr[i], a, " "); split(nr[i], b, " "); out = out (out == "" ? "" : ", ") sprintf("%.2f", a[1] / b[1]) }
        print out }'
}
# fmt_int N: 12345.6 -> 12,346
fmt_int() { LC_ALL=C awk -v n="$1" 'BEGIN { s = sprintf("%.0f", n); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } print s r }'; }
fmt_ms() { awk -v n="$1" 'BEGIN { printf "%.2f ms", n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }
# runs_of COLUMN "a b c;...": the single runs, "x / y".
runs_of() {
    awk -v col="$1" -v s="$2" 'BEGIN {
        n = split(s, runs, ";"); out = ""
        for (i = 1; i <= n; i++) { if (runs[i] == "") continue; split(runs[i], f, " "); out = out (out == "" ? "" : " / ") sprintf("%.0f", f[col]) }
        print out }'
}
human_size() { awk -v n="$1" 'BEGIN { printf "%.1f MiB", n / 1048576 }'; }

# cg_section: the callgrind table, from CG.
cg_section() {
    # native = (B - A) / (CG_MORE - CG_BASE); cg_route X: native + (X - A) / CG_BASE.
    cg_native=$(awk -v a="${CG[A]}" -v b="${CG[B]}" -v n=$((CG_MORE - CG_BASE)) 'BEGIN { printf "%.1f", (b - a) / n }')
    cg_route() { awk -v a="${CG[A]}" -v x="$1" -v n="$CG_BASE" -v nat="$cg_native" 'BEGIN { printf "%.1f", nat + (x - a) / n }'; }
    cg_plugin=$(cg_route "${CG[C]}")
    cg_plain=$(cg_route "${CG[D]}")
    cat <<EOF

Instructions: \`daas serve\` ran under \`valgrind --tool=callgrind\` four times, $CG_RUNS times over (medians of the totals), each run answering one \`GET /healthz\` probe and then N requests sent one after another over one keep-alive connection (\`bench/keepalive.py\`) before SIGTERM, and the per-request numbers are differences of the whole-process totals, so start-up and shutdown cancel out (A = $CG_BASE × \`/healthz\`, B = $CG_MORE × \`/healthz\`, C = $CG_BASE × the plugin route, D = $CG_BASE × the plain route; native = (B − A) / $((CG_MORE - CG_BASE)), route = native + (C or D − A) / $CG_BASE); unlike the wall-clock numbers, these counts do not depend on the machine's load, but thread interleaving changes the allocator's work from run to run by up to about 2% per request.

| Instructions per request (callgrind) | Instructions | Route / native |
|---|---:|---:|
| Native: \`GET /healthz\` (poem-openapi route of the host) | $(fmt_int "$cg_native") | 1.00× |
| Plugin: \`GET /api/v1/testbackend/health\` (poem-openapi route, across the dylib boundary) | $(fmt_int "$cg_plugin") | **$(ratio "$cg_plugin" "$cg_native")** |
| Plain plugin route: \`GET /testbackend\` (plain poem handler, root-level browser route, text/html) | $(fmt_int "$cg_plain") | $(ratio "$cg_plain" "$cg_native") |

Callgrind totals (medians): A $(fmt_int "${CG[A]}"), B $(fmt_int "${CG[B]}"), C $(fmt_int "${CG[C]}"), D $(fmt_int "${CG[D]}") instructions; single runs A ${CG_ALL[A]% }, B ${CG_ALL[B]% }, C ${CG_ALL[C]% }, D ${CG_ALL[D]% }.
EOF
}

# ------------------------------------------------------------------ callgrind runs

# forget_pid PID: drop PID from PIDS (it has been waited for).
forget_pid() {
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# callgrind_run LABEL PATH COUNT: serve under callgrind, answer GET /healthz once, then
# COUNT requests to PATH over one keep-alive connection, SIGTERM; appends the
# instructions the whole process executed to CG_ALL[LABEL]. Not in a subshell: the
# server's pid must reach PIDS, which the cleanup trap kills.
declare -A CG=() CG_ALL=()
callgrind_run() {
    local label=$1 path=$2 count=$3
    valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$label.out" \
        "$DAAS" serve --site "$SITE" --listen 127.0.0.1:0 >"$TMP/cg.$label.stdout" 2>"$TMP/cg.$label.err" &
    local pid=$!
    PIDS+=("$pid")
    # Slow under valgrind, slower still on a busy machine: allow 180 s in all for the
    # listening line and GET /healthz.
    local deadline=$((SECONDS + 180)) line="" addr="" ready=""
    while (( SECONDS < deadline )); do
        line=$(grep -m1 '^daas: listening on http://' "$TMP/cg.$label.stdout" 2>/dev/null || true)
        [[ -n $line ]] && break
        kill -0 "$pid" 2>/dev/null || { cat "$TMP/cg.$label.err" >&2; die "daas under callgrind ($label) exited before listening"; }
        sleep 0.2
    done
    [[ -n $line ]] || die "daas under callgrind ($label) did not listen within 180 s"
    addr=${line#daas: listening on http://}
    [[ $addr == 127.0.0.1:* ]] || die "daas under callgrind listens on $addr, not on 127.0.0.1"
    # The first answered probe is the only request besides the loop (failed connects cost
    # the server nothing), so every run pays for exactly one probe and it cancels out.
    while (( SECONDS < deadline )); do
        if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "http://$addr/healthz") == 200 ]]; then
            ready=1
            break
        fi
        kill -0 "$pid" 2>/dev/null || { cat "$TMP/cg.$label.err" >&2; die "daas under callgrind ($label) exited"; }
        sleep 0.2
    done
    [[ -n $ready ]] || die "daas under callgrind ($label) did not answer GET /healthz within 180 s"
    local took
    took=$(python3 bench/keepalive.py --addr "$addr" --path "$path" --count "$count" --timeout 30) \
        || die "the keep-alive client failed against http://$addr$path ($label)"
    kill -TERM "$pid" 2>/dev/null || true
    local i rc=0
    for i in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid" 2>/dev/null || true; die "daas under callgrind ($label) did not stop within 60 s of SIGTERM"; }
    wait "$pid" 2>/dev/null || rc=$?
    forget_pid "$pid"
    (( rc == 0 )) || { tail -20 "$TMP/cg.$label.err" >&2; die "daas under callgrind ($label) exited with $rc"; }
    local total
    total=$(sed -n "s/^==$pid== Collected : \([0-9][0-9]*\)\$/\1/p" "$TMP/cg.$label.err" | head -1)
    [[ -n $total ]] || { tail -20 "$TMP/cg.$label.err" >&2; die "no 'Collected' line in valgrind's output ($label)"; }
    log "  callgrind $label: $count x GET $path ($took): $total instructions"
    CG_ALL[$label]+="$total "
}

# callgrind_all: CG_RUNS repetitions of the four runs, interleaved so that a change of
# the machine's state over time touches every label alike; CG[LABEL] = the median total.
callgrind_all() {
    local rep label
    log "instructions per request: $CG_RUNS x 4 runs of daas under callgrind"
    for rep in $(seq "$CG_RUNS"); do
        callgrind_run A /healthz "$CG_BASE"
        callgrind_run B /healthz "$CG_MORE"
        callgrind_run C /api/v1/testbackend/health "$CG_BASE"
        callgrind_run D /testbackend "$CG_BASE"
    done
    for label in A B C D; do
        CG[$label]=$(tr ' ' '\n' <<<"${CG_ALL[$label]}" | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }')
    done
}

if [[ $CALLGRIND == only ]]; then
    callgrind_all
    cg_section
    log "BENCH_CALLGRIND=only: $DOCS left alone"
    exit 0
fi

# ------------------------------------------------------------------ servers

# start_server NAME PREFIX CMD...: run CMD in the background with stdout to
# $TMP/NAME.out, wait (at most 30 s) for the line PREFIXhttp://ADDR, set $ADDR.
start_server() {
    local name=$1 prefix=$2
    shift 2
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    local i line=""
    for i in $(seq 300); do
        line=$(grep -m1 "^${prefix}http://" "$TMP/$name.out" 2>/dev/null || true)
        [[ -n $line ]] && break
        kill -0 "$pid" 2>/dev/null || { cat "$TMP/$name.err" >&2; die "$name exited before listening"; }
        sleep 0.1
    done
    [[ -n $line ]] || die "$name did not print its listening line within 30 s"
    ADDR=${line#"${prefix}http://"}
    [[ $ADDR == 127.0.0.1:* ]] || die "$name listens on $ADDR, not on 127.0.0.1"
}

# The db bench (6.): BENCH_DB=0 skips it, BENCH_DB=only runs nothing else.
if [[ ${BENCH_DB:-1} != 0 ]]; then
    source bench/db.sh
    [[ ${BENCH_DB:-1} == only ]] && exit 0
fi

start_server daas "daas: listening on " "$DAAS" serve --site "$SITE" --listen 127.0.0.1:0
DAAS_ADDR=$ADDR
start_server ws-echo-native "ws-echo-native: listening on " "$REL/ws-echo-native" --listen 127.0.0.1:0
NATIVE_WS_ADDR=$ADDR
log "daas on $DAAS_ADDR, ws-echo-native on $NATIVE_WS_ADDR"

ready=""
for i in $(seq 100); do
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$DAAS_ADDR/readyz") == 200 ]]; then
        ready=1
        break
    fi
    sleep 0.1
done
[[ -n $ready ]] || die "daas did not become ready within 10 s"

NATIVE_URL="http://$DAAS_ADDR/healthz"
PLUGIN_URL="http://$DAAS_ADDR/api/v1/testbackend/health"
native_body=$(curl -sf --max-time 5 "$NATIVE_URL") || die "GET $NATIVE_URL failed"
plugin_body=$(curl -sf --max-time 5 "$PLUGIN_URL") || die "GET $PLUGIN_URL failed"
[[ $native_body == "$plugin_body" ]] || die "the routes answer differently: native $native_body, plugin $plugin_body"
log "both routes answer $native_body"

# ------------------------------------------------------------------ HTTP (wrk)

# to_ms VALUE: wrk's 380.12us / 1.23ms / 1.02s in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000; else if (u != "ms") n = -1
        printf "%.3f", n }'
}

# wrk_run URL: measure; prints "REQ_PER_SEC P50_MS P99_MS".
wrk_run() {
    local url=$1 out
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP_SECS}s" --timeout 5s "$url" >/dev/null
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${HTTP_SECS}s" --timeout 5s --latency "$url")
    printf '%s\n' "$out" >>"$TMP/wrk.log"
    if grep -q "Non-2xx or 3xx responses" <<<"$out"; then
        printf '%s\n' "$out" >&2
        die "wrk saw error responses from $url"
    fi
    if grep -q "Socket errors" <<<"$out"; then
        log "warning: $(grep "Socket errors" <<<"$out" | sed 's/^ *//') ($url)"
    fi
    local rps p50 p99
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    [[ -n $rps && $p50 != "-1.000" && $p99 != "-1.000" ]] || { printf '%s\n' "$out" >&2; die "could not read wrk's output"; }
    echo "$rps $p50 $p99"
}

declare -A HTTP=()  # HTTP[native] = "rps p50 p99;rps p50 p99;..."
for round in $(seq "$ROUNDS"); do
    if (( round % 2 == 1 )); then order="native plugin"; else order="plugin native"; fi
    for which in $order; do
        if [[ $which == native ]]; then url=$NATIVE_URL; else url=$PLUGIN_URL; fi
        log "HTTP round $round/$ROUNDS: $which ($url), ${WARMUP_SECS}s warm-up + ${HTTP_SECS}s"
        r=$(wrk_run "$url")
        log "  req/s p50_ms p99_ms = $r"
        HTTP[$which]+="$r;"
    done
done

# ------------------------------------------------------------------ WebSocket echo

# json_num FIELD JSON
json_num() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" <<<"$2"; }

declare -A WS=()  # WS[native] = "msgs p50_ms p99_ms;..."
for round in $(seq "$ROUNDS"); do
    if (( round % 2 == 1 )); then order="native plugin"; else order="plugin native"; fi
    for which in $order; do
        if [[ $which == native ]]; then url="ws://$NATIVE_WS_ADDR/echo"; else url="ws://$DAAS_ADDR/api/v1/testbackend/echo"; fi
        log "WebSocket round $round/$ROUNDS: $which ($url), ${WARMUP_SECS}s warm-up + ${WS_SECS}s"
        j=$("$REL/ws-load" --url "$url" --protocol echo --connections "$CONNECTIONS" --size "$WS_SIZE" \
            --warmup "$WARMUP_SECS" --duration "$WS_SECS") || die "ws-load failed against $url"
        printf '%s\n' "$j" >>"$TMP/ws.log"
        r="$(json_num msgs_per_sec "$j") $(awk -v a="$(json_num p50_us "$j")" 'BEGIN { printf "%.3f", a / 1000 }') $(awk -v a="$(json_num p99_us "$j")" 'BEGIN { printf "%.3f", a / 1000 }')"
        log "  msgs/s p50_ms p99_ms = $r"
        WS[$which]+="$r;"
    done
done

# The load is over: stop the servers before timing start-ups.
for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${PIDS[@]}"; do
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
PIDS=()

# ------------------------------------------------------------------ start-up

log "start-up: $STARTUP_RUNS runs"
STARTUP=$("$REL/startup" --daas "$DAAS" --site "$SITE" --runs "$STARTUP_RUNS" --pidfile "$TMP/startup.pid") || die "start-up timing failed"
log "  $STARTUP"

# ------------------------------------------------------------------ instructions (callgrind)

[[ $CALLGRIND == 0 ]] || callgrind_all

# ------------------------------------------------------------------ table

h_nr=$(median 1 "${HTTP[native]}"); h_pr=$(median 1 "${HTTP[plugin]}")
h_n50=$(median 2 "${HTTP[native]}"); h_p50=$(median 2 "${HTTP[plugin]}")
h_n99=$(median 3 "${HTTP[native]}"); h_p99=$(median 3 "${HTTP[plugin]}")
w_nr=$(median 1 "${WS[native]}"); w_pr=$(median 1 "${WS[plugin]}")
w_n50=$(median 2 "${WS[native]}"); w_p50=$(median 2 "${WS[plugin]}")
w_n99=$(median 3 "${WS[native]}"); w_p99=$(median 3 "${WS[plugin]}")

s_median=$(json_num median_ms "$STARTUP")
s_max=$(json_num max_ms "$STARTUP")
s_listen=$(json_num listening_median_ms "$STARTUP")
s_all=$(sed -n 's/.*"ready_ms":\[\([^]]*\)\].*/\1/p' <<<"$STARTUP" | sed 's/,/, /g')

# size_cell FILE: its size, and its stripped size (the release profile keeps debug
# line tables, `debug = 1`).
size_cell() {
    local stripped=""
    if command -v strip >/dev/null 2>&1 && strip -o "$TMP/stripped" "$1" 2>/dev/null; then
        stripped=" ($(human_size "$(stat -c %s "$TMP/stripped")") stripped)"
    fi
    echo "$(human_size "$(stat -c %s "$1")")$stripped"
}
size_rows=""
for so in "$REL"/libdaas_plugin_*.so; do
    [[ -e $so ]] || continue
    size_rows+="| Release library \`$(basename "$so")\` | $(size_cell "$so") |"$'\n'
done

TABLE=$(cat <<EOF
| Measurement | Native (host) | Plugin (ABI) | Plugin / native |
|---|---:|---:|---:|
| HTTP \`GET\` small JSON, requests/s | $(fmt_int "$h_nr") | $(fmt_int "$h_pr") | **$(ratio "$h_pr" "$h_nr")** |
| HTTP latency p50 | $(fmt_ms "$h_n50") | $(fmt_ms "$h_p50") | $(ratio "$h_p50" "$h_n50") |
| HTTP latency p99 | $(fmt_ms "$h_n99") | $(fmt_ms "$h_p99") | $(ratio "$h_p99" "$h_n99") |
| WebSocket echo, messages/s | $(fmt_int "$w_nr") | $(fmt_int "$w_pr") | **$(ratio "$w_pr" "$w_nr")** |
| WebSocket round trip p50 | $(fmt_ms "$w_n50") | $(fmt_ms "$w_p50") | $(ratio "$w_p50" "$w_n50") |
| WebSocket round trip p99 | $(fmt_ms "$w_n99") | $(fmt_ms "$w_p99") | $(ratio "$w_p99" "$w_n99") |

| Measurement | Value |
|---|---:|
| Host start-up to ready (info + testbackend), median of $STARTUP_RUNS | $(fmt_ms "$s_median") |
| Host start-up to ready, max of $STARTUP_RUNS | $(fmt_ms "$s_max") |
${size_rows}| Release binary \`daas\` | $(size_cell "$DAAS") |
EOF
)

CG_SECTION=""
if [[ $CALLGRIND != 0 ]]; then
    CG_SECTION=$(printf '\n'; cg_section)
fi

MACHINE="$(nproc) cores, $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*:[[:space:]]*//')"
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain 2>/dev/null || true) ]]; then COMMIT+=" with uncommitted changes"; fi

SECTION=$(cat <<EOF
## Plugin ABI: native host vs plugin

- Date: $(date -u +%F); machine: $MACHINE; commit $COMMIT.
- Command: \`bash bench/run.sh\` (release build; site \`bench/site\`: info and testbackend, no layers, log level warn).
- HTTP: \`wrk -t$THREADS -c$CONNECTIONS --latency\`, ${HTTP_SECS} s per run after a ${WARMUP_SECS} s warm-up; $ROUNDS rounds, each running both routes back to back in alternating order; medians over the rounds. Native: \`GET /healthz\` (a poem-openapi route of the host); plugin: \`GET /api/v1/testbackend/health\` (a poem-openapi route of the testbackend plugin, across the dylib boundary). Both answer \`{"status":"ok"}\` with the same status and headers, and both take the same way through the host until they part: the host's router, its layer stage (\`Layered\`; this site configures no layers, so neither runs any), then a poem-openapi service with its own router: the host's for \`/healthz\`; for the plugin route, \`Forward\` reads the body and packs the request, the plugin's service runs in the host's task under the plugin's runtime (no spawn, no thread hop), and the host unpacks the answer.
- WebSocket: \`ws-load\`, $CONNECTIONS connections each sending a ${WS_SIZE}-byte text message and waiting for its echo, ${WS_SECS} s per run after a ${WARMUP_SECS} s warm-up; $ROUNDS rounds as for HTTP; medians. Native: \`bench/src/bin/ws-echo-native.rs\` (same poem, same echo loop); plugin: \`/api/v1/testbackend/echo\`, subprotocol \`echo\`.
- Start-up: spawn \`daas serve --site bench/site --listen 127.0.0.1:0\` until \`GET /readyz\` answers 200, then SIGTERM; the listening line came after a median $(fmt_ms "$s_listen").
- Load generator, servers and plugins share the same $(nproc) cores, so absolute numbers are low and noisy; the ratios are the result. The CPUs were ${BUSY}% busy with other work just before measuring.

$TABLE

Single rounds: HTTP requests/s native $(runs_of 1 "${HTTP[native]}"), plugin $(runs_of 1 "${HTTP[plugin]}"), plugin / native per round $(round_ratios "${HTTP[plugin]}" "${HTTP[native]}"); WebSocket messages/s native $(runs_of 1 "${WS[native]}"), plugin $(runs_of 1 "${WS[plugin]}"), per round $(round_ratios "${WS[plugin]}" "${WS[native]}"); start-up ms $s_all.
$CG_SECTION
EOF
)

printf '%s\n' "$SECTION"

# ------------------------------------------------------------------ docs/benchmarks.md

if [[ ${BENCH_NO_DOCS:-} == 1 ]]; then
    log "BENCH_NO_DOCS=1: $DOCS left alone"
    exit 0
fi

START='<!-- bench:abi:start -->'
END='<!-- bench:abi:end -->'
if [[ ! -f $DOCS ]]; then
    mkdir -p "$(dirname "$DOCS")"
    cat >"$DOCS" <<EOF
# Benchmarks

Benchmarks: latest results of every bench, with date and command. Numbers come from one
run on a shared 2-core machine; compare ratios within a run, not absolute numbers across
runs.

$START
$END
EOF
fi
if ! grep -qF "$START" "$DOCS" || ! grep -qF "$END" "$DOCS"; then
    printf '\n%s\n%s\n' "$START" "$END" >>"$DOCS"
fi
printf '%s\n' "$SECTION" >"$TMP/section.md"
awk -v start="$START" -v end="$END" -v file="$TMP/section.md" '
    $0 == start { print; while ((getline line < file) > 0) print line; skipping = 1; next }
    $0 == end { skipping = 0 }
    !skipping { print }
' "$DOCS" >"$TMP/benchmarks.md"
cat "$TMP/benchmarks.md" >"$DOCS"
log "updated $DOCS"
