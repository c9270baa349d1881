#!/usr/bin/env bash
# Install the build tree into a temporary prefix, then build a separate
# project against it twice: with find_package(signal_slot) and with
# pkg-config. Usage: scripts/check-install.sh [build-dir]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$top/tests/install_consumer" -B "$tmp/consumer" \
      -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/consumer/consumer"
"$tmp/consumer/consumer_static"
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -n1)
PKG_CONFIG_PATH="$libdir" cc -o "$tmp/pc" "$top/tests/install_consumer/main.c" \
    $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs signal_slot)
LD_LIBRARY_PATH="$(dirname "$libdir")" "$tmp/pc"
echo "install check: find_package and pkg-config both work"
