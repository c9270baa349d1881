/*
 * codec.c - the Python value format: Python values to bytes and back, in
 * C, for the payloads of untyped signals (docs/wire-format.md, "The
 * Python value format").
 *
 * One tag byte per value, then its data, little-endian:
 *   'N' None   'T' True   'F' False
 *   'i' int    8 bytes, two's complement (ints that fit in 64 bits)
 *   'd' float  8 bytes, IEEE 754 double
 *   's' str    u32 n, n bytes of UTF-8
 *   'b' bytes  u32 n, n bytes
 *   't' tuple  u32 n, n values      'l' list  u32 n, n values
 *   'm' dict   u32 n, n (key, value) pairs
 *   'P' any other value: u32 n, n bytes of
 *       multiprocessing.reduction.ForkingPickler.dumps(value)
 * Only the exact types take the native path (a subclass of int, tuple or
 * dict, a bool subclass... is pickled), so every value comes back as an
 * equal value of the same type. Containers nest at most CODEC_DEPTH deep
 * natively; deeper ones are pickled whole.
 */
#include "core.h"

#include <string.h>

#define CODEC_DEPTH 64

static PyObject *g_dumps, *g_loads; /* ForkingPickler.dumps, .loads */

static int pickler(void)
{
    if (g_dumps)
        return 0;
    PyObject *m = PyImport_ImportModule("multiprocessing.reduction");
    if (!m)
        return -1;
    PyObject *fp = PyObject_GetAttrString(m, "ForkingPickler");
    Py_DECREF(m);
    if (!fp)
        return -1;
    g_dumps = PyObject_GetAttrString(fp, "dumps");
    g_loads = PyObject_GetAttrString(fp, "loads");
    Py_DECREF(fp);
    if (!g_dumps || !g_loads) {
        Py_CLEAR(g_dumps);
        Py_CLEAR(g_loads);
        return -1;
    }
    return 0;
}

int wb_reserve(wbuf *w, size_t more)
{
    if (w->cap - w->len >= more)
        return 0;
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < more) {
        if (cap > ((size_t)1 << 40)) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    unsigned char *b = PyMem_RawRealloc(w->buf, cap);
    if (!b) {
        PyErr_NoMemory();
        return -1;
    }
    w->buf = b;
    w->cap = cap;
    return 0;
}

static inline void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static int put_bytes(wbuf *w, char tag, const void *data, Py_ssize_t n)
{
    if ((size_t)n > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError,
                        "signal_slot: a value over 4 GiB cannot travel");
        return -1;
    }
    if (wb_reserve(w, 5 + (size_t)n) < 0)
        return -1;
    w->buf[w->len] = (unsigned char)tag;
    put_u32(w->buf + w->len + 1, (uint32_t)n);
    if (n)
        memcpy(w->buf + w->len + 5, data, (size_t)n);
    w->len += 5 + (size_t)n;
    return 0;
}

static int put_pickled(wbuf *w, PyObject *v)
{
    if (pickler() < 0)
        return -1;
    PyObject *b = PyObject_CallOneArg(g_dumps, v);
    if (!b)
        return -1;
    /* ForkingPickler.dumps returns a memoryview of a BytesIO buffer. */
    Py_buffer view;
    if (PyObject_GetBuffer(b, &view, PyBUF_SIMPLE) < 0) {
        Py_DECREF(b);
        return -1;
    }
    int rc = put_bytes(w, 'P', view.buf, view.len);
    PyBuffer_Release(&view);
    Py_DECREF(b);
    return rc;
}

static int put_items(wbuf *w, char tag, PyObject *const *items, Py_ssize_t n,
                     int depth)
{
    if (wb_reserve(w, 5) < 0)
        return -1;
    w->buf[w->len] = (unsigned char)tag;
    put_u32(w->buf + w->len + 1, (uint32_t)n);
    w->len += 5;
    for (Py_ssize_t i = 0; i < n; i++)
        if (codec_put(w, items[i], depth + 1) < 0)
            return -1;
    return 0;
}

int codec_put(wbuf *w, PyObject *v, int depth)
{
    PyTypeObject *t = Py_TYPE(v);
    if (v == Py_None || v == Py_True || v == Py_False) {
        if (wb_reserve(w, 1) < 0)
            return -1;
        w->buf[w->len++] = v == Py_None ? 'N' : v == Py_True ? 'T' : 'F';
        return 0;
    }
    if (t == &PyLong_Type) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow)
            return put_pickled(w, v);
        if (x == -1 && PyErr_Occurred())
            return -1;
        if (wb_reserve(w, 9) < 0)
            return -1;
        w->buf[w->len] = 'i';
        uint64_t u = (uint64_t)x;
        for (int k = 0; k < 8; k++)
            w->buf[w->len + 1 + k] = (unsigned char)(u >> (8 * k));
        w->len += 9;
        return 0;
    }
    if (t == &PyFloat_Type) {
        double d = PyFloat_AS_DOUBLE(v);
        uint64_t u;
        memcpy(&u, &d, 8);
        if (wb_reserve(w, 9) < 0)
            return -1;
        w->buf[w->len] = 'd';
        for (int k = 0; k < 8; k++)
            w->buf[w->len + 1 + k] = (unsigned char)(u >> (8 * k));
        w->len += 9;
        return 0;
    }
    if (t == &PyUnicode_Type) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(v, &n);
        if (!s) {
            /* Lone surrogates have no UTF-8: pickle keeps them. */
            PyErr_Clear();
            return put_pickled(w, v);
        }
        return put_bytes(w, 's', s, n);
    }
    if (t == &PyBytes_Type)
        return put_bytes(w, 'b', PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
    if (depth < CODEC_DEPTH) {
        if (t == &PyTuple_Type)
            return put_items(w, 't', &PyTuple_GET_ITEM(v, 0),
                             PyTuple_GET_SIZE(v), depth);
        if (t == &PyList_Type) {
            /* A slot could change the list while it is encoded: copy the
             * item pointers under the GIL (items kept alive by the copy). */
            PyObject *tup = PyList_AsTuple(v);
            if (!tup)
                return -1;
            int rc = put_items(w, 'l', &PyTuple_GET_ITEM(tup, 0),
                               PyTuple_GET_SIZE(tup), depth);
            Py_DECREF(tup);
            return rc;
        }
        if (t == &PyDict_Type) {
            Py_ssize_t n = PyDict_GET_SIZE(v), pos = 0, k = 0;
            if (wb_reserve(w, 5) < 0)
                return -1;
            size_t at = w->len;
            w->buf[at] = 'm';
            put_u32(w->buf + at + 1, (uint32_t)n);
            w->len += 5;
            PyObject *key, *val;
            while (PyDict_Next(v, &pos, &key, &val)) {
                Py_INCREF(key);
                Py_INCREF(val);
                int rc = codec_put(w, key, depth + 1);
                if (rc == 0)
                    rc = codec_put(w, val, depth + 1);
                Py_DECREF(key);
                Py_DECREF(val);
                if (rc < 0)
                    return -1;
                k++;
            }
            if (k != n) {
                PyErr_SetString(PyExc_RuntimeError,
                                "dictionary changed size during emission");
                return -1;
            }
            return 0;
        }
    }
    return put_pickled(w, v);
}

/* ---- decoding ---- */

static PyObject *malformed(const char *what)
{
    PyErr_Format(PyExc_ValueError,
                 "signal_slot: malformed Python payload (%s)", what);
    return NULL;
}

static PyObject *get(const unsigned char **pp, const unsigned char *end,
                     int depth)
{
    const unsigned char *p = *pp;
    if (p >= end)
        return malformed("truncated");
    if (depth > CODEC_DEPTH + 1)
        return malformed("too deep");
    unsigned char tag = *p++;
    PyObject *r = NULL;
    switch (tag) {
    case 'N':
        r = Py_NewRef(Py_None);
        break;
    case 'T':
        r = Py_NewRef(Py_True);
        break;
    case 'F':
        r = Py_NewRef(Py_False);
        break;
    case 'i':
    case 'd': {
        if (end - p < 8)
            return malformed("truncated number");
        uint64_t u = 0;
        for (int k = 0; k < 8; k++)
            u |= (uint64_t)p[k] << (8 * k);
        p += 8;
        if (tag == 'i') {
            r = PyLong_FromLongLong((long long)u);
        } else {
            double d;
            memcpy(&d, &u, 8);
            r = PyFloat_FromDouble(d);
        }
        break;
    }
    case 's':
    case 'b':
    case 'P': {
        if (end - p < 4)
            return malformed("truncated length");
        uint32_t n = get_u32(p);
        p += 4;
        if ((size_t)(end - p) < n)
            return malformed("length past the end");
        if (tag == 's') {
            r = PyUnicode_DecodeUTF8((const char *)p, n, "strict");
        } else if (tag == 'b') {
            r = PyBytes_FromStringAndSize((const char *)p, n);
        } else {
            if (pickler() < 0)
                return NULL;
            PyObject *b = PyBytes_FromStringAndSize((const char *)p, n);
            if (!b)
                return NULL;
            r = PyObject_CallOneArg(g_loads, b);
            Py_DECREF(b);
        }
        p += n;
        break;
    }
    case 't':
    case 'l':
    case 'm': {
        if (end - p < 4)
            return malformed("truncated count");
        uint32_t n = get_u32(p);
        p += 4;
        /* Each element takes a byte at least (two per dict entry). */
        if ((size_t)(end - p) < (size_t)n * (tag == 'm' ? 2 : 1))
            return malformed("count past the end");
        r = tag == 't' ? PyTuple_New(n) : tag == 'l' ? PyList_New(n)
                                                     : PyDict_New();
        if (!r)
            return NULL;
        for (uint32_t i = 0; i < n; i++) {
            PyObject *a = get(&p, end, depth + 1);
            if (!a) {
                Py_DECREF(r);
                return NULL;
            }
            if (tag == 't') {
                PyTuple_SET_ITEM(r, i, a);
            } else if (tag == 'l') {
                PyList_SET_ITEM(r, i, a);
            } else {
                PyObject *b = get(&p, end, depth + 1);
                int rc = b ? PyDict_SetItem(r, a, b) : -1;
                Py_DECREF(a);
                Py_XDECREF(b);
                if (rc < 0) {
                    Py_DECREF(r);
                    return NULL;
                }
            }
        }
        break;
    }
    default:
        return malformed("unknown tag");
    }
    *pp = p;
    return r;
}

PyObject *codec_get(const void *data, size_t len, size_t *used)
{
    const unsigned char *p = data, *end = p + len;
    PyObject *r = get(&p, end, 0);
    if (r && used)
        *used = (size_t)(p - (const unsigned char *)data);
    return r;
}

PyObject *codec_get_args(const void *data, size_t len)
{
    size_t used = 0;
    PyObject *r = codec_get(data, len, &used);
    if (!r)
        return NULL;
    if (used != len || !PyTuple_CheckExact(r)) {
        Py_DECREF(r);
        return malformed(used != len ? "bytes after the arguments"
                                     : "arguments are not a tuple");
    }
    return r;
}

/* ---- typed payloads (signal_slot/payload.h) to Python values ---- */

/* The next value of r's current container, as Python. */
static PyObject *from_reader(ss_reader *r, int depth)
{
    const char *type;
    if (depth > SS_PAYLOAD_MAX_DEPTH + 1 || ss_reader_peek(r, &type, NULL))
        return malformed("typed value");
    switch (type[0]) {
    case 'b': {
        bool b;
        return ss_reader_get_bool(r, &b) == 0 ? PyBool_FromLong(b)
                                              : malformed("bool");
    }
    case 'i': {
        int32_t x;
        return ss_reader_get_int32(r, &x) == 0 ? PyLong_FromLong(x)
                                               : malformed("int32");
    }
    case 'u': {
        uint32_t x;
        return ss_reader_get_uint32(r, &x) == 0 ? PyLong_FromUnsignedLong(x)
                                                : malformed("uint32");
    }
    case 'x': {
        int64_t x;
        return ss_reader_get_int64(r, &x) == 0 ? PyLong_FromLongLong(x)
                                               : malformed("int64");
    }
    case 't': {
        uint64_t x;
        return ss_reader_get_uint64(r, &x) == 0
                   ? PyLong_FromUnsignedLongLong(x)
                   : malformed("uint64");
    }
    case 'd': {
        double x;
        return ss_reader_get_double(r, &x) == 0 ? PyFloat_FromDouble(x)
                                                : malformed("double");
    }
    case 's': {
        const char *s;
        size_t n;
        if (ss_reader_get_string(r, &s, &n) != 0)
            return malformed("string");
        return PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "surrogateescape");
    }
    case 'y': {
        const void *d;
        size_t n;
        if (ss_reader_get_blob(r, &d, &n) != 0)
            return malformed("blob");
        return PyBytes_FromStringAndSize(d, (Py_ssize_t)n);
    }
    case 'a': {
        size_t n;
        if (ss_reader_array_begin(r, &n) != 0)
            return malformed("array");
        PyObject *out = PyList_New((Py_ssize_t)n);
        for (size_t i = 0; out && i < n; i++) {
            PyObject *item = from_reader(r, depth + 1);
            if (!item)
                Py_CLEAR(out);
            else
                PyList_SET_ITEM(out, (Py_ssize_t)i, item);
        }
        if (ss_reader_array_end(r) != 0 && out) {
            Py_DECREF(out);
            return malformed("array");
        }
        return out;
    }
    case '{': {
        size_t n;
        if (ss_reader_map_begin(r, &n) != 0)
            return malformed("map");
        PyObject *out = PyDict_New();
        for (size_t i = 0; out && i < n; i++) {
            const char *k;
            size_t kn;
            if (ss_reader_map_next(r, &k, &kn) != 0) {
                Py_CLEAR(out);
                malformed("map key");
                break;
            }
            PyObject *key = PyUnicode_DecodeUTF8(k, (Py_ssize_t)kn,
                                                 "surrogateescape");
            PyObject *item = key ? from_reader(r, depth + 1) : NULL;
            if (!item || PyDict_SetItem(out, key, item) < 0)
                Py_CLEAR(out);
            Py_XDECREF(key);
            Py_XDECREF(item);
        }
        ss_reader_map_end(r);
        return out;
    }
    case 'v': {
        if (ss_reader_variant_begin(r, NULL, NULL) != 0)
            return malformed("variant");
        PyObject *out = from_reader(r, depth + 1);
        ss_reader_variant_end(r);
        return out;
    }
    default:
        return malformed("type");
    }
}

PyObject *codec_from_typed(const ss_args *args)
{
    ss_reader r;
    if (ss_args_reader(args, &r) != 0)
        return malformed("typed arguments");
    PyObject *list = PyList_New(0);
    if (!list)
        return NULL;
    while (!ss_reader_at_end(&r)) {
        PyObject *v = from_reader(&r, 0);
        if (!v || PyList_Append(list, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(v);
    }
    PyObject *t = PyList_AsTuple(list);
    Py_DECREF(list);
    return t;
}

/* ---- Python values to typed payloads (signal_slot/payload.h) ---- */

static int typed_fail(int rc, const char *type, size_t tlen, PyObject *v)
{
    if (PyErr_Occurred())
        return -1;
    char t[SS_SIGNATURE_MAX_LEN + 1];
    if (tlen > SS_SIGNATURE_MAX_LEN)
        tlen = SS_SIGNATURE_MAX_LEN;
    memcpy(t, type, tlen);
    t[tlen] = 0;
    if (rc == SS_ETYPE)
        PyErr_Format(PyExc_TypeError, "%.100s where \"%s\" is expected",
                     Py_TYPE(v)->tp_name, t);
    else
        PyErr_Format(rc == SS_ENOMEM ? PyExc_MemoryError : PyExc_TypeError,
                     "cannot write %.100s as \"%s\": %s", Py_TYPE(v)->tp_name,
                     t, ss_strerror(rc));
    return -1;
}

/* The signature a variant gives v: b, x (t beyond int64), d, s, y, av
 * (lists and tuples), {v} (dicts with str keys). NULL with TypeError for
 * the rest (None, objects). */
static const char *variant_sig(PyObject *v)
{
    if (PyBool_Check(v))
        return "b";
    if (PyLong_Check(v)) {
        int over = 0;
        PyLong_AsLongLongAndOverflow(v, &over);
        return over > 0 ? "t" : "x";
    }
    if (PyFloat_Check(v))
        return "d";
    if (PyUnicode_Check(v))
        return "s";
    if (PyBytes_Check(v) || PyByteArray_Check(v) || PyMemoryView_Check(v))
        return "y";
    if (PyList_Check(v) || PyTuple_Check(v))
        return "av";
    if (PyDict_Check(v))
        return "{v}";
    PyErr_Format(PyExc_TypeError,
                 "a variant (\"v\") holds bool, int, float, str, bytes, "
                 "lists and dicts of them, not %.100s",
                 Py_TYPE(v)->tp_name);
    return NULL;
}

static int put_typed(ss_writer *w, const char *type, size_t tlen, PyObject *v,
                     int depth)
{
    int rc;
    if (depth > SS_PAYLOAD_MAX_DEPTH) {
        PyErr_SetString(PyExc_ValueError, "value nested too deep");
        return -1;
    }
    switch (type[0]) {
    case 'b':
        if (!PyBool_Check(v) && !PyLong_Check(v))
            return typed_fail(SS_ETYPE, type, tlen, v);
        rc = ss_writer_put_bool(w, PyObject_IsTrue(v) == 1);
        break;
    case 'i':
    case 'u':
    case 'x':
    case 't': {
        PyObject *n = PyNumber_Index(v); /* int, numpy integers... */
        if (!n)
            return -1;
        if (type[0] == 't') {
            unsigned long long u = PyLong_AsUnsignedLongLong(n);
            Py_DECREF(n);
            if (u == (unsigned long long)-1 && PyErr_Occurred())
                return -1;
            rc = ss_writer_put_uint64(w, u);
            break;
        }
        long long x = PyLong_AsLongLong(n);
        Py_DECREF(n);
        if (x == -1 && PyErr_Occurred())
            return -1;
        if ((type[0] == 'i' && (x < INT32_MIN || x > INT32_MAX)) ||
            (type[0] == 'u' && (x < 0 || x > (long long)UINT32_MAX))) {
            PyErr_Format(PyExc_OverflowError, "%lld does not fit \"%c\"", x,
                         type[0]);
            return -1;
        }
        rc = type[0] == 'i'   ? ss_writer_put_int32(w, (int32_t)x)
             : type[0] == 'u' ? ss_writer_put_uint32(w, (uint32_t)x)
                              : ss_writer_put_int64(w, x);
        break;
    }
    case 'd': {
        double d = PyFloat_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred())
            return -1;
        rc = ss_writer_put_double(w, d);
        break;
    }
    case 's': {
        if (!PyUnicode_Check(v))
            return typed_fail(SS_ETYPE, type, tlen, v);
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(v, &n);
        if (!s)
            return -1;
        rc = ss_writer_put_stringn(w, s, (size_t)n);
        if (rc == SS_EINVAL) {
            PyErr_SetString(PyExc_ValueError,
                            "a string (\"s\") cannot hold a NUL character");
            return -1;
        }
        break;
    }
    case 'y': {
        if (PyUnicode_Check(v))
            return typed_fail(SS_ETYPE, type, tlen, v);
        Py_buffer view;
        if (PyObject_GetBuffer(v, &view, PyBUF_SIMPLE) < 0)
            return -1;
        rc = ss_writer_put_blob(w, view.buf, (size_t)view.len);
        PyBuffer_Release(&view);
        break;
    }
    case 'a': {
        if (PyUnicode_Check(v) || PyDict_Check(v))
            return typed_fail(SS_ETYPE, type, tlen, v);
        char elem[SS_SIGNATURE_MAX_LEN + 1];
        memcpy(elem, type + 1, tlen - 1);
        elem[tlen - 1] = 0;
        PyObject *fast = PySequence_Fast(v, "an array (\"a\") takes a "
                                            "sequence");
        if (!fast)
            return -1;
        rc = ss_writer_array_begin(w, elem);
        Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
        PyObject **items = PySequence_Fast_ITEMS(fast);
        for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
            if (put_typed(w, elem, tlen - 1, items[i], depth + 1) < 0) {
                Py_DECREF(fast);
                return -1;
            }
        }
        Py_DECREF(fast);
        if (rc == 0)
            rc = ss_writer_array_end(w);
        break;
    }
    case '{': {
        if (!PyDict_Check(v))
            return typed_fail(SS_ETYPE, type, tlen, v);
        char val[SS_SIGNATURE_MAX_LEN + 1];
        memcpy(val, type + 1, tlen - 2);
        val[tlen - 2] = 0;
        rc = ss_writer_map_begin(w, val);
        Py_ssize_t pos = 0;
        PyObject *k, *x;
        while (rc == 0 && PyDict_Next(v, &pos, &k, &x)) {
            if (!PyUnicode_Check(k)) {
                PyErr_Format(PyExc_TypeError,
                             "a map (\"{\") has str keys, not %.100s",
                             Py_TYPE(k)->tp_name);
                return -1;
            }
            if (put_typed(w, "s", 1, k, depth + 1) < 0 ||
                put_typed(w, val, tlen - 2, x, depth + 1) < 0)
                return -1;
        }
        if (rc == 0)
            rc = ss_writer_map_end(w);
        break;
    }
    case 'v': {
        const char *vs = variant_sig(v);
        if (!vs)
            return -1;
        rc = ss_writer_variant_begin(w, vs);
        if (rc == 0 && put_typed(w, vs, strlen(vs), v, depth + 1) < 0)
            return -1;
        if (rc == 0)
            rc = ss_writer_variant_end(w);
        break;
    }
    case 'p':
        PyErr_SetString(PyExc_TypeError,
                        "a pointer (\"p\") cannot be written from Python");
        return -1;
    default:
        return typed_fail(SS_ESIGNATURE, type, tlen, v);
    }
    return rc == 0 ? 0 : typed_fail(rc, type, tlen, v);
}

int codec_put_typed(ss_writer *w, const char *sig, PyObject *args)
{
    PyObject *fast = PySequence_Fast(args, "arguments must be a sequence");
    if (!fast)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast), i = 0;
    PyObject **items = PySequence_Fast_ITEMS(fast);
    const char *t = sig;
    int ret = 0;
    for (; *t && i < n; i++) {
        size_t tl = ss_signature_type_len(t);
        if (tl == 0 || put_typed(w, t, tl, items[i], 0) < 0) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "bad signature \"%s\"", sig);
            ret = -1;
            break;
        }
        t += tl;
    }
    if (ret == 0 && (*t || i < n)) {
        size_t want = 0;
        ss_signature_validate(sig, &want);
        PyErr_Format(PyExc_TypeError,
                     "the signal carries \"%s\": %zu argument%s, not %zd",
                     sig, want, want == 1 ? "" : "s", n);
        ret = -1;
    }
    Py_DECREF(fast);
    return ret;
}
