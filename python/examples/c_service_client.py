"""A Python program talking to a C program with typed signals, both ways.

Start the C side first or after (it is found by name, waiting up to 10 s):

    ./build/examples/c_service &
    build/venv/bin/python python/examples/c_service_client.py [N]

It asks the C program's object "calc" to square N numbers (the C slot
"square" takes "xs": an int64 and a string), prints what comes back on the
typed signal "squared" ("xsad{v}"), asks it to quit, and ends when the
registry reports that the C program ended.
"""
import sys

from signal_slot.signal_slot import (EventLoop, EventLoopObject, Timer,
                                     open_loop, signal, slot)


class Client(EventLoopObject):
    def __init__(self, loop, n):
        super().__init__(loop, "client")
        self.n = n
        self.answers = 0

    @signal("xs")
    def ask(self):
        pass

    @signal("")
    def quit(self):
        pass

    @slot("xsad{v}")
    def on_squared(self, square, tag, halves, info):
        print(f"{tag}: {info['n']}^2 = {square}, even={info['even']}, "
              f"{halves}")
        self.answers += 1
        if self.answers == self.n:
            self.quit.emit()

    def on_ended(self, code, sig):
        print(f"the C program ended (exit code {code}, signal {sig})")
        self.event_loop.stop()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    # Published: the C program's loop must reach this one to answer.
    loop = EventLoop("c_service_client", publish=True)
    client = Client(loop, n)
    service = open_loop("c_service", timeout=10.0)
    calc = service.object("calc")
    client.ask.connect(calc, "square")       # Python -> C, by name
    client.quit.connect(calc, "quit")
    calc.connect("squared", client.on_squared)  # C -> Python
    service.connect("ended", client.on_ended)
    for i in range(n):
        client.ask.emit(i, f"ask {i}")
    Timer(loop, 30.0, single_shot=True).timeout.connect(loop.stop)
    loop.exec()


if __name__ == "__main__":
    main()
