#!/usr/bin/env bash
# Shrinks fuzz/corpus/zx_ops to at most CAP (default 200) small inputs after a fuzzing run:
# the seed-* inputs, a set covering every edge, then the smallest inputs of a set covering every
# feature (edge counters) until CAP is reached. Needs the fuzz target built
# (`cargo +nightly fuzz build zx_ops`); set CARGO_TARGET_DIR as for that build.
set -euo pipefail
cd "$(dirname "$0")"
CAP=${CAP:-200}
BIN=${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/zx_ops
CORPUS=corpus/zx_ops
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/edges" "$work/features" "$work/out"
"$BIN" -merge=1 -set_cover_merge=1 -use_counters=0 "$work/edges" "$CORPUS" >/dev/null 2>&1
"$BIN" -merge=1 -set_cover_merge=1 "$work/features" "$CORPUS" >/dev/null 2>&1
cp "$CORPUS"/seed-* "$work/out/" 2>/dev/null || true
cp "$work/edges"/* "$work/out/" 2>/dev/null || true
n=$(find "$work/out" -type f | wc -l)
for f in $(ls -S -r "$work/features"); do
    [ "$n" -ge "$CAP" ] && break
    if [ ! -e "$work/out/$f" ]; then
        cp "$work/features/$f" "$work/out/"
        n=$((n + 1))
    fi
done
rm -rf "$CORPUS"
mkdir -p "$CORPUS"
cp "$work/out"/* "$CORPUS/"
echo "corpus: $(find "$CORPUS" -type f | wc -l) files, $(cat "$CORPUS"/* | wc -c) bytes"
