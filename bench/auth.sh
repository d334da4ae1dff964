#!/usr/bin/env bash
# The auth bench: the auth layer's per-request cost with warm caches (the same route
# through the auth layer with a session cookie, a bearer token, an access token, and
# with privileges enforced, each with and without the cache of resolved callers,
# against the same route on a site without the layer; same run, ratios), and the
# requests each scenario of seed 000 §3.3.5 costs a privilege verification. What is
# measured and how: bench/src/bin/auth-bench.rs.
#
# Usage: bash bench/auth.sh. Builds the release binaries it needs, prints a markdown
# section and rewrites the one between <!-- bench:auth:start --> and
# <!-- bench:auth:end --> in docs/benchmarks.md (unless BENCH_NO_DOCS=1). Knobs:
# BENCH_AUTH_N (3000 requests per variant and round), BENCH_AUTH_ROUNDS (5), BENCH_AUTH_FLOOD_SECONDS (10). About two
# minutes after the build. Servers listen on 127.0.0.1 only and are killed at the end.

set -euo pipefail
cd "$(dirname "$0")/.."

N=${BENCH_AUTH_N:-3000}
ROUNDS=${BENCH_AUTH_ROUNDS:-5}
DOCS=docs/benchmarks.md
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "auth bench: building (release)" >&2
# Two builds: `--bin` would leave the plugins' libraries out of the first.
cargo build --release -p daas -p daas-plugin-db -p daas-plugin-auth -p daas-plugin-info -p daas-plugin-testbackend >&2
cargo build --release -p daas-bench --bin auth-bench >&2

FLOOD=${BENCH_AUTH_FLOOD_SECONDS:-10}
COMMAND="BENCH_AUTH_N=$N BENCH_AUTH_ROUNDS=$ROUNDS BENCH_AUTH_FLOOD_SECONDS=$FLOOD bash bench/auth.sh"
echo "auth bench: $N requests per variant, $ROUNDS rounds, a $FLOOD s login flood" >&2
TABLES=$(target/release/auth-bench --daas target/release/daas --plain-site bench/site --auth-site bench/site-auth --flood-seconds "$FLOOD" \
    --data "$TMP/data" --n "$N" --rounds "$ROUNDS")

# The Nth of the tables auth-bench printed (separated by blank lines).
table() { awk -v n="$1" 'BEGIN { RS = ""; ORS = "\n" } NR == n' <<<"$TABLES"; }

SECTION=$(cat <<END
## Auth layer and privilege verification

$(date -u +%Y-%m-%d), \`$COMMAND\` (release build; $(nproc) CPUs shared with other work). One keep-alive
connection, requests one after another, $N per variant and round, $ROUNDS rounds with the order
rotating; medians. Every cache warm (resolved callers, roles, rule catalogue, static
groups). The auth layer's work per request with \`[auth] cache_seconds\` (the default, 5 s):
the credential's digest looked up in the cache of resolved callers, the role check and,
with privileges, the user's accept/deny lists and memberships, all from memory: no db
backend call. Without the cache (\`cache_seconds = 0\`, the layer before the cache): the
session or access-token row and the user row (two db backend calls), and with privileges
the user's lists and memberships (two more, issued together).

$(table 1)

Requests per privilege verification, the auth plugin's \`Guard\` over an in-memory db backend
that counts the calls (static groups' cache warm; a user's first verification, so their lists
are read). A seed request for the user is two db calls issued together (the user's lists and
memberships); each non-static group read is one. The user's later verifications within
\`cache_seconds\` cost only the non-static group reads.

$(table 2)

A login flood: 64 concurrent clients send logins for made-up names (each once, so the
per-source throttle does not stop them and every one costs an argon2id check) for
$FLOOD seconds, while one client calls an unrelated route (\`GET /api/v1/auth/me\` with a
bearer token) one call after another. Two servers of the same build: the password pool as
configured by default, and one as wide as the hashing on the request threads was before
(64 threads, 10 000 waiting). The server's resident memory is sampled every 50 ms.

$(table 3)
END
)

printf '%s\n' "$SECTION"

if [[ ${BENCH_NO_DOCS:-} == 1 ]]; then
    echo "BENCH_NO_DOCS=1: $DOCS left alone" >&2
else
    start='<!-- bench:auth:start -->'
    end='<!-- bench:auth:end -->'
    if ! grep -qF "$start" "$DOCS" || ! grep -qF "$end" "$DOCS"; then
        printf '\n%s\n%s\n' "$start" "$end" >>"$DOCS"
    fi
    printf '%s\n' "$SECTION" >"$TMP/section.md"
    awk -v start="$start" -v end="$end" -v file="$TMP/section.md" '
        $0 == start { print; while ((getline line < file) > 0) print line; skipping = 1; next }
        $0 == end { skipping = 0 }
        !skipping { print }
    ' "$DOCS" >"$TMP/benchmarks.md"
    cat "$TMP/benchmarks.md" >"$DOCS"
    echo "updated $DOCS (auth bench)" >&2
fi
