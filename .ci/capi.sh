#!/usr/bin/env bash
# The C interface: the header must match what cbindgen generates from
# src/capi/, and a C program linked against the static library must
# reproduce conformance values for every family.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cbindgen >/dev/null 2>&1 || [ "$(cbindgen --version)" != "cbindgen 0.29.4" ]; then
  cargo install --locked cbindgen --version 0.29.4
fi
mkdir -p target
cbindgen --quiet --config cbindgen.toml --output target/loss_kernels.h.fresh
if ! diff -u include/loss_kernels.h target/loss_kernels.h.fresh; then
  echo "include/loss_kernels.h is stale: run cbindgen --config cbindgen.toml --output include/loss_kernels.h"
  exit 1
fi
cargo build --release --manifest-path capi/Cargo.toml
gcc -std=c11 -Wall -Wextra -Werror -O2 -Iinclude -Itests/c tests/c/capi_test.c \
  capi/target/release/libloss_kernels_capi.a -lm -lpthread -ldl -o target/capi_test
./target/capi_test
