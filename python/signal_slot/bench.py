"""python -m signal_slot.bench: signals from the main process to an object
on an EventLoopProcess (fork), with an (int, str) payload and with a small
dict: single emits per second, emit_many batches of 100 per second, and
the ping-pong round trip (median, p99); and, in the same run, the same
traffic through multiprocessing.Queue as the baseline.

Every run checks what arrived: the count and the order (a run with a loss,
a duplicate or a value out of order fails). Rates are the median of
--repeat runs, interleaved with the baseline's. Targets (issue 12): at
least 2.3M signals/s single, 3.4M/s batched, a median round trip of 10 us
or less (ten times the seed on faster-fifo: 0.23M/s, 0.34M/s, 97 us).
"""
import argparse
import json
import multiprocessing
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


def ss_throughput(src, n, payload, batch):
    src.result = None
    t0 = time.perf_counter()
    if batch == 1:
        emit = src.item.emit
        for i in range(n):
            emit(i, payload)
    else:
        many = src.item.emit_many
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


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] / 1000.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the signal and round-trip counts by F")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    n = max(1000, int(1_000_000 * a.scale)) // 100 * 100
    n_rt = max(200, int(20_000 * a.scale))
    ctx = multiprocessing.get_context("fork")

    main_loop = EventLoop("bench_main", queue_bytes=64 << 20)
    proc = EventLoopProcess("bench_rx", multiprocessing_context=ctx,
                            queue_bytes=512 << 20)
    sink = Sink(proc.event_loop)
    src = Source(main_loop)
    src.item.connect(sink.on_item)
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

    rows = {}
    for name, payload in (("(int, str)", "hello world"), ("small dict", DICT)):
        r = {k: [] for k in ("ss_single", "ss_batch", "mp_single", "mp_batch")}
        rt_ss, rt_mp = [], []
        for rep in range(a.repeat):
            order = [0, 1] if rep % 2 == 0 else [1, 0]
            for o in order:
                if o == 0:
                    r["ss_single"].append(ss_throughput(src, n, payload, 1))
                    r["ss_batch"].append(ss_throughput(src, n, payload, 100))
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

    proc.stop()
    proc.join(10)
    q1.put(None)
    for q in (qe,):
        q.put(None)
    for p in (cons1, cons100, echo):
        p.kill()
        p.join(5)

    if a.json:
        print(json.dumps({"signals": n, "round_trips": n_rt,
                          "repeat": a.repeat, "rows": rows}))
        return 0
    print(f"signal_slot.bench: main process -> object on an EventLoopProcess "
          f"(fork); {n} signals per rate, {n_rt} round trips, median of "
          f"{a.repeat} runs\n")
    print(f"{'':34}{'single/s':>12}{'batch100/s':>13}{'rtt p50 us':>12}"
          f"{'rtt p99 us':>12}")
    for name, row in rows.items():
        for who, v in row.items():
            print(f"{who + ' ' + name:34}{v['single_per_s'] / 1e6:11.2f}M"
                  f"{v['batch100_per_s'] / 1e6:12.2f}M{v['rtt_p50_us']:12.1f}"
                  f"{v['rtt_p99_us']:12.1f}")
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
