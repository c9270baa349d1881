"""Points of the seed's behaviour found missing by an outside review
(../shared/reference/python-api.md): each checked by what slots receive."""
import logging
import multiprocessing
import os
import signal as signals
import threading
import time

import pytest

from signal_slot import utils
from signal_slot.queue_utils import MpQueueWrapper
from signal_slot.signal_slot import (
    Emitter, EventLoop, EventLoopObject, EventLoopProcess, EventLoopStatus,
    Timer, signal)

_names = iter(range(10**6))


def uniq(prefix):
    return f"{prefix}{os.getpid()}p{next(_names)}"


class Node(EventLoopObject):
    def __init__(self, loop, object_id=None):
        super().__init__(loop, object_id)
        self.got = []
        self.emitters = []

    @signal
    def out(self):
        pass

    def on_value(self, *args):
        self.got.append(args)
        self.emitters.append(self.event_loop.curr_emitter)

    def other_slot(self, *args):
        self.got.append(("other",) + args)


def test_duplicate_and_odd_loop_names():
    a = EventLoop("batcher_evt_loop")
    b = EventLoop("batcher_evt_loop")  # the seed allows it
    odd = [EventLoop(123), EventLoop("x" * 80), EventLoop(("t", 1))]
    assert a.object_id == b.object_id == "batcher_evt_loop"
    assert [o.object_id for o in odd] == [123, "x" * 80, ("t", 1)]
    na, nb = Node(a, "na"), Node(b, "nb")
    n_odd = Node(odd[1], "n_odd")
    na.out.connect(nb.on_value)
    nb.out.connect(n_odd.on_value)
    na.out.emit(1)
    nb.out.emit(2)
    b.process_events(0)
    odd[1].process_events(0)
    assert nb.got == [(1,)] and n_odd.got == [(2,)]
    assert na.got == []


def test_long_process_name(fork_ctx):
    main = EventLoop(uniq("m"))
    p = EventLoopProcess("p" * 80, multiprocessing_context=fork_ctx)
    n = Node(main, "n")
    rx = Node(p.event_loop, "rx")
    n.out.connect(rx.on_value)
    p.start()
    p.stop()
    p.join(30)
    assert p.exitcode == 0 and p.name == "p" * 80


class Interrupter(EventLoopObject):
    @signal
    def go(self):
        pass

    def on_go(self):
        os.kill(os.getpid(), signals.SIGINT)
        time.sleep(0.2)  # Ctrl-C lands while the slot runs


def test_ctrl_c_in_a_slot_returns_interrupted(caplog):
    loop = EventLoop(uniq("intr"))
    x = Interrupter(loop, "x")
    x.go.connect(x.on_go)
    x.go.emit()
    with caplog.at_level(logging.INFO):
        assert loop.exec() == EventLoopStatus.INTERRUPTED
    assert "Unhandled exception in slot" not in caplog.text


def test_process_check_compares_the_two_loops(fork_ctx):
    main = EventLoop(uniq("m"))
    side = EventLoop(uniq("side"))
    p = EventLoopProcess(uniq("pc"), multiprocessing_context=fork_ctx)
    a, b = Node(main, "a"), Node(side, "b")
    side.process = p  # set by hand, before any start: differ from main's
    with pytest.raises(RuntimeError):
        a.out.connect(b.on_value)
    c = Node(p.event_loop, "c")
    p.event_loop.process = p  # the same process on both sides: connects
    b.out.connect(c.on_value)
    b.out.emit("same")
    p.event_loop.process_events(0)
    assert c.got == [("same",)]


class Ticks(EventLoopObject):
    def __init__(self, loop):
        super().__init__(loop, "ticks")
        self.n = 0

    def on_tick(self):
        self.n += 1


def test_timer_catches_up_one_per_iteration_and_reports_its_deadline():
    loop = EventLoop(uniq("tc"))
    t = Timer(loop, 0.02)
    rx = Ticks(loop)
    t.timeout.connect(rx.on_tick)
    time.sleep(0.13)  # at least 6 periods: a lower bound whatever the spell
    counts = []
    while t.remaining_time() == 0.0 and len(counts) < 1000:
        before = rx.n
        loop.process_events(0)
        counts.append(rx.n - before)
    assert counts and all(c == 1 for c in counts)
    assert len(counts) >= 6
    assert t.next_timeout() > time.time() - 0.001  # not a stale deadline
    t.stop()
    assert t.remaining_time() > 1e9


class Sub(EventLoopObject):
    @signal
    def report(self):
        pass

    def on_news(self, *args):
        self.report.emit(args)


class Collect(EventLoopObject):
    def __init__(self, loop, oid):
        super().__init__(loop, oid)
        self.got = []

    def on_report(self, args):
        self.got.append(args)
        self.event_loop.stop()


class News(EventLoopObject):
    @signal
    def news(self):
        pass


def test_broadcast_into_a_child(mp_ctx):
    main = EventLoop(uniq("m"))
    p = EventLoopProcess(uniq("bc"), multiprocessing_context=mp_ctx)
    src = News(main, "src")
    sub = Sub(p.event_loop, "sub")
    col = Collect(main, "col")
    src.news.broadcast_on(p.event_loop)
    sub.subscribe("news", sub.on_news)
    sub.report.connect(col.on_report)
    src.news.emit("hello", 7)  # waits in the child's queue
    p.start()
    try:
        t = Timer(main, 60, single_shot=True)
        t.timeout.connect(main.stop)
        main.exec()
        assert col.got == [("hello", 7)]
    finally:
        p.stop()
        p.join(30)
    assert p.exitcode == 0


def test_close_after_join_never_breaks_the_watcher(fork_ctx):
    errors = []
    old = threading.excepthook
    threading.excepthook = lambda a: errors.append(a.exc_value)
    try:
        for k in range(5):
            p = EventLoopProcess(uniq("cl"), multiprocessing_context=fork_ctx)
            p.start()
            p.stop()
            p.join(30)
            assert p.exitcode == 0
            p.close()
            p.close()  # idempotent
        time.sleep(0.1)
    finally:
        threading.excepthook = old
    assert errors == []


def test_seed_attributes_and_bookkeeping():
    loop = EventLoop(uniq("attrs"))
    assert loop.default_timer.object_id == f"{loop.object_id}_timer"
    assert loop.default_timer in loop.timers
    assert loop.objects[loop.default_timer.object_id] is loop.default_timer
    assert loop.next_timeout() is None  # it does not run: no wake-ups
    a, b = Node(loop, 42), Node(loop, "b")
    a.out.connect(b.on_value)
    assert loop.receivers[Emitter(42, "out")] == {"b"}
    assert a.receiver_queues == {"b": loop.signal_queue}
    assert a.receiver_refcount == {"b": 1}
    a.out.emit("v")
    loop.process_events(0)
    assert b.got == [("v",)]
    assert b.emitters[0].object_id == 42  # the seed's id, not the C one
    assert loop.curr_emitter is None
    loop.curr_emitter = "set by hand"
    assert loop.curr_emitter == "set by hand"
    # disconnect names another slot: the seed disconnects all the same
    a.out.disconnect(b.other_slot)
    assert a.receiver_refcount == {} and a.receiver_queues == {}
    assert Emitter(42, "out") not in loop.receivers
    a.out.emit("gone")
    loop.process_events(0)
    assert b.got == [("v",)]
    # an unpicklable value that nobody receives: a no-op, as the seed
    a.out.emit(threading.Lock())


class Quitter(EventLoopObject):
    @signal
    def go(self):
        pass

    def on_go(self):
        self.event_loop.should_terminate = True


def test_should_terminate_set_in_a_slot_ends_exec():
    loop = EventLoop(uniq("st"))
    q = Quitter(loop, "q")
    q.go.connect(q.on_go)
    q.go.emit()
    safety = Timer(loop, 60, single_shot=True)
    safety.timeout.connect(loop.stop)
    assert loop.exec() == EventLoopStatus.NORMAL_TERMINATION
    assert loop.should_terminate is True
    safety.stop()


def test_log_every_n_and_mp_queue_wrapper(caplog):
    log = logging.getLogger("parity")
    with caplog.at_level(logging.ERROR, logger="parity"):
        for _ in range(7):
            utils.error_log_every_n(log, 3, "msg-x")
    assert [r.getMessage() for r in caplog.records] == [
        "msg-x", "msg-x (3 times)", "msg-x (6 times)"]
    assert utils.log_every_n.history["msg-x"] == 7
    q = MpQueueWrapper(max_size_bytes=10_000)
    q.put({"a": 1})
    assert q.get(timeout=1) == {"a": 1}


class OwnState(EventLoopObject):
    """A subclass with its own __setstate__ that does not call super."""

    def __init__(self, loop, oid):
        super().__init__(loop, oid)
        self.extra = 1

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.extra = 2

    @signal
    def report(self):
        pass

    def on_value(self, *args):
        self.report.emit((args, self.extra))


def test_subclass_setstate_without_super(mp_ctx):
    main = EventLoop(uniq("m"))
    p = EventLoopProcess(uniq("os"), multiprocessing_context=mp_ctx)
    src = Node(main, "src")
    own = OwnState(p.event_loop, "own")
    col = Collect(main, "col")
    src.out.connect(own.on_value)
    own.report.connect(col.on_report)
    src.out.emit("x")
    p.start()
    try:
        t = Timer(main, 60, single_shot=True)
        t.timeout.connect(main.stop)
        main.exec()
        extra = 1 if mp_ctx.get_start_method() == "fork" else 2
        assert col.got == [(("x",), extra)]
    finally:
        p.stop()
        p.join(30)
    assert p.exitcode == 0
