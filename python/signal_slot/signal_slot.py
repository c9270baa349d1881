"""The API of signal-slot-mp 1.0.5 on this project's C core.

Loops, emission, encoding and dispatch are C (signal_slot._core); this
module keeps the seed's classes, attributes, quirks and exceptions
(docs/python.md; ../shared/reference/python-api.md is the API matched).
"""
import copyreg
import logging
import multiprocessing
import os
import threading
import time
import types
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

from signal_slot import _core
from signal_slot import queue_utils  # noqa: F401 (the queue's pickling)
from signal_slot.utils import error_log_every_n

log = logging.getLogger(__name__)

ObjectID = Any
MpQueue = Any
BoundMethod = Any
StatusCode = int


def configure_logger(logger):
    """Use logger from now on (names imported before keep the old one)."""
    global log
    log = logger


@dataclass(frozen=True)
class Emitter:
    object_id: ObjectID
    signal_name: str


@dataclass(frozen=True)
class Receiver:
    object_id: ObjectID
    slot_name: str


class EventLoopStatus:
    NORMAL_TERMINATION = 0
    INTERRUPTED = 1


# ---- what the C core reports, logged as the seed logs it ----

def _on_slot_error(receiver, slot, sender, args, exc):
    if isinstance(exc, BaseException) and not isinstance(exc, Exception):
        return  # Ctrl-C, SystemExit: not a slot's error (the seed's)
    log.error(
        "Unhandled exception in slot %s of %r (emitter %s.%s on loop %s), "
        "args %r", slot, receiver, sender[1], sender[2], sender[0], args,
        exc_info=exc if isinstance(exc, BaseException) else None)


def _on_slot_missing(receiver, slot, why):
    log.warning("Slot %s of %r: %s; skipped", slot, receiver, why)


def _on_drop(emitter, signal_, rc, dropped):
    error_log_every_n(
        log, 100,
        f"{emitter!r}: a message of signal {signal_} was dropped (receiving "
        f"queue full, receiver ended, or message too large)")


_core.set_callbacks(slot_error=_on_slot_error, slot_missing=_on_slot_missing,
                    drop=_on_drop)


def _core_id(object_id):
    """The id the C core knows an object by: the object's own if it is a
    short enough str, else one the core makes."""
    if isinstance(object_id, str) and 0 < len(object_id.encode()) <= 63:
        return object_id
    return None


# The seed's ids of objects whose C id differs (any hashable, long str):
# for curr_emitter.
_ids_by_cid = {}

_SS_EEXIST = -10


def _new_core_loop(name, publish, queue_bytes):
    """The C loop of EventLoop(name). The seed takes any name, the same
    one twice too; the C core needs a unique one of 1..63 bytes in the
    process: another name is derived when it must (a published loop
    keeps its name: other programs look it up)."""
    usable = isinstance(name, str) and 0 < len(name.encode()) <= 63
    if publish:
        if not usable:
            raise ValueError(f"a published loop's name is a str of 1 to 63 "
                             f"bytes, not {name!r}")
        return _core.Loop(name, publish=True, queue_bytes=queue_bytes)
    if usable:
        base = name
    else:
        text = name if isinstance(name, str) else repr(name)
        base = text.encode()[:40].decode(errors="ignore") or "loop"
    for k in range(1, 100_000):
        candidate = base if (k == 1 and usable) else f"{base[:48]}~{k}"
        if candidate in _core_loops:
            continue
        try:
            loop = _core.Loop(candidate, queue_bytes=queue_bytes)
        except _core.Error as e:
            if len(e.args) < 2 or e.args[1] != _SS_EEXIST:
                raise
            continue
        _core_loops[candidate] = loop
        return loop
    raise RuntimeError(f"no name left for a loop named {name!r}")


_core_loops = weakref.WeakValueDictionary()  # the C loops, by C name


# ---- spawn and forkserver: the object graph crosses as a pickle ----
#
# A loop pickles as its name and its queue's descriptor, which
# multiprocessing hands to the child (DupFd); the child attaches a loop of
# its own to that queue. Objects pickle with their __dict__ (the seed's
# graph) and the connections they emit on; the child rebuilds the C side
# once the whole graph is unpickled (EventLoopProcess._target). Outside a
# spawn, loops do not pickle (as the seed's: TypeError).

_restored = []  # objects unpickled in this process, to attach


def _spawning():
    from multiprocessing import context
    return context.get_spawning_popen() is not None


def _reduce_loop(loop):
    if not _spawning():
        raise TypeError("cannot pickle a signal_slot loop outside of "
                        "starting a process")
    from multiprocessing import reduction
    if loop.published:
        # Found by name in the registry (of this domain).
        return _rebuild_loop, (loop.name, None, _core.domain())
    return _rebuild_loop, (loop.name, reduction.DupFd(loop.queue_fd()))


copyreg.pickle(_core.Loop, _reduce_loop)


_rebuilt_loops = []  # loops attached in this process (spawned child)


def _rebuild_loop(name, dupfd, domain=None):
    if dupfd is None:
        _core.domain(domain)
        loop = _core.attach_loop(name)
    else:
        fd = dupfd.detach()
        try:
            loop = _core.attach_loop(name, fd)
        finally:
            os.close(fd)
    _rebuilt_loops.append(loop)
    _core_loops[loop.name] = loop
    return loop


def _restore_graph(own_loop, parent_pid):
    """In a spawned child: attach what was unpickled (loops, then objects
    and timers), make its connections again (with stand-ins for the peers
    of other processes, which only route), run own_loop here."""
    objs = [o for o in _restored if o.__dict__.get("event_loop") is not None]
    _restored.clear()
    loops = [o for o in objs if isinstance(o, EventLoop)]
    others = [o for o in objs if not isinstance(o, EventLoop)]
    for o in loops + others:
        o._ss_reattach()
        o._ss_declare_typed()
    known = {}
    for o in objs:
        known[(o.event_loop._ss_loop.name, o._ss_id)] = o
        if o._ss_id != o.object_id:
            _ids_by_cid[o._ss_id] = o.object_id
    graph = set(known)

    def peer(core_loop, cid):
        key = (core_loop.name, cid)
        if key not in known:
            stand_in = _core.Object()
            if cid == core_loop.name:  # the loop's own object
                stand_in._ss_attach_loop(core_loop)
            else:
                stand_in._ss_attach(core_loop, cid)
            known[key] = stand_in
        return known[key]

    for o in objs:
        for signal_, loop, cid, slot in o.__dict__.get("_ss_out", ()):
            o._ss_connect(signal_, peer(loop, cid), slot)
        for signal_, loop, cid, slot, sig in o.__dict__.get("_ss_in", ()):
            emitter = peer(loop, cid)
            emitter._ss_declare(signal_, sig)
            emitter._ss_connect(signal_, o, slot)
        for signal_, loop in o.__dict__.get("_ss_bcasts", ()):
            o._ss_broadcast_on(signal_, loop)
        for signal_, loop, cid in o.__dict__.get("_ss_in_bcasts", ()):
            if (loop.name, cid) not in graph:  # (its emitter did it)
                emitter = peer(loop, cid)
                emitter._ss_declare(signal_, "y")
                emitter._ss_broadcast_on(signal_, o._ss_loop)
        for signal_, slot in o.__dict__.get("_ss_subs", ()):
            o._ss_subscribe(signal_, slot)
    _stand_ins.extend(v for v in known.values()
                      if not isinstance(v, EventLoopObject))
    for lp in _rebuilt_loops:
        if lp is own_loop._ss_loop:
            lp.adopt()
        else:
            lp.set_process(parent_pid)


_stand_ins = []  # kept alive: the connections of this process use them


class signal(_core.Signal):
    """@signal def name(self): ... declares a signal (the body is not used).

    As in the seed, accessing it on an object returns this same descriptor,
    bound to the object accessed last (class-level access raises
    AssertionError); emit, emit_many, connect, disconnect and broadcast_on
    act on that object. emit and emit_many run in C.

    Beyond the seed: @signal("xs") declares a typed signal, whose values
    travel in the wire format that C programs read and write (type codes
    of signal_slot/payload.h: b bool, i u x t ints of 32 and 64 bits, d
    float, s str, y bytes, aT lists, {T} dicts with str keys, v a value
    of its own type). Emitting values that do not fit raises TypeError
    (OverflowError is reported as TypeError too, naming the signal);
    connecting it to a slot declared with another signature (@slot)
    raises TypeError. Untyped signals carry any picklable value."""

    signature = None  # a typed signal's signature (instances set it)

    def __new__(cls, function=None, *args, **kwargs):
        if isinstance(function, str):
            sig = function
            _core.check_signature(sig)

            def typed(f):
                s = cls(f, *args, **kwargs)
                s.signature = sig
                return s
            return typed
        return super().__new__(cls)


def slot(signature=None):
    """Beyond the seed: mark a method as a slot; @slot("xs") also declares
    the signature it takes, checked when a signal is connected to it
    (TypeError if they differ), also by a C program or another process.
    A slot without a signature takes what any signal carries. Methods
    need no mark to be slots (the seed's way); this one is only for the
    check."""
    if callable(signature):  # @slot without arguments
        signature._ss_signature = None
        return signature
    if signature is not None:
        _core.check_signature(signature)

    def mark(f):
        f._ss_signature = signature
        return f
    return mark


_typed_by_class = {}


def _class_signals(cls):
    """{name: signature} of the signals of cls and its bases ("y": an
    untyped one), declared when an object attaches: another process can
    then connect to them after start."""
    found = _typed_by_class.get(cls)
    if found is None:
        found = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                if isinstance(value, signal) and value.name:
                    found[value.name] = ("y" if value.signature is None
                                         else value.signature)
        _typed_by_class[cls] = found
    return found


_this_process = None  # the EventLoopProcess this process runs, if any


def _lives_here(obj):
    """Whether obj's loop runs in this process, or will run in a process
    that this one starts (the seed's connections before start)."""
    if isinstance(obj, RemoteObject):
        return False
    return obj.event_loop.process is _this_process


def _slot_signature(receiver, slot):
    return getattr(getattr(receiver, slot, None), "_ss_signature", None)


def _slot_of(other, slot):
    if isinstance(other, (types.MethodType, types.BuiltinMethodType)):
        return other.__self__, other.__name__
    if isinstance(other, RemoteObject):
        assert slot is not None, "a remote object given: give the slot's name"
        return other, slot
    assert isinstance(other, EventLoopObject), (
        f"slot must be a bound method of an {EventLoopObject.__name__}, "
        f"not {other!r}")
    assert slot is not None, "an object given: give the slot's name too"
    return other, slot


def _ss_unpickled(cls):
    obj = cls.__new__(cls)
    _restored.append(obj)
    return obj


class EventLoopObject(_core.Object):
    """An object living on an event loop, with signals and slots."""

    def __init__(self, event_loop, object_id=None):
        self.event_loop = event_loop
        self.object_id = str(uuid.uuid4()) if object_id is None else object_id
        if self.object_id in event_loop.objects:
            raise ValueError(
                f"{self.object_id=} is already registered on loop "
                f"{event_loop.object_id}")
        self.send_signals_to = {}
        self.receiver_queues = {}
        self.receiver_refcount = {}
        self.connections = {}
        # For a spawned child: connections by (signal, loop, id, slot) of
        # the peer, out (this emits) and in (this receives); subscriptions
        # (signal, slot); broadcasts (signal, loop).
        self._ss_out = []
        self._ss_in = []
        self._ss_subs = []
        self._ss_bcasts = []
        self._ss_attach_self(event_loop)
        self._ss_declare_typed()
        self._ss_cid = self._ss_id
        if self._ss_cid != self.object_id:
            _ids_by_cid[self._ss_cid] = self.object_id
        event_loop.objects[self.object_id] = self

    def _ss_declare_typed(self):
        for name, sig in _class_signals(type(self)).items():
            self._ss_declare(name, sig)

    def _ss_attach_self(self, event_loop):
        self._ss_attach(event_loop._ss_loop, _core_id(self.object_id))

    def __getstate__(self):
        return dict(self.__dict__)

    def __reduce_ex__(self, protocol):
        # Made by _ss_unpickled(), which notes it for the child to attach,
        # whatever __setstate__ a subclass has (and __getstate__ kept).
        return (_ss_unpickled, (type(self),), self.__getstate__())

    def __setstate__(self, state):
        self.__dict__.update(state)

    def _ss_reattach(self):
        """(A spawned child) attach the C side again, with the same id."""
        self._ss_attach(self.event_loop._ss_loop, self.__dict__.get("_ss_cid"))


    def _ss_check_types(self, signal_, receiver, slot):
        want = _slot_signature(receiver, slot)
        if want is None:
            return
        have = self._ss_signature(signal_) or "y"
        if have != want:
            raise TypeError(
                f"cannot connect {self.object_id}.{signal_} (\"{have}\") to "
                f"{receiver.object_id}.{slot}, which takes \"{want}\"")

    def _ss_apart(self, receiver, what):
        """True if receiver and this object are in different processes
        (the seed: their loops' process differ) and can be connected
        through the registry; the seed's RuntimeError if they cannot."""
        if isinstance(receiver, RemoteObject):
            return True
        mine, theirs = self.event_loop.process, receiver.event_loop.process
        if mine == theirs:
            return False
        if receiver.event_loop._ss_loop.published:
            return True
        msg = (f"Cannot {what} {self.object_id} and {receiver.object_id}: "
               f"they live in different processes ({process_name(mine)} "
               f"and {process_name(theirs)}); connect before the processes "
               f"start, or publish the receiving loop (publish=True) to "
               f"connect at any time")
        log.error(msg)
        raise RuntimeError(msg)

    def _ss_connect_apart(self, signal_, receiver, slot, add):
        if _lives_here(receiver):
            # From another process to here: by function, with the
            # signal's signature.
            sig = self._ss_signature(signal_) or "y"
            if add:
                self._ss_check_types(signal_, receiver, slot)
                self._ss_connect(signal_, receiver, slot, sig)
            else:
                self._ss_disconnect(signal_, receiver, slot, sig)
        elif add:
            self._ss_connect_slot(signal_, receiver, slot)
        else:
            self._ss_disconnect_slot(signal_, receiver, slot)

    def connect(self, signal_, other, slot=None):
        """Connect signal_ to a slot: other is a bound method, or an object
        and the slot's name. As the seed, objects of different processes
        are connected before the processes start (RuntimeError after);
        beyond it, at any time when the receiving loop is published
        (publish=True), and to objects of other programs (RemoteObject),
        through the registry (the call waits for the other loop's answer,
        at most 5 s)."""
        receiver, slot = _slot_of(other, slot)
        if self._ss_apart(receiver, "connect"):
            self._ss_connect_apart(signal_, receiver, slot, True)
            self.send_signals_to.setdefault(signal_, set()).add(
                receiver.object_id)
            return
        self._ss_check_types(signal_, receiver, slot)
        mine = self.event_loop.objects.get(receiver.object_id)
        if mine is not None and mine is not receiver:
            raise ValueError(
                f"Object {receiver.object_id} on the emitter's loop is another "
                f"object than the receiver {receiver!r}")
        emitter = Emitter(self.object_id, signal_)
        prev = receiver.connections.get(emitter)
        if prev is not None and prev != slot:
            # One slot per (emitter, signal, receiver): the new one replaces.
            self._ss_disconnect(signal_, receiver, prev)
        self._ss_connect(signal_, receiver, slot)
        receiver.connections[emitter] = slot
        self.send_signals_to.setdefault(signal_, set()).add(receiver.object_id)
        loop = receiver.event_loop
        loop.receivers.setdefault(emitter, set()).add(receiver.object_id)
        if prev is None:
            rid = receiver.object_id
            self.receiver_queues[rid] = loop.signal_queue
            self.receiver_refcount[rid] = self.receiver_refcount.get(rid, 0) + 1
        self._ss_record(signal_, receiver, slot)

    def disconnect(self, signal_, other, slot=None):
        receiver, slot = _slot_of(other, slot)
        if self._ss_apart(receiver, "disconnect"):
            self._ss_connect_apart(signal_, receiver, slot, False)
            ids = self.send_signals_to.get(signal_)
            if ids is not None:
                ids.discard(receiver.object_id)
                if not ids:
                    del self.send_signals_to[signal_]
            return
        emitter = Emitter(self.object_id, signal_)
        # (The seed: one slot per emitter and receiver, whichever is named.)
        prev = receiver.connections.get(emitter)
        if prev is None or not self._ss_disconnect(signal_, receiver, prev):
            log.warning("%s.%s is not connected to %s.%s", self.object_id,
                        signal_, receiver.object_id, slot)
            return
        del receiver.connections[emitter]
        self._ss_record(signal_, receiver, None)
        ids = self.send_signals_to.get(signal_)
        if ids is not None:
            ids.discard(receiver.object_id)
            if not ids:
                del self.send_signals_to[signal_]
        rid = receiver.object_id
        ids = receiver.event_loop.receivers.get(emitter)
        if ids is not None:
            ids.discard(rid)
            if not ids:
                del receiver.event_loop.receivers[emitter]
        left = self.receiver_refcount.get(rid, 0) - 1
        if left > 0:
            self.receiver_refcount[rid] = left
        else:
            self.receiver_refcount.pop(rid, None)
            self.receiver_queues.pop(rid, None)

    def _ss_record(self, signal_, receiver, slot):
        """Keep the connection (slot None: its removal) on both ends, by
        loop and id, for a spawned child to make it again."""
        mine = (self.event_loop._ss_loop, self._ss_cid)
        theirs = (receiver.event_loop._ss_loop, receiver._ss_cid)
        out = self.__dict__.setdefault("_ss_out", [])
        out[:] = [c for c in out
                  if c[0] != signal_ or (c[1], c[2]) != theirs]
        inc = receiver.__dict__.setdefault("_ss_in", [])
        inc[:] = [c for c in inc if c[0] != signal_ or (c[1], c[2]) != mine]
        if slot is not None:
            sig = self._ss_signature(signal_)
            sig = "y" if sig is None else sig
            out.append((signal_, theirs[0], theirs[1], slot))
            inc.append((signal_, mine[0], mine[1], slot, sig))

    def register_broadcast(self, signal_, event_loop):
        self._ss_broadcast_on(signal_, event_loop._ss_loop)
        self.__dict__.setdefault("_ss_bcasts", []).append(
            (signal_, event_loop._ss_loop))
        # ...and on the loop, for a child whose graph holds the loop but
        # not the emitter (the seed keeps it as a connection to the loop).
        event_loop.__dict__.setdefault("_ss_in_bcasts", []).append(
            (signal_, self.event_loop._ss_loop, self._ss_cid))

    def subscribe(self, signal_, slot):
        name = slot.__name__ if callable(slot) else slot
        self._ss_subscribe(signal_, name)
        subs = self.__dict__.setdefault("_ss_subs", [])
        if (signal_, name) not in subs:
            subs.append((signal_, name))

    def unsubscribe(self, signal_, slot):
        name = slot.__name__ if callable(slot) else slot
        if not self._ss_unsubscribe(signal_, name):
            log.warning("%s is not subscribed to %s with %s", self.object_id,
                        signal_, name)
            return
        subs = self.__dict__.get("_ss_subs", [])
        if (signal_, name) in subs:
            subs.remove((signal_, name))

    def emit(self, signal_, *args):
        self._ss_emit(signal_, *args)

    def dropped(self, signal_):
        """Beyond the seed: how many emissions of signal_ from this object
        were dropped (full queue, ended receiver, too large)."""
        return self._ss_dropped(signal_)

    def emit_many(self, signal_, list_of_args):
        self._ss_emit_many(signal_, list_of_args)

    def detach(self):
        loop = self.__dict__.get("event_loop")
        if loop is not None:
            objs = loop.__dict__.get("objects")
            if objs is not None and objs.get(self.object_id) is self:
                del objs[self.object_id]
        self._ss_detach()
        self.event_loop = None
        cid = self.__dict__.get("_ss_cid")
        if cid is not None and _ids_by_cid.get(cid) == self.object_id:
            del _ids_by_cid[cid]

    def __del__(self):
        try:
            self.detach()
        except Exception:
            pass


class _QueueView:
    """What sample-factory reads of a loop's signal_queue: its size."""

    def __init__(self, loop):
        self._loop = loop

    def qsize(self):
        return self._loop.pending()[0]

    def empty(self):
        return self.qsize() == 0

    def data_size(self):
        return self._loop.pending()[1]


class EventLoop(EventLoopObject):
    """An event loop: runs the slots of the objects living on it."""

    def __init__(self, unique_loop_name, serial_mode=False, *,
                 queue_bytes=None, publish=False):
        # Beyond the seed: queue_bytes, the ring of the loop's queue
        # (default 5 MB as the seed's); publish, to name the loop in the
        # host's registry (signal_slot.open_loop() in other programs,
        # list_loops(), ss-ls): its name must then be unique there.
        self._ss_loop = _new_core_loop(unique_loop_name, publish,
                                       queue_bytes or 5_000_000)
        self._ss_running = 0
        self._should_terminate = False
        self.objects = {}
        self.owner = None
        self.process = None
        self.serial_mode = serial_mode
        self.signal_queue = _QueueView(self._ss_loop)
        self.timers = []
        self.receivers = {}
        self.verbose = False
        EventLoopObject.__init__(self, self, unique_loop_name)
        self._internal_terminate.connect(self._terminate)
        # The seed's 50 ms default timer, which only made its loop wake up
        # (for should_terminate, and for min(timers) not to fail): here it
        # exists, with its id, in objects and timers, but does not run.
        self.default_timer = Timer(self, 0.05,
                                   object_id=f"{self.object_id}_timer")
        self.default_timer._ss_timer_stop()
        self.default_timer._ss_idle = True

    def _ss_attach_self(self, event_loop):
        self._ss_attach_loop(self._ss_loop)

    def _ss_reattach(self):
        self._ss_attach_loop(self._ss_loop)

    @signal
    def start(self):
        pass

    @signal
    def terminate(self):
        pass

    @signal
    def _internal_terminate(self):
        pass

    @property
    def should_terminate(self):
        return self._should_terminate

    @should_terminate.setter
    def should_terminate(self, value):
        """(The seed's: set in a slot, the loop ends after this batch.)"""
        self._should_terminate = value
        if value and self._ss_running:
            self._ss_loop.stop()

    @property
    def curr_emitter(self):
        e = self._ss_loop.curr_emitter()
        if e is None:
            return self.__dict__.get("_ss_curr_emitter")
        return Emitter(_ids_by_cid.get(e[1], e[1]), e[2])

    @curr_emitter.setter
    def curr_emitter(self, value):
        self.__dict__["_ss_curr_emitter"] = value

    def broadcast(self, *args):
        """The seed's slot: the signal being delivered is handed again to
        the subscribers of its name on this loop."""
        emitter = self.curr_emitter
        if emitter is None:
            return
        name = emitter.signal_name
        done = self.__dict__.setdefault("_ss_rebroadcast", set())
        if name not in done:
            self._ss_broadcast_on(name, self._ss_loop)
            done.add(name)
        self._ss_emit(name, *args)

    def add_timer(self, t):
        if t not in self.timers:
            self.timers.append(t)

    def remove_timer(self, t):
        if t in self.timers:
            self.timers.remove(t)

    def exec(self) -> StatusCode:
        self._should_terminate = False
        self.start.emit()
        self._ss_running += 1
        try:
            status = self._ss_loop.run()
        except KeyboardInterrupt:
            # (Ctrl-C while a slot ran: the seed returns too.)
            status = EventLoopStatus.INTERRUPTED
        except Exception:
            log.warning("Unhandled exception in %s evt loop", self.object_id)
            raise
        finally:
            self._ss_running -= 1
        if status == EventLoopStatus.INTERRUPTED:
            log.info("Keyboard interrupt detected in the event loop %s, "
                     "exiting...", self)
            return EventLoopStatus.INTERRUPTED
        self._should_terminate = True
        self.terminate.emit()
        return EventLoopStatus.NORMAL_TERMINATION

    def process_events(self, timeout=0.05):
        """One iteration: wait up to timeout seconds (the seed: 50 ms) for
        signals, handle them (and the timers that are due)."""
        self._ss_loop.run_once(timeout)

    def dropped(self, signal_=None):
        """Beyond the seed: with a signal's name, as for any object; without,
        how many messages for this loop were dropped (its queue full)."""
        if signal_ is not None:
            return self._ss_dropped(signal_)
        return self._ss_loop.dropped()

    def fileno(self):
        """Beyond the seed: a descriptor that is readable while signals
        wait for this loop, to run it inside another event loop, e.g.
        asyncio: loop.add_reader(evt.fileno(), evt.process_events, 0)
        (and call process_events(0) again by next_timeout() for timers)."""
        return self._ss_loop.fd()

    def next_timeout(self):
        """Beyond the seed: seconds until the next timer of this loop is
        due (0 if one is due), or None if it has none."""
        return self._ss_loop.next_timeout()

    def stop(self):
        """Stop the loop once what was emitted to it before is handled
        (from any thread, or a process holding a copy of the loop)."""
        self._ss_loop.stop()

    def _terminate(self):
        self.stop()

    def __str__(self):
        return f"EvtLoop [{self.object_id}, process={process_name(self.process)}]"


class Timer(EventLoopObject):
    """Emits timeout every interval_sec (once if single_shot); starts at once."""

    def __init__(self, event_loop, interval_sec, single_shot=False,
                 object_id=None):
        object_id = f"Timer_{uuid.uuid4()}" if object_id is None else object_id
        self._interval_sec = interval_sec
        self._single_shot = bool(single_shot)
        self._next_timeout = time.time() + interval_sec
        EventLoopObject.__init__(self, event_loop, object_id)
        event_loop.add_timer(self)

    def _ss_attach_self(self, event_loop):
        self._ss_attach_timer(event_loop._ss_loop, _core_id(self.object_id),
                              float(self._interval_sec), self._single_shot)
        self._ss_timer_catch_up(True)  # the seed's: one late fire per turn

    def _ss_reattach(self):
        self._ss_attach_timer(self.event_loop._ss_loop,
                              self.__dict__.get("_ss_cid"),
                              float(self._interval_sec), self._single_shot)
        self._ss_timer_catch_up(True)
        if (self not in self.event_loop.timers
                or self.__dict__.get("_ss_idle")):
            self._ss_timer_stop()  # it was stopped in the parent

    @signal
    def timeout(self):
        pass

    def start(self):
        self.__dict__.pop("_ss_idle", None)
        self._next_timeout = time.time() + self._interval_sec
        if self.event_loop is not None:
            self.event_loop.add_timer(self)
        self._ss_timer_start()

    def stop(self):
        self._next_timeout = time.time() + 1e10
        if self.event_loop is not None:
            self.event_loop.remove_timer(self)
        self._ss_timer_stop()

    def set_interval(self, interval_sec):
        self._interval_sec = interval_sec
        if self._ss_timer_active():
            self._next_timeout = min(self._next_timeout,
                                     time.time() + interval_sec)
        self._ss_timer_set_interval(float(interval_sec))

    def next_timeout(self):
        """When it fires next (time.time()); far ahead if stopped."""
        if self.__dict__.get("_ss_cid") is not None and self._ss_attached:
            left = self._ss_timer_remaining()
            if left is None:
                return time.time() + 1e10
            return time.time() + left
        return self._next_timeout

    def remaining_time(self):
        return max(0.0, self.next_timeout() - time.time())

    def fire(self):
        self.timeout.emit()
        if self._single_shot:
            self.stop()
        else:
            self._next_timeout += self._interval_sec


class _CoreSignal(signal):
    """A signal whose C name differs from its attribute's (TightLoop's
    iteration is its timer's timeout)."""

    def __init__(self, function, core_name):
        super().__init__(function)
        self._core_name = core_name
        self._name = core_name


class TightLoop(Timer):
    """Emits iteration on every loop iteration."""

    def __init__(self, event_loop, object_id=None):
        # The seed's quirk, kept: object_id lands in single_shot.
        Timer.__init__(self, event_loop, 0.0, object_id)

    def _iteration(self):
        pass

    iteration = _CoreSignal(_iteration, "timeout")


def process_name(p):
    if p is None:
        return f"main process {multiprocessing.current_process().pid}"
    if isinstance(p, EventLoopProcess):
        return p.name
    raise RuntimeError(f"Unknown process type {type(p)}")


def process_pid(p):
    if p is None:
        return multiprocessing.current_process().pid
    if isinstance(p, EventLoopProcess):
        return p.pid
    raise RuntimeError(f"Unknown process type {type(p)}")


class EventLoopProcess(EventLoopObject):
    """A process with its own event loop (multiprocessing underneath)."""

    def __init__(self, unique_process_name, multiprocessing_context=None,
                 init_func=None, args=(), kwargs=None, daemon=None, *,
                 queue_bytes=None, publish=False):
        # Beyond the seed: publish names its loop in the host's registry,
        # which connecting to its objects after start needs (and other
        # programs' open_loop()); the loop's name must then be unique on
        # the host: f"{unique_process_name}_evt_loop".
        ctx = multiprocessing_context or multiprocessing.get_context()
        self._process = ctx.Process(target=self._target,
                                    name=unique_process_name, daemon=daemon)
        self._init_func = init_func
        self._args = tuple(args)
        self._kwargs = dict(kwargs) if kwargs else {}
        self._ended = False
        self._end_lock = threading.Lock()
        self.event_loop = EventLoop(f"{unique_process_name}_evt_loop",
                                    queue_bytes=queue_bytes, publish=publish)
        EventLoopObject.__init__(self, self.event_loop, unique_process_name)

    def set_init_func_args(self, args=(), kwargs=None):
        assert not self.is_alive()
        self._args = tuple(args)
        self._kwargs = dict(kwargs) if kwargs else {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_end_lock", None)
        return state

    def __setstate__(self, state):
        state["_end_lock"] = threading.Lock()
        super().__setstate__(state)

    def _target(self):
        global _this_process
        _this_process = self
        # No orphans: the child dies with the process that started it.
        _core.die_with_parent(self._parent_pid)
        if _restored:
            # spawn, forkserver: the graph came as a pickle.
            _restore_graph(self.event_loop, self._parent_pid)
        else:
            self.event_loop._ss_loop.adopt()
        if self._init_func:
            self._init_func(*self._args, **self._kwargs)
        self.event_loop.exec()

    def _watch(self):
        from multiprocessing.connection import wait
        try:
            wait([self._process.sentinel])
        except (ValueError, OSError):
            return  # closed meanwhile (close() saw the end)
        with self._end_lock:
            # (Reaping is not thread-safe in multiprocessing: every call
            # that may reap holds the lock.)
            if self.__dict__.get("_closed"):
                return
            self._process.join()
            self._mark_ended_locked()

    def _mark_ended_locked(self):
        if self._ended:
            return
        code = self._process.exitcode
        if code is None:
            return
        self._ended = True
        sig = 0
        if code < 0:
            code, sig = -1, -code
        self.event_loop._ss_loop.process_ended(code, sig)

    def start(self):
        self.event_loop.process = self
        self._parent_pid = os.getpid()
        self._process.start()
        self.event_loop._ss_loop.set_process(self._process.pid)
        threading.Thread(target=self._watch, daemon=True,
                         name=f"{self.name} watcher").start()

    def stop(self):
        self.event_loop.stop()

    def terminate(self):
        self._process.terminate()

    def kill(self):
        self._process.kill()

    def join(self, timeout=None):
        from multiprocessing.connection import wait
        if getattr(self._process, "_popen", None) is None:
            self._process.join(timeout)  # not started: its own error
        ended = wait([self._process.sentinel], timeout)  # (reaps nothing)
        with self._end_lock:
            # Its sentinel closes just before it can be reaped: once it has,
            # a blocking join is short.
            self._process.join(None if ended else 0)
            self._mark_ended_locked()

    def is_alive(self):
        with self._end_lock:
            return self._process.is_alive()

    def close(self):
        with self._end_lock:
            if self.__dict__.get("_closed"):
                return
            self._mark_ended_locked()
            self._process.close()  # (ValueError while it runs)
            self._closed = True

    @property
    def name(self):
        return self._process.name

    @property
    def daemon(self):
        return self._process.daemon

    @property
    def exitcode(self):
        with self._end_lock:
            return self._process.exitcode

    @property
    def ident(self):
        return self._process.ident

    @property
    def pid(self):
        return self._process.pid


# ---- beyond the seed: loops of other programs, through the registry ----

class RemoteLoop(_core.Object):
    """A handle on a loop that another program (C or Python) published
    (EventLoop(..., publish=True), ss_loop_options.publish), found by name
    in the host's registry. Connect its objects' signals and slots
    (object()), stop it, learn when it ends: its signal "ended" carries
    (exit_code, signal) and is emitted in this process."""

    def __init__(self, name, timeout=5.0):
        self._ss_loop = _core.open_loop(name, timeout)
        self._ss_attach_loop(self._ss_loop)
        self.object_id = name
        self._objects = {}

    @property
    def name(self):
        return self.object_id

    def object(self, object_id):
        """The handle on object object_id of this loop (made once)."""
        obj = self._objects.get(object_id)
        if obj is None:
            obj = RemoteObject(self, object_id)
            self._objects[object_id] = obj
        return obj

    def connect(self, signal_, other, slot=None):
        """Connect this loop's signal ("ended") to a slot in this process."""
        receiver, slot = _slot_of(other, slot)
        self._ss_connect(signal_, receiver, slot)

    def disconnect(self, signal_, other, slot=None):
        receiver, slot = _slot_of(other, slot)
        self._ss_disconnect(signal_, receiver, slot)

    def stop(self):
        """Ask the loop to stop (as EventLoop.stop() in its program)."""
        self._ss_loop.stop()

    def __repr__(self):
        return f"RemoteLoop({self.object_id!r})"


class RemoteObject(_core.Object):
    """An object of a loop of another program (RemoteLoop.object()): give
    it as the receiver of connect() (with a slot's name), or connect its
    signals to slots here. Whether it exists is checked when connecting."""

    def __init__(self, remote_loop, object_id):
        self._ss_open(remote_loop._ss_loop, object_id)
        self.event_loop = remote_loop
        self.object_id = object_id

    def connect(self, signal_, other, slot=None, signature=None):
        """Connect this object's signal_ to a slot: in this process (the
        signal's signature is the slot's @slot one, else signature, else
        "y": a signal of a Python program), or elsewhere (by name)."""
        receiver, slot = _slot_of(other, slot)
        if isinstance(receiver, RemoteObject):
            self._ss_connect_slot(signal_, receiver, slot)
            return
        sig = _slot_signature(receiver, slot) or signature or "y"
        self._ss_connect(signal_, receiver, slot, sig)

    def disconnect(self, signal_, other, slot=None, signature=None):
        receiver, slot = _slot_of(other, slot)
        if isinstance(receiver, RemoteObject):
            self._ss_disconnect_slot(signal_, receiver, slot)
            return
        sig = _slot_signature(receiver, slot) or signature or "y"
        self._ss_disconnect(signal_, receiver, slot, sig)

    def __repr__(self):
        return f"RemoteObject({self.event_loop.object_id!r}, {self.object_id!r})"


def open_loop(name, timeout=5.0):
    """Beyond the seed: a RemoteLoop on the loop name that a program of
    this host published, waiting at most timeout seconds for it to be
    (LookupError if it is not)."""
    return RemoteLoop(name, timeout)


def list_loops():
    """Beyond the seed: the loops of the host's registry (what ss-ls
    prints), one dict each: name, state, pid, counters, busiest signals."""
    return _core.list_loops()
