#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time, starting from the
# committed seed corpus (fuzz/seeds/<target>/, copied to a temporary folder
# so the repository stays clean), together with every input that ever
# crashed a target (fuzz/findings/<target>/, each fixed and kept as a
# regression input). Fails on any crash, panic, timeout or out-of-memory.
#
# The mutation sequence is fixed (-seed=$FUZZ_SEED, default 1), so a run is
# reproducible: CI replays the start of the sequence a longer local run with
# the same seed has already explored. Exploration means other seeds and
# longer runs: FUZZ_SEED=0 (libFuzzer picks one) .ci/fuzz.sh 600. One arm
# alone: FUZZ_PIN=value[/mask] (fuzz/src/input.rs) pins the first byte.
#
#   .ci/fuzz.sh [seconds-per-target]      (default 30)
#
# Fuzz longer, keeping the grown corpus in fuzz/corpus/<target>/ (ignored by
# git):  cargo +nightly fuzz run <target> fuzz/corpus/<target> fuzz/seeds/<target>
#
# Wider SIMD lanes: FUZZ_TARGET_CPU=x86-64-v4 .ci/fuzz.sh 60 builds the
# targets with -C target-cpu=x86-64-v4 (f32x16 lanes) in fuzz/target/<cpu>.
#
# Installs what it needs: a nightly toolchain (rustup) and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-30}"
SEED="${FUZZ_SEED:-1}"
start=$SECONDS

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

extra=()
if [ -n "${FUZZ_TARGET_CPU:-}" ]; then
    export RUSTFLAGS="-C target-cpu=$FUZZ_TARGET_CPU"
    extra=(--target-dir "fuzz/target/$FUZZ_TARGET_CPU")
fi
targets=$(cargo +nightly fuzz list)
[ -n "$targets" ] || { echo "fuzz.sh: no fuzz target found" >&2; exit 1; }
echo "fuzz.sh: building targets: $(echo $targets)"
cargo +nightly fuzz build "${extra[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Targets with an open finding, not run here until it is fixed (each named
# with its finding; the crashing input is in fuzz/findings/<target>/):
# none open (pairs' GaussianNll NaN, fixed: tests/fuzz_regressions.rs).
OPEN_FINDINGS=""
# One target's run: its result line in $work/$t.result, its log in $work/$t.log.
fuzz_one() {
    local t=$1 log="$work/$1.log" rc execs units
    mkdir -p "$work/corpus/$t" "fuzz/artifacts/$t"
    if [ -d "fuzz/seeds/$t" ]; then
        cp fuzz/seeds/"$t"/* "$work/corpus/$t/" 2>/dev/null || true
    fi
    if [ -d "fuzz/findings/$t" ]; then
        cp fuzz/findings/"$t"/* "$work/corpus/$t/"
    fi
    echo "fuzz.sh: running $t for ${SECS}s (seed $SEED)"
    set +e
    cargo +nightly fuzz run "${extra[@]}" "$t" "$work/corpus/$t" -- \
        -max_total_time="$SECS" -seed="$SEED" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    units=$(ls "$work/corpus/$t" | wc -l)
    if [ "$rc" -ne 0 ]; then
        echo "FAILED after ${execs} executions" >"$work/$t.result"
    else
        echo "${execs} executions in ${SECS}s, corpus ${units} inputs, no crash" >"$work/$t.result"
    fi
}
# libFuzzer runs one thread: the targets run FUZZ_JOBS at a time (default
# the number of CPUs), each still with its own fixed seed and time.
jobs_max="${FUZZ_JOBS:-$(nproc)}"
for t in $targets; do
    if [[ " $OPEN_FINDINGS " == *" $t "* ]]; then
        echo "fuzz.sh: SKIPPING $t: it has an open finding (fuzz/findings/$t/, see the comment above)"
        echo "SKIPPED (open finding)" >"$work/$t.result"
        continue
    fi
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
        wait -n || true
    done
    fuzz_one "$t" &
done
wait
summary=""
failed=0
for t in $targets; do
    r=$(cat "$work/$t.result")
    summary+="$t: $r"$'\n'
    if [[ "$r" == FAILED* ]]; then
        failed=1
        echo "fuzz.sh: $t FAILED; last lines of its log:" >&2
        grep -E "panicked|ERROR|SUMMARY|Failing input|artifact_prefix|crash-|timeout-|oom-" "$work/$t.log" | head -20 >&2 || true
        tail -40 "$work/$t.log" >&2
    fi
done
echo "---- fuzz summary ($((SECONDS - start))s) ----"
printf '%s' "$summary"
if [ "$failed" -ne 0 ]; then
    echo "fuzz.sh: a target failed; reproduce with cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>" >&2
    exit 1
fi
echo "fuzz.sh: all targets passed"
