"""The Python side of examples/across_hosts.c: a main loop on one host
feeding worker loops on others through ss-bridge (docs/bridge.md); each
role mixes with the C program's.

    across_hosts.py worker           loop "worker", object "w": slot "job"
                                     ("xs": id, text) answers "done"
                                     ("xx": id, len(text) * id)
    across_hosts.py main N HOST...   feeds "HOST/worker" round-robin, checks
                                     every answer, exits 0

examples/across_hosts.sh --python runs it as the worker of the third host.
"""
import sys

from signal_slot.signal_slot import (EventLoop, EventLoopObject, Timer,
                                     open_loop, signal, slot)


class Worker(EventLoopObject):
    @signal("xx")
    def done(self):
        pass

    @slot("xs")
    def job(self, job_id, text):
        self.done.emit(job_id, len(text) * job_id)


class Feeder(EventLoopObject):
    """Feeds one worker; the answers of all of them are counted in tally."""

    def __init__(self, loop, object_id, tally):
        super().__init__(loop, object_id)
        self.tally = tally

    @signal("xs")
    def job(self):
        pass

    @slot("xx")
    def on_done(self, job_id, result):
        if result != len(f"job {job_id}") * job_id:
            self.tally["wrong"] += 1
        self.tally["answers"] += 1
        if self.tally["answers"] == self.tally["n"]:
            self.event_loop.stop()


def worker():
    loop = EventLoop("worker", publish=True)
    Worker(loop, "w")
    print("python worker ready", flush=True)
    loop.exec()


def main(n, hosts):
    loop = EventLoop("main", publish=True)
    tally = {"n": n, "answers": 0, "wrong": 0}
    feeders = []
    for k, host in enumerate(hosts):
        remote = open_loop(f"{host}/worker", timeout=30.0)
        w = remote.object("w")
        f = Feeder(loop, f"m{k}", tally)
        f.job.connect(w, "job")          # to the worker's slot, by name
        w.connect("done", f.on_done)     # its answers, here
        feeders.append((f, remote, w))
        print(f"connected to {host}/worker", flush=True)
    for job_id in range(n):
        feeders[job_id % len(feeders)][0].job.emit(job_id, f"job {job_id}")
        # Emitting never waits: keep at most 2,000 jobs in flight.
        while job_id - tally["answers"] > 2000:
            loop.process_events(0.01)
    safety = Timer(loop, 60, single_shot=True)
    safety.timeout.connect(loop.stop)
    loop.exec()
    print(f"main: {tally['answers']} answers from {len(hosts)} hosts, "
          f"{tally['wrong']} wrong", flush=True)
    return 0 if tally["answers"] == n and not tally["wrong"] else 3


if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        worker()
    elif len(sys.argv) >= 4 and sys.argv[1] == "main":
        sys.exit(main(int(sys.argv[2]), sys.argv[3:]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
