"""The seed's scenarios (signal-slot-mp 1.0.5), with the fork start method:
what every slot received, in order, not only that nothing raised."""
import logging
import multiprocessing
import os
import signal as signals
import subprocess
import sys
import threading

import pytest

from signal_slot.signal_slot import (
    EventLoop, EventLoopObject, EventLoopProcess, EventLoopStatus, Timer,
    TightLoop, process_name, signal)

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(HERE), "examples")

_names = iter(range(10**6))


def uniq(prefix):
    return f"{prefix}{os.getpid()}_{next(_names)}"


class Recorder(EventLoopObject):
    """Records what its slots receive; in a child, reports it back."""

    def __init__(self, loop, object_id=None):
        super().__init__(loop, object_id)
        self.got = []

    @signal
    def report(self):
        pass

    @signal
    def out(self):
        pass

    def on_value(self, *args):
        self.got.append(args)

    def on_value_report(self, *args):
        self.got.append(args)
        self.report.emit(self.object_id, args)

    def on_value_echo(self, *args):
        self.got.append(args)
        self.out.emit(*args)


class Stopper(EventLoopObject):
    """Stops its loop after n reports; keeps them."""

    def __init__(self, loop, n, object_id=None):
        super().__init__(loop, object_id)
        self.n = n
        self.reports = []

    def on_report(self, who, args):
        self.reports.append((who, args))
        if len(self.reports) >= self.n:
            self.event_loop.stop()


def run_with_deadline(loop, seconds=30):
    """exec() with a stop timer as a safety net; returns its status."""
    t = Timer(loop, seconds, single_shot=True)
    t.timeout.connect(loop.stop)
    status = loop.exec()
    t.stop()
    return status


def test_usage_example_unchanged():
    """The README's example, run as is (10 s): the ping-pong and its end."""
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES,
                                                     "usage_example.py")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "object: b received signal_a: Initial hello from A 1337" in lines[0]
    assert "object: a received signal_b: hello from B" in lines[1]
    assert "object: b received signal_a: hello from A 42" in lines[2]
    assert lines[-1].endswith("Done!")
    assert len(lines) >= 8  # about one line a second for 10 s
    assert "ERROR" not in r.stderr


def test_in_process_connect_disconnect_reconnect():
    loop = EventLoop(uniq("main"))
    a = Recorder(loop, "a")
    b = Recorder(loop, "b")
    a.out.connect(b.on_value)
    a.out.emit(1, "x")
    loop.process_events()
    assert b.got == [(1, "x")]
    a.out.disconnect(b.on_value)
    a.out.emit(2)
    loop.process_events()
    assert b.got == [(1, "x")]
    a.out.connect(b.on_value)
    a.emit("out", 3, [4, 5], {"k": (6,)})
    loop.process_events()
    assert b.got == [(1, "x"), (3, [4, 5], {"k": (6,)})]
    # One slot per (emitter, signal, receiver): the second replaces.
    a.out.connect(b.on_value_echo)
    a.out.emit(7)
    loop.process_events()
    assert b.got[-1] == (7,) and len(b.got) == 3
    # Disconnecting what is not connected: a warning, no error.
    a.out.disconnect(b.on_value)


def test_emit_many_and_string_signals():
    loop = EventLoop(uniq("main"))
    a = Recorder(loop, "a")
    b = Recorder(loop, "b")
    a.connect("custom", b.on_value)
    a.emit_many("custom", [(i, str(i)) for i in range(100)])
    a.out.emit_many([(x,) for x in "abc"])  # nobody connected: nothing
    loop.process_events()
    assert b.got == [(i, str(i)) for i in range(100)]


def test_detached_object_receives_nothing():
    loop = EventLoop(uniq("main"))
    a = Recorder(loop, "a")
    b = Recorder(loop, "b")
    a.out.connect(b.on_value)
    b.detach()
    assert b.event_loop is None and "b" not in loop.objects
    a.out.emit(1)
    loop.process_events()
    assert b.got == []
    a.out.emit(2)  # emitting to a detached receiver is fine too


def test_ids_and_exact_errors():
    l1 = EventLoop(uniq("l1"))
    l2 = EventLoop(uniq("l2"))
    Recorder(l1, "same")
    Recorder(l2, "same")  # same id on another loop: fine
    with pytest.raises(ValueError):
        Recorder(l1, "same")
    a = Recorder(l1, "a")
    other = Recorder(l2, "a_rx")
    impostor = Recorder(l1, "a_rx")  # id of other, on the emitter's loop
    with pytest.raises(ValueError):
        a.out.connect(other.on_value)
    assert impostor.got == []
    with pytest.raises(AssertionError):
        a.out.connect(lambda *x: None)
    with pytest.raises(AssertionError):
        a.out.connect(other)  # an object without a slot name
    with pytest.raises(AssertionError):
        Recorder.out  # a signal on the class


def test_signal_descriptor_quirks():
    loop = EventLoop(uniq("main"))
    a1 = Recorder(loop)
    a2 = Recorder(loop)
    assert a1.out is a2.out  # the same descriptor, bound to the last one
    assert a1.out.obj is a1 and a2.out.obj is a2
    assert a1.out.name == "out"


class Base:
    def __init__(self, cfg):
        self.cfg = cfg


class Multi(Base, EventLoopObject):
    def __init__(self, loop, cfg):
        Base.__init__(self, cfg)
        self.event_loop = loop  # as sample-factory does, before
        EventLoopObject.__init__(self, loop, object_id="multi")
        self.seen = []

    def on_value(self, x):
        self.seen.append((self.cfg, x))


def test_multiple_inheritance_own_init_and_attributes():
    loop = EventLoop(uniq("main"))
    m = Multi(loop, {"k": 1})
    a = Recorder(loop, "a")
    a.out.connect(m.on_value)
    a.out.emit(5)
    loop.process_events()
    assert m.seen == [({"k": 1}, 5)]
    assert m.cfg == {"k": 1} and m.object_id == "multi"


def test_broadcast_two_subscribers():
    loop = EventLoop(uniq("main"))
    a = Recorder(loop, "a")
    s1 = Recorder(loop, "s1")
    s2 = Recorder(loop, "s2")
    a.out.broadcast_on(loop)
    s1.subscribe("out", s1.on_value)
    s2.subscribe("out", "on_value")
    a.out.emit("hi", 1)
    loop.process_events()
    assert s1.got == [("hi", 1)] and s2.got == [("hi", 1)]
    s2.unsubscribe("out", "on_value")
    a.out.emit("again")
    loop.process_events()
    assert s1.got == [("hi", 1), ("again",)] and s2.got == [("hi", 1)]


def test_slot_exception_leaves_exec(caplog):
    class Bad(EventLoopObject):
        def boom(self, x):
            raise KeyError(x)

    loop = EventLoop(uniq("main"))
    a = Recorder(loop, "a")
    bad = Bad(loop, "bad")
    b = Recorder(loop, "b")
    a.out.connect(bad.boom)
    a.report.connect(b.on_value)
    a.out.emit(42)
    a.report.emit("after")  # in the same run: not handled
    with caplog.at_level(logging.ERROR):
        with pytest.raises(KeyError):
            loop.exec()
    assert "boom" in caplog.text and "42" in caplog.text
    assert b.got == []


def test_missing_slot_is_skipped(caplog):
    loop = EventLoop(uniq("main"))
    a = Recorder(loop, "a")
    b = Recorder(loop, "b")
    a.connect("out", b, "no_such_slot")
    a.connect("report", b, "on_value")
    a.out.emit(1)
    a.report.emit(2)
    with caplog.at_level(logging.WARNING):
        loop.process_events()
    assert b.got == [(2,)]
    assert "no_such_slot" in caplog.text


def test_timers_on_main_loop():
    loop = EventLoop(uniq("main"))

    class Counter(EventLoopObject):
        def __init__(self, loop):
            super().__init__(loop, "counter")
            self.n = 0
            self.tight = 0

        def tick(self):
            self.n += 1
            if self.n == 5:
                self.event_loop.stop()

        def spin(self):
            self.tight += 1

    c = Counter(loop)
    single = Timer(loop, 0.001, single_shot=True)
    single.timeout.connect(loop.stop)  # also a slot of the loop
    assert run_with_deadline(loop) == EventLoopStatus.NORMAL_TERMINATION
    assert not single._ss_timer_active()  # fired once, done
    t = Timer(loop, 0.01)
    t.timeout.connect(c.tick)
    tl = TightLoop(loop)
    tl.iteration.connect(c.spin)
    assert run_with_deadline(loop) == EventLoopStatus.NORMAL_TERMINATION
    assert c.n == 5 and c.tight > 0
    t.stop()
    tl.stop()


def test_loop_on_thread_emit_from_threads():
    loop = EventLoop(uniq("thr"))
    rx = Recorder(loop, "rx")
    emitters = [Recorder(loop, f"e{k}") for k in range(4)]
    for e in emitters:
        e.out.connect(rx.on_value)
    th = threading.Thread(target=loop.exec)
    th.start()
    N = 2000

    def emit_all(e):
        for i in range(N):
            e.out.emit(e.object_id, i)

    ts = [threading.Thread(target=emit_all, args=(e,)) for e in emitters]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    loop.stop()
    th.join(30)
    assert not th.is_alive()
    per = {}
    for who, i in rx.got:
        per.setdefault(who, []).append(i)
    assert sorted(per) == [f"e{k}" for k in range(4)]
    for who, seq in per.items():
        assert seq == list(range(N)), who  # each emitter's order, no loss


def test_process_events_inside_slot():
    loop = EventLoop(uniq("main"))
    a = Recorder(loop, "a")

    class Waiter(EventLoopObject):
        def __init__(self, loop):
            super().__init__(loop, "w")
            self.inner = []

        def wait_for_more(self, x):
            a.report.emit("inner", x)
            while not self.inner:
                self.event_loop.process_events()

        def on_inner(self, *args):
            self.inner.append(args)

    w = Waiter(loop)
    a.out.connect(w.wait_for_more)
    a.report.connect(w.on_inner)
    a.out.emit(1)
    loop.process_events()
    assert w.inner == [("inner", 1)]


# ---- processes (fork) ----

def test_main_and_two_processes_every_direction(mp_ctx):
    main = EventLoop(uniq("main"))
    p1 = EventLoopProcess(uniq("p1_"), multiprocessing_context=mp_ctx)
    p2 = EventLoopProcess(uniq("p2_"), multiprocessing_context=mp_ctx)
    m = Recorder(main, "m")
    r1 = Recorder(p1.event_loop, "r1")
    r2 = Recorder(p2.event_loop, "r2")
    stopper = Stopper(main, 3)
    # main -> p1 -> p2 -> main, and main -> p2, p1 -> main.
    m.out.connect(r1.on_value_echo)
    r1.out.connect(r2.on_value_echo)
    r2.out.connect(m.on_value)
    m.report.connect(r2.on_value_report)
    r1.report.connect(stopper.on_report)
    r2.report.connect(stopper.on_report)
    r2.out.connect(stopper.on_report)
    m.out.emit("ping", 1)  # emitted before the starts: waits in queues
    m.report.emit("direct")
    p1.start()
    p2.start()
    r1.report.emit("r1", ("from", "parent copy"))  # a copy in the parent
    assert run_with_deadline(main) == 0
    assert m.got == [("ping", 1)]
    assert sorted(stopper.reports, key=repr) == sorted(
        [("ping", 1), ("r2", ("direct",)), ("r1", ("from", "parent copy"))],
        key=repr)
    for p in (p1, p2):
        p.stop()
        p.join(10)
        assert p.exitcode == 0


def test_stop_timer_three_loops(mp_ctx):
    main = EventLoop(uniq("main"))
    ps = [EventLoopProcess(uniq(f"s{k}_"), multiprocessing_context=mp_ctx)
          for k in range(2)]
    t = Timer(main, 0.3, single_shot=True)
    t.timeout.connect(main.stop)
    for p in ps:
        t.timeout.connect(p.stop)
    for p in ps:
        p.start()
    assert main.exec() == 0  # (a hang is the test timeout's)
    for p in ps:
        p.join(10)
        assert p.exitcode == 0


class Ticker(EventLoopObject):
    def __init__(self, loop):
        super().__init__(loop, "ticker")
        self.n = 0
        self.t = Timer(loop, 0.01)
        self.t.timeout.connect(self.on_tick)

    @signal
    def ticked(self):
        pass

    def on_tick(self):
        self.n += 1
        self.ticked.emit(self.n, process_name(self.event_loop.process))


class Counter(EventLoopObject):
    def __init__(self, loop):
        super().__init__(loop, "counter")
        self.ns = []

    def on_ticked(self, n, where):
        self.ns.append((n, where))
        if len(self.ns) == 10:
            self.event_loop.stop()


def test_periodic_timer_in_child(mp_ctx):
    main = EventLoop(uniq("main"))
    p = EventLoopProcess(uniq("tick_"), multiprocessing_context=mp_ctx)

    ticker = Ticker(p.event_loop)
    counter = Counter(main)
    ticker.ticked.connect(counter.on_ticked)
    p.start()
    assert run_with_deadline(main) == 0
    assert counter.ns == [(n, p.name) for n in range(1, 11)]
    p.stop()
    p.join(10)
    assert p.exitcode == 0


def test_dict_payload_single_and_batched_before_start(mp_ctx):
    main = EventLoop(uniq("main"))
    p = EventLoopProcess(uniq("dict_"), multiprocessing_context=mp_ctx)
    src = Recorder(main, "src")
    rx = Recorder(p.event_loop, "rx")
    stopper = Stopper(main, 11)
    src.out.connect(rx.on_value_report)
    rx.report.connect(stopper.on_report)
    payload = {"a": 1, "b": [1.5, None], "c": {"d": (True, b"x")}}
    src.out.emit(payload)
    src.out.emit_many([(payload, i) for i in range(10)])
    p.start()
    assert run_with_deadline(main) == 0
    assert stopper.reports[0] == ("rx", (payload,))
    assert [r[1] for r in stopper.reports[1:]] == [(payload, i)
                                                   for i in range(10)]
    p.stop()
    p.join(10)


def test_connect_after_start_raises(mp_ctx):
    main = EventLoop(uniq("main"))
    p = EventLoopProcess(uniq("late_"), multiprocessing_context=mp_ctx)
    a = Recorder(main, "a")
    rx = Recorder(p.event_loop, "rx")
    p.start()
    try:
        with pytest.raises(RuntimeError):
            a.out.connect(rx.on_value)
    finally:
        p.stop()
        p.join(10)
    assert p.exitcode == 0


class Bad(EventLoopObject):
    def boom(self):
        raise ValueError("boom in child")


def test_child_slot_exception_exit_code(mp_ctx):
    main = EventLoop(uniq("main"))
    p = EventLoopProcess(uniq("bad_"), multiprocessing_context=mp_ctx)
    a = Recorder(main, "a")
    bad = Bad(p.event_loop, "bad")
    a.out.connect(bad.boom)
    a.out.emit()
    p.start()
    p.join(30)
    assert p.exitcode == 1


def test_child_killed_while_parent_emits(mp_ctx):
    main = EventLoop(uniq("main"))
    p = EventLoopProcess(uniq("victim_"), multiprocessing_context=mp_ctx)
    a = Recorder(main, "a")
    rx = Recorder(p.event_loop, "rx")
    a.out.connect(rx.on_value)
    p.start()
    for i in range(1000):
        a.out.emit(i, "x" * 100)
    os.kill(p.pid, signals.SIGKILL)
    for i in range(100000):  # never blocks (the test timeout), never raises
        a.out.emit(i, "x" * 100)
    p.join(10)
    assert p.exitcode == -signals.SIGKILL
    for i in range(10):
        a.out.emit(i)  # counted drops now (the loop ended)
    assert a._ss_dropped("out") > 0


def test_flood_large_and_small_payloads(fork_ctx):
    main = EventLoop(uniq("main"))
    p = EventLoopProcess(uniq("flood_"), multiprocessing_context=fork_ctx)
    src = Recorder(main, "src")

    class Sink(EventLoopObject):
        @signal
        def done(self):
            pass

        def __init__(self, loop):
            super().__init__(loop, "sink")
            self.big = self.small = 0
            self.bad = 0

        def on_big(self, i, arr):
            if len(arr) != 100_000 or arr[0] != i or arr[-1] != i:
                self.bad += 1
            self.big += 1

        def on_small(self, i):
            self.small += 1

        def on_end(self):
            self.done.emit(self.big, self.small, self.bad)

    class Main(EventLoopObject):
        def on_done(self, big, small, bad):
            self.result = (big, small, bad)
            self.event_loop.stop()

    sink = Sink(p.event_loop)
    mo = Main(main, "mo")
    src.connect("big", sink.on_big)
    src.connect("small", sink.on_small)
    src.connect("end", sink.on_end)
    sink.done.connect(mo.on_done)
    p.start()
    sent_big = 0
    for i in range(100):
        src.emit("big", i, [i] * 100_000)
        sent_big += 1
    for i in range(5000):
        src.emit("small", i)
    src.emit("end")
    assert run_with_deadline(main, 60) == 0
    big, small, bad = mo.result
    dropped = src._ss_dropped("big") + src._ss_dropped("small")
    assert bad == 0
    assert big + small + dropped == 5100  # all delivered or counted
    p.stop()
    p.join(10)


def test_oversized_and_full_are_dropped_counted_logged(caplog, fork_ctx):
    main = EventLoop(uniq("main"))
    p = EventLoopProcess(uniq("small_"), multiprocessing_context=fork_ctx,
                         queue_bytes=64 << 10)
    a = Recorder(main, "a")
    rx = Recorder(p.event_loop, "rx")
    a.out.connect(rx.on_value)
    with caplog.at_level(logging.ERROR):
        a.out.emit(b"x" * (1 << 20))  # larger than the queue: never raises
        for i in range(1000):  # the child is not started: the queue fills
            a.out.emit(i, "y" * 200)
    dropped = a._ss_dropped("out")
    assert 1 < dropped < 1001
    # Logged the first time, then once per 100 drops.
    lines = [r for r in caplog.records if "was dropped" in r.getMessage()]
    assert 1 <= len(lines) <= 2 + dropped // 100
    del p
