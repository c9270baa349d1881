"""python -m signal_slot.bench: signals from the main process to an object
on an EventLoopProcess (fork; --start-method spawn or forkserver), with an
(int, str) payload (also as a typed signal, @signal("xs")) and with a
small dict: single emits per second, emit_many batches of 100 per second,
and the ping-pong round trip (median, p99); and, in the same run, the
same traffic through multiprocessing.Queue as the baseline.

The machine's spell is measured before and after: the round trip of one
byte through a pipe between two processes (a cross-core wake-up), which
doubles or more in this machine's slow spells.

Every run checks what arrived: the count and the order (a run with a loss,
a duplicate or a value out of order fails). Rates are the median of
--repeat runs, interleaved with the baseline's. Targets (issue 12): at
least 2.3M signals/s single, 3.4M/s batched, a median round trip of 10 us
or less (ten times the seed on faster-fifo: 0.23M/s, 0.34M/s, 97 us).
"""
import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time

from signal_slot.signal_slot import (EventLoop, EventLoopObject,
                                     EventLoopProcess, signal)

DICT = {"step": 1, "reward": 0.5, "done": False}


class Sink(EventLoopObject):
    """In the child: counts what arrives, checks the order, answers."""

    def __init__(self, loop):
        super().__init__(loop, "sink")
        self.next = 0
        self.bad = 0

    @signal
    def done(self):
        pass

    @signal
    def pong(self):
        pass

    def on_item(self, i, payload):
        if i != self.next:
            self.bad += 1
        self.next = i + 1

    def on_end(self):
        self.done.emit(self.next, self.bad)
        self.next = 0
        self.bad = 0

    def on_ping(self, i, payload):
        self.pong.emit(i, payload)


class Source(EventLoopObject):
    """In the parent: emits, and takes the answers."""

    @signal
    def item(self):
        pass

    @signal("xs")
    def item_typed(self):
        pass

    @signal
    def end(self):
        pass

    @signal
    def ping(self):
        pass

    def __init__(self, loop):
        super().__init__(loop, "source")
        self.result = None
        self.rtts = []
        self.left = 0
        self.payload = None
        self.t0 = 0

    def on_done(self, n, bad):
        self.result = (n, bad, time.perf_counter())
        self.event_loop.stop()

    def on_pong(self, i, payload):
        t = time.perf_counter_ns()
        self.rtts.append(t - self.t0)
        self.left -= 1
        if self.left == 0:
            self.event_loop.stop()
            return
        self.t0 = time.perf_counter_ns()
        self.ping.emit(i + 1, payload)


def ss_throughput(src, n, payload, batch, typed=False):
    src.result = None
    sig = src.item_typed if typed else src.item
    t0 = time.perf_counter()
    if batch == 1:
        emit = sig.emit
        for i in range(n):
            emit(i, payload)
    else:
        many = sig.emit_many
        for j in range(0, n, batch):
            many([(i, payload) for i in range(j, j + batch)])
    src.end.emit()
    src.event_loop.exec()
    got, bad, t1 = src.result
    if got != n or bad:
        raise SystemExit(f"signal_slot run lost or reordered: {got} of {n}, "
                         f"{bad} out of order")
    return n / (t1 - t0)


def ss_roundtrip(src, n, payload):
    src.rtts = []
    src.left = n
    src.t0 = time.perf_counter_ns()
    src.ping.emit(0, payload)
    src.event_loop.exec()
    return src.rtts


# ---- baseline: multiprocessing.Queue ----

def mp_consumer(q, out, batch):
    while True:
        n = 0
        nxt = 0
        bad = 0
        while True:
            m = q.get()
            if m is None:
                break
            items = m if batch > 1 else (m,)
            for i, _ in items:
                if i != nxt:
                    bad += 1
                nxt = i + 1
                n += 1
        out.put((n, bad))


def mp_echo(q, out):
    while True:
        m = q.get()
        if m is None:
            return
        out.put(m)


def mp_throughput(q, out, n, payload, batch):
    t0 = time.perf_counter()
    if batch == 1:
        put = q.put
        for i in range(n):
            put((i, payload))
    else:
        for j in range(0, n, batch):
            q.put([(i, payload) for i in range(j, j + batch)])
    q.put(None)
    got, bad = out.get()
    t1 = time.perf_counter()
    if got != n or bad:
        raise SystemExit(f"baseline lost or reordered: {got} of {n}")
    return n / (t1 - t0)


def mp_roundtrip(q, out, n, payload):
    rtts = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        q.put((i, payload))
        m = out.get()
        rtts.append(time.perf_counter_ns() - t0)
        if m[0] != i:
            raise SystemExit("baseline echo out of order")
    return rtts


def pipe_rtt_us(n=2000):
    """Median round trip of one byte through pipes between this process
    and a forked one: how costly a cross-core wake-up is right now."""
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            while os.read(a_r, 1) == b"x":
                os.write(b_w, b"x")
        finally:
            os._exit(0)
    rtts = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        os.write(a_w, b"x")
        os.read(b_r, 1)
        rtts.append(time.perf_counter_ns() - t0)
    os.write(a_w, b"q")
    os.waitpid(pid, 0)
    for fd in (a_r, a_w, b_r, b_w):
        os.close(fd)
    return statistics.median(rtts) / 1000.0


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] / 1000.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the signal and round-trip counts by F")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--start-method", default="fork",
                    choices=("fork", "spawn", "forkserver"),
                    help="how the EventLoopProcess and the baseline's "
                         "processes start")
    a = ap.parse_args(argv)
    n = max(1000, int(1_000_000 * a.scale)) // 100 * 100
    n_rt = max(200, int(20_000 * a.scale))
    ctx = multiprocessing.get_context(a.start_method)
    spell_before = pipe_rtt_us()

    main_loop = EventLoop("bench_main", queue_bytes=64 << 20)
    proc = EventLoopProcess("bench_rx", multiprocessing_context=ctx,
                            queue_bytes=512 << 20)
    sink = Sink(proc.event_loop)
    src = Source(main_loop)
    src.item.connect(sink.on_item)
    src.item_typed.connect(sink.on_item)
    src.end.connect(sink.on_end)
    src.ping.connect(sink.on_ping)
    sink.done.connect(src.on_done)
    sink.pong.connect(src.on_pong)
    proc.start()

    q1, out1 = ctx.Queue(), ctx.Queue()
    cons1 = ctx.Process(target=mp_consumer, args=(q1, out1, 1), daemon=True)
    q100, out100 = ctx.Queue(), ctx.Queue()
    cons100 = ctx.Process(target=mp_consumer, args=(q100, out100, 100),
                          daemon=True)
    qe, oute = ctx.Queue(), ctx.Queue()
    echo = ctx.Process(target=mp_echo, args=(qe, oute), daemon=True)
    for p in (cons1, cons100, echo):
        p.start()
    # Every process up and running before anything is timed (spawn and
    # forkserver start slowly).
    ss_roundtrip(src, 10, "warm-up")
    for q, out in ((q1, out1), (q100, out100)):
        q.put(None)
        out.get()
    qe.put((0, "warm-up"))
    oute.get()

    rows = {}
    for name, payload in (("(int, str)", "hello world"), ("small dict", DICT)):
        r = {k: [] for k in ("ss_single", "ss_batch", "mp_single", "mp_batch",
                             "typed_single", "typed_batch")}
        typed = isinstance(payload, str)
        rt_ss, rt_mp = [], []
        for rep in range(a.repeat):
            order = [0, 1] if rep % 2 == 0 else [1, 0]
            for o in order:
                if o == 0:
                    r["ss_single"].append(ss_throughput(src, n, payload, 1))
                    r["ss_batch"].append(ss_throughput(src, n, payload, 100))
                    if typed:
                        r["typed_single"].append(
                            ss_throughput(src, n, payload, 1, typed=True))
                        r["typed_batch"].append(
                            ss_throughput(src, n, payload, 100, typed=True))
                    rt_ss += ss_roundtrip(src, n_rt, payload)
                else:
                    r["mp_single"].append(mp_throughput(q1, out1, n // 10,
                                                        payload, 1))
                    r["mp_batch"].append(mp_throughput(q100, out100, n, payload,
                                                       100))
                    rt_mp += mp_roundtrip(qe, oute, n_rt // 4, payload)
        rows[name] = {
            "signal_slot": {
                "single_per_s": statistics.median(r["ss_single"]),
                "batch100_per_s": statistics.median(r["ss_batch"]),
                "rtt_p50_us": pct(rt_ss, 0.5), "rtt_p99_us": pct(rt_ss, 0.99)},
            "multiprocessing.Queue": {
                "single_per_s": statistics.median(r["mp_single"]),
                "batch100_per_s": statistics.median(r["mp_batch"]),
                "rtt_p50_us": pct(rt_mp, 0.5), "rtt_p99_us": pct(rt_mp, 0.99)},
        }
        if typed:
            rows[name]["signal_slot typed \"xs\""] = {
                "single_per_s": statistics.median(r["typed_single"]),
                "batch100_per_s": statistics.median(r["typed_batch"])}

    proc.stop()
    proc.join(10)
    q1.put(None)
    for q in (qe,):
        q.put(None)
    for p in (cons1, cons100, echo):
        p.kill()
        p.join(5)

    spell_after = pipe_rtt_us()
    if a.json:
        print(json.dumps({"signals": n, "round_trips": n_rt,
                          "repeat": a.repeat, "start_method": a.start_method,
                          "pipe_rtt_us": [spell_before, spell_after],
                          "rows": rows}))
        return 0
    print(f"signal_slot.bench: main process -> object on an EventLoopProcess "
          f"({a.start_method}); {n} signals per rate, {n_rt} round trips, "
          f"median of {a.repeat} runs")
    print(f"spell: pipe round trip between two processes {spell_before:.1f} "
          f"us before, {spell_after:.1f} us after\n")
    print(f"{'':34}{'single/s':>12}{'batch100/s':>13}{'rtt p50 us':>12}"
          f"{'rtt p99 us':>12}")
    for name, row in rows.items():
        for who, v in row.items():
            rtt = (f"{v['rtt_p50_us']:12.1f}{v['rtt_p99_us']:12.1f}"
                   if "rtt_p50_us" in v else "")
            print(f"{who + ' ' + name:34}{v['single_per_s'] / 1e6:11.2f}M"
                  f"{v['batch100_per_s'] / 1e6:12.2f}M{rtt}")
        s, m = row["signal_slot"], row["multiprocessing.Queue"]
        print(f"  ratio signal_slot / multiprocessing.Queue, {name}: single "
              f"{s['single_per_s'] / m['single_per_s']:.1f}x, batch "
              f"{s['batch100_per_s'] / m['batch100_per_s']:.1f}x, rtt p50 "
              f"{m['rtt_p50_us'] / s['rtt_p50_us']:.1f}x faster")
    s = rows["(int, str)"]["signal_slot"]
    print(f"\ntargets, (int, str): single {s['single_per_s'] / 1e6:.2f}M/s "
          f"(>= 2.3M: {'met' if s['single_per_s'] >= 2.3e6 else 'NOT met'}), "
          f"batch {s['batch100_per_s'] / 1e6:.2f}M/s (>= 3.4M: "
          f"{'met' if s['batch100_per_s'] >= 3.4e6 else 'NOT met'}), rtt p50 "
          f"{s['rtt_p50_us']:.1f} us (<= 10: "
          f"{'met' if s['rtt_p50_us'] <= 10 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
