#!/bin/bash
# netns.sh - simulated hosts on this machine: Linux network namespaces
# joined by a switch (a Linux bridge in a namespace of its own), for the
# tests and benchmarks of loops on other hosts (docs/bridge.md). Root only.
#
#   netns.sh up PREFIX N        namespaces PREFIX1..PREFIXN, addresses
#                               10.201.0.1 .. 10.201.0.N (/24), loopback up
#   netns.sh down PREFIX        remove them (and the switch); idempotent
#   netns.sh link PREFIX I up|down   take host I's cable out or back in
#   netns.sh addr PREFIX I      print host I's address
#
# Run a program on host I: ip netns exec PREFIXI program...
set -euo pipefail

sw() { echo "${1}sw"; }

up() {
    local p=$1 n=$2
    down "$p"
    ip netns add "$(sw "$p")"
    ip -n "$(sw "$p")" link add name br0 type bridge
    ip -n "$(sw "$p")" link set br0 up
    for i in $(seq 1 "$n"); do
        ip netns add "$p$i"
        ip link add "${p}h$i" type veth peer name "${p}s$i"
        ip link set "${p}h$i" netns "$p$i"
        ip link set "${p}s$i" netns "$(sw "$p")"
        ip -n "$p$i" link set "${p}h$i" name eth0
        ip -n "$p$i" addr add "10.201.0.$i/24" dev eth0
        ip -n "$p$i" link set eth0 up
        ip -n "$p$i" link set lo up
        ip -n "$(sw "$p")" link set "${p}s$i" master br0
        ip -n "$(sw "$p")" link set "${p}s$i" up
    done
}

down() {
    local p=$1
    for ns in $(ip netns list | awk '{print $1}' | grep -E "^${p}([0-9]+|sw)$" || true); do
        ip netns del "$ns"
    done
}

link() {
    local p=$1 i=$2 state=$3
    ip -n "$(sw "$p")" link set "${p}s$i" "$state"
}

case "${1:-}" in
up) up "$2" "$3" ;;
down) down "$2" ;;
link) link "$2" "$3" "$4" ;;
addr) echo "10.201.0.$3" ;;
*)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac
