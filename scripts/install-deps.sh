#!/usr/bin/env bash
# Install what the build, the tests and the benchmarks need, from Debian's
# archive, and only what is missing. Idempotent; quiet when all is there.
set -euo pipefail

pkgs=(gcc make cmake pkg-config libcmocka-dev libzmq3-dev libnng-dev iproute2
      python3-dev python3-venv python3-setuptools python3-pytest python3-numpy)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
