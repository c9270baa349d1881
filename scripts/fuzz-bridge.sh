#!/bin/bash
# fuzz-bridge.sh - build tests/fuzz/fuzz_bridge.c with clang (libFuzzer,
# ASan, UBSan) together with the library's sources, and fuzz ss-bridge's
# frame decoder for N seconds (default 60). Needs clang and libzmq3-dev.
#   bash scripts/fuzz-bridge.sh [seconds] [corpus dir]
set -euo pipefail
SECS=${1:-60}
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=${FUZZ_OUT:-/tmp/ss-fuzz-bridge}
CORPUS=${2:-$OUT/corpus}
mkdir -p "$OUT" "$CORPUS"
CC=${CC:-clang}
# The library's generated headers come from a configured build.
GEN=$(ls -d "$HERE"/build/include 2>/dev/null || true)
[ -n "$GEN" ] || { echo "fuzz-bridge: configure first (make build)"; exit 1; }
$CC -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined \
    -I"$HERE/include" -I"$GEN" -I"$HERE/src" -I"$HERE/tools" \
    "$HERE/tests/fuzz/fuzz_bridge.c" "$HERE/tools/bridge_cpu.c" \
    $(ls "$HERE"/src/*.c "$HERE"/src/platform/linux.c) \
    $(pkg-config --cflags --libs libzmq) -lpthread -lrt -o "$OUT/fuzz_bridge"
rc=0
"$OUT/fuzz_bridge" -max_total_time="$SECS" -max_len=4096 -close_fd_mask=2 \
    -print_final_stats=1 "$CORPUS" || rc=$?
rm -f /dev/shm/ss-"$(id -u)"-fz* 2>/dev/null || true
exit $rc
