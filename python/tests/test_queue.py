"""signal_slot.queue_utils: faster_fifo.Queue's API on ss_queue."""
import multiprocessing
import queue
import threading
import time

import numpy as np
import pytest

from signal_slot.queue_utils import QueueWrapper, get_mp_queue, get_queue


def test_put_get_types_and_order():
    q = get_queue(buffer_size_bytes=1 << 16)
    vals = [None, 1, "s", b"b", (1, [2]), {"k": {3}}, np.arange(3)]
    for v in vals:
        q.put(v)
    assert q.qsize() == len(vals) and not q.empty()
    got = [q.get() for _ in vals]
    assert got[:6] == vals[:6] and (got[6] == vals[6]).all()
    assert q.empty()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get_many(block=False)


def test_put_many_all_or_nothing_and_full():
    q = get_mp_queue(4096)
    q.put_many([1, 2, 3])
    with pytest.raises(queue.Full):
        q.put_many_nowait([b"x" * 1000] * 10)  # does not fit: nothing put
    assert q.get_many() == [1, 2, 3]
    with pytest.raises(queue.Full):
        q.put(b"y" * 100_000, block=False)  # larger than the queue
    with pytest.raises(queue.Full):
        q.put(b"y" * 100_000, timeout=0.01)
    assert q.data_size() == 0


def test_get_many_max():
    q = get_mp_queue()
    q.put_many(list(range(100)))
    assert q.get_many(max_messages_to_get=10) == list(range(10))
    assert q.get_many_nowait(max_messages_to_get=5) == list(range(10, 15))
    assert q.get_many() == list(range(15, 100))


def test_close():
    q = get_mp_queue()
    q.put(1)
    q.close()
    assert q.is_closed()
    assert q.get() == 1  # what was put before the close drains
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)


def _producer(q, who, n):
    for i in range(n):
        q.put((who, i, "x" * (i % 50)))


def test_processes_and_threads_no_loss_no_dup():
    ctx = multiprocessing.get_context("fork")
    q = get_mp_queue(1 << 20)
    N = 20000
    procs = [ctx.Process(target=_producer, args=(q, f"p{k}", N))
             for k in range(2)]
    for p in procs:
        p.start()
    th = threading.Thread(target=_producer, args=(q, "t", N))
    th.start()
    seen = {}
    total = 0
    deadline = time.monotonic() + 60
    while total < 3 * N and time.monotonic() < deadline:
        try:
            msgs = q.get_many(timeout=1.0)
        except queue.Empty:
            continue
        for who, i, s in msgs:
            assert seen.get(who, -1) == i - 1, (who, i)  # order, no dup
            assert s == "x" * (i % 50)
            seen[who] = i
            total += 1
    th.join()
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    assert seen == {"p0": N - 1, "p1": N - 1, "t": N - 1}


def test_big_payloads_across_processes():
    ctx = multiprocessing.get_context("fork")
    q = get_mp_queue(16 << 20)

    def prod():
        for i in range(100):
            q.put([i] * 100_000)
        for i in range(5000):
            q.put(i)

    p = ctx.Process(target=prod)
    p.start()
    for i in range(100):
        v = q.get(timeout=30)
        assert len(v) == 100_000 and v[0] == i and v[-1] == i
    small = []
    while len(small) < 5000:
        small += q.get_many(timeout=30)
    assert small == list(range(5000))
    p.join(30)
    assert p.exitcode == 0


def test_serial_wrapper():
    q = get_queue(serial=True)
    assert isinstance(q, QueueWrapper)
    obj = object()
    q.put_many([obj, 2])
    got = q.get_many()
    assert got[0] is obj and got[1] == 2  # by reference, no copy
    with pytest.raises(queue.Empty):
        q.get_many_nowait()


def _child_puts(q, n):
    for i in range(n):
        q.put(("child", i))


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_queue_crosses_spawn(method):
    ctx = multiprocessing.get_context(method)
    q = get_mp_queue(1 << 20)
    q.put("before")
    p = ctx.Process(target=_child_puts, args=(q, 1000))
    p.start()
    got = [q.get(timeout=30)]
    while len(got) < 1001:
        got += q.get_many(timeout=30)
    p.join(30)
    assert p.exitcode == 0
    assert got == ["before"] + [("child", i) for i in range(1000)]


def test_queue_does_not_pickle_outside_a_start():
    import pickle
    with pytest.raises(TypeError):
        pickle.dumps(get_mp_queue())
