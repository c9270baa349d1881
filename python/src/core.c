/*
 * core.c - signal_slot._core: loops, objects, emission and dispatch for
 * the Python package, on the C runtime (docs/python.md).
 *
 * Loop wraps an ss_loop; Object is the base type of EventLoopObject: it
 * embeds the ss_object (or, for an EventLoop, stands for the loop's own
 * object), has a __dict__ and may be subclassed, with multiple
 * inheritance. Every connection is an ss_connect_data() to one C
 * trampoline whose user data is the slot's name (an interned str): the
 * slot is looked up on the receiver when it is called, as the seed does.
 *
 * The GIL: emission keeps it (it takes the tables' lock for reading
 * only); calls that take the tables' lock for writing, or wait, release
 * it; the loop's thread takes it once per run of slot calls (dispatch
 * hooks); destroy callbacks take it themselves.
 */
#include "core.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 48 /* nested runs of one loop (process_events in slots) */

static PyObject *g_error;          /* signal_slot._core.Error */
static PyObject *g_on_slot_error;  /* callable(receiver, slot, sender, args, exc) */
static PyObject *g_on_slot_missing; /* callable(receiver, slot, why) */
static PyObject *g_on_drop;        /* callable(emitter, signal, rc, dropped) */
static unsigned long g_main_ident; /* the thread that imported the module */

/* The exception being raised, taken (normalised, with its traceback). */
static PyObject *exc_take(void)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb && v)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
}

/* Raise exc again (a reference taken). */
static void exc_restore(PyObject *v)
{
    PyObject *tb = PyException_GetTraceback(v);
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(v)), v, tb);
}

static PyObject *raise_rc(int rc, const char *what)
{
    PyObject *e = Py_BuildValue("(is)", rc, ss_strerror(rc));
    if (e) {
        PyObject *msg = PyUnicode_FromFormat("%s: %s (%s)", what,
                                             ss_strerror(rc), ss_errname(rc));
        if (msg) {
            PyObject *args = Py_BuildValue("(Ni)", msg, rc);
            if (args) {
                PyErr_SetObject(g_error, args);
                Py_DECREF(args);
            }
        }
        Py_DECREF(e);
    }
    return NULL;
}

static bool finalizing(void)
{
    return _Py_IsFinalizing();
}

/* ------------------------------------------------------------------------ */
/* Loop                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct LoopObj {
    PyObject_HEAD
    ss_loop *loop;
    PyObject *self_py; /* borrowed: the Object standing for the loop's own */
    PyObject *exc;     /* what a slot raised, for the run to raise */
    int depth;         /* nested runs in progress (the loop's thread) */
    PyGILState_STATE gs[MAX_DEPTH];
    unsigned char skip[MAX_DEPTH]; /* a slot raised: skip this run's rest */
    const ss_args *cur;            /* the signal being delivered */
    PyObject *weakreflist;
    int published; /* created with publish=True, or attached by name */
} LoopObj;

static PyTypeObject Loop_Type;
static int py_resolver(ss_object *o, const char *slot, void *ud);

static void hook_begin(ss_loop *l, void *ud)
{
    (void)l;
    LoopObj *lo = ud;
    PyGILState_STATE g = PyGILState_Ensure();
    if (lo->depth < MAX_DEPTH) {
        lo->gs[lo->depth] = g;
        lo->skip[lo->depth] = 0;
    }
    lo->depth++;
}

static void hook_end(ss_loop *l, void *ud)
{
    (void)l;
    LoopObj *lo = ud;
    lo->depth--;
    PyGILState_STATE g = lo->depth < MAX_DEPTH ? lo->gs[lo->depth]
                                               : PyGILState_LOCKED;
    PyGILState_Release(g);
}

/* self stands for l from now on: the hooks that take the GIL around its
 * runs, slots by name made on demand (methods); for a handle on another
 * process's loop (nothing runs here), only the link. */
static void loop_wrap(LoopObj *self, ss_loop *l)
{
    self->loop = l;
    ss_loop_set_data(l, self);
    if (ss_loop_is_remote(l))
        return;
    ss_loop_set_dispatch_hooks(l, hook_begin, hook_end, self);
    ss_loop_set_slot_resolver(l, py_resolver, NULL);
}

static int Loop_init(LoopObj *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"name", "publish", "queue_bytes", NULL};
    const char *name;
    int publish = 0;
    Py_ssize_t qbytes = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|pn", kwlist, &name,
                                     &publish, &qbytes))
        return -1;
    if (self->loop) {
        PyErr_SetString(PyExc_RuntimeError, "Loop already initialised");
        return -1;
    }
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = publish;
    self->published = publish;
    o.queue_capacity = qbytes > 0 ? (size_t)qbytes : 0;
    ss_loop *l = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_loop_new(&l, name, &o);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        raise_rc(rc, "cannot create the loop");
        return -1;
    }
    loop_wrap(self, l);
    return 0;
}

static void Loop_dealloc(LoopObj *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->loop) {
        ss_loop *l = self->loop;
        self->loop = NULL;
        ss_loop_set_data(l, NULL);
        ss_loop_set_dispatch_hooks(l, NULL, NULL, NULL);
        Py_BEGIN_ALLOW_THREADS
        ss_loop_free(l);
        Py_END_ALLOW_THREADS
    }
    Py_CLEAR(self->exc);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Loop_traverse(LoopObj *self, visitproc visit, void *arg)
{
    Py_VISIT(self->exc);
    return 0;
}

static int Loop_clear(LoopObj *self)
{
    Py_CLEAR(self->exc);
    return 0;
}

static int check_loop(LoopObj *self)
{
    if (!self->loop) {
        PyErr_SetString(PyExc_ValueError, "the loop is not initialised");
        return -1;
    }
    return 0;
}

/* After a run: raise what a slot raised in it, if anything. */
static int take_exc(LoopObj *self)
{
    if (!self->exc)
        return 0;
    PyObject *e = self->exc;
    self->exc = NULL;
    if (!PyExceptionInstance_Check(e)) {
        Py_DECREF(e);
        PyErr_SetString(PyExc_RuntimeError, "a slot failed");
        return -1;
    }
    exc_restore(e);
    return -1;
}

static int64_t timeout_ns(PyObject *t)
{
    if (t == Py_None)
        return SS_WAIT_FOREVER;
    double s = PyFloat_AsDouble(t);
    if (s == -1.0 && PyErr_Occurred())
        return INT64_MIN;
    if (s <= 0)
        return SS_NO_WAIT;
    if (s > 1e9)
        return SS_WAIT_FOREVER;
    return (int64_t)(s * 1e9);
}

/* run_once(timeout=None): one iteration, waiting at most timeout seconds
 * for work (None: until there is some). The GIL is released meanwhile. */
static PyObject *Loop_run_once(LoopObj *self, PyObject *args)
{
    PyObject *t = Py_None;
    if (!PyArg_ParseTuple(args, "|O", &t) || check_loop(self) < 0)
        return NULL;
    int64_t ns = timeout_ns(t);
    if (ns == INT64_MIN)
        return NULL;
    if (self->depth >= MAX_DEPTH - 1) {
        PyErr_SetString(PyExc_RecursionError,
                        "signal_slot: loop runs nested too deep");
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_loop_run_once(self->loop, ns);
    Py_END_ALLOW_THREADS
    if (take_exc(self) < 0)
        return NULL;
    if (rc < 0)
        return raise_rc(rc, "loop iteration");
    return PyBool_FromLong(ss_loop_stopped(self->loop));
}

/* run(): iterations until a stop is handled. Returns 0, or 1 if
 * KeyboardInterrupt arrived (the seed's EventLoopStatus). On the main
 * thread the wait is cut every 100 ms for Python's signal handlers. */
static PyObject *Loop_run(LoopObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_loop(self) < 0)
        return NULL;
    ss_loop_clear_stop(self->loop);
    int main_thread = PyThread_get_thread_ident() == g_main_ident;
    for (;;) {
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = ss_loop_run_once(self->loop,
                              main_thread ? SS_MSEC(100) : SS_WAIT_FOREVER);
        Py_END_ALLOW_THREADS
        if (take_exc(self) < 0)
            return NULL;
        if (rc < 0)
            return raise_rc(rc, "loop iteration");
        if (ss_loop_stopped(self->loop))
            return PyLong_FromLong(0);
        if (PyErr_CheckSignals() < 0) {
            if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
                PyErr_Clear();
                return PyLong_FromLong(1);
            }
            return NULL;
        }
    }
}

static PyObject *Loop_stop(LoopObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_loop(self) < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_loop_stop(self->loop);
    Py_END_ALLOW_THREADS
    if (rc != 0 && rc != SS_ECLOSED)
        return raise_rc(rc, "stop");
    Py_RETURN_NONE;
}

static PyObject *Loop_pending(LoopObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_loop(self) < 0)
        return NULL;
    size_t m = 0, b = 0;
    ss_loop_pending(self->loop, &m, &b);
    return Py_BuildValue("(nn)", (Py_ssize_t)m, (Py_ssize_t)b);
}

static PyObject *Loop_dropped(LoopObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_loop(self) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(ss_loop_dropped(self->loop));
}

static PyObject *Loop_adopt(LoopObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_loop(self) < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_loop_adopt(self->loop);
    Py_END_ALLOW_THREADS
    if (rc != 0)
        return raise_rc(rc, "adopt");
    Py_RETURN_NONE;
}

static PyObject *Loop_set_process(LoopObj *self, PyObject *arg)
{
    long pid = PyLong_AsLong(arg);
    if ((pid == -1 && PyErr_Occurred()) || check_loop(self) < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_loop_set_process(self->loop, (pid_t)pid);
    Py_END_ALLOW_THREADS
    if (rc != 0)
        return raise_rc(rc, "set_process");
    Py_RETURN_NONE;
}

static PyObject *Loop_process_ended(LoopObj *self, PyObject *args)
{
    int code, sig;
    if (!PyArg_ParseTuple(args, "ii", &code, &sig) || check_loop(self) < 0)
        return NULL;
    uint64_t n;
    Py_BEGIN_ALLOW_THREADS
    n = ss_loop_process_ended(self->loop, code, sig);
    Py_END_ALLOW_THREADS
    return PyLong_FromUnsignedLongLong(n);
}

/* curr_emitter(): (loop, object id, signal) of the signal being
 * delivered on this loop, or None. */
static PyObject *Loop_curr_emitter(LoopObj *self, PyObject *noargs)
{
    (void)noargs;
    if (!self->cur)
        Py_RETURN_NONE;
    const char *l, *o, *s;
    ss_args_sender(self->cur, &l, &o, &s);
    return Py_BuildValue("(sss)", l ? l : "", o ? o : "", s ? s : "");
}

/* fd() -> a descriptor readable when the loop has messages (ss_loop_fd). */
static PyObject *Loop_fd(LoopObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_loop(self) < 0)
        return NULL;
    int fd = ss_loop_fd(self->loop);
    if (fd < 0)
        return raise_rc(fd, "fd");
    return PyLong_FromLong(fd);
}

/* next_timeout() -> seconds until the next timer is due, or None. */
static PyObject *Loop_next_timeout(LoopObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_loop(self) < 0)
        return NULL;
    int64_t ns = ss_loop_next_timeout(self->loop);
    if (ns < 0 || ns > (int64_t)1e18)
        Py_RETURN_NONE;
    return PyFloat_FromDouble((double)ns / 1e9);
}

static PyObject *Loop_queue_fd(LoopObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_loop(self) < 0)
        return NULL;
    int fd = ss_queue_fd(ss_loop_queue(self->loop));
    if (fd < 0)
        return raise_rc(fd, "queue_fd");
    return PyLong_FromLong(fd);
}

static PyObject *Loop_get_published(LoopObj *self, void *c)
{
    (void)c;
    return PyBool_FromLong(self->published);
}

static PyObject *Loop_get_name(LoopObj *self, void *c)
{
    (void)c;
    if (check_loop(self) < 0)
        return NULL;
    return PyUnicode_FromString(ss_loop_name(self->loop));
}

static PyMethodDef Loop_methods[] = {
    {"run_once", (PyCFunction)Loop_run_once, METH_VARARGS,
     "run_once(timeout=None) -> bool: one iteration; whether a stop was "
     "handled."},
    {"run", (PyCFunction)Loop_run, METH_NOARGS,
     "run() -> int: iterate until stopped (0) or interrupted (1)."},
    {"stop", (PyCFunction)Loop_stop, METH_NOARGS,
     "stop(): queue a stop; what was queued before is handled first."},
    {"pending", (PyCFunction)Loop_pending, METH_NOARGS,
     "pending() -> (messages, bytes) waiting in the loop's queue."},
    {"dropped", (PyCFunction)Loop_dropped, METH_NOARGS,
     "dropped() -> messages for this loop dropped, as this process counts."},
    {"adopt", (PyCFunction)Loop_adopt, METH_NOARGS,
     "adopt(): this process runs the loop from now on (a child)."},
    {"set_process", (PyCFunction)Loop_set_process, METH_O,
     "set_process(pid): the loop runs in process pid from now on."},
    {"process_ended", (PyCFunction)Loop_process_ended, METH_VARARGS,
     "process_ended(code, sig) -> dropped: its process has ended."},
    {"fd", (PyCFunction)Loop_fd, METH_NOARGS,
     "fd() -> a descriptor readable while the loop has messages."},
    {"next_timeout", (PyCFunction)Loop_next_timeout, METH_NOARGS,
     "next_timeout() -> seconds until the next timer, or None."},
    {"queue_fd", (PyCFunction)Loop_queue_fd, METH_NOARGS,
     "queue_fd() -> the descriptor of the loop's queue (owned by it)."},
    {"curr_emitter", (PyCFunction)Loop_curr_emitter, METH_NOARGS,
     "curr_emitter() -> (loop, object_id, signal) or None."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Loop_getset[] = {
    {"name", (getter)Loop_get_name, NULL, "the loop's name", NULL},
    {"published", (getter)Loop_get_published, NULL,
     "whether the loop is named in the registry", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Loop_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "signal_slot._core.Loop",
    .tp_basicsize = sizeof(LoopObj),
    .tp_dealloc = (destructor)Loop_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Loop(name, publish=False, queue_bytes=0): an ss_loop.",
    .tp_traverse = (traverseproc)Loop_traverse,
    .tp_clear = (inquiry)Loop_clear,
    .tp_weaklistoffset = offsetof(LoopObj, weakreflist),
    .tp_methods = Loop_methods,
    .tp_getset = Loop_getset,
    .tp_init = (initproc)Loop_init,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------------ */
/* Object                                                                   */
/* ------------------------------------------------------------------------ */

/* K_HANDLE: a handle on an object of another process's loop
 * (ss_object_open()): it emits nothing here, but connects. */
enum { K_NONE = 0, K_OBJECT, K_TIMER, K_LOOP, K_HANDLE };

typedef struct ObjObj {
    PyObject_HEAD
    PyObject *dict;
    PyObject *weakreflist;
    ss_object *obj; /* &t.object, or the loop's own object; NULL: detached */
    PyObject *loop; /* LoopObj, while attached */
    int kind;
    int dying;
    PyObject *known; /* the signal name emitted last (declared) */
    char known_sig[SS_SIGNATURE_MAX_LEN + 1]; /* its signature */
    ss_timer t;
} ObjObj;

static PyTypeObject Obj_Type;

static ObjObj *obj_of(ss_object *o)
{
    ss_loop *l = ss_object_loop(o);
    if (!l)
        return NULL;
    if (o == ss_loop_object(l)) {
        LoopObj *lo = ss_loop_get_data(l);
        return lo ? (ObjObj *)lo->self_py : NULL;
    }
    if (ss_loop_is_remote(l))
        return NULL; /* a handle (K_HANDLE): called on nowhere here */
    return (ObjObj *)((char *)o - offsetof(ObjObj, t));
}

/* A slot's name, interned: the user data of its connections. */
static void name_release(void *p)
{
    if (finalizing())
        return;
    PyGILState_STATE g = PyGILState_Ensure();
    Py_DECREF((PyObject *)p);
    PyGILState_Release(g);
}

static void report_missing(PyObject *recv, PyObject *slot, const char *why)
{
    if (!g_on_slot_missing)
        return;
    PyObject *r = PyObject_CallFunction(g_on_slot_missing, "OOs", recv, slot,
                                        why);
    if (!r)
        PyErr_WriteUnraisable(g_on_slot_missing);
    Py_XDECREF(r);
}

/* The one slot function: call the receiver's method named ud. */
static void trampoline(ss_object *recv, const ss_args *args, void *ud)
{
    ss_loop *l = ss_object_loop(recv);
    LoopObj *lo = l ? ss_loop_get_data(l) : NULL;
    if (!lo)
        return;
    int d = lo->depth - 1;
    if (d >= 0 && d < MAX_DEPTH && lo->skip[d])
        return; /* a slot of this run raised: the rest is not handled */
    ObjObj *self = obj_of(recv);
    if (!self || self->dying)
        return;
    PyObject *name = ud;
    Py_INCREF(self);
    PyObject *slot = PyObject_GetAttr((PyObject *)self, name);
    if (!slot) {
        PyErr_Clear();
        report_missing((PyObject *)self, name, "no such slot");
        Py_DECREF(self);
        return;
    }
    if (!PyCallable_Check(slot)) {
        report_missing((PyObject *)self, name, "not callable");
        Py_DECREF(slot);
        Py_DECREF(self);
        return;
    }
    const char *sig = ss_args_signature(args);
    PyObject *pargs;
    if (sig[0] == 0) {
        pargs = PyTuple_New(0);
    } else if (sig[0] == 'y' && sig[1] == 0) {
        const void *data;
        size_t len;
        pargs = ss_args_unpack(args, "y", &data, &len) == 0
                    ? codec_get_args(data, len)
                    : NULL;
        if (!pargs && !PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "unreadable payload");
    } else {
        pargs = codec_from_typed(args);
    }
    PyObject *res = NULL;
    const ss_args *outer = lo->cur;
    if (pargs) {
        lo->cur = args;
        res = PyObject_Call(slot, pargs, NULL);
        lo->cur = outer;
    }
    if (!res) {
        PyObject *exc = exc_take();
        if (!exc)
            exc = Py_NewRef(Py_None);
        if (g_on_slot_error) {
            const char *sl, *so, *ss;
            ss_args_sender(args, &sl, &so, &ss);
            PyObject *r = PyObject_CallFunction(
                g_on_slot_error, "OO(sss)OO", self, name, sl ? sl : "",
                so ? so : "", ss ? ss : "", pargs ? pargs : Py_None, exc);
            if (!r)
                PyErr_WriteUnraisable(g_on_slot_error);
            Py_XDECREF(r);
        }
        if (!lo->exc)
            lo->exc = exc;
        else
            Py_DECREF(exc);
        if (d >= 0 && d < MAX_DEPTH)
            lo->skip[d] = 1;
    }
    Py_XDECREF(res);
    Py_XDECREF(pargs);
    Py_DECREF(slot);
    Py_DECREF(self);
}

/* The slot resolver of every loop of this package: a slot asked by name
 * (a connection made after a process started, or by another program) is
 * the receiver's attribute of that name, if callable; it takes the
 * signature its @slot("...") declares, else any (SS_SIGNATURE_ANY). */
static int py_resolver(ss_object *o, const char *slot, void *ud)
{
    (void)ud;
    if (finalizing())
        return SS_ENOENT;
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = SS_ENOENT;
    ObjObj *self = obj_of(o);
    /* (Not the interpreter's own methods: __init__, __del__...) */
    if (self && !self->dying && self->obj == o && strncmp(slot, "__", 2)) {
        Py_INCREF(self);
        PyObject *m = PyObject_GetAttrString((PyObject *)self, slot);
        if (m && PyCallable_Check(m)) {
            PyObject *decl = PyObject_GetAttrString(m, "_ss_signature");
            if (!decl)
                PyErr_Clear();
            const char *sig = decl && PyUnicode_Check(decl)
                                  ? PyUnicode_AsUTF8(decl)
                                  : SS_SIGNATURE_ANY;
            PyObject *name = PyUnicode_FromString(slot);
            if (sig && name) {
                PyUnicode_InternInPlace(&name);
                /* (name's reference goes to the slot: name_release) */
                Py_BEGIN_ALLOW_THREADS
                rc = ss_slot_add_data(o, slot, trampoline, sig, name,
                                      name_release);
                Py_END_ALLOW_THREADS
            } else {
                Py_XDECREF(name);
            }
            Py_XDECREF(decl);
        }
        if (PyErr_Occurred())
            PyErr_Clear();
        Py_XDECREF(m);
        Py_DECREF(self);
    }
    PyGILState_Release(g);
    return rc;
}

static int Obj_traverse(ObjObj *self, visitproc visit, void *arg)
{
    Py_VISIT(self->dict);
    Py_VISIT(self->loop);
    return 0;
}

/* Leave the loop: the object's connections go, its pending signals are
 * dropped. GIL released (a slot of it running on the loop's thread is
 * waited for). */
static void obj_detach(ObjObj *self)
{
    if (!self->obj)
        return;
    ss_object *o = self->obj;
    int kind = self->kind;
    self->obj = NULL;
    self->kind = K_NONE;
    if (kind == K_LOOP) {
        LoopObj *lo = (LoopObj *)self->loop;
        if (lo && lo->self_py == (PyObject *)self)
            lo->self_py = NULL;
    } else {
        Py_BEGIN_ALLOW_THREADS
        if (kind == K_TIMER)
            ss_timer_destroy((ss_timer *)o);
        else if (kind == K_HANDLE)
            ss_object_free(o);
        else
            ss_object_destroy(o);
        Py_END_ALLOW_THREADS
    }
}

static int Obj_clear(ObjObj *self)
{
    Py_CLEAR(self->dict);
    return 0;
}

static void Obj_dealloc(ObjObj *self)
{
    PyObject_GC_UnTrack(self);
    self->dying = 1;
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    obj_detach(self);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->dict);
    Py_CLEAR(self->known);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static LoopObj *as_loop(PyObject *o)
{
    if (!PyObject_TypeCheck(o, &Loop_Type)) {
        PyErr_SetString(PyExc_TypeError, "expected a signal_slot._core.Loop");
        return NULL;
    }
    if (check_loop((LoopObj *)o) < 0)
        return NULL;
    return (LoopObj *)o;
}

static int check_attached(ObjObj *self)
{
    if (!self->obj) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the object is not on a loop (detached)");
        return -1;
    }
    return 0;
}

/* Place the object on loop lp with id (NULL: one the core makes): as a
 * plain object, or as a timer of interval_ns (kind K_TIMER). */
static PyObject *attach_(ObjObj *self, PyObject *lp, const char *id,
                         int kind, int64_t interval_ns, int single)
{
    LoopObj *lo = as_loop(lp);
    if (!lo)
        return NULL;
    if (self->obj) {
        PyErr_SetString(PyExc_RuntimeError, "the object is on a loop already");
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = kind == K_TIMER
             ? ss_timer_init(&self->t, lo->loop, interval_ns, single, id)
             : ss_object_init(&self->t.object, lo->loop, id);
    Py_END_ALLOW_THREADS
    if (rc == SS_EEXIST) {
        PyErr_Format(PyExc_ValueError, "object id %s is taken on loop %s",
                     id ? id : "?", ss_loop_name(lo->loop));
        return NULL;
    }
    if (rc != 0)
        return raise_rc(rc, kind == K_TIMER ? "timer" : "object");
    self->obj = &self->t.object;
    self->kind = kind;
    Py_INCREF(lp);
    Py_XSETREF(self->loop, lp);
    Py_RETURN_NONE;
}

/* _ss_attach(loop, object_id): place the object on loop. */
static PyObject *Obj_attach(ObjObj *self, PyObject *args)
{
    PyObject *lp;
    const char *id;
    if (!PyArg_ParseTuple(args, "Oz", &lp, &id))
        return NULL;
    return attach_(self, lp, id, K_OBJECT, 0, 0);
}

/* _ss_attach_loop(loop): stand for the loop's own object. */
static PyObject *Obj_attach_loop(ObjObj *self, PyObject *lp)
{
    LoopObj *lo = as_loop(lp);
    if (!lo)
        return NULL;
    if (self->obj || lo->self_py) {
        PyErr_SetString(PyExc_RuntimeError, "attached already");
        return NULL;
    }
    self->obj = ss_loop_object(lo->loop);
    self->kind = K_LOOP;
    lo->self_py = (PyObject *)self;
    Py_INCREF(lp);
    Py_XSETREF(self->loop, lp);
    Py_RETURN_NONE;
}

/* _ss_attach_timer(loop, object_id, interval_s, single_shot). */
static PyObject *Obj_attach_timer(ObjObj *self, PyObject *args)
{
    PyObject *lp;
    const char *id;
    double interval;
    int single;
    if (!PyArg_ParseTuple(args, "Ozdp", &lp, &id, &interval, &single))
        return NULL;
    if (!(interval >= 0)) {
        PyErr_SetString(PyExc_ValueError, "negative interval");
        return NULL;
    }
    int64_t ns = interval > 9e9 ? INT64_MAX : (int64_t)(interval * 1e9);
    return attach_(self, lp, id, K_TIMER, ns, single);
}

static PyObject *Obj_detach(ObjObj *self, PyObject *noargs)
{
    (void)noargs;
    Py_CLEAR(self->known);
    obj_detach(self);
    Py_CLEAR(self->loop);
    Py_RETURN_NONE;
}

static int check_timer(ObjObj *self)
{
    if (self->kind != K_TIMER) {
        PyErr_SetString(PyExc_RuntimeError, "not an attached timer");
        return -1;
    }
    return 0;
}

static PyObject *Obj_timer_start(ObjObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_timer(self) < 0)
        return NULL;
    ss_timer_start(&self->t);
    Py_RETURN_NONE;
}

static PyObject *Obj_timer_stop(ObjObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_timer(self) < 0)
        return NULL;
    ss_timer_stop(&self->t);
    Py_RETURN_NONE;
}

static PyObject *Obj_timer_set_interval(ObjObj *self, PyObject *arg)
{
    double s = PyFloat_AsDouble(arg);
    if ((s == -1.0 && PyErr_Occurred()) || check_timer(self) < 0)
        return NULL;
    if (!(s >= 0)) {
        PyErr_SetString(PyExc_ValueError, "negative interval");
        return NULL;
    }
    ss_timer_set_interval(&self->t, s > 9e9 ? INT64_MAX : (int64_t)(s * 1e9));
    Py_RETURN_NONE;
}

static PyObject *Obj_timer_active(ObjObj *self, PyObject *noargs)
{
    (void)noargs;
    return PyBool_FromLong(self->kind == K_TIMER && self->t.active_);
}

/* _ss_timer_remaining() -> seconds until the timer fires (<= 0: due), or
 * None if it is stopped. */
static PyObject *Obj_timer_remaining(ObjObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_timer(self) < 0)
        return NULL;
    int64_t d = ss_timer_deadline(&self->t);
    if (d < 0)
        Py_RETURN_NONE;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    return PyFloat_FromDouble((double)(d - now) / 1e9);
}

/* _ss_timer_catch_up(bool): fire missed deadlines one per iteration. */
static PyObject *Obj_timer_catch_up(ObjObj *self, PyObject *arg)
{
    if (check_timer(self) < 0)
        return NULL;
    int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
    ss_timer_set_catch_up(&self->t, on);
    Py_RETURN_NONE;
}

/* ---- signals ---- */

/* Declare signal name on the object (untyped: "y") unless it is. */
static int declare(ss_object *o, const char *name)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_signal_add(o, name, "y");
    Py_END_ALLOW_THREADS
    if (rc != 0 && rc != SS_EEXIST) {
        raise_rc(rc, "signal");
        return -1;
    }
    return 0;
}

static _Thread_local wbuf tl_wb;

/* Encode each arguments tuple of items[0..n) as a "y" payload (u32
 * length, then the Python value format) into tl_wb; offs[i] is where
 * payload i starts. */
static int encode_all(PyObject *const *items, Py_ssize_t n, size_t *offs)
{
    wbuf *w = &tl_wb;
    w->len = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *a = items[i];
        offs[i] = w->len;
        if (wb_reserve(w, 4) < 0)
            return -1;
        w->len += 4;
        int rc;
        if (PyTuple_CheckExact(a)) {
            rc = codec_put(w, a, 0);
        } else {
            /* emit_many takes any iterable of argument sequences. */
            PyObject *t = PySequence_Tuple(a);
            if (!t)
                return -1;
            rc = codec_put(w, t, 0);
            Py_DECREF(t);
        }
        if (rc < 0)
            return -1;
        size_t len = w->len - offs[i] - 4;
        if (len > UINT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "payload over 4 GiB");
            return -1;
        }
        unsigned char *p = w->buf + offs[i];
        p[0] = (unsigned char)len;
        p[1] = (unsigned char)(len >> 8);
        p[2] = (unsigned char)(len >> 16);
        p[3] = (unsigned char)(len >> 24);
    }
    return 0;
}

static _Thread_local ss_writer tl_w;
static _Thread_local bool tl_w_init;

/* Encode each arguments sequence of items[0..n) as a payload of the typed
 * signature sig into tl_wb (as encode_all()). */
static int encode_typed(PyObject *const *items, Py_ssize_t n, const char *sig,
                        size_t *offs)
{
    wbuf *w = &tl_wb;
    w->len = 0;
    if (!tl_w_init) {
        ss_writer_init(&tl_w, NULL, 0);
        tl_w_init = true;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        offs[i] = w->len;
        ss_writer_reset(&tl_w);
        if (codec_put_typed(&tl_w, sig, items[i]) < 0)
            return -1;
        const void *data;
        size_t len;
        int rc = ss_writer_data(&tl_w, &data, &len);
        if (rc != 0) {
            raise_rc(rc, "encode");
            return -1;
        }
        if (wb_reserve(w, len) < 0)
            return -1;
        if (len)
            memcpy(w->buf + w->len, data, len);
        w->len += len;
    }
    if (ss_writer_allocated(&tl_w) && n > 0 && w->len > ((size_t)4 << 20))
        ss_writer_free(&tl_w);
    return 0;
}

static void report_drop(ObjObj *self, const char *signal, int rc)
{
    if (!g_on_drop)
        return;
    uint64_t d = ss_signal_dropped(self->obj, signal);
    PyObject *r = PyObject_CallFunction(g_on_drop, "OsiK", self, signal, rc,
                                        (unsigned long long)d);
    if (!r)
        PyErr_WriteUnraisable(g_on_drop);
    Py_XDECREF(r);
}

/* Whether signal of self reaches anyone, as the Python side records it
 * (send_signals_to, broadcasts): asked on the error path only. Keeps the
 * pending exception. */
static int seed_has_receivers(ObjObj *self, PyObject *sigobj)
{
    PyObject *exc = exc_take();
    int yes = 1;
    PyObject *d = PyObject_GetAttrString((PyObject *)self, "send_signals_to");
    if (d && PyDict_Check(d)) {
        PyObject *ids = PyDict_GetItemWithError(d, sigobj);
        yes = ids && PyObject_IsTrue(ids) == 1;
    }
    Py_XDECREF(d);
    PyObject *b = yes ? NULL
                      : PyObject_GetAttrString((PyObject *)self, "_ss_bcasts");
    if (b && PyList_Check(b)) {
        for (Py_ssize_t i = 0; !yes && i < PyList_GET_SIZE(b); i++) {
            PyObject *t = PyList_GET_ITEM(b, i);
            yes = PyTuple_Check(t) && PyTuple_GET_SIZE(t) > 0 &&
                  PyObject_RichCompareBool(PyTuple_GET_ITEM(t, 0), sigobj,
                                           Py_EQ) == 1;
        }
    }
    Py_XDECREF(b);
    PyErr_Clear();
    if (exc)
        exc_restore(exc);
    return yes;
}

/* Emit the n argument tuples of items on signal. Never raises for a full
 * queue, a dead or too small receiver: those are counted drops. */
static PyObject *emit_items(ObjObj *self, PyObject *sigobj,
                            PyObject *const *items, Py_ssize_t n)
{
    if (!self->obj)
        Py_RETURN_NONE; /* detached: connected to nothing any more */
    const char *signal = PyUnicode_AsUTF8(sigobj);
    if (!signal)
        return NULL;
    if (n == 0)
        Py_RETURN_NONE;
    size_t offs_local[16];
    size_t *offs = n <= 16 ? offs_local : PyMem_Malloc(n * sizeof *offs);
    ss_msg msgs_local[16];
    ss_msg *msgs = n <= 16 ? msgs_local : PyMem_Malloc(n * sizeof *msgs);
    PyObject *ret = NULL;
    if (!offs || !msgs) {
        PyErr_NoMemory();
        goto out;
    }
    /* A signal is a name, declared on first use (the seed's), untyped;
     * a typed one (@signal("xs"), a C program's) was declared before. */
    if (sigobj != self->known) {
        char sig[SS_SIGNATURE_MAX_LEN + 1];
        int src = ss_signal_signature(self->obj, signal, sig);
        if (src == SS_ENOENT) {
            if (declare(self->obj, signal) < 0)
                goto out;
            strcpy(sig, "y");
        } else if (src != 0) {
            raise_rc(src, "emit");
            goto out;
        }
        Py_XSETREF(self->known, Py_NewRef(sigobj));
        memcpy(self->known_sig, sig, strlen(sig) + 1);
    }
    if ((strcmp(self->known_sig, "y") == 0
             ? encode_all(items, n, offs)
             : encode_typed(items, n, self->known_sig, offs)) < 0) {
        if (strcmp(self->known_sig, "y") == 0 &&
            !seed_has_receivers(self, sigobj)) {
            /* The seed pickles nothing for a signal nobody receives (a
             * typed signal's values are checked whoever receives). */
            PyErr_Clear();
            ret = Py_NewRef(Py_None);
            goto out;
        }
        if (PyErr_ExceptionMatches(PyExc_TypeError) ||
            PyErr_ExceptionMatches(PyExc_ValueError) ||
            PyErr_ExceptionMatches(PyExc_OverflowError)) {
            /* Say which signal (the message tells which value). */
            PyObject *e = exc_take();
            PyObject *msg = PyObject_Str(e);
            PyErr_Format(PyExc_TypeError, "emit %s.%s: %S",
                         ss_object_id(self->obj), signal,
                         msg ? msg : Py_None);
            Py_XDECREF(msg);
            Py_DECREF(e);
        }
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        msgs[i].data = tl_wb.buf + offs[i];
        msgs[i].len = (i + 1 < n ? offs[i + 1] : tl_wb.len) - offs[i];
    }
    int rc = ss_emit_many(self->obj, signal, msgs, (size_t)n);
    switch (rc) {
    case 0:
        break;
    case SS_EAGAIN:
    case SS_EBUSY:
    case SS_ECLOSED:
    case SS_EMSGSIZE:
    case SS_ECORRUPT:
        report_drop(self, signal, rc);
        break;
    default:
        raise_rc(rc, "emit");
        goto out;
    }
    ret = Py_NewRef(Py_None);
out:
    if (offs && offs != offs_local)
        PyMem_Free(offs);
    if (msgs && msgs != msgs_local)
        PyMem_Free(msgs);
    if (tl_wb.cap > ((size_t)4 << 20)) {
        PyMem_RawFree(tl_wb.buf);
        tl_wb = (wbuf){0};
    }
    return ret;
}

/* _ss_emit(signal, *args) */
static PyObject *Obj_emit(ObjObj *self, PyObject *const *args,
                          Py_ssize_t nargs)
{
    if (nargs < 1 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "_ss_emit(signal: str, *args)");
        return NULL;
    }
    PyObject *t = PyTuple_New(nargs - 1);
    if (!t)
        return NULL;
    for (Py_ssize_t i = 1; i < nargs; i++)
        PyTuple_SET_ITEM(t, i - 1, Py_NewRef(args[i]));
    PyObject *r = emit_items(self, args[0], &t, 1);
    Py_DECREF(t);
    return r;
}

/* _ss_emit_many(signal, list_of_args) */
static PyObject *Obj_emit_many(ObjObj *self, PyObject *args)
{
    PyObject *sig, *seq;
    if (!PyArg_ParseTuple(args, "UO", &sig, &seq))
        return NULL;
    PyObject *fast = PySequence_Fast(seq, "emit_many takes a sequence");
    if (!fast)
        return NULL;
    PyObject *r = emit_items(self, sig, PySequence_Fast_ITEMS(fast),
                             PySequence_Fast_GET_SIZE(fast));
    Py_DECREF(fast);
    return r;
}

static ObjObj *as_obj(PyObject *o)
{
    if (!PyObject_TypeCheck(o, &Obj_Type)) {
        PyErr_SetString(PyExc_TypeError,
                        "expected an EventLoopObject (signal_slot._core.Object)");
        return NULL;
    }
    return (ObjObj *)o;
}

/* _ss_connect(signal, receiver, slot_name) / _ss_disconnect(...) -> bool */
static PyObject *connect_(ObjObj *self, PyObject *args, bool add)
{
    PyObject *sigobj, *recvobj, *slot;
    const char *given = NULL;
    if (!PyArg_ParseTuple(args, "UOU|z", &sigobj, &recvobj, &slot, &given))
        return NULL;
    ObjObj *recv = as_obj(recvobj);
    if (!recv || check_attached(self) < 0 || check_attached(recv) < 0)
        return NULL;
    const char *signal = PyUnicode_AsUTF8(sigobj);
    if (!signal)
        return NULL;
    char sig[SS_SIGNATURE_MAX_LEN + 1];
    if (given) {
        /* (An emitter of another process: its signature said here.) */
        if (strlen(given) > SS_SIGNATURE_MAX_LEN)
            return raise_rc(SS_ESIGNATURE, "connect");
        strcpy(sig, given);
    } else if (ss_signal_signature(self->obj, signal, sig) == SS_ENOENT) {
        if (!add)
            Py_RETURN_FALSE;
        if (declare(self->obj, signal) < 0)
            return NULL;
        if (ss_signal_signature(self->obj, signal, sig) != 0)
            return raise_rc(SS_ENOENT, "connect");
    }
    Py_INCREF(slot);
    PyUnicode_InternInPlace(&slot);
    int rc;
    if (add) {
        /* The connection takes the reference (released by name_release). */
        Py_INCREF(slot);
        Py_BEGIN_ALLOW_THREADS
        rc = ss_connect_data(self->obj, signal, recv->obj, trampoline, sig,
                             slot, name_release);
        Py_END_ALLOW_THREADS
    } else {
        Py_BEGIN_ALLOW_THREADS
        rc = ss_disconnect(self->obj, signal, recv->obj, trampoline, slot);
        Py_END_ALLOW_THREADS
    }
    Py_DECREF(slot);
    if (!add)
        return PyBool_FromLong(rc == 0);
    if (rc == SS_ENOTSUP) {
        PyErr_Format(PyExc_RuntimeError,
                     "cannot connect %s.%s to %s: the emitter runs in "
                     "another process, whose loop must reach the receiver's: "
                     "publish it (EventLoop(..., publish=True))",
                     ss_object_id(self->obj), signal, ss_object_id(recv->obj));
        return NULL;
    }
    if (rc == SS_ESIGNATURE) {
        PyErr_Format(PyExc_TypeError,
                     "cannot connect %s.%s (\"%s\") to %s.%s: the "
                     "signatures differ", ss_object_id(self->obj), signal,
                     sig, ss_object_id(recv->obj), PyUnicode_AsUTF8(slot));
        return NULL;
    }
    if (rc != 0)
        return raise_rc(rc, "connect");
    Py_RETURN_NONE;
}

/* _ss_connect_slot(signal, receiver, slot_name) / _ss_disconnect_slot:
 * by name, through the registry (ss_connect_slot()): wherever the two
 * live, at any time. The receiver's slot is made on demand by its
 * process (py_resolver()) or is a C program's named slot. */
static PyObject *connect_slot_(ObjObj *self, PyObject *args, bool add)
{
    PyObject *recvobj;
    const char *signal, *slot;
    if (!PyArg_ParseTuple(args, "sOs", &signal, &recvobj, &slot))
        return NULL;
    ObjObj *recv = as_obj(recvobj);
    if (!recv || check_attached(self) < 0 || check_attached(recv) < 0)
        return NULL;
    char sig[SS_SIGNATURE_MAX_LEN + 1];
    if (self->kind != K_HANDLE &&
        ss_signal_signature(self->obj, signal, sig) == SS_ENOENT &&
        declare(self->obj, signal) < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = add ? ss_connect_slot(self->obj, signal, recv->obj, slot)
             : ss_disconnect_slot(self->obj, signal, recv->obj, slot);
    Py_END_ALLOW_THREADS
    if (rc == 0)
        Py_RETURN_NONE;
    const char *what = add ? "connect" : "disconnect";
    switch (rc) {
    case SS_ESIGNATURE:
        PyErr_Format(PyExc_TypeError,
                     "cannot %s %s.%s to %s.%s: the signal's signature is "
                     "not the one the slot takes", what,
                     ss_object_id(self->obj), signal, ss_object_id(recv->obj),
                     slot);
        return NULL;
    case SS_ENOENT:
        PyErr_Format(PyExc_LookupError,
                     "cannot %s %s.%s to %s.%s: no such object, signal or "
                     "slot", what, ss_object_id(self->obj), signal,
                     ss_object_id(recv->obj), slot);
        return NULL;
    case SS_ENOTSUP:
        PyErr_Format(PyExc_RuntimeError,
                     "cannot %s %s.%s to %s.%s: they live in different "
                     "processes, and connecting them needs the receiving "
                     "loop published (EventLoop(..., publish=True), "
                     "EventLoopProcess(..., publish=True)) and a signal "
                     "whose signature is known (see the log)", what,
                     ss_object_id(self->obj), signal, ss_object_id(recv->obj),
                     slot);
        return NULL;
    case SS_ETIMEDOUT:
        PyErr_Format(PyExc_TimeoutError,
                     "cannot %s %s.%s to %s.%s: the loop asked did not "
                     "answer (is it running?)", what, ss_object_id(self->obj),
                     signal, ss_object_id(recv->obj), slot);
        return NULL;
    default:
        return raise_rc(rc, what);
    }
}

static PyObject *Obj_connect_slot(ObjObj *self, PyObject *args)
{
    return connect_slot_(self, args, true);
}

static PyObject *Obj_disconnect_slot(ObjObj *self, PyObject *args)
{
    return connect_slot_(self, args, false);
}

/* _ss_open(remote_loop, object_id): a handle on an object of a loop of
 * another process (a Loop from open_loop()). */
static PyObject *Obj_open(ObjObj *self, PyObject *args)
{
    PyObject *lp;
    const char *id;
    if (!PyArg_ParseTuple(args, "Os", &lp, &id))
        return NULL;
    LoopObj *lo = as_loop(lp);
    if (!lo)
        return NULL;
    if (self->obj) {
        PyErr_SetString(PyExc_RuntimeError, "the object is on a loop already");
        return NULL;
    }
    ss_object *o = NULL;
    int rc = ss_object_open(&o, lo->loop, id);
    if (rc == SS_EEXIST) {
        PyErr_Format(PyExc_ValueError,
                     "a handle on object %s of loop %s is open already", id,
                     ss_loop_name(lo->loop));
        return NULL;
    }
    if (rc != 0)
        return raise_rc(rc, "open the object");
    self->obj = o;
    self->kind = K_HANDLE;
    Py_INCREF(lp);
    Py_XSETREF(self->loop, lp);
    Py_RETURN_NONE;
}

static PyObject *Obj_connect(ObjObj *self, PyObject *args)
{
    return connect_(self, args, true);
}

static PyObject *Obj_disconnect(ObjObj *self, PyObject *args)
{
    return connect_(self, args, false);
}

/* _ss_broadcast_on(signal, loop) */
static PyObject *Obj_broadcast_on(ObjObj *self, PyObject *args)
{
    PyObject *sigobj, *lp;
    if (!PyArg_ParseTuple(args, "UO", &sigobj, &lp))
        return NULL;
    LoopObj *lo = as_loop(lp);
    if (!lo || check_attached(self) < 0)
        return NULL;
    const char *signal = PyUnicode_AsUTF8(sigobj);
    if (!signal || declare(self->obj, signal) < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_signal_broadcast_on(self->obj, signal, lo->loop);
    Py_END_ALLOW_THREADS
    if (rc != 0)
        return raise_rc(rc, "broadcast_on");
    Py_RETURN_NONE;
}

/* _ss_subscribe(signal, slot_name) / _ss_unsubscribe(...) -> bool */
static PyObject *subscribe_(ObjObj *self, PyObject *args, bool add)
{
    PyObject *sigobj, *slot;
    if (!PyArg_ParseTuple(args, "UU", &sigobj, &slot))
        return NULL;
    if (check_attached(self) < 0)
        return NULL;
    const char *signal = PyUnicode_AsUTF8(sigobj);
    if (!signal)
        return NULL;
    Py_INCREF(slot);
    PyUnicode_InternInPlace(&slot);
    int rc;
    if (add) {
        Py_INCREF(slot);
        Py_BEGIN_ALLOW_THREADS
        rc = ss_subscribe_data(self->obj, signal, trampoline, "y", slot,
                               name_release);
        Py_END_ALLOW_THREADS
    } else {
        Py_BEGIN_ALLOW_THREADS
        rc = ss_unsubscribe(self->obj, signal, trampoline, slot);
        Py_END_ALLOW_THREADS
    }
    Py_DECREF(slot);
    if (!add)
        return PyBool_FromLong(rc == 0);
    if (rc != 0)
        return raise_rc(rc, "subscribe");
    Py_RETURN_NONE;
}

static PyObject *Obj_subscribe(ObjObj *self, PyObject *args)
{
    return subscribe_(self, args, true);
}

static PyObject *Obj_unsubscribe(ObjObj *self, PyObject *args)
{
    return subscribe_(self, args, false);
}

/* _ss_signature(signal) -> its signature, or None if not declared. */
static PyObject *Obj_signature(ObjObj *self, PyObject *sigobj)
{
    const char *signal = PyUnicode_AsUTF8(sigobj);
    if (!signal || check_attached(self) < 0)
        return NULL;
    char sig[SS_SIGNATURE_MAX_LEN + 1];
    if (ss_signal_signature(self->obj, signal, sig) != 0)
        Py_RETURN_NONE;
    return PyUnicode_FromString(sig);
}

/* _ss_declare(signal, signature): declare it unless it is. */
static PyObject *Obj_declare(ObjObj *self, PyObject *args)
{
    const char *signal, *sig;
    if (!PyArg_ParseTuple(args, "ss", &signal, &sig) ||
        check_attached(self) < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_signal_add(self->obj, signal, sig);
    Py_END_ALLOW_THREADS
    if (rc != 0 && rc != SS_EEXIST)
        return raise_rc(rc, "declare");
    Py_RETURN_NONE;
}

static PyObject *Obj_dropped(ObjObj *self, PyObject *sigobj)
{
    const char *signal = PyUnicode_AsUTF8(sigobj);
    if (!signal || check_attached(self) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(ss_signal_dropped(self->obj, signal));
}

static PyObject *Obj_get_attached(ObjObj *self, void *c)
{
    (void)c;
    return PyBool_FromLong(self->obj != NULL);
}

static PyObject *Obj_get_core_id(ObjObj *self, void *c)
{
    (void)c;
    if (!self->obj)
        Py_RETURN_NONE;
    return PyUnicode_FromString(ss_object_id(self->obj));
}

static PyMethodDef Obj_methods[] = {
    {"_ss_attach", (PyCFunction)Obj_attach, METH_VARARGS, NULL},
    {"_ss_attach_loop", (PyCFunction)Obj_attach_loop, METH_O, NULL},
    {"_ss_attach_timer", (PyCFunction)Obj_attach_timer, METH_VARARGS, NULL},
    {"_ss_detach", (PyCFunction)Obj_detach, METH_NOARGS, NULL},
    {"_ss_emit", (PyCFunction)(void (*)(void))Obj_emit, METH_FASTCALL, NULL},
    {"_ss_emit_many", (PyCFunction)Obj_emit_many, METH_VARARGS, NULL},
    {"_ss_connect", (PyCFunction)Obj_connect, METH_VARARGS, NULL},
    {"_ss_connect_slot", (PyCFunction)Obj_connect_slot, METH_VARARGS, NULL},
    {"_ss_disconnect_slot", (PyCFunction)Obj_disconnect_slot, METH_VARARGS,
     NULL},
    {"_ss_open", (PyCFunction)Obj_open, METH_VARARGS, NULL},
    {"_ss_disconnect", (PyCFunction)Obj_disconnect, METH_VARARGS, NULL},
    {"_ss_broadcast_on", (PyCFunction)Obj_broadcast_on, METH_VARARGS, NULL},
    {"_ss_subscribe", (PyCFunction)Obj_subscribe, METH_VARARGS, NULL},
    {"_ss_unsubscribe", (PyCFunction)Obj_unsubscribe, METH_VARARGS, NULL},
    {"_ss_dropped", (PyCFunction)Obj_dropped, METH_O, NULL},
    {"_ss_signature", (PyCFunction)Obj_signature, METH_O, NULL},
    {"_ss_declare", (PyCFunction)Obj_declare, METH_VARARGS, NULL},
    {"_ss_timer_start", (PyCFunction)Obj_timer_start, METH_NOARGS, NULL},
    {"_ss_timer_stop", (PyCFunction)Obj_timer_stop, METH_NOARGS, NULL},
    {"_ss_timer_set_interval", (PyCFunction)Obj_timer_set_interval, METH_O,
     NULL},
    {"_ss_timer_active", (PyCFunction)Obj_timer_active, METH_NOARGS, NULL},
    {"_ss_timer_remaining", (PyCFunction)Obj_timer_remaining, METH_NOARGS,
     NULL},
    {"_ss_timer_catch_up", (PyCFunction)Obj_timer_catch_up, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Obj_getset[] = {
    {"_ss_attached", (getter)Obj_get_attached, NULL, NULL, NULL},
    {"_ss_id", (getter)Obj_get_core_id, NULL, NULL, NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Obj_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "signal_slot._core.Object",
    .tp_basicsize = sizeof(ObjObj),
    .tp_dealloc = (destructor)Obj_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The C part of an EventLoopObject: an ss_object.",
    .tp_traverse = (traverseproc)Obj_traverse,
    .tp_clear = (inquiry)Obj_clear,
    .tp_weaklistoffset = offsetof(ObjObj, weakreflist),
    .tp_dictoffset = offsetof(ObjObj, dict),
    .tp_methods = Obj_methods,
    .tp_getset = Obj_getset,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------------ */
/* Signal: the seed's @signal descriptor, with emit in C                     */
/* ------------------------------------------------------------------------ */

typedef struct SigObj {
    PyObject_HEAD
    PyObject *name; /* str */
    PyObject *obj;  /* the object it was accessed on last (the seed's) */
    PyObject *dict;
} SigObj;

static int Sig_init(SigObj *self, PyObject *args, PyObject *kw)
{
    (void)kw;
    PyObject *func;
    if (!PyArg_ParseTuple(args, "O", &func))
        return -1;
    PyObject *name = PyObject_GetAttrString(func, "__name__");
    if (!name)
        return -1;
    if (!PyUnicode_Check(name)) {
        Py_DECREF(name);
        PyErr_SetString(PyExc_TypeError, "a signal's name must be a str");
        return -1;
    }
    PyUnicode_InternInPlace(&name);
    Py_XSETREF(self->name, name);
    return 0;
}

static void Sig_dealloc(SigObj *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->name);
    Py_CLEAR(self->obj);
    Py_CLEAR(self->dict);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Sig_traverse(SigObj *self, visitproc visit, void *arg)
{
    Py_VISIT(self->obj);
    Py_VISIT(self->dict);
    return 0;
}

static int Sig_clear(SigObj *self)
{
    Py_CLEAR(self->obj);
    Py_CLEAR(self->dict);
    return 0;
}

static PyObject *Sig_get(SigObj *self, PyObject *obj, PyObject *type)
{
    (void)type;
    if (!obj || !PyObject_TypeCheck(obj, &Obj_Type)) {
        PyErr_Format(PyExc_AssertionError,
                     "signals can only be added to EventLoopObject, not %R",
                     obj ? (PyObject *)Py_TYPE(obj) : type);
        return NULL;
    }
    Py_INCREF(obj);
    Py_XSETREF(self->obj, obj);
    return Py_NewRef((PyObject *)self);
}

static PyObject *Sig_set_name(SigObj *self, PyObject *args)
{
    PyObject *owner, *name;
    if (!PyArg_ParseTuple(args, "OU", &owner, &name))
        return NULL;
    /* A subclass may keep another name (a core signal's): it says so. */
    if (PyObject_HasAttrString((PyObject *)self, "_core_name"))
        Py_RETURN_NONE;
    Py_INCREF(name);
    PyUnicode_InternInPlace(&name);
    Py_XSETREF(self->name, name);
    Py_RETURN_NONE;
}

static int sig_bound(SigObj *self)
{
    if (!self->obj || !self->name) {
        PyErr_SetString(PyExc_AttributeError,
                        "the signal is not bound to an object");
        return -1;
    }
    return 0;
}

static PyObject *Sig_emit(SigObj *self, PyObject *const *args,
                          Py_ssize_t nargs)
{
    if (sig_bound(self) < 0)
        return NULL;
    PyObject *t = PyTuple_New(nargs);
    if (!t)
        return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++)
        PyTuple_SET_ITEM(t, i, Py_NewRef(args[i]));
    PyObject *r = emit_items((ObjObj *)self->obj, self->name, &t, 1);
    Py_DECREF(t);
    return r;
}

static PyObject *Sig_emit_many(SigObj *self, PyObject *seq)
{
    if (sig_bound(self) < 0)
        return NULL;
    PyObject *fast = PySequence_Fast(seq, "emit_many takes a sequence");
    if (!fast)
        return NULL;
    PyObject *r = emit_items((ObjObj *)self->obj, self->name,
                             PySequence_Fast_ITEMS(fast),
                             PySequence_Fast_GET_SIZE(fast));
    Py_DECREF(fast);
    return r;
}

/* connect/disconnect/broadcast_on: the object's methods, by name. */
static PyObject *sig_forward(SigObj *self, const char *method, PyObject *args)
{
    if (sig_bound(self) < 0)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *full = PyTuple_New(n + 1);
    if (!full)
        return NULL;
    PyTuple_SET_ITEM(full, 0, Py_NewRef(self->name));
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(full, i + 1, Py_NewRef(PyTuple_GET_ITEM(args, i)));
    PyObject *m = PyObject_GetAttrString(self->obj, method);
    PyObject *r = m ? PyObject_Call(m, full, NULL) : NULL;
    Py_XDECREF(m);
    Py_DECREF(full);
    return r;
}

static PyObject *Sig_connect(SigObj *self, PyObject *args)
{
    return sig_forward(self, "connect", args);
}

static PyObject *Sig_disconnect(SigObj *self, PyObject *args)
{
    return sig_forward(self, "disconnect", args);
}

static PyObject *Sig_broadcast_on(SigObj *self, PyObject *args)
{
    return sig_forward(self, "register_broadcast", args);
}

static PyObject *Sig_get_name(SigObj *self, void *c)
{
    (void)c;
    return Py_NewRef(self->name ? self->name : Py_None);
}

static int Sig_set_name_attr(SigObj *self, PyObject *v, void *c)
{
    (void)c;
    if (!v || !PyUnicode_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "a signal's name is a str");
        return -1;
    }
    Py_INCREF(v);
    PyUnicode_InternInPlace(&v);
    Py_XSETREF(self->name, v);
    return 0;
}

static PyObject *Sig_get_obj(SigObj *self, void *c)
{
    (void)c;
    return Py_NewRef(self->obj ? self->obj : Py_None);
}

static PyMethodDef Sig_methods[] = {
    {"emit", (PyCFunction)(void (*)(void))Sig_emit, METH_FASTCALL,
     "emit(*args): emit the signal of the object it was accessed on."},
    {"emit_many", (PyCFunction)Sig_emit_many, METH_O,
     "emit_many(list_of_args): one emission per tuple, one put per loop."},
    {"connect", (PyCFunction)Sig_connect, METH_VARARGS,
     "connect(other, slot=None)"},
    {"disconnect", (PyCFunction)Sig_disconnect, METH_VARARGS,
     "disconnect(other, slot=None)"},
    {"broadcast_on", (PyCFunction)Sig_broadcast_on, METH_VARARGS,
     "broadcast_on(event_loop)"},
    {"__set_name__", (PyCFunction)Sig_set_name, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Sig_getset[] = {
    {"name", (getter)Sig_get_name, NULL, "the signal's name", NULL},
    {"_name", (getter)Sig_get_name, (setter)Sig_set_name_attr, NULL, NULL},
    {"obj", (getter)Sig_get_obj, NULL, "the object accessed last", NULL},
    {"_obj", (getter)Sig_get_obj, NULL, NULL, NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Sig_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "signal_slot._core.Signal",
    .tp_basicsize = sizeof(SigObj),
    .tp_dealloc = (destructor)Sig_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Signal(function): the seed's @signal descriptor.",
    .tp_traverse = (traverseproc)Sig_traverse,
    .tp_clear = (inquiry)Sig_clear,
    .tp_dictoffset = offsetof(SigObj, dict),
    .tp_methods = Sig_methods,
    .tp_getset = Sig_getset,
    .tp_descr_get = (descrgetfunc)Sig_get,
    .tp_init = (initproc)Sig_init,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------------ */
/* Module                                                                   */
/* ------------------------------------------------------------------------ */

static PyObject *m_set_callbacks(PyObject *m, PyObject *args, PyObject *kw)
{
    (void)m;
    static char *kwlist[] = {"slot_error", "slot_missing", "drop", NULL};
    PyObject *a = NULL, *b = NULL, *c = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOO", kwlist, &a, &b, &c))
        return NULL;
    if (a)
        Py_XSETREF(g_on_slot_error, Py_NewRef(a));
    if (b)
        Py_XSETREF(g_on_slot_missing, Py_NewRef(b));
    if (c)
        Py_XSETREF(g_on_drop, Py_NewRef(c));
    Py_RETURN_NONE;
}

static PyObject *m_encode(PyObject *m, PyObject *v)
{
    (void)m;
    wbuf w = {0};
    PyObject *r = NULL;
    if (codec_put(&w, v, 0) == 0)
        r = PyBytes_FromStringAndSize((const char *)w.buf,
                                      (Py_ssize_t)w.len);
    PyMem_RawFree(w.buf);
    return r;
}

static PyObject *m_decode(PyObject *m, PyObject *b)
{
    (void)m;
    Py_buffer view;
    if (PyObject_GetBuffer(b, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    size_t used = 0;
    PyObject *r = codec_get(view.buf, (size_t)view.len, &used);
    if (r && used != (size_t)view.len) {
        Py_DECREF(r);
        r = NULL;
        PyErr_SetString(PyExc_ValueError,
                        "signal_slot: malformed Python payload (bytes after "
                        "the value)");
    }
    PyBuffer_Release(&view);
    return r;
}

static PyObject *m_domain(PyObject *m, PyObject *args)
{
    (void)m;
    const char *d = NULL;
    if (!PyArg_ParseTuple(args, "|z", &d))
        return NULL;
    if (d) {
        int rc = ss_domain_set(d);
        if (rc != 0)
            return raise_rc(rc, "domain");
    }
    return PyUnicode_FromString(ss_domain_name());
}

/* die_with_parent(pid): this process gets SIGKILL when process pid (the
 * one that started it: its parent, or for a forkserver's child the
 * program that asked for it) ends, and at once if it has ended already:
 * no orphans. (Not PR_SET_PDEATHSIG: that fires when the parent's thread
 * that forked ends, and multiprocessing may start a process from any
 * thread, or through a forkserver.) A thread of its own waits on the
 * pidfd of pid (or, where pidfds are missing, probes it every 100 ms). */
static void *parent_watch(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        while (poll(&p, 1, -1) < 0 && errno == EINTR)
            ;
    } else if (errno != ESRCH) {
        while (kill(pid, 0) == 0 || errno == EPERM)
            usleep(100000);
    }
    kill(getpid(), SIGKILL);
    return NULL;
}

static PyObject *m_die_with_parent(PyObject *m, PyObject *arg)
{
    (void)m;
    long ppid = PyLong_AsLong(arg);
    if (ppid == -1 && PyErr_Occurred())
        return NULL;
    if (ppid <= 0) {
        PyErr_SetString(PyExc_ValueError, "a pid");
        return NULL;
    }
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 64 << 10);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay Python's */
    int e = pthread_create(&t, &a, parent_watch, (void *)(intptr_t)ppid);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&a);
    if (e != 0) {
        errno = e;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* attach_loop(name, fd=-1) -> Loop: in a spawned child, the loop of that
 * name on the queue whose descriptor fd is (ss_loop_attach_fd()), or the
 * published loop name (ss_loop_attach()). */
static PyObject *m_attach_loop(PyObject *m, PyObject *args)
{
    (void)m;
    const char *name;
    int fd = -1;
    if (!PyArg_ParseTuple(args, "s|i", &name, &fd))
        return NULL;
    LoopObj *self = (LoopObj *)Loop_Type.tp_alloc(&Loop_Type, 0);
    if (!self)
        return NULL;
    ss_loop *l = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fd >= 0 ? ss_loop_attach_fd(&l, name, fd) : ss_loop_attach(&l, name);
    Py_END_ALLOW_THREADS
    self->published = fd < 0;
    if (rc != 0) {
        Py_DECREF(self);
        return raise_rc(rc, "attach to the loop");
    }
    loop_wrap(self, l);
    return (PyObject *)self;
}

/* open_loop(name, timeout_s) -> Loop: a handle on the published loop
 * name of any process of the domain (ss_loop_open()). */
static PyObject *m_open_loop(PyObject *m, PyObject *args)
{
    (void)m;
    const char *name;
    PyObject *t = Py_None;
    if (!PyArg_ParseTuple(args, "s|O", &name, &t))
        return NULL;
    int64_t ns = timeout_ns(t);
    if (ns == INT64_MIN)
        return NULL;
    LoopObj *self = (LoopObj *)Loop_Type.tp_alloc(&Loop_Type, 0);
    if (!self)
        return NULL;
    ss_loop *l = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_loop_open(&l, name, ns);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        Py_DECREF(self);
        if (rc == SS_ENOENT)
            return PyErr_Format(PyExc_LookupError,
                                "no loop named %s is published in domain %s",
                                name, ss_domain_name());
        return raise_rc(rc, "open the loop");
    }
    loop_wrap(self, l);
    return (PyObject *)self;
}

static const char *state_name(ss_loop_state st)
{
    switch (st) {
    case SS_LOOP_STATE_LIVE:
        return "live";
    case SS_LOOP_STATE_ENDED:
        return "ended";
    default:
        return "?";
    }
}

/* list_loops() -> [dict]: what the domain's registry holds. */
static PyObject *m_list_loops(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    size_t n = 0, cap = 64;
    ss_loop_info *info = NULL;
    int rc;
    for (;;) {
        ss_loop_info *p = PyMem_RawRealloc(info, cap * sizeof *info);
        if (!p) {
            PyMem_RawFree(info);
            return PyErr_NoMemory();
        }
        info = p;
        Py_BEGIN_ALLOW_THREADS
        rc = ss_registry_list(info, cap, &n);
        Py_END_ALLOW_THREADS
        if (rc != 0 || n <= cap)
            break;
        cap = n + 16;
    }
    PyObject *out = NULL;
    if (rc == SS_ENOENT) {
        out = PyList_New(0);
        goto done;
    }
    if (rc != 0) {
        raise_rc(rc, "list the registry");
        goto done;
    }
    out = PyList_New(0);
    for (size_t i = 0; out && i < n; i++) {
        const ss_loop_info *e = &info[i];
        PyObject *busy = PyList_New(0);
        for (size_t k = 0; busy && k < e->n_busiest; k++) {
            PyObject *b = Py_BuildValue("(sK)", e->busiest[k].name,
                                        (unsigned long long)e->busiest[k].count);
            if (!b || PyList_Append(busy, b) < 0)
                Py_CLEAR(busy);
            Py_XDECREF(b);
        }
        PyObject *d =
            busy ? Py_BuildValue(
                       "{s:s,s:s,s:i,s:I,s:i,s:i,s:K,s:K,s:K,s:K,s:K,s:K,s:N}",
                       "name", e->name, "state", state_name(e->state), "pid",
                       (int)e->pid, "incarnation", e->incarnation,
                       "exit_code", e->exit_code, "exit_signal", e->exit_sig,
                       "queue_msgs", (unsigned long long)e->queue_msgs,
                       "queue_bytes", (unsigned long long)e->queue_bytes,
                       "queue_capacity",
                       (unsigned long long)e->queue_capacity, "msgs_in",
                       (unsigned long long)e->msgs_in, "signals_out",
                       (unsigned long long)e->signals_out, "drops",
                       (unsigned long long)e->drops, "busiest", busy)
                 : NULL;
        if (!d || PyList_Append(out, d) < 0)
            Py_CLEAR(out);
        Py_XDECREF(d);
    }
done:
    PyMem_RawFree(info);
    return out;
}

/* check_signature(sig): ValueError unless a valid signature. */
static PyObject *m_check_signature(PyObject *m, PyObject *arg)
{
    (void)m;
    const char *sig = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (!sig) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "a signature is a str");
        return NULL;
    }
    if (ss_signature_validate(sig, NULL) != 0)
        return PyErr_Format(PyExc_ValueError,
                            "\"%s\" is not a signature (type codes of "
                            "signal_slot/payload.h: b i u x t d s y aT {T} v)",
                            sig);
    Py_RETURN_NONE;
}

static PyMethodDef m_methods[] = {
    {"check_signature", m_check_signature, METH_O,
     "check_signature(sig): ValueError unless sig is a valid signature."},
    {"open_loop", m_open_loop, METH_VARARGS,
     "open_loop(name, timeout_s=None) -> Loop: a handle on the published "
     "loop name of another process (LookupError if none in time)."},
    {"list_loops", m_list_loops, METH_NOARGS,
     "list_loops() -> [dict]: the loops of the domain's registry."},
    {"attach_loop", m_attach_loop, METH_VARARGS,
     "attach_loop(name, fd=-1) -> Loop on the queue of descriptor fd, or "
     "the published loop name."},
    {"die_with_parent", m_die_with_parent, METH_O,
     "die_with_parent(pid): SIGKILL this process when process pid ends."},
    {"set_callbacks", (PyCFunction)(void (*)(void))m_set_callbacks,
     METH_VARARGS | METH_KEYWORDS,
     "set_callbacks(slot_error=, slot_missing=, drop=): Python functions the "
     "core calls to log."},
    {"encode", m_encode, METH_O,
     "encode(value) -> bytes in the Python value format."},
    {"decode", m_decode, METH_O, "decode(bytes) -> value."},
    {"domain", m_domain, METH_VARARGS,
     "domain(name=None) -> the registry domain (set it first if given)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "signal_slot._core",
    "The C core of signal_slot (docs/python.md).", -1, m_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__core(void)
{
    if (PyType_Ready(&Loop_Type) < 0 || PyType_Ready(&Obj_Type) < 0 ||
        PyType_Ready(&Sig_Type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m)
        return NULL;
    g_main_ident = PyThread_get_thread_ident();
    g_error = PyErr_NewExceptionWithDoc(
        "signal_slot._core.Error",
        "An error of the C runtime: args are (message, code).",
        PyExc_RuntimeError, NULL);
    if (!g_error || PyModule_AddObjectRef(m, "Error", g_error) < 0 ||
        PyModule_AddObjectRef(m, "Loop", (PyObject *)&Loop_Type) < 0 ||
        PyModule_AddObjectRef(m, "Object", (PyObject *)&Obj_Type) < 0 ||
        PyModule_AddObjectRef(m, "Signal", (PyObject *)&Sig_Type) < 0 ||
        pyqueue_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
