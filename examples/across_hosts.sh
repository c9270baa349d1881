#!/bin/bash
# across_hosts.sh - three simulated hosts on this machine (network
# namespaces, scripts/netns.sh), a bridge on each (CURVE keys, every host
# a peer of the others), a worker on h2 and h3, and the main loop on h1
# feeding them (examples/across_hosts.c). Root only.
#
#   sudo bash examples/across_hosts.sh [BUILD_DIR] [N] [--python]
#
# --python: the main loop on h1 and the worker on h3 are
# python/examples/across_hosts.py (needs `make python`): a Python main
# loop feeds a C worker and a Python one.
set -u
BUILD=${1:-build} N=${2:-10000} PY=${3:-}
[ "$(id -u)" = 0 ] || { echo "across_hosts.sh: needs root; skipped"; exit 77; }
HERE=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
if [ "$PY" = --python ] && [ ! -x "$BUILD/venv/bin/python" ]; then
    echo "across_hosts.sh: no $BUILD/venv (make python); skipped"; exit 77
fi
NETNS=$HERE/scripts/netns.sh
P=ssx$$
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    bash "$NETNS" down "$P"
    rm -f /dev/shm/ss-"$(id -u)"-ax$$h*
    rm -rf "$TMP"
}
trap cleanup EXIT
trap "exit 1" TERM INT
on() { local h=$1; shift; exec ip netns exec "$P$h" env SS_DOMAIN=ax$$h$h "$@"; }

bash "$NETNS" up "$P" 3 || exit 1
for h in 1 2 3; do "$BUILD/ss-bridge" --keygen > "$TMP/h$h.key"; done
pub() { head -1 "$TMP/h$1.key"; }
# Each bridge's configuration file: its name, address, key, peers.
for h in 1 2 3; do
    {
        echo "# bridge of host h$h"
        echo "name h$h"
        echo "listen tcp://10.201.0.$h:5800"
        echo "key $TMP/h$h.key"
        for o in 1 2 3; do
            [ $o = $h ] || echo "peer h$o=tcp://10.201.0.$o:5800@$(pub $o)"
        done
    } > "$TMP/h$h.conf"
    on $h "$BUILD/ss-bridge" --config "$TMP/h$h.conf" 2> "$TMP/bridge$h.log" &
    PIDS+=($!)
done
on 2 "$BUILD/examples/across_hosts" worker & PIDS+=($!)
if [ "$PY" = --python ]; then
    on 3 "$BUILD/venv/bin/python" "$HERE/python/examples/across_hosts.py" worker &
else
    on 3 "$BUILD/examples/across_hosts" worker &
fi
PIDS+=($!)
if [ "$PY" = --python ]; then
    (on 1 "$BUILD/venv/bin/python" "$HERE/python/examples/across_hosts.py" main "$N" h2 h3)
else
    (on 1 "$BUILD/examples/across_hosts" main "$N" h2 h3)
fi
rc=$?
echo "across_hosts.sh: main exited $rc"
exit $rc
