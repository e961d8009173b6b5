#!/usr/bin/env bash
# Run-time dispatch checks (x86-64 hosts):
# 1. Every kernel is compiled inside its #[target_feature] entry: a release
#    binary that calls every public loss (tests/no_alloc.rs, built alone as
#    the `no_alloc` test target; `cargo test` runs it in the suite) must not call
#    an outlined AVX/AVX2/FMA/AVX-512 intrinsic anywhere. An outlined one
#    means some generic function or closure on the path from `Kernel::run`
#    to the lane methods lacks #[inline(always)]: it would run a function
#    call per vector operation.
# 2. A build that has the features statically (-C target-cpu=x86-64-v4, no
#    detection) passes the dispatch, math and conformance tests.
# Installs what it needs: the llvm-tools rustup component.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n---- %s\n' "$*"; }

if [ "$(uname -m)" != x86_64 ]; then
    echo "SKIPPED dispatch checks: not an x86-64 host"
    exit 0
fi
rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools
OBJDUMP=$(find "$(rustc --print sysroot)" -name llvm-objdump -type f | head -1)

step "no outlined AVX/AVX-512 intrinsic in a release binary calling every loss"
BIN=$(cargo test --release --test no_alloc --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "no_alloc":
        print(m["executable"])')
"$OBJDUMP" -d -C --no-show-raw-insn "$BIN" > target/no_alloc.asm
# Kernels entered at each level (the dispatch entries), as a sanity check
# that the disassembly holds what we look for.
entries=$(grep -cE '^[0-9a-f]+ <loss_kernels::lane::x86::run_avx(2|512)(<|::h)' target/no_alloc.asm || true)
outlined=$(awk '/^[0-9a-f]+ <.*>:$/ { fn = $0 }
    /call.*core_arch::x86(_64)?::(avx|avx2|fma|avx512[a-z]*)::/ { print fn }' target/no_alloc.asm |
    sed 's/::h[0-9a-f]*>:$//; s/^[0-9a-f]* <//' | sort | uniq -c)
echo "dispatch entries (run_avx2 / run_avx512 instances): $entries"
if [ "$entries" -lt 10 ]; then
    echo "FAIL: expected the AVX2 and AVX-512 entries of every family in $BIN"
    exit 1
fi
if [ -n "$outlined" ]; then
    echo "FAIL: functions calling an outlined AVX/AVX-512 intrinsic (mark them #[inline(always)]):"
    echo "$outlined"
    exit 1
fi
echo "no outlined intrinsic"

flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
if has avx512f avx512bw avx512cd avx512dq avx512vl; then
    step "static AVX-512 build (RUSTFLAGS=-C target-cpu=x86-64-v4, no detection)"
    # The dispatch test is its own binary; math and conformance are modules
    # of the one suite binary (tests/suite.rs), picked by name.
    RUSTFLAGS="-C target-cpu=x86-64-v4" cargo test --target-dir target/v4 --test dispatch
    RUSTFLAGS="-C target-cpu=x86-64-v4" cargo test --target-dir target/v4 --test suite \
        -- math_accuracy:: conformance::
else
    echo "SKIPPED static x86-64-v4 build tests: this CPU lacks AVX-512 F/BW/CD/DQ/VL"
fi
