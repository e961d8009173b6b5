#!/usr/bin/env bash
# The C interface:
#  1. the header must match what cbindgen generates from src/capi/;
#  2. it compiles as C89 (gcc -std=c89 -pedantic) and as C++ (g++
#     -std=c++98 -pedantic), warnings as errors;
#  3. the static library (no_std, panic = "abort") links into a C program
#     that reproduces conformance values of every family and checks the
#     interface's rules (tests/c/capi_test.c); the program is built with
#     --gc-sections and stripped, must hold no Rust standard library code,
#     and its .text is reported;
#  4. the same program is built for a Cortex-M4F (arm-none-eabi-gcc,
#     newlib) against the library built for thumbv7em-none-eabihf.
# Installs what it needs (cbindgen 0.29.4; apt gcc-arm-none-eabi,
# libnewlib-arm-none-eabi; the rustup target).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { echo "capi.sh: $*"; }
fail() { echo "capi.sh: FAILED: $*" >&2; exit 1; }
if ! command -v cbindgen >/dev/null 2>&1 || [ "$(cbindgen --version)" != "cbindgen 0.29.4" ]; then
  cargo install --locked cbindgen --version 0.29.4
fi
if ! command -v arm-none-eabi-gcc >/dev/null 2>&1 || [ ! -d /usr/lib/arm-none-eabi/newlib ]; then
  step "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends --no-remove gcc-arm-none-eabi libnewlib-arm-none-eabi
fi
rustup target list --installed | grep -qx thumbv7em-none-eabihf || rustup target add thumbv7em-none-eabihf
mkdir -p target

step "header is what cbindgen generates"
cbindgen --quiet --config cbindgen.toml --output target/loss_kernels.h.fresh
if ! diff -u include/loss_kernels.h target/loss_kernels.h.fresh; then
  fail "include/loss_kernels.h is stale: run cbindgen --config cbindgen.toml --output include/loss_kernels.h"
fi

step "header compiles as C89 and as C++"
gcc -std=c89 -pedantic -Wall -Wextra -Werror -Iinclude -c tests/c/header_check.c -o target/header_c89.o
g++ -std=c++98 -pedantic -Wall -Wextra -Werror -Iinclude -x c++ -c tests/c/header_check.c -o target/header_cxx.o

step "C test program (host)"
cargo build --quiet --release --manifest-path capi/Cargo.toml
LIB=capi/target/release/libloss_kernels_capi.a
gcc -std=c11 -Wall -Wextra -Werror -O2 -ffunction-sections -fdata-sections -Iinclude -Itests/c \
  tests/c/capi_test.c "$LIB" -lm -Wl,--gc-sections -o target/capi_test
./target/capi_test
if nm -C target/capi_test | grep -qE ' (std::|gimli::|miniz_oxide::|addr2line::|rustc_demangle::)'; then
  fail "the C test program links Rust standard library code"
fi
strip -o target/capi_test.stripped target/capi_test
text=$(size -A target/capi_test.stripped | awk '$1 == ".text" {print $2}')
step "static library $(stat -c %s "$LIB") bytes; C test program (stripped, --gc-sections) .text $text bytes"

step "C test program (Cortex-M4F, newlib)"
cargo build --quiet --release --manifest-path capi/Cargo.toml --target thumbv7em-none-eabihf
arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -std=c11 -O2 -Wall -Wextra -Werror \
  -ffunction-sections -fdata-sections -Iinclude -Itests/c tests/c/capi_test.c \
  capi/target/thumbv7em-none-eabihf/release/libloss_kernels_capi.a -lm --specs=nosys.specs \
  -Wl,--gc-sections -Wl,--no-warn-rwx-segments -o target/capi_test_cortex_m 2> target/capi_test_cortex_m.log ||
  { cat target/capi_test_cortex_m.log; fail "the Cortex-M C test program does not link"; }
mtext=$(arm-none-eabi-size -A target/capi_test_cortex_m | awk '$1 == ".text" {print $2}')
step "Cortex-M4F C test program .text $mtext bytes (with newlib's printf)"
echo "capi.sh: passed ($((SECONDS - start))s)"
