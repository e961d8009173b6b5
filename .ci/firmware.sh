#!/usr/bin/env bash
# Firmware proof: builds examples/firmware (no_std, no_main, Cortex-M4F,
# thumbv7em-none-eabihf), runs it under qemu-system-arm (mps2-an386 board)
# with a time limit, and fails unless it exited cleanly (semihosting exit 0),
# printed "done", an accuracy and a loss that fell. Then prints the flash
# (.text) the crate's code takes in the binary, per loss family.
# Installs what it needs: the rustup target and llvm-tools component, apt
# qemu-system-arm (from the release, or from its backports where the
# machine's QEMU packages are backports, so nothing is removed).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { echo "firmware.sh: $*"; }
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_ENCODED_RUSTFLAGS

TARGET=thumbv7em-none-eabihf
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools
if ! command -v qemu-system-arm >/dev/null; then
    step "apt-get install qemu-system-arm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    if ! apt-get install -y -q --no-install-recommends --no-remove qemu-system-arm; then
        # A machine whose QEMU packages come from the release's backports
        # (qemu-utils 10.x on Debian 12, say) cannot take the release's
        # qemu-system-arm without removing them, which --no-remove refuses.
        # The backports build matches them: add that suite (a sources file
        # of our own, nothing else changed) and install from it.
        codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
        [ -n "$codename" ] || { echo "firmware.sh: no Debian codename to find backports" >&2; exit 1; }
        step "the release's qemu-system-arm would remove an installed package; trying $codename-backports"
        printf '%s\n' "Types: deb" "URIs: http://deb.debian.org/debian" "Suites: $codename-backports" \
            "Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
            > /etc/apt/sources.list.d/loss-kernels-ci-backports.sources
        apt-get update -q
        apt-get install -y -q --no-install-recommends --no-remove -t "$codename-backports" qemu-system-arm
    fi
fi
TOOLS="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"

step "building examples/firmware for $TARGET"
(cd examples/firmware && cargo build --release)
ELF=examples/firmware/target/$TARGET/release/loss-kernels-firmware

step "running it under qemu-system-arm (mps2-an386, Cortex-M4F), 60 s limit"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
timeout 60 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
    -semihosting-config enable=on,target=native -kernel "$ELF" </dev/null | tee "$log"
rc=${PIPESTATUS[0]}
set -e
fail() { echo "firmware.sh: FAILED: $*" >&2; exit 1; }
[ "$rc" -eq 124 ] && fail "the firmware did not finish within 60 s"
[ "$rc" -eq 0 ] || fail "the firmware exited with status $rc"
grep -q '^done$' "$log" || fail "no final 'done' line"
grep -q '^loss fell: yes$' "$log" || fail "the firmware did not report its losses falling"
grep -q 'accuracy ' "$log" || fail "no accuracy printed"
# Every "<model> final loss A (from B)" line must have A < B.
grep -qE '^[a-z]+ final loss ' "$log" || fail "no '<model> final loss' line printed"
while read -r model _ _ final _ first; do
    first=${first%)}
    awk -v a="$first" -v b="$final" 'BEGIN { exit !(b < a) }' ||
        fail "$model: final loss $final is not below the first $first"
    echo "firmware.sh: $model loss fell from $first to $final"
done < <(grep -E '^[a-z]+ final loss ' "$log" | sed 's/^\([a-z]*\) final loss \([^ ]*\) (from \([^)]*\))/\1 final loss \2 from \3/')
if grep -q '^ctc' "$log"; then
    grep -q '^ctc ok$' "$log" || fail "the CTC run did not report ok"
fi

# CTC workspace at the firmware's shape (T = 12, S = 4): the value-only
# layout must stay within a quarter of the 1368 floats a 16-lane padding
# needs, and so must the value-and-gradient layout when the build pads for
# scalar lanes (as a Cortex-M build does once the lane width is
# build-dependent).
read -r ws_grad ws_value ws_lanes < <(sed -n 's/^ctc workspace: \([0-9]*\) f32 (value and gradient), \([0-9]*\) f32 (value only), padded for \([0-9]*\) lanes$/\1 \2 \3/p' "$log")
[ -n "${ws_lanes:-}" ] || fail "no 'ctc workspace' line printed"
h=$(( (4 + ws_lanes) / ws_lanes * ws_lanes + ws_lanes ))
[ "$ws_grad" -eq $(( 3 * h * 14 + 24 )) ] || fail "ctc workspace $ws_grad is not 3 H (T + 2) + 2 T for $ws_lanes lanes"
[ "$ws_value" -le 342 ] || fail "value-only ctc workspace $ws_value > 342 floats"
if [ "$ws_lanes" -eq 1 ]; then
    [ "$ws_grad" -le 342 ] || fail "ctc workspace $ws_grad > 342 floats on a scalar build"
else
    echo "firmware.sh: NOTE: the ctc workspace is padded for $ws_lanes lanes on this scalar target; the 342-float bound applies once it is 1"
fi
echo "firmware.sh: ctc workspace (T = 12, S = 4): $ws_grad floats with gradient, $ws_value value only, padded for $ws_lanes lanes"

step "flash (.text) of $ELF"
text=$("$TOOLS/llvm-size" -A "$ELF" | awk '$1 == ".text" {print $2}')
# Every crate function is inlined into the firmware's one #[inline(never)]
# wrapper per family (module kernels::<family>), or stays a symbol of its
# own (loss_kernels::<module>::...); both are attributed to the family.
# The table is the README's (between its "flash table" markers): CI fails
# if the README's is stale (a row added or gone, or a size off by over 2%);
# FIRMWARE_UPDATE_README=1 rewrites it.
table=target/flash_table.md
mkdir -p target
"$TOOLS/llvm-nm" -C --print-size --size-sort --radix=d "$ELF" |
    awk -v text="$text" '
    $3 ~ /^[tT]$/ {
        name = $0; sub(/^[^ ]+ +[^ ]+ +[^ ]+ +/, "", name)
        # Trait-impl symbols keep their legacy mangling (`_$LT$a..b$GT$`):
        # spell them as paths so they are attributed too.
        gsub(/\$LT\$/, "<", name); gsub(/\$GT\$/, ">", name); gsub(/\.\./, "::", name)
        size = $2 + 0; fam = ""
        if (match(name, /loss_kernels_firmware::kernels::[a-z_]+/)) {
            fam = substr(name, RSTART + 32, RLENGTH - 32)
        } else if (match(name, /(^|[^_a-z])loss_kernels::[a-z_]+/)) {
            s = substr(name, RSTART, RLENGTH); sub(/.*loss_kernels::/, "", s)
            fam = (s ~ /^(driver|math|lane|error)$/) ? "shared (" s ")" : s
        } else if (name ~ /^libm::/) {
            fam = "shared (libm)"
        }
        if (fam != "") { bytes[fam] += size; crate += size }
    }
    END {
        label["pointwise"] = "pointwise (`SigmoidBce::value_and_grad`)"
        label["softmax"] = "softmax (`SoftmaxCrossEntropy::value_and_grad`, sparse labels)"
        label["embedding"] = "embedding (`Triplet::value_and_grad`, squared)"
        label["ctc"] = "CTC (`Ctc::value_and_grad`, logits, concatenated labels)"
        label["shared (driver)"] = "shared driver (`sweep`, row walks)"
        label["shared (math)"] = "shared math"
        label["shared (lane)"] = "shared lanes"
        label["shared (error)"] = "shared errors"
        label["shared (libm)"] = "libm (`sqrtf` etc.)"
        n = split("pointwise softmax embedding ctc", order, " ")
        order[++n] = "shared (driver)"; order[++n] = "shared (math)"; order[++n] = "shared (lane)"
        order[++n] = "shared (error)"; order[++n] = "shared (libm)"
        print "| loss family (what the firmware calls) | .text bytes |"
        print "|---|---|"
        for (i = 1; i <= n; i++) {
            f = order[i]
            if (f in bytes) { printf "| %s | %d |\n", label[f], bytes[f]; delete bytes[f] }
        }
        for (f in bytes) printf "| %s | %d |\n", f, bytes[f]
        printf "| **all loss-kernels code** | **%d** |\n", crate
        printf "| whole firmware `.text` (with `core::fmt` float printing, semihosting, cortex-m-rt) | %d |\n", text
    }' > "$table"
cat "$table"
readme_table() { sed -n '/^<!-- flash table: generated by .ci\/firmware.sh -->$/,/^<!-- end of flash table -->$/p' README.md | sed '1d;$d'; }
if [ "${FIRMWARE_UPDATE_README:-0}" = 1 ]; then
    python3 - "$table" <<'PY'
import re, sys
table = open(sys.argv[1]).read()
readme = open("README.md").read()
begin, end = "<!-- flash table: generated by .ci/firmware.sh -->\n", "<!-- end of flash table -->"
i, j = readme.index(begin) + len(begin), readme.index(end)
open("README.md", "w").write(readme[:i] + table + readme[j:])
PY
    step "README flash table rewritten"
elif ! python3 - "$table" <(readme_table) <<'PY'
# The README's table must list the same rows with sizes within 2% (at least
# 64 bytes) of this build's: a checkout path or a linker's placement moves a
# few bytes between machines, a code change moves more.
import re, sys
def rows(path):
    out = {}
    for line in open(path):
        m = re.match(r"\| (.*?) \| \**(\d+)\** \|$", line.strip())
        if m:
            out[m.group(1)] = int(m.group(2))
    return out
built, readme = rows(sys.argv[1]), rows(sys.argv[2])
bad = sorted(set(built) ^ set(readme))
bad += [k for k in built if k in readme and abs(built[k] - readme[k]) > max(64, readme[k] // 50)]
for k in bad:
    print(f"firmware.sh: {k}: built {built.get(k)}, README {readme.get(k)}")
sys.exit(1 if bad else 0)
PY
then
    fail "the README's flash table is stale (run FIRMWARE_UPDATE_README=1 .ci/firmware.sh)"
fi
echo "firmware.sh: passed ($((SECONDS - start))s)"
