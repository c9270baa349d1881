#!/bin/bash
# test_bridge_cpu.sh - where ss-bridge's threads run (--cpu; bridge_cpu.h,
# docs/bridge.md "CPU placement"), and its window. On loopback, no root
# needed.
#
# 1. By default (auto) every thread of the bridge (main, ZAP-less here,
#    ZeroMQ's I/O thread, reaper) is allowed one CPU, the same for all,
#    and the log says which.
# 2. A busy loop pinned to that CPU: the bridge moves every thread to
#    another CPU and says so (it looks once a second).
# 3. --cpu any: every thread keeps the whole set the process may use;
#    --cpu LIST: exactly those CPUs; a bad list: exit 2 with a line.
# 4. The window (docs/bridge.md, "Loss"): a bridge whose peer falls
#    behind waits for it, with 16 MiB (or 65,536 frames) unacknowledged,
#    rather than count frames lost that may yet arrive.
#
# Needs two CPUs (exit 77: skipped).
#   test_bridge_cpu.sh <ss-bridge> <bridge_app>
set -u
BRIDGE=$1 APP=$2
NCPU=$(nproc)
[ "$NCPU" -ge 2 ] || { echo "test_bridge_cpu: one CPU; skipped"; exit 77; }
D=bc$$
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -f /dev/shm/ss-"$(id -u)"-$D*
    rm -rf "$TMP"
}
trap cleanup EXIT
trap "exit 1" TERM INT
fail() {
    echo "FAIL: $*"
    for f in "$TMP"/*.log; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
    exit 1
}

# The CPUs each thread of pid may use, one line per thread ("0", "0-1").
cpus_of() {
    for s in /proc/"$1"/task/*/status; do
        awk '/^Cpus_allowed_list/ {print $2}' "$s" 2>/dev/null
    done
}

# all_on PID LIST SECONDS: until every thread of PID may use LIST only.
all_on() {
    for _ in $(seq $(($3 * 10))); do
        [ -z "$(cpus_of "$1" | grep -vx "$2")" ] && return 0
        sleep 0.1
    done
    return 1
}

# wait_for FILE PATTERN SECONDS: until a line of FILE matches.
wait_for() {
    for _ in $(seq $(($3 * 10))); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# start NAME PORT [OPTIONS...]: a bridge on loopback; its pid in $BPID.
start() {
    local name=$1 port=$2
    shift 2
    SS_DOMAIN=$D$name "$BRIDGE" --name "$name" \
        --listen "tcp://127.0.0.1:$port" "$@" 2>"$TMP/$name.log" &
    BPID=$!
    PIDS+=("$BPID")
    wait_for "$TMP/$name.log" "listening on" 10 || fail "$name did not start"
}

PORT=$((20000 + $$ % 20000))

# 1. auto
start a "$PORT"
wait_for "$TMP/a.log" "threads on CPU" 5 || fail "no placement line"
# (The CPU of its last line: on a busy machine it may have moved since.)
C=$(sed -n 's/.*threads on CPU \([0-9]*\),.*/\1/p; s/.*moved to CPU \([0-9]*\).*/\1/p' \
    "$TMP/a.log" | tail -1)
[ -n "$C" ] || fail "no CPU in the placement line"
N=$(cpus_of "$BPID" | wc -l)
[ "$N" -ge 2 ] || fail "only $N thread(s) seen"
all_on "$BPID" "$C" 5 ||
    fail "threads allowed other CPUs than $C: $(cpus_of "$BPID" | grep -vx "$C")"
echo "ok 1 - auto: all $N threads on CPU $C"

# 2. CPU C made busy: the bridge moves.
taskset -c "$C" bash -c 'while :; do :; done' &
PIDS+=("$!")
wait_for "$TMP/a.log" "threads moved to CPU" 30 ||
    fail "the bridge stayed on the busy CPU $C"
M=$(sed -n 's/.*threads moved to CPU \([0-9]*\).*/\1/p' "$TMP/a.log" | tail -1)
[ -n "$M" ] && [ "$M" != "$C" ] || fail "moved to '$M' (from $C)"
all_on "$BPID" "$M" 5 ||
    fail "after the move, threads allowed other CPUs: $(cpus_of "$BPID")"
echo "ok 2 - CPU $C busy: all threads moved to CPU $M"
kill -9 "${PIDS[-1]}" 2>/dev/null
wait "${PIDS[-1]}" 2>/dev/null

# 3. any, a list, bad lists
ALL=$(awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status)
start b $((PORT + 1)) --cpu any
sleep 0.5
grep -q "threads on CPU" "$TMP/b.log" && fail "--cpu any placed the threads"
BAD=$(cpus_of "$BPID" | grep -vx "$ALL")
[ -z "$BAD" ] || fail "--cpu any: threads limited to $BAD (not $ALL)"
F=${ALL%%[-,]*} # (the first CPU this test may use)
start c $((PORT + 2)) --cpu "$F"
sleep 0.5
BAD=$(cpus_of "$BPID" | grep -vx "$F")
[ -z "$BAD" ] || fail "--cpu $F: threads allowed $BAD"
for bad in 2-1 x "" 1, -1 0,,1 " 1" 1-+2; do
    SS_DOMAIN=${D}x "$BRIDGE" --name x --listen tcp://127.0.0.1:1 \
        --cpu "$bad" 2>"$TMP/x.log"
    rc=$?
    [ $rc = 2 ] || fail "--cpu '$bad': exit $rc, not 2"
    grep -q "\-\-cpu" "$TMP/x.log" || fail "--cpu '$bad': no line saying why"
done
echo "ok 3 - --cpu any, --cpu $F, and bad lists refused"

# 4. The window: s forwards a flood to d, and d is stopped (SIGSTOP)
#    for a few seconds, less than three heartbeats: 16 MiB go
#    unacknowledged, and s waits for d rather than counting as lost
#    frames that are still on their way; the flood's excess drops at the
#    flooding program (its own count). d goes on: nothing counted lost,
#    no peer lost.
P4=$((PORT + 3))
start s "$P4" --peer "d=tcp://127.0.0.1:$((P4 + 1))" --heartbeat-ms 3000
SPID=$BPID
start d $((P4 + 1)) --peer "s=tcp://127.0.0.1:$P4" --heartbeat-ms 3000
DPID=$BPID
SS_DOMAIN=${D}d "$APP" tally t >"$TMP/tally.out" 2>&1 &
PIDS+=("$!")
wait_for "$TMP/s.log" "mirror d/t made" 10 || fail "s did not mirror d/t"
SS_DOMAIN=${D}s "$APP" flood f d/t >"$TMP/flood.out" 2>&1 &
FPID=$!
PIDS+=("$FPID")
sleep 0.5
kill -STOP "$DPID"
wait_for "$TMP/s.log" "sending waits for it" 5
FILLED=$?
kill -CONT "$DPID"
[ $FILLED = 0 ] || fail "the window did not fill with d stopped"
sleep 1
kill -9 "$FPID" 2>/dev/null
wait "$FPID" 2>/dev/null
sleep 2
kill -USR1 "$SPID"
wait_for "$TMP/s.log" "stats (now)" 10 || fail "no stats line from s"
grep "stats (now)" "$TMP/s.log" | grep -q ": 0 signals lost here" ||
    fail "s counted signals lost: $(grep 'stats (now)' "$TMP/s.log")"
grep -q "counted lost" "$TMP/s.log" && fail "s counted frames lost"
grep -q "lost (" "$TMP/s.log" "$TMP/d.log" && fail "a peer was lost"
echo "ok 4 - the window filled: s waited for d, nothing counted lost"
echo "test_bridge_cpu: all passed"
