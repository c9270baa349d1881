"""Threads, Ctrl-C and concurrent starts."""
import multiprocessing
import os
import signal as signals
import subprocess
import sys
import textwrap
import threading

import pytest

from signal_slot.signal_slot import (EventLoop, EventLoopObject,
                                     EventLoopProcess, EventLoopStatus)


def test_ctrl_c_makes_exec_return_interrupted():
    code = textwrap.dedent("""
        import os, signal, threading, sys
        from signal_slot.signal_slot import EventLoop, EventLoopStatus
        loop = EventLoop("ctrlc")
        threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        status = loop.exec()
        print("status", status)
        sys.exit(0 if status == EventLoopStatus.INTERRUPTED else 3)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "status 1" in r.stdout


def test_stop_from_another_thread_and_loop_on_thread():
    loop = EventLoop(f"thr_stop{os.getpid()}")
    result = []
    th = threading.Thread(target=lambda: result.append(loop.exec()))
    th.start()
    threading.Event().wait(0.05)
    loop.stop()
    th.join(10)
    assert not th.is_alive() and result == [EventLoopStatus.NORMAL_TERMINATION]


class Pong(EventLoopObject):
    def __init__(self, loop):
        super().__init__(loop, "pong")

    def on_ping(self, who):
        self.emit("pong", who, os.getpid())


class Collect(EventLoopObject):
    def __init__(self, loop, n):
        super().__init__(loop, "collect")
        self.n = n
        self.got = {}

    def on_pong(self, who, pid):
        self.got[who] = pid
        if len(self.got) == self.n:
            self.event_loop.stop()


# Under AddressSanitizer (the CI's preloaded run), a child forked while
# another thread of the parent holds the sanitizer's allocator lock
# deadlocks in its first allocation: gcc 12's libsanitizer does not take
# that lock around fork(). Seen in CI and here (gdb: the child waits in
# __sanitizer::Mutex::Lock under calloc, from pthread_create). Not this
# library's: the test runs in every other pass.
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="fork from several threads deadlocks gcc 12's "
                           "ASan allocator in the child")
def test_start_from_several_threads_at_once():
    ctx = multiprocessing.get_context("fork")
    main = EventLoop(f"multi_start{os.getpid()}")
    col = Collect(main, 8)
    procs = [EventLoopProcess(f"ms{os.getpid()}_{k}",
                              multiprocessing_context=ctx) for k in range(8)]
    try:
        for k, p in enumerate(procs):
            pong = Pong(p.event_loop)
            main.connect(f"ping{k}", pong.on_ping)
            pong.connect("pong", col.on_pong)
            main.emit(f"ping{k}", k)
        ts = [threading.Thread(target=p.start) for p in procs]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        guard = threading.Timer(30, main.stop)
        guard.start()
        assert main.exec() == 0
        guard.cancel()
        assert sorted(col.got) == list(range(8))
        assert sorted(col.got.values()) == sorted(p.pid for p in procs)
    except BaseException:
        # (Reaped even when it fails: a child left running would keep
        # the interpreter from exiting.)
        for p in procs:
            if p.pid is not None:
                p.kill()
                p.join(10)
        raise
    for p in procs:
        p.stop()
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
