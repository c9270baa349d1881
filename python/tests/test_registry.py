"""Beyond the seed: typed signals, loops of other programs through the
host's registry (a C program among them), connections made after a
process started. What every slot received is checked, in order."""
import os
import subprocess
import sys

import pytest

from signal_slot.signal_slot import (
    EventLoop, EventLoopObject, EventLoopProcess, Timer, list_loops,
    open_loop, signal, slot)
from signal_slot import _core

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
C_SERVICE = os.environ.get(
    "SS_C_SERVICE", os.path.join(ROOT, "build", "examples", "c_service"))

_names = iter(range(10**6))


def uniq(prefix):
    return f"{prefix}{os.getpid()}r{next(_names)}"


@pytest.fixture(autouse=True, scope="module")
def _domain_files():
    """The domain's shared memory goes with the tests: its registry, and
    the queues of loops a test left published (their owners ended without
    freeing them; on a domain that lives on, the next program to use it
    would retire them)."""
    yield
    prefix = f"ss-{os.geteuid()}-py{os.getpid()}"
    for name in os.listdir("/dev/shm"):
        if name == prefix or name.startswith(prefix + "-"):
            try:
                os.unlink(os.path.join("/dev/shm", name))
            except FileNotFoundError:
                pass


@pytest.fixture(autouse=True)
def _domain():
    """Each test's loops in a registry domain of their own (children
    inherit it through the environment)."""
    old = os.environ.get("SS_DOMAIN")
    name = f"py{os.getpid()}"
    os.environ["SS_DOMAIN"] = name
    _core.domain(name)
    yield name
    if old is None:
        os.environ.pop("SS_DOMAIN", None)
    else:
        os.environ["SS_DOMAIN"] = old


def run_with_deadline(loop, seconds=60):
    """exec() with a stop timer as a safety net (not a timing check: a
    hang ends here instead of at the test's timeout)."""
    t = Timer(loop, seconds, single_shot=True)
    t.timeout.connect(loop.stop)
    status = loop.exec()
    t.stop()
    return status


# ---- typed signals in one program ----

class Typed(EventLoopObject):
    @signal("bixtdsy")
    def scalars(self):
        pass

    @signal("aia{d}v")
    def containers(self):
        pass

    @signal("")
    def bare(self):
        pass

    @signal
    def untyped(self):
        pass


class Sink(EventLoopObject):
    def __init__(self, loop, object_id=None):
        super().__init__(loop, object_id)
        self.got = []

    def on_any(self, *args):
        self.got.append(args)

    @slot("bixtdsy")
    def on_scalars(self, *args):
        self.got.append(args)

    @slot("x")
    def on_x(self, x):
        self.got.append((x,))


def test_typed_values_arrive_equal():
    loop = EventLoop(uniq("typed"))
    a, b = Typed(loop, "a"), Sink(loop, "b")
    a.scalars.connect(b.on_scalars)
    a.containers.connect(b.on_any)
    a.bare.connect(b.on_any)
    sent = [
        (True, -2**31, -2**63, 2**64 - 1, 0.1, "héllo", b"\x00\xff"),
        (False, 2**31 - 1, 2**63 - 1, 0, -1e300, "", bytearray(b"x")),
    ]
    for args in sent:
        a.scalars.emit(*args)
    a.containers.emit([1, 2, 3], [{"x": 1.5}, {}],
                      {"k": [1, "two", 3.0, True, b"b", {"n": [2**64 - 1]}]})
    a.containers.emit_many([((), [], 7), ((5,), [{"a": 0.0}], "s")])
    a.bare.emit()
    loop.process_events(0)
    assert b.got == [
        (True, -2**31, -2**63, 2**64 - 1, 0.1, "héllo", b"\x00\xff"),
        (False, 2**31 - 1, 2**63 - 1, 0, -1e300, "", b"x"),
        ([1, 2, 3], [{"x": 1.5}, {}],
         {"k": [1, "two", 3.0, True, b"b", {"n": [2**64 - 1]}]}),
        ([], [], 7),
        ([5], [{"a": 0.0}], "s"),
        (),
    ]
    # bytes come back as bytes, variants keep their types
    assert type(b.got[1][6]) is bytes
    assert [type(v) for v in b.got[2][2]["k"]] == [int, str, float, bool,
                                                   bytes, dict]


def test_typed_errors_are_raised_and_nothing_is_sent():
    loop = EventLoop(uniq("typederr"))
    a, b = Typed(loop, "a"), Sink(loop, "b")
    a.scalars.connect(b.on_any)
    good = [True, 1, 2, 3, 0.5, "s", b"y"]
    bad = [
        (1, "str for an int32"),
        (1, 2**31),           # int32 overflow
        (3, -1),              # uint64 underflow
        (5, 7),               # int for a str
        (5, "nul\x00inside"),
        (6, "str for bytes"),
        (4, "str for a double"),
    ]
    for index, value in bad:
        args = list(good)
        args[index] = value
        with pytest.raises(TypeError) as e:
            a.scalars.emit(*args)
        assert "a.scalars" in str(e.value)
    with pytest.raises(TypeError):
        a.scalars.emit(*good[:-1])  # one argument missing
    with pytest.raises(TypeError):
        a.scalars.emit(*good, 1)    # one too many
    with pytest.raises(TypeError):
        a.containers.emit([1], [{1: 2.0}], 0)  # a map's keys are str
    with pytest.raises(TypeError):
        a.containers.emit([1], [], None)       # a variant holds no None
    with pytest.raises(TypeError):
        a.bare.emit(1)
    with pytest.raises(ValueError):
        signal("q")(lambda self: None)         # no such type code
    loop.process_events(0)
    assert b.got == []
    # connect checks a declared slot's signature
    with pytest.raises(TypeError):
        a.untyped.connect(b.on_x)
    with pytest.raises(TypeError):
        a.scalars.connect(b.on_x)
    a.untyped.connect(b.on_any)  # an undeclared slot takes anything
    a.untyped.emit({"any": object.__name__})
    loop.process_events(0)
    assert b.got == [({"any": "object"},)]


# ---- a C program, both ways ----

class Client(EventLoopObject):
    def __init__(self, loop, n):
        super().__init__(loop, "client")
        self.n = n
        self.answers = []
        self.ended = None

    @signal("xs")
    def ask(self):
        pass

    @signal("")
    def quit(self):
        pass

    @signal
    def untyped(self):
        pass

    @slot("xsad{v}")
    def on_squared(self, square, tag, halves, info):
        self.answers.append((square, tag, halves, info))
        if len(self.answers) == self.n:
            self.quit.emit()

    def on_ended(self, code, sig):
        self.ended = (code, sig)
        self.event_loop.stop()


def test_c_program_typed_signals_both_ways():
    if not os.access(C_SERVICE, os.X_OK):
        pytest.fail(f"{C_SERVICE} is missing: build the C examples first "
                    f"(make build), or set SS_C_SERVICE")
    name = uniq("csvc")
    proc = subprocess.Popen([C_SERVICE, name], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        n = 2000
        loop = EventLoop(uniq("client"), publish=True)
        client = Client(loop, n)
        service = open_loop(name, timeout=30.0)
        calc = service.object("calc")
        # Checked at connect, by the C program's loop.
        with pytest.raises(TypeError):
            client.untyped.connect(calc, "square")
        with pytest.raises(LookupError):
            client.ask.connect(calc, "nosuch")
        client.ask.connect(calc, "square")
        client.quit.connect(calc, "quit")
        calc.connect("squared", client.on_squared)
        service.connect("ended", client.on_ended)
        for i in range(n):
            client.ask.emit(i - 1000, f"t{i}")
        run_with_deadline(loop)
        assert proc.wait(timeout=30) == 0
        assert client.ended == (0, 0)
        assert len(client.answers) == n
        for i, (square, tag, halves, info) in enumerate(client.answers):
            k = i - 1000
            assert square == k * k and tag == f"t{i}"
            assert halves == [k / 2, k * 1.5]
            assert info == {"n": k, "even": k % 2 == 0, "tag": f"t{i}"}
        out = proc.stdout.read()
        assert f"answered {n}; asked to quit" in out
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_open_loop_missing_and_list_loops():
    with pytest.raises(LookupError):
        open_loop(uniq("nobody"), timeout=0)
    name = uniq("listed")
    loop = EventLoop(name, publish=True)
    entries = {e["name"]: e for e in list_loops()}
    assert entries[name]["pid"] == os.getpid()
    assert entries[name]["state"] == "live"
    assert EventLoop(uniq("hidden")).object_id not in {
        e["name"] for e in list_loops()}
    del loop


# ---- connections made after a process started ----

class Worker(EventLoopObject):
    def __init__(self, loop, object_id=None):
        super().__init__(loop, object_id)
        self.count = 0

    @signal
    def reply(self):
        pass

    def on_value(self, k, text):
        self.count += 1
        self.reply.emit(k * 2, text.upper())

    def on_count(self):
        self.reply.emit("count", self.count)


class Boss(EventLoopObject):
    def __init__(self, loop, n):
        super().__init__(loop, "boss")
        self.n = n
        self.replies = []

    @signal
    def value(self):
        pass

    @signal
    def count(self):
        pass

    def on_reply(self, *args):
        self.replies.append(args)
        if args[0] == "count":
            self.event_loop.stop()


def test_connect_after_start_both_ways(mp_ctx):
    main = EventLoop(uniq("main"), publish=True)
    p = EventLoopProcess(uniq("late_"), multiprocessing_context=mp_ctx,
                         publish=True)
    boss = Boss(main, 500)
    worker = Worker(p.event_loop, "worker")
    p.start()
    try:
        for missing in ("nosuch", "__init__", "__del__"):
            with pytest.raises(LookupError):
                boss.value.connect(worker, missing)
        boss.value.connect(worker.on_value)   # here -> there, by name
        boss.count.connect(worker.on_count)
        worker.reply.connect(boss.on_reply)   # there -> here
        for k in range(boss.n):
            boss.value.emit(k, f"v{k}")
        boss.value.disconnect(worker.on_value)
        boss.value.emit(-1, "not delivered")  # disconnected: lost
        boss.count.emit()
        run_with_deadline(main)
        assert boss.replies == [(2 * k, f"V{k}") for k in range(boss.n)] + [
            ("count", boss.n)]
    finally:
        p.stop()
        p.join(30)
    assert p.exitcode == 0


def test_remote_emitter_to_unpublished_loop_raises():
    name = uniq("pubsrc")
    src_loop = EventLoop(name, publish=True)
    Client(src_loop, 1)
    here = EventLoop(uniq("hidden"))
    sink = Sink(here, "sink")
    remote = open_loop(name, timeout=0)
    with pytest.raises(RuntimeError, match="publish"):
        remote.object("client").connect("untyped", sink.on_any)
    del remote


def test_connect_after_start_unpublished_raises(fork_ctx):
    main = EventLoop(uniq("main"))
    p = EventLoopProcess(uniq("hid_"), multiprocessing_context=fork_ctx)
    a = Boss(main, 1)
    w = Worker(p.event_loop, "w")
    p.start()
    try:
        with pytest.raises(RuntimeError, match="publish"):
            a.value.connect(w.on_value)
    finally:
        p.stop()
        p.join(30)
    assert p.exitcode == 0


def test_drops_are_counted_never_silent():
    loop = EventLoop(uniq("small"), queue_bytes=64 << 10)
    a, b = Typed(loop, "a"), Sink(loop, "b")
    a.untyped.connect(b.on_any)
    n = 5000
    for i in range(n):
        a.untyped.emit(i, "x" * 100)  # never raises, never blocks
    loop.process_events(0)
    while loop._ss_loop.pending()[0]:
        loop.process_events(0)
    got = [args[0] for args in b.got]
    assert got == sorted(set(got))          # in order, no duplicate
    assert got == list(range(len(got)))     # the first ones, then drops
    assert 0 < len(got) < n
    assert a.dropped("untyped") == n - len(got)
    assert loop.dropped() == n - len(got)
