/*
 * pyqueue.c - signal_slot._core.Queue: the faster-fifo-compatible queue of
 * signal_slot.queue_utils, on ss_queue (signal_slot/queue.h). Values
 * travel in the Python value format (codec.c); waits release the GIL.
 * Processes forked after its creation share it.
 */
#include "core.h"

#include <structmember.h>

static PyObject *g_full, *g_empty; /* queue.Full, queue.Empty */

typedef struct QueueObj {
    PyObject_HEAD
    ss_queue *q;
    size_t max_msgs;
    unsigned char *buf; /* get buffer, grown on demand (GIL held) */
    size_t buf_size;
} QueueObj;

static int Queue_init(QueueObj *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"max_size_bytes", "maxsize", "loads", "dumps",
                             NULL};
    Py_ssize_t bytes = 200000, maxsize = 1000000000;
    PyObject *loads = Py_None, *dumps = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|nnOO", kwlist, &bytes,
                                     &maxsize, &loads, &dumps))
        return -1;
    if (loads != Py_None || dumps != Py_None) {
        PyErr_SetString(PyExc_NotImplementedError,
                        "custom loads/dumps: values travel in the Python "
                        "value format (pickle for the others)");
        return -1;
    }
    if (bytes <= 0 || maxsize <= 0) {
        PyErr_SetString(PyExc_ValueError, "sizes must be positive");
        return -1;
    }
    if (self->q) {
        PyErr_SetString(PyExc_RuntimeError, "Queue already initialised");
        return -1;
    }
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = (size_t)bytes;
    o.max_msgs = (size_t)maxsize;
    o.label = "signal-slot-py-queue";
    o.keep_fd = true; /* passed to spawned children (fd()) */
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_queue_create(&self->q, &o);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_Format(PyExc_OSError, "cannot create the queue: %s",
                     ss_strerror(rc));
        return -1;
    }
    self->max_msgs = (size_t)maxsize;
    return 0;
}

static void Queue_dealloc(QueueObj *self)
{
    if (self->q)
        ss_queue_destroy(self->q);
    PyMem_Free(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_q(QueueObj *self)
{
    if (!self->q) {
        PyErr_SetString(PyExc_ValueError, "the queue is not initialised");
        return -1;
    }
    return 0;
}

/* block/timeout (seconds) to nanoseconds. */
static int64_t wait_ns(int block, PyObject *timeout)
{
    if (!block)
        return SS_NO_WAIT;
    if (timeout == Py_None)
        return SS_WAIT_FOREVER;
    double s = PyFloat_AsDouble(timeout);
    if (s == -1.0 && PyErr_Occurred())
        return INT64_MIN;
    if (s <= 0)
        return SS_NO_WAIT;
    return s > 1e9 ? SS_WAIT_FOREVER : (int64_t)(s * 1e9);
}

static PyObject *put_(QueueObj *self, PyObject *const *items, Py_ssize_t n,
                      int block, PyObject *timeout)
{
    if (check_q(self) < 0)
        return NULL;
    int64_t ns = wait_ns(block, timeout);
    if (ns == INT64_MIN)
        return NULL;
    wbuf w = {0};
    size_t offs_local[32];
    size_t *offs = n <= 32 ? offs_local : PyMem_Malloc(n * sizeof *offs);
    ss_msg *msgs = PyMem_Malloc((n ? n : 1) * sizeof *msgs);
    PyObject *ret = NULL;
    if (!offs || !msgs) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        offs[i] = w.len;
        if (codec_put(&w, items[i], 0) < 0)
            goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        msgs[i].data = w.buf + offs[i];
        msgs[i].len = (i + 1 < n ? offs[i + 1] : w.len) - offs[i];
    }
    int rc = 0;
    if (n > 0) {
        Py_BEGIN_ALLOW_THREADS
        rc = n == 1 ? ss_queue_put(self->q, msgs[0].data, msgs[0].len, ns)
                    : ss_queue_put_many(self->q, msgs, (size_t)n, ns);
        Py_END_ALLOW_THREADS
    }
    switch (rc) {
    case 0:
        ret = Py_NewRef(Py_None);
        break;
    case SS_EAGAIN:
    case SS_ETIMEDOUT:
    case SS_EMSGSIZE:
    case SS_EBUSY:
        PyErr_SetNone(g_full);
        break;
    default:
        PyErr_Format(PyExc_OSError, "queue put: %s (%s)", ss_strerror(rc),
                     ss_errname(rc));
    }
out:
    if (offs && offs != offs_local)
        PyMem_Free(offs);
    PyMem_Free(msgs);
    PyMem_RawFree(w.buf);
    return ret;
}

static PyObject *put_many_(QueueObj *self, PyObject *xs, int block,
                           PyObject *timeout)
{
    PyObject *fast = PySequence_Fast(xs, "put_many takes a list or tuple");
    if (!fast)
        return NULL;
    PyObject *r = put_(self, PySequence_Fast_ITEMS(fast),
                       PySequence_Fast_GET_SIZE(fast), block, timeout);
    Py_DECREF(fast);
    return r;
}

/* put(x, block=True, timeout=10.0), put_many(xs, ...): faster-fifo's
 * defaults. */
static PyObject *put_call(QueueObj *self, PyObject *args, PyObject *kw,
                          bool many)
{
    static char *kwlist_one[] = {"x", "block", "timeout", NULL};
    static char *kwlist_many[] = {"xs", "block", "timeout", NULL};
    PyObject *x, *timeout = NULL;
    int block = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|pO",
                                     many ? kwlist_many : kwlist_one, &x,
                                     &block, &timeout))
        return NULL;
    PyObject *t = timeout ? Py_NewRef(timeout) : PyFloat_FromDouble(10.0);
    if (!t)
        return NULL;
    PyObject *r = many ? put_many_(self, x, block, t)
                       : put_(self, &x, 1, block, t);
    Py_DECREF(t);
    return r;
}

static PyObject *Queue_put(QueueObj *self, PyObject *args, PyObject *kw)
{
    return put_call(self, args, kw, false);
}

static PyObject *Queue_put_nowait(QueueObj *self, PyObject *x)
{
    return put_(self, &x, 1, 0, Py_None);
}

static PyObject *Queue_put_many(QueueObj *self, PyObject *args, PyObject *kw)
{
    return put_call(self, args, kw, true);
}

static PyObject *Queue_put_many_nowait(QueueObj *self, PyObject *xs)
{
    return put_many_(self, xs, 0, Py_None);
}

/* Take up to max messages (waiting per ns), decoded, into a list. */
static PyObject *get_(QueueObj *self, int64_t ns, size_t max, bool one)
{
    if (check_q(self) < 0)
        return NULL;
    if (!self->buf) {
        self->buf_size = 64 << 10;
        self->buf = PyMem_Malloc(self->buf_size);
        if (!self->buf)
            return PyErr_NoMemory();
    }
    enum { BATCH = 256 };
    ss_msg msgs[BATCH];
    size_t n = 0;
    int rc;
    for (;;) {
        size_t want = max < BATCH ? max : BATCH;
        Py_BEGIN_ALLOW_THREADS
        rc = ss_queue_get_many(self->q, self->buf, self->buf_size, msgs, want,
                               &n, ns);
        Py_END_ALLOW_THREADS
        if (rc != SS_ENOBUFS)
            break;
        size_t need = msgs[0].len + 64;
        unsigned char *b = PyMem_Realloc(self->buf, need);
        if (!b)
            return PyErr_NoMemory();
        self->buf = b;
        self->buf_size = need;
    }
    if (rc == SS_EAGAIN || rc == SS_ETIMEDOUT || rc == SS_ECLOSED) {
        PyErr_SetNone(g_empty);
        return NULL;
    }
    if (rc != 0)
        return PyErr_Format(PyExc_OSError, "queue get: %s (%s)",
                            ss_strerror(rc), ss_errname(rc));
    if (one) {
        size_t used = 0;
        PyObject *v = codec_get(msgs[0].data, msgs[0].len, &used);
        return v;
    }
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (!list)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *v = codec_get(msgs[i].data, msgs[i].len, NULL);
        if (!v) {
            Py_DECREF(list);
            return NULL; /* (the messages are consumed: counted lost) */
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, v);
    }
    return list;
}

static PyObject *Queue_get(QueueObj *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"block", "timeout", NULL};
    PyObject *timeout = NULL;
    int block = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|pO", kwlist, &block,
                                     &timeout))
        return NULL;
    PyObject *t = timeout ? Py_NewRef(timeout) : PyFloat_FromDouble(10.0);
    int64_t ns = wait_ns(block, t);
    Py_DECREF(t);
    if (ns == INT64_MIN)
        return NULL;
    return get_(self, ns, 1, true);
}

static PyObject *Queue_get_nowait(QueueObj *self, PyObject *noargs)
{
    (void)noargs;
    return get_(self, SS_NO_WAIT, 1, true);
}

static PyObject *Queue_get_many(QueueObj *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"block", "timeout", "max_messages_to_get", NULL};
    PyObject *timeout = NULL;
    int block = 1;
    Py_ssize_t max = 1000000000;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|pOn", kwlist, &block,
                                     &timeout, &max))
        return NULL;
    if (max <= 0) {
        PyErr_SetString(PyExc_ValueError, "max_messages_to_get must be > 0");
        return NULL;
    }
    PyObject *t = timeout ? Py_NewRef(timeout) : PyFloat_FromDouble(10.0);
    int64_t ns = wait_ns(block, t);
    Py_DECREF(t);
    if (ns == INT64_MIN)
        return NULL;
    /* One wait, then whatever else is there, up to max. */
    PyObject *out = get_(self, ns, (size_t)max, false);
    if (!out)
        return NULL;
    while ((size_t)PyList_GET_SIZE(out) < (size_t)max &&
           ss_queue_size(self->q) > 0) {
        PyObject *more = get_(self, SS_NO_WAIT,
                              (size_t)max - (size_t)PyList_GET_SIZE(out),
                              false);
        if (!more) {
            if (PyErr_ExceptionMatches(g_empty)) {
                PyErr_Clear();
                break;
            }
            Py_DECREF(out);
            return NULL;
        }
        Py_ssize_t k = PyList_GET_SIZE(out);
        int rc = PyList_SetSlice(out, k, k, more);
        Py_DECREF(more);
        if (rc < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

static PyObject *Queue_get_many_nowait(QueueObj *self, PyObject *args,
                                       PyObject *kw)
{
    static char *kwlist[] = {"max_messages_to_get", NULL};
    Py_ssize_t max = 1000000000;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|n", kwlist, &max))
        return NULL;
    PyObject *a = Py_BuildValue("(iOn)", 0, Py_None, max);
    if (!a)
        return NULL;
    PyObject *r = Queue_get_many(self, a, NULL);
    Py_DECREF(a);
    return r;
}

static PyObject *Queue_qsize(QueueObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_q(self) < 0)
        return NULL;
    return PyLong_FromSize_t(ss_queue_size(self->q));
}

static PyObject *Queue_empty(QueueObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_q(self) < 0)
        return NULL;
    return PyBool_FromLong(ss_queue_size(self->q) == 0);
}

static PyObject *Queue_full(QueueObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_q(self) < 0)
        return NULL;
    ss_queue_stats st;
    ss_queue_get_stats(self->q, &st);
    /* Full: the message bound, or no room for one more small record. */
    return PyBool_FromLong(st.msgs >= self->max_msgs ||
                           st.ring_used + 64 > st.capacity);
}

static PyObject *Queue_data_size(QueueObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_q(self) < 0)
        return NULL;
    ss_queue_stats st;
    ss_queue_get_stats(self->q, &st);
    return PyLong_FromUnsignedLongLong(st.bytes);
}

static PyObject *Queue_close(QueueObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_q(self) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    ss_queue_close(self->q);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *Queue_is_closed(QueueObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_q(self) < 0)
        return NULL;
    return PyBool_FromLong(ss_queue_is_closed(self->q));
}

static PyObject *Queue_fd(QueueObj *self, PyObject *noargs)
{
    (void)noargs;
    if (check_q(self) < 0)
        return NULL;
    int fd = ss_queue_fd(self->q);
    if (fd < 0)
        return PyErr_Format(PyExc_OSError, "queue fd: %s", ss_strerror(fd));
    return PyLong_FromLong(fd);
}

/* Queue._from_fd(fd, maxsize): the queue of descriptor fd (a spawned
 * child's copy). */
static PyObject *Queue_from_fd(PyObject *cls, PyObject *args)
{
    int fd;
    Py_ssize_t maxsize;
    if (!PyArg_ParseTuple(args, "in", &fd, &maxsize))
        return NULL;
    QueueObj *self = (QueueObj *)((PyTypeObject *)cls)->tp_alloc(
        (PyTypeObject *)cls, 0);
    if (!self)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ss_queue_open_fd(&self->q, fd);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        Py_DECREF(self);
        return PyErr_Format(PyExc_OSError, "queue from fd: %s",
                            ss_strerror(rc));
    }
    self->max_msgs = (size_t)maxsize;
    return (PyObject *)self;
}

static PyObject *Queue_maxsize(QueueObj *self, void *c)
{
    (void)c;
    return PyLong_FromSize_t(self->max_msgs);
}

static PyMethodDef Queue_methods[] = {
    {"put", (PyCFunction)(void (*)(void))Queue_put,
     METH_VARARGS | METH_KEYWORDS, "put(x, block=True, timeout=10.0)"},
    {"put_nowait", (PyCFunction)Queue_put_nowait, METH_O, NULL},
    {"put_many", (PyCFunction)(void (*)(void))Queue_put_many,
     METH_VARARGS | METH_KEYWORDS,
     "put_many(xs, block=True, timeout=10.0): all or nothing"},
    {"put_many_nowait", (PyCFunction)Queue_put_many_nowait, METH_O, NULL},
    {"get", (PyCFunction)(void (*)(void))Queue_get,
     METH_VARARGS | METH_KEYWORDS, "get(block=True, timeout=10.0)"},
    {"get_nowait", (PyCFunction)Queue_get_nowait, METH_NOARGS, NULL},
    {"get_many", (PyCFunction)(void (*)(void))Queue_get_many,
     METH_VARARGS | METH_KEYWORDS,
     "get_many(block=True, timeout=10.0, max_messages_to_get=1e9) -> list"},
    {"get_many_nowait", (PyCFunction)(void (*)(void))Queue_get_many_nowait,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"qsize", (PyCFunction)Queue_qsize, METH_NOARGS, NULL},
    {"empty", (PyCFunction)Queue_empty, METH_NOARGS, NULL},
    {"full", (PyCFunction)Queue_full, METH_NOARGS, NULL},
    {"data_size", (PyCFunction)Queue_data_size, METH_NOARGS, NULL},
    {"close", (PyCFunction)Queue_close, METH_NOARGS, NULL},
    {"is_closed", (PyCFunction)Queue_is_closed, METH_NOARGS, NULL},
    {"fd", (PyCFunction)Queue_fd, METH_NOARGS,
     "fd() -> the descriptor of its shared memory (owned by the queue)."},
    {"_from_fd", (PyCFunction)Queue_from_fd, METH_VARARGS | METH_CLASS,
     NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Queue_getset[] = {
    {"maxsize", (getter)Queue_maxsize, NULL, "most messages held", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject Queue_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "signal_slot._core.Queue",
    .tp_basicsize = sizeof(QueueObj),
    .tp_dealloc = (destructor)Queue_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Queue(max_size_bytes=200000, maxsize=1e9): a multi-process "
              "FIFO on ss_queue, faster_fifo.Queue's API.",
    .tp_methods = Queue_methods,
    .tp_getset = Queue_getset,
    .tp_init = (initproc)Queue_init,
    .tp_new = PyType_GenericNew,
};

int pyqueue_init(PyObject *m)
{
    PyObject *qm = PyImport_ImportModule("queue");
    if (!qm)
        return -1;
    g_full = PyObject_GetAttrString(qm, "Full");
    g_empty = PyObject_GetAttrString(qm, "Empty");
    Py_DECREF(qm);
    if (!g_full || !g_empty || PyType_Ready(&Queue_Type) < 0)
        return -1;
    return PyModule_AddObjectRef(m, "Queue", (PyObject *)&Queue_Type);
}
