"""Queues of signal-slot-mp's signal_slot.queue_utils: get_queue,
get_mp_queue, QueueWrapper; the multi-process one is signal_slot's own
shared-memory queue (faster_fifo.Queue's API), raising queue.Full and
queue.Empty and releasing the GIL while it waits."""
import copyreg
import os
import queue
import time

from signal_slot._core import Queue


def _reduce_queue(q):
    """A queue crosses a process start (spawn, forkserver) as its memory's
    descriptor, which multiprocessing hands to the child."""
    from multiprocessing import context, reduction
    if context.get_spawning_popen() is None:
        raise TypeError("cannot pickle a signal_slot queue outside of "
                        "starting a process")
    return _rebuild_queue, (reduction.DupFd(q.fd()), q.maxsize)


def _rebuild_queue(dupfd, maxsize):
    fd = dupfd.detach()
    try:
        return Queue._from_fd(fd, maxsize)
    finally:
        os.close(fd)


copyreg.pickle(Queue, _reduce_queue)


def get_mp_queue(buffer_size_bytes=1_000_000):
    """A queue shared with the processes forked after its creation."""
    return Queue(max_size_bytes=buffer_size_bytes)


def get_queue(serial=False, buffer_size_bytes=1_000_000):
    return QueueWrapper() if serial else get_mp_queue(buffer_size_bytes)


class QueueWrapper(queue.Queue):
    """queue.Queue (one process, no copies) with faster-fifo's extras."""

    def get_many(self, block=True, timeout=float(10.0),
                 max_messages_to_get=int(1e9)):
        msgs = [self.get(block, timeout)]
        while len(msgs) < max_messages_to_get:
            try:
                msgs.append(self.get_nowait())
            except queue.Empty:
                break
        return msgs

    def get_many_nowait(self, max_messages_to_get=int(1e9)):
        return self.get_many(block=False,
                             max_messages_to_get=max_messages_to_get)

    def put_many(self, xs, block=True, timeout=float(10.0)):
        deadline = None if timeout is None else time.monotonic() + timeout
        for x in xs:
            left = None if deadline is None else max(0.0,
                                                     deadline - time.monotonic())
            self.put(x, block, left)

    def put_many_nowait(self, xs):
        self.put_many(xs, block=False)


class MpQueueWrapper:
    """The seed's multi-process queue class (its fallback where
    faster_fifo is missing): here the shared-memory queue itself."""

    def __new__(cls, max_size_bytes=1_000_000, *args, **kwargs):
        return Queue(max_size_bytes=max_size_bytes)
