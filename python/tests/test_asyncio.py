"""Beyond the seed: a loop run inside asyncio through its descriptor."""
import asyncio
import threading

from signal_slot.signal_slot import EventLoop, EventLoopObject, signal


class Src(EventLoopObject):
    @signal
    def out(self):
        pass


class Rx(EventLoopObject):
    def __init__(self, loop, n, done):
        super().__init__(loop, "rx")
        self.got = []
        self.n = n
        self.done = done

    def on_value(self, i, s):
        self.got.append((i, s))
        if len(self.got) == self.n:
            self.done.set()


def test_loop_inside_asyncio():
    evt = EventLoop("aio")
    src = Src(evt, "src")
    N = 5000

    async def main():
        done = asyncio.Event()
        rx = Rx(evt, N, done)
        src.out.connect(rx.on_value)
        aio = asyncio.get_running_loop()
        aio.add_reader(evt.fileno(), evt.process_events, 0)

        def emit_all():
            for i in range(N):
                src.out.emit(i, "x")

        t = threading.Thread(target=emit_all)
        t.start()
        await asyncio.wait_for(done.wait(), 30)
        t.join()
        aio.remove_reader(evt.fileno())
        return rx.got

    got = asyncio.run(main())
    assert got == [(i, "x") for i in range(N)]
    assert evt.next_timeout() is None
