#!/usr/bin/env bash
# Link-time proof that no panic survives in the crate: builds
# examples/nopanic, one no_std binary per loss family and one for the C
# interface, each calling every public entry point of its family with
# opaque arguments, and whose panic handler calls a symbol defined nowhere.
# A binary links only if no panic path is reachable. Scalar lanes on
# thumbv7em-none-eabihf in both profiles a firmware uses (release and
# opt-level "s"), and f32x8 NEON lanes on aarch64-unknown-none in release
# (the SIMD code is the same in both profiles; the "s" build of it added
# two minutes and no finding). Installs the rustup targets.
set -euo pipefail
cd "$(dirname "$0")/../examples/nopanic"
start=$SECONDS
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
TARGETS="thumbv7em-none-eabihf aarch64-unknown-none"
installed=$(rustup target list --installed)
for t in $TARGETS; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
for build in thumbv7em-none-eabihf:release thumbv7em-none-eabihf:size aarch64-unknown-none:release; do
    t=${build%%:*} profile=${build##*:}
    echo "nopanic.sh: $t, profile $profile"
    if ! cargo build --quiet --all-features --bins --keep-going --profile "$profile" --target "$t"; then
        echo "nopanic.sh: FAILED: a panic path is reachable (an undefined" \
             "loss_kernels_panic_is_reachable above names the binary)" >&2
        exit 1
    fi
done
n=$(ls src/bin/*.rs | wc -l)
echo "nopanic.sh: passed: $n binaries (every public entry point of every family and every C function) on thumbv7em (release, size) and aarch64 (release) ($((SECONDS - start))s)"
