/*
 * core.h - the parts of the extension module signal_slot._core.
 */
#ifndef SS_PY_CORE_H
#define SS_PY_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdint.h>

#include "signal_slot.h"

/* A growing byte buffer (PyMem_Raw: usable without the GIL). */
typedef struct wbuf {
    unsigned char *buf;
    size_t len, cap;
} wbuf;

/* Room for more bytes after len; -1 with MemoryError set. */
int wb_reserve(wbuf *w, size_t more);

/* codec.c: the Python value format (see there). codec_put appends v;
 * codec_get reads one value (used: bytes read); codec_get_args reads an
 * arguments tuple that fills data exactly; codec_from_typed converts the
 * arguments of a typed signal (signal_slot/payload.h). GIL held. */
int codec_put(wbuf *w, PyObject *v, int depth);
PyObject *codec_get(const void *data, size_t len, size_t *used);
PyObject *codec_get_args(const void *data, size_t len);
PyObject *codec_from_typed(const ss_args *args);
/* Write the values of the sequence args as a payload of signature sig
 * (one value per complete type: ints, floats, str, bytes, sequences for
 * arrays, dicts with str keys for maps, variants inferred); -1 with
 * TypeError, OverflowError or ValueError set if they do not fit. */
int codec_put_typed(ss_writer *w, const char *sig, PyObject *args);

/* pyqueue.c: the Queue type, added to module m. */
int pyqueue_init(PyObject *m);

#endif
