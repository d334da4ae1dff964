# The db bench: db backend operations per second across the plugin boundary vs the
# same calls in-process, on SQLite. Sourced by bench/run.sh (BENCH_DB, on by default;
# `BENCH_DB=only bash bench/run.sh` runs nothing else) after its build, its wait for
# idle CPUs and its start_server; uses its log, die, TMP, PIDS, DAAS, REL, DOCS, BUSY.
#
# - In-process: bench/src/bin/db-inproc.rs opens the db plugin's Store on
#   bench/site-db/db.toml in its own process and calls through Store::client() (the
#   typed DbClient; requests through JSON).
# - Across the boundary: `daas serve --site bench/site-db` (db + testbackend);
#   POST /api/v1/testbackend/bench/db?op=OP&n=N makes the same calls from the
#   testbackend plugin with DbClient::host(), through the host into the db plugin. The
#   route times the calls itself: HTTP is not counted.
# - Both run daas_common::bench::run (the same code): after W untimed calls, N calls one
#   after another, and answer calls per second (wall clock) and the CPU time of the
#   whole process per call (getrusage: what the calls cost, waiting left out). Ops: get
#   (by key), insert (new object: UUID, two secrets sealed, one commit), find (by the
#   indexed column id_docker, one row).
# - Each side has a database of its own under $TMP, the same SQLite settings (db.toml;
#   WAL, synchronous FULL, as database.rs sets them), fresh at the start and growing
#   alike: the same runs in the same order. DB_ROUNDS rounds, alternating which side
#   goes first; medians over the rounds, and of the rounds' ratios.
#
# Prints a markdown section on stdout and rewrites the one between
# <!-- bench:db:start --> and <!-- bench:db:end --> in docs/benchmarks.md (unless
# BENCH_NO_DOCS=1). Knobs: BENCH_DB_ROUNDS (7), BENCH_DB_N (10000 calls of get and of
# find per run), BENCH_DB_INSERTS (1000 inserts per run), BENCH_DB_WARMUP (100). Runs
# take one to three seconds each: shorter ones swing too much on a shared machine. About
# two minutes in all.

DB_SITE=bench/site-db
DB_ROUNDS=${BENCH_DB_ROUNDS:-7}
DB_N=${BENCH_DB_N:-10000}
DB_INSERTS=${BENCH_DB_INSERTS:-1000}
DB_WARMUP=${BENCH_DB_WARMUP:-100}
DB_OPS=(get insert find)

mkdir -p "$TMP/db-serve" "$TMP/db-inproc"
# The server's database under $TMP, not in the site directory.
DB_SERVE_ENV=(env "DAAS__DB__DB__DATA_PATH=$TMP/db-serve")
"${DB_SERVE_ENV[@]}" "$DAAS" config check --site "$DB_SITE" >&2 || die "the db bench site $DB_SITE does not check out"

log "db bench: daas serve --site $DB_SITE"
start_server daas-db "daas: listening on " "${DB_SERVE_ENV[@]}" "$DAAS" serve --site "$DB_SITE" --listen 127.0.0.1:0
DB_ADDR=$ADDR
DB_PID=${PIDS[-1]}

# db_across OP N: the bench route's answer (one JSON line).
db_across() {
    local out code
    out=$(curl -s -X POST --max-time 600 -w '\n%{http_code}' "http://$DB_ADDR/api/v1/testbackend/bench/db?op=$1&n=$2&warmup=$DB_WARMUP") \
        || die "POST /api/v1/testbackend/bench/db failed"
    code=${out##*$'\n'}
    [[ $code == 200 ]] || die "POST /api/v1/testbackend/bench/db?op=$1 answered $code: ${out%$'\n'*}"
    printf '%s\n' "${out%$'\n'*}"
}
# db_inproc OP N: db-inproc's answer (one JSON line).
db_inproc() {
    "$REL/db-inproc" --site "$DB_SITE" --data "$TMP/db-inproc" --op "$1" --n "$2" --warmup "$DB_WARMUP" || die "db-inproc --op $1 failed"
}
# db_field NAME JSON: a number of the answer.
db_field() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" <<<"$2"; }

for i in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$DB_ADDR/readyz") == 200 ]] && break
    (( i < 100 )) || die "daas (db bench) did not become ready within 10 s"
    sleep 0.1
done
# One call first: says what is wrong (route off, no db plugin) before any measuring.
db_across get 1 >/dev/null

declare -A DBR=()  # DBR[inproc:get] = "ops/s ops/s ..." (one per round)
declare -A DBC=()  # DBC[inproc:get] = "CPU µs per call ..." (one per round)
for round in $(seq "$DB_ROUNDS"); do
    if (( round % 2 == 1 )); then order="inproc across"; else order="across inproc"; fi
    for op in "${DB_OPS[@]}"; do
        if [[ $op == insert ]]; then n=$DB_INSERTS; else n=$DB_N; fi
        for side in $order; do
            if [[ $side == inproc ]]; then j=$(db_inproc "$op" "$n"); else j=$(db_across "$op" "$n"); fi
            printf '%s %s\n' "$side" "$j" >>"$TMP/db.log"
            r=$(db_field ops_per_sec "$j")
            c=$(db_field cpu_us_per_op "$j")
            [[ -n $r && -n $c ]] || die "no ops_per_sec or cpu_us_per_op in $j"
            log "  db round $round/$DB_ROUNDS: $op $side, $n calls: $r ops/s, $c µs CPU per call"
            DBR[$side:$op]+="$r "
            DBC[$side:$op]+="$c "
        done
    done
done

kill -TERM "$DB_PID" 2>/dev/null || true
for i in $(seq 100); do kill -0 "$DB_PID" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$DB_PID" 2>/dev/null || true
wait "$DB_PID" 2>/dev/null || true
db_keep=()
for pid in "${PIDS[@]}"; do [[ $pid == "$DB_PID" ]] || db_keep+=("$pid"); done
PIDS=("${db_keep[@]}")

# ------------------------------------------------------------------ db table

db_median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { printf "%.6f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
db_int() { LC_ALL=C awk -v n="$1" 'BEGIN { s = sprintf("%.0f", n); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } print s r }'; }
# db_pairs ARRAY OP: "in-process across" of each round, one round a line.
db_pairs() {
    local -n runs=$1
    paste -d' ' <(tr ' ' '\n' <<<"${runs[inproc:$2]}" | sed '/^$/d') <(tr ' ' '\n' <<<"${runs[across:$2]}" | sed '/^$/d')
}
# db_rounds ARRAY OP FORMAT: "in-process / across" of each round.
db_rounds() { db_pairs "$1" "$2" | awk -v f="$3" '{ printf "%s" f " / " f, (NR > 1 ? ", " : ""), $1, $2 }'; }
# db_ratio ARRAY OP: the median of the rounds' across / in-process ratios (the two sides
# of a round ran back to back, under the same other load), and their range.
db_ratio() {
    db_pairs "$1" "$2" | awk '{ print $2 / $1 }' | sort -g \
        | awk '{ v[NR] = $1 } END { printf "**%.2f×** | %.2f–%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }'
}

declare -A DB_LABEL=([get]="get by key (\`get::<DaasObject>\`)" [insert]="insert (\`insert(&DaasObject)\`)" [find]="find by column (\`find::<DaasObject>\`, \`id_docker\`)")
DB_ROWS=""
DB_CPU_ROWS=""
DB_SINGLE=""
DB_CPU_SINGLE=""
for op in "${DB_OPS[@]}"; do
    inproc=$(db_median "${DBR[inproc:$op]}")
    across=$(db_median "${DBR[across:$op]}")
    DB_ROWS+="| ${DB_LABEL[$op]} | $(db_int "$inproc") | $(db_int "$across") | $(db_ratio DBR "$op") |"$'\n'
    inproc=$(db_median "${DBC[inproc:$op]}")
    across=$(db_median "${DBC[across:$op]}")
    DB_CPU_ROWS+="| ${DB_LABEL[$op]} | $(awk -v a="$inproc" -v b="$across" 'BEGIN { printf "%.1f µs | %.1f µs | %+.1f µs", a, b, b - a }') | $(db_ratio DBC "$op") |"$'\n'
    DB_SINGLE+="${DB_SINGLE:+; }$op $(db_rounds DBR "$op" %.0f)"
    DB_CPU_SINGLE+="${DB_CPU_SINGLE:+; }$op $(db_rounds DBC "$op" %.1f)"
done

DB_MACHINE="$(nproc) cores, $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*:[[:space:]]*//')"
DB_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain 2>/dev/null || true) ]]; then DB_COMMIT+=" with uncommitted changes"; fi

DB_SECTION=$(cat <<EOF
## db backend: in-process vs across the plugin boundary (SQLite)

- Date: $(date -u +%F); machine: $DB_MACHINE; commit $DB_COMMIT.
- Command: \`BENCH_DB=only bash bench/run.sh\` (the db part of \`bash bench/run.sh\`, in \`bench/db.sh\`; release build; site \`bench/site-db\`: db and testbackend, SQLite in WAL mode with synchronous FULL as \`database.rs\` sets it, log level warn).
- In-process: \`db-inproc\` (\`bench/src/bin/db-inproc.rs\`) opens the db plugin's \`Store\` on the site's \`db.toml\` and calls through \`Store::client()\` (the typed \`DbClient\`; requests through JSON). Across the boundary: \`POST /api/v1/testbackend/bench/db?op=OP&n=N\` on \`daas serve --site bench/site-db\`: the testbackend plugin makes the same calls with \`DbClient::host()\`, through the host into the db plugin and back (request and answer as JSON bytes across two dylib boundaries, the db plugin on its own runtime); the route times the calls itself, so HTTP is not counted.
- Both sides run \`daas_common::bench::run\`: $DB_WARMUP untimed calls, then N calls one after another (get and find N = $DB_N, insert N = $DB_INSERTS). get: one object by key; insert: a new object (UUID, two secrets sealed, one commit, so an fsync); find: objects by the indexed column \`id_docker\`, one matches. Each side has a database of its own, fresh at the start and growing alike. $DB_ROUNDS rounds, alternating which side goes first.
- The CPUs were ${BUSY}% busy with other work just before measuring.

| Operation | In-process, ops/s | Across the boundary, ops/s | Across / in-process | Rounds' range |
|---|---:|---:|---:|---:|
${DB_ROWS}
CPU time per call: user and system time of the whole process (every thread: caller, host, db plugin, SQLite, and runtime workers spinning while they wait for work) during the timed calls, divided by N (\`getrusage\`). It leaves out waiting for the disk and for a CPU, so an insert's fsync does not count; it still varies with the machine's other load.

| Operation | CPU per call, in-process | CPU per call, across | Added by the boundary | Across / in-process | Rounds' range |
|---|---:|---:|---:|---:|---:|
${DB_CPU_ROWS}
Per call and ops/s are medians over the rounds; a ratio is the median of the rounds' ratios (the two sides of a round ran back to back), the range their lowest and highest. Single rounds, in-process / across: ops/s ${DB_SINGLE}; CPU µs per call ${DB_CPU_SINGLE}.
EOF
)

printf '%s\n' "$DB_SECTION"

if [[ ${BENCH_NO_DOCS:-} == 1 ]]; then
    log "BENCH_NO_DOCS=1: $DOCS left alone (db bench)"
else
    db_start='<!-- bench:db:start -->'
    db_end='<!-- bench:db:end -->'
    [[ -f $DOCS ]] || die "$DOCS is missing"
    if ! grep -qF "$db_start" "$DOCS" || ! grep -qF "$db_end" "$DOCS"; then
        printf '\n%s\n%s\n' "$db_start" "$db_end" >>"$DOCS"
    fi
    printf '%s\n' "$DB_SECTION" >"$TMP/db-section.md"
    awk -v start="$db_start" -v end="$db_end" -v file="$TMP/db-section.md" '
        $0 == start { print; while ((getline line < file) > 0) print line; skipping = 1; next }
        $0 == end { skipping = 0 }
        !skipping { print }
    ' "$DOCS" >"$TMP/db-benchmarks.md"
    cat "$TMP/db-benchmarks.md" >"$DOCS"
    log "updated $DOCS (db bench)"
fi
