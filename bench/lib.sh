# What the bench scripts share; source it (`. bench/lib.sh`) from the workspace root.

# bench_docs NAME SECTION: SECTION, which runs from <!-- bench:NAME:start --> to
# <!-- bench:NAME:end -->, replaces that section of docs/benchmarks.md (or is appended
# when there is none yet); nothing happens with BENCH_NO_DOCS=1.
bench_docs() {
    local name=$1 section=$2
    if [ "${BENCH_NO_DOCS:-0}" = 1 ]; then
        echo "BENCH_NO_DOCS=1: docs/benchmarks.md left alone" >&2
        return
    fi
    python3 - "$name" "$section" <<'PY'
import re, sys
name, section = sys.argv[1], sys.argv[2]
path = "docs/benchmarks.md"
text = open(path).read()
pattern = re.compile(rf"<!-- bench:{name}:start -->.*?<!-- bench:{name}:end -->", re.S)
if pattern.search(text):
    text = pattern.sub(lambda _: section, text)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
    echo "docs/benchmarks.md: its $name section updated" >&2
}
