/*
 * payload.c - typed payloads: signatures, the writer, the validating
 * reader, ss_pack/ss_unpack and the text rendering (docs/wire-format.md).
 *
 * Decoding trusts nothing: ss_reader_init() walks the whole payload once
 * and checks every length against the bytes that remain before it is
 * used, so that the getters can then hand out values cheaply. Every type
 * takes at least one byte, so no count can make a loop run longer than the
 * payload, and the level limit (SS_PAYLOAD_MAX_DEPTH, variants included)
 * bounds every recursion. The getters re-check the lengths they use all
 * the same, as a second line of defence.
 *
 * The writer checks each value against the type its container expects.
 * It keeps no pointer to the caller's signatures: the element type of the
 * outermost container is copied into root_sig, a variant's signature is in
 * the output itself, and nested containers refer into their parent's type,
 * by offset (the output may move when it grows).
 */
#include "ss_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_MAX SS_SIGNATURE_MAX_LEN
#define MAX_LEVEL SS_PAYLOAD_MAX_DEPTH

/* Kinds of open containers (writer and reader frames). */
enum { K_TOP, K_ARRAY, K_MAP, K_VARIANT };

static const unsigned char no_bytes[1];

/* ---- signatures ---- */

/*
 * Parse the one complete type at s, reading at most max characters, for a
 * value at level lvl. Returns its length, or 0 if it is invalid or would
 * put a value deeper than MAX_LEVEL. Stops at the first character that
 * makes it invalid (a NUL included), so it never reads past the end of a C
 * string nor past the end of a valid type.
 */
static size_t sig_type(const char *s, size_t max, unsigned lvl)
{
    size_t n;

    if (max == 0)
        return 0;
    switch (s[0]) {
    case 'b':
    case 'i':
    case 'u':
    case 'x':
    case 't':
    case 'd':
    case 's':
    case 'y':
    case 'p':
        return 1;
    case 'v':
        return lvl < MAX_LEVEL ? 1 : 0;
    case 'a':
        if (lvl >= MAX_LEVEL)
            return 0;
        n = sig_type(s + 1, max - 1, lvl + 1);
        return n ? n + 1 : 0;
    case '{':
        if (lvl >= MAX_LEVEL)
            return 0;
        n = sig_type(s + 1, max - 1, lvl + 1);
        if (n == 0 || n + 1 >= max || s[n + 1] != '}')
            return 0;
        return n + 2;
    default:
        return 0;
    }
}

/* Length of the complete type at s, which is known to be valid. */
static size_t type_len(const char *s)
{
    size_t i = 0;
    while (s[i] == 'a')
        i++;
    if (s[i] != '{')
        return i + 1;
    i++;
    i += type_len(s + i);
    return i + 1; /* the '}' */
}

/* Size of a fixed-size basic type, 0 for the others. */
static size_t fixed_size(char c)
{
    switch (c) {
    case 'b':
        return 1;
    case 'i':
    case 'u':
        return 4;
    case 'x':
    case 't':
    case 'd':
    case 'p':
        return 8;
    default:
        return 0;
    }
}

/* Whether the types at a and b are the same; b is known to be valid, and
 * a is parsed for a value at level lvl. */
static bool type_eq(const char *a, unsigned lvl, const char *b)
{
    size_t n = sig_type(a, SIG_MAX, lvl);
    return n != 0 && n == type_len(b) && memcmp(a, b, n) == 0;
}

SS_API int ss_signature_validate(const char *sig, size_t *n_types)
{
    size_t pos = 0, n = 0;

    if (!sig)
        return SS_EINVAL;
    while (sig[pos] != '\0') {
        size_t t = sig_type(sig + pos, SIG_MAX - pos, 0);
        if (t == 0)
            return SS_ESIGNATURE; /* bad type, or longer than SIG_MAX */
        pos += t;
        n++;
    }
    if (n_types)
        *n_types = n;
    return 0;
}

SS_API bool ss_signature_equal(const char *a, const char *b)
{
    return ss_signature_validate(a, NULL) == 0 &&
           ss_signature_validate(b, NULL) == 0 && strcmp(a, b) == 0;
}

SS_API size_t ss_signature_type_len(const char *sig)
{
    return sig ? sig_type(sig, SIG_MAX, 0) : 0;
}

/* ---- validation ---- */

/*
 * Check the string at d[*pos..end) (u32 length, bytes without NUL, NUL)
 * and move *pos past it.
 */
static int val_string(const unsigned char *d, size_t *pos, size_t end)
{
    size_t p = *pos, room = end - p;
    if (room < 5)
        return SS_EMALFORMED;
    size_t n = ss__ld_le32(d + p);
    if (n > room - 5 || d[p + 4 + n] != 0 || memchr(d + p + 4, 0, n))
        return SS_EMALFORMED;
    *pos = p + 5 + n;
    return 0;
}

/*
 * Check one value of type s (valid for level lvl) at d[*pos..end) and move
 * *pos past it. Returns 0, SS_EMALFORMED, or SS_ETYPE for a pointer that
 * flags refuse. Recursion is bounded by the levels: at most MAX_LEVEL + 1.
 */
static int val_value(const char *s, const unsigned char *d, size_t *pos,
                     size_t end, unsigned lvl, unsigned flags)
{
    size_t p = *pos, room = end - p, fs;
    int rc;

    switch (*s) {
    case 'b':
        if (room < 1 || d[p] > 1)
            return SS_EMALFORMED;
        *pos = p + 1;
        return 0;
    case 'p':
        if (flags & SS_PAYLOAD_NO_POINTER)
            return SS_ETYPE;
        /* fall through */
    case 'i':
    case 'u':
    case 'x':
    case 't':
    case 'd':
        fs = fixed_size(*s);
        if (room < fs)
            return SS_EMALFORMED;
        *pos = p + fs;
        return 0;
    case 's':
        return val_string(d, pos, end);
    case 'y': {
        if (room < 4)
            return SS_EMALFORMED;
        size_t n = ss__ld_le32(d + p);
        if (n > room - 4)
            return SS_EMALFORMED;
        *pos = p + 4 + n;
        return 0;
    }
    case 'a':
    case '{': {
        if (room < 8)
            return SS_EMALFORMED;
        size_t count = ss__ld_le32(d + p), n = ss__ld_le32(d + p + 4);
        /* Every element takes at least one byte. */
        if (n > room - 8 || count > n)
            return SS_EMALFORMED;
        size_t sub = p + 8, sub_end = sub + n;
        const char *elem = s + 1;
        if (*s == 'a' && (fs = fixed_size(*elem)) != 0) {
            /* Fixed-size elements: the length says it all. */
            if ((uint64_t)count * fs != n)
                return SS_EMALFORMED;
            if (*elem == 'b') {
                for (size_t i = 0; i < n; i++)
                    if (d[sub + i] > 1)
                        return SS_EMALFORMED;
            }
            if (*elem == 'p' && count > 0 && (flags & SS_PAYLOAD_NO_POINTER))
                return SS_ETYPE;
            *pos = sub_end;
            return 0;
        }
        for (size_t i = 0; i < count; i++) {
            if (*s == '{' && (rc = val_string(d, &sub, sub_end)) != 0)
                return rc;
            rc = val_value(elem, d, &sub, sub_end, lvl + 1, flags);
            if (rc != 0)
                return rc;
        }
        if (sub != sub_end)
            return SS_EMALFORMED;
        *pos = sub_end;
        return 0;
    }
    case 'v': {
        if (room < 1)
            return SS_EMALFORMED;
        size_t sl = d[p];
        if (sl == 0 || sl > room - 1)
            return SS_EMALFORMED;
        const char *inner = (const char *)d + p + 1;
        /* The content is at level lvl + 1: its signature is checked from
         * there, which is what bounds nesting through variants. */
        if (sig_type(inner, sl, lvl + 1) != sl)
            return SS_EMALFORMED;
        size_t sub = p + 1 + sl;
        rc = val_value(inner, d, &sub, end, lvl + 1, flags);
        if (rc != 0)
            return rc;
        *pos = sub;
        return 0;
    }
    default:
        return SS_EMALFORMED; /* not reached: s is a valid type */
    }
}

/* Internal flag of val_payload(): sig is known valid (a declared signal's),
 * so its types are walked, not checked again. */
#define VAL_SIG_VALID 0x80000000u

/*
 * Check sig and that data[0..len) is exactly a sequence of values of its
 * types, in one pass. A bad signature wins over bad data. *n_types
 * receives the number of types.
 */
static int val_payload(const char *sig, const void *data, size_t len,
                       unsigned flags, size_t *n_types)
{
    const unsigned char *d = data ? data : no_bytes;
    size_t pos = 0, spos = 0, n = 0;
    int data_rc = 0;

    if (!sig || (!data && len > 0))
        return SS_EINVAL;
    while (sig[spos] != '\0') {
        size_t t = (flags & VAL_SIG_VALID)
                       ? type_len(sig + spos)
                       : sig_type(sig + spos, SIG_MAX - spos, 0);
        if (t == 0)
            return SS_ESIGNATURE;
        if (data_rc == 0)
            data_rc = val_value(sig + spos, d, &pos, len, 0, flags);
        spos += t;
        n++;
    }
    *n_types = n;
    if (data_rc != 0)
        return data_rc;
    return pos == len ? 0 : SS_EMALFORMED;
}

int ss__payload_validate_n(const char *sig, const void *data, size_t len,
                           unsigned flags, size_t *n_types)
{
    return val_payload(sig, data, len, flags | VAL_SIG_VALID, n_types);
}

SS_API int ss_payload_validate_flags(const char *sig, const void *data,
                                     size_t len, unsigned flags)
{
    size_t n;
    return val_payload(sig, data, len, flags, &n);
}

SS_API int ss_payload_validate(const char *sig, const void *data, size_t len)
{
    return ss_payload_validate_flags(sig, data, len, 0);
}

/*
 * Where the value of type t starting at d[pos] ends, from its length
 * fields alone (the value was validated; this only re-checks bounds).
 * Reads only t's first character and, for variants, the signatures in the
 * data, so a damaged payload cannot lead it astray.
 */
static int value_end(const char *t, const unsigned char *d, size_t pos,
                     size_t end, unsigned budget, size_t *out)
{
    size_t room = end - pos, n, fs;

    switch (*t) {
    case 's':
    case 'y':
        if (room < 4)
            return SS_EMALFORMED;
        n = (size_t)ss__ld_le32(d + pos) + 4 + (*t == 's');
        break;
    case 'a':
    case '{':
        if (room < 8)
            return SS_EMALFORMED;
        n = (size_t)ss__ld_le32(d + pos + 4) + 8;
        break;
    case 'v': {
        if (room < 1 || budget == 0)
            return SS_EMALFORMED;
        size_t sl = d[pos];
        if (sl == 0 || sl > room - 1)
            return SS_EMALFORMED;
        return value_end((const char *)d + pos + 1, d, pos + 1 + sl, end,
                         budget - 1, out);
    }
    default:
        if ((fs = fixed_size(*t)) == 0)
            return SS_EMALFORMED;
        n = fs;
        break;
    }
    if (n > room)
        return SS_EMALFORMED;
    *out = pos + n;
    return 0;
}

/* ---- writer ---- */

SS_API void ss_writer_init(ss_writer *w, void *buf, size_t size)
{
    w->user_buf = buf;
    w->user_cap = buf ? size : 0;
    w->buf = w->user_buf;
    w->cap = w->user_cap;
    w->len = 0;
    w->err = 0;
    w->depth = 0;
}

SS_API void ss_writer_reset(ss_writer *w)
{
    w->len = 0;
    w->err = 0;
    w->depth = 0;
}

SS_API void ss_writer_free(ss_writer *w)
{
    if (w->buf != w->user_buf)
        free(w->buf);
    ss_writer_init(w, w->user_buf, w->user_cap);
}

SS_API bool ss_writer_allocated(const ss_writer *w)
{
    return w->buf != w->user_buf;
}

SS_API int ss_writer_error(const ss_writer *w)
{
    return w->err;
}

SS_API int ss_writer_data(const ss_writer *w, const void **data, size_t *len)
{
    if (data)
        *data = w->buf ? (const void *)w->buf : (const void *)no_bytes;
    if (len)
        *len = w->len;
    if (w->err)
        return w->err;
    return w->depth ? SS_ESTATE : 0;
}

static int w_fail(ss_writer *w, int rc)
{
    if (w->err == 0)
        w->err = rc;
    return rc;
}

/* Slow path of w_append(): move to a larger heap buffer. */
static int w_grow(ss_writer *w, size_t n)
{
    if (n > SIZE_MAX / 2 - w->len)
        return SS_ENOMEM;
    size_t need = w->len + n;
    size_t cap = w->cap < 64 ? 128 : w->cap;
    while (cap < need)
        cap *= 2;
    unsigned char *nb;
    if (w->buf != w->user_buf) {
        nb = realloc(w->buf, cap);
    } else {
        nb = malloc(cap);
        if (nb && w->len > 0)
            memcpy(nb, w->buf, w->len);
    }
    if (!nb)
        return SS_ENOMEM;
    w->buf = nb;
    w->cap = cap;
    return 0;
}

/* Reserve n bytes at the end of the output; NULL (and the sticky error
 * set) if memory runs out. */
static unsigned char *w_append(ss_writer *w, size_t n)
{
    if (SS_UNLIKELY(n > w->cap - w->len)) {
        int rc = w_grow(w, n);
        if (rc != 0) {
            w_fail(w, rc);
            return NULL;
        }
    }
    unsigned char *p = w->buf + w->len;
    w->len += n;
    return p;
}

/* The signature storage of frame f (root_sig or the output). */
static const char *w_sig(const ss_writer *w, const ss__wframe *f)
{
    return f->in_buf ? (const char *)w->buf + f->sig_off
                     : w->root_sig + f->sig_off;
}

/* The type the innermost container expects next: *exp = NULL at the top
 * level, where anything goes. */
static int w_expected(const ss_writer *w, const char **exp)
{
    *exp = NULL;
    if (w->depth == 0)
        return 0;
    const ss__wframe *f = &w->frames[w->depth - 1];
    switch (f->kind) {
    case K_MAP:
        *exp = f->want_value ? w_sig(w, f) : "s";
        return 0;
    case K_VARIANT:
        if (f->count != 0)
            return SS_ESTATE; /* it holds its one value already */
        /* fall through */
    default:
        *exp = w_sig(w, f);
        return 0;
    }
}

/* Check that a value of basic type code may come next. */
static int w_check(ss_writer *w, char code)
{
    const char *exp;
    int rc;
    if (w->err)
        return w->err;
    if (SS_UNLIKELY((rc = w_expected(w, &exp)) != 0))
        return w_fail(w, rc);
    if (exp && *exp != code)
        return w_fail(w, SS_ETYPE);
    return 0;
}

/* A value was completed in the innermost container. */
static void w_done(ss_writer *w)
{
    if (w->depth == 0)
        return;
    ss__wframe *f = &w->frames[w->depth - 1];
    switch (f->kind) {
    case K_MAP:
        if (f->want_value)
            f->count++;
        f->want_value = !f->want_value;
        break;
    case K_VARIANT:
        f->count = 1;
        break;
    default:
        f->count++;
        break;
    }
}

static int w_fixed(ss_writer *w, char code, uint64_t v, size_t size)
{
    int rc = w_check(w, code);
    if (rc != 0)
        return rc;
    unsigned char *p = w_append(w, size);
    if (!p)
        return w->err;
    if (size == 1)
        p[0] = (unsigned char)v;
    else if (size == 4)
        ss__st_le32(p, (uint32_t)v);
    else
        ss__st_le64(p, v);
    w_done(w);
    return 0;
}

SS_API int ss_writer_put_bool(ss_writer *w, bool v)
{
    return w_fixed(w, 'b', v ? 1 : 0, 1);
}

SS_API int ss_writer_put_int32(ss_writer *w, int32_t v)
{
    return w_fixed(w, 'i', (uint32_t)v, 4);
}

SS_API int ss_writer_put_uint32(ss_writer *w, uint32_t v)
{
    return w_fixed(w, 'u', v, 4);
}

SS_API int ss_writer_put_int64(ss_writer *w, int64_t v)
{
    return w_fixed(w, 'x', (uint64_t)v, 8);
}

SS_API int ss_writer_put_uint64(ss_writer *w, uint64_t v)
{
    return w_fixed(w, 't', v, 8);
}

SS_API int ss_writer_put_double(ss_writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return w_fixed(w, 'd', bits, 8);
}

SS_API int ss_writer_put_pointer(ss_writer *w, const void *p)
{
    return w_fixed(w, 'p', (uint64_t)(uintptr_t)p, 8);
}

/* Write s[0..len), known to hold no NUL, as a string. */
static int w_string(ss_writer *w, const char *s, size_t len)
{
    if (len > UINT32_MAX)
        return w_fail(w, SS_EMSGSIZE);
    unsigned char *p = w_append(w, len + 5);
    if (!p)
        return w->err;
    ss__st_le32(p, (uint32_t)len);
    memcpy(p + 4, s, len);
    p[4 + len] = 0;
    w_done(w);
    return 0;
}

SS_API int ss_writer_put_string(ss_writer *w, const char *s)
{
    int rc = w_check(w, 's');
    if (rc != 0)
        return rc;
    if (!s)
        return w_fail(w, SS_EINVAL);
    return w_string(w, s, strlen(s));
}

SS_API int ss_writer_put_stringn(ss_writer *w, const char *s, size_t len)
{
    int rc = w_check(w, 's');
    if (rc != 0)
        return rc;
    if ((!s && len > 0) || (len > 0 && memchr(s, 0, len)))
        return w_fail(w, SS_EINVAL);
    return w_string(w, len ? s : "", len);
}

SS_API int ss_writer_put_blob(ss_writer *w, const void *data, size_t len)
{
    int rc = w_check(w, 'y');
    if (rc != 0)
        return rc;
    if (!data && len > 0)
        return w_fail(w, SS_EINVAL);
    if (len > UINT32_MAX)
        return w_fail(w, SS_EMSGSIZE);
    unsigned char *p = w_append(w, len + 4);
    if (!p)
        return w->err;
    ss__st_le32(p, (uint32_t)len);
    if (len > 0)
        memcpy(p + 4, data, len);
    w_done(w);
    return 0;
}

SS_API int ss_writer_put_value(ss_writer *w, const ss_value *v)
{
    const char *exp;
    int rc;

    if (w->err)
        return w->err;
    if (!v || !v->sig || (!v->data && v->len > 0))
        return w_fail(w, SS_EINVAL);
    if ((rc = w_expected(w, &exp)) != 0)
        return w_fail(w, rc);
    /* Parsed for the level it lands at: it must not nest too deep here. */
    size_t n = sig_type(v->sig, SIG_MAX, w->depth);
    if (n == 0 || (exp && (n != type_len(exp) || memcmp(exp, v->sig, n))))
        return w_fail(w, SS_ESIGNATURE);
    const unsigned char *d = v->data ? v->data : no_bytes;
    size_t pos = 0;
    rc = val_value(v->sig, d, &pos, v->len, w->depth, 0);
    if (rc != 0 || pos != v->len)
        return w_fail(w, SS_EMALFORMED);
    unsigned char *p = w_append(w, v->len);
    if (!p)
        return w->err;
    if (v->len > 0)
        memcpy(p, d, v->len);
    w_done(w);
    return 0;
}

/*
 * Open an array ('a') or a map ('{') of element type elem. The element
 * signature is found in the expected type of the enclosing container (so
 * it lives as long as that one), or copied into root_sig at the top level.
 */
static int w_open(ss_writer *w, char code, const char *elem)
{
    const char *exp;
    int rc;

    if (w->err)
        return w->err;
    if (!elem)
        return w_fail(w, SS_EINVAL);
    if (w->depth >= MAX_LEVEL)
        return w_fail(w, SS_ESIGNATURE);
    size_t n = sig_type(elem, SIG_MAX, w->depth + 1);
    /* The whole container type must fit in a signature too. */
    if (n == 0 || elem[n] != '\0' || n + (code == 'a' ? 1 : 2) > SIG_MAX)
        return w_fail(w, SS_ESIGNATURE);
    if ((rc = w_expected(w, &exp)) != 0)
        return w_fail(w, rc);
    if (exp && (exp[0] != code || type_len(exp + 1) != n ||
                memcmp(exp + 1, elem, n) != 0))
        return w_fail(w, SS_ETYPE);

    ss__wframe nf;
    if (exp) {
        const ss__wframe *pf = &w->frames[w->depth - 1];
        nf.in_buf = pf->in_buf;
        nf.sig_off = pf->sig_off + 1; /* exp is the parent's own type */
    } else {
        memcpy(w->root_sig, elem, n + 1);
        nf.in_buf = 0;
        nf.sig_off = 0;
    }
    nf.start = w->len;
    nf.count = 0;
    nf.kind = code == 'a' ? K_ARRAY : K_MAP;
    nf.want_value = 0;
    unsigned char *p = w_append(w, 8); /* count, byte length: at the end */
    if (!p)
        return w->err;
    memset(p, 0, 8);
    w->frames[w->depth++] = nf;
    return 0;
}

SS_API int ss_writer_array_begin(ss_writer *w, const char *elem_sig)
{
    return w_open(w, 'a', elem_sig);
}

SS_API int ss_writer_map_begin(ss_writer *w, const char *value_sig)
{
    return w_open(w, '{', value_sig);
}

static int w_close(ss_writer *w, int kind)
{
    if (w->err)
        return w->err;
    if (w->depth == 0)
        return w_fail(w, SS_ESTATE);
    ss__wframe *f = &w->frames[w->depth - 1];
    if (f->kind != kind || (kind == K_MAP && f->want_value) ||
        (kind == K_VARIANT && f->count == 0))
        return w_fail(w, SS_ESTATE);
    if (kind != K_VARIANT) {
        size_t bytes = w->len - f->start - 8;
        if (bytes > UINT32_MAX)
            return w_fail(w, SS_EMSGSIZE);
        ss__st_le32(w->buf + f->start, f->count);
        ss__st_le32(w->buf + f->start + 4, (uint32_t)bytes);
    }
    w->depth--;
    w_done(w);
    return 0;
}

SS_API int ss_writer_array_end(ss_writer *w)
{
    return w_close(w, K_ARRAY);
}

SS_API int ss_writer_map_end(ss_writer *w)
{
    return w_close(w, K_MAP);
}

SS_API int ss_writer_variant_begin(ss_writer *w, const char *sig)
{
    const char *exp;
    int rc;

    if (w->err)
        return w->err;
    if (!sig)
        return w_fail(w, SS_EINVAL);
    if (w->depth >= MAX_LEVEL)
        return w_fail(w, SS_ESIGNATURE);
    size_t n = sig_type(sig, SIG_MAX, w->depth + 1);
    if (n == 0 || sig[n] != '\0')
        return w_fail(w, SS_ESIGNATURE);
    if ((rc = w_expected(w, &exp)) != 0)
        return w_fail(w, rc);
    if (exp && *exp != 'v')
        return w_fail(w, SS_ETYPE);
    size_t start = w->len;
    unsigned char *p = w_append(w, 1 + n);
    if (!p)
        return w->err;
    p[0] = (unsigned char)n;
    memcpy(p + 1, sig, n);
    /* The content's expected type is the copy just written. */
    ss__wframe nf = {.start = start,
                     .sig_off = start + 1,
                     .count = 0,
                     .kind = K_VARIANT,
                     .in_buf = 1,
                     .want_value = 0};
    w->frames[w->depth++] = nf;
    return 0;
}

SS_API int ss_writer_variant_end(ss_writer *w)
{
    return w_close(w, K_VARIANT);
}

SS_API int ss_vpack(ss_writer *w, const char *sig, va_list ap)
{
    int rc;

    if (w->err)
        return w->err;
    if (!sig)
        return w_fail(w, SS_EINVAL);
    const char *s = sig;
    if (w->depth == 0) {
        /* Basic values outside any container need no type bookkeeping:
         * write them straight; the first container, variant or invalid
         * character hands over to the general loop below. */
        for (;; s++) {
            unsigned char *p = NULL;
            switch (*s) {
            case '\0':
                return 0;
            case 'b': {
                int v = va_arg(ap, int);
                if ((p = w_append(w, 1)) != NULL)
                    p[0] = v != 0;
                break;
            }
            case 'i':
            case 'u': {
                uint32_t v = *s == 'i' ? (uint32_t)va_arg(ap, int32_t)
                                       : va_arg(ap, uint32_t);
                if ((p = w_append(w, 4)) != NULL)
                    ss__st_le32(p, v);
                break;
            }
            case 'x':
            case 't': {
                uint64_t v = *s == 'x' ? (uint64_t)va_arg(ap, int64_t)
                                       : va_arg(ap, uint64_t);
                if ((p = w_append(w, 8)) != NULL)
                    ss__st_le64(p, v);
                break;
            }
            case 'd': {
                double v = va_arg(ap, double);
                uint64_t bits;
                memcpy(&bits, &v, sizeof bits);
                if ((p = w_append(w, 8)) != NULL)
                    ss__st_le64(p, bits);
                break;
            }
            case 'p': {
                void *v = va_arg(ap, void *);
                if ((p = w_append(w, 8)) != NULL)
                    ss__st_le64(p, (uint64_t)(uintptr_t)v);
                break;
            }
            case 's': {
                const char *str = va_arg(ap, const char *);
                if (!str)
                    return w_fail(w, SS_EINVAL);
                if ((rc = w_string(w, str, strlen(str))) != 0)
                    return rc;
                continue;
            }
            case 'y': {
                const void *data = va_arg(ap, const void *);
                size_t len = va_arg(ap, size_t);
                if ((rc = ss_writer_put_blob(w, data, len)) != 0)
                    return rc;
                continue;
            }
            default:
                goto general;
            }
            if (!p)
                return w->err;
        }
    }
general:
    /* Each type is checked before its argument is taken. */
    for (; *s != '\0'; s += type_len(s)) {
        if (sig_type(s, SIG_MAX - (size_t)(s - sig), 0) == 0)
            return w_fail(w, SS_ESIGNATURE);
        switch (*s) {
        case 'b':
            rc = ss_writer_put_bool(w, va_arg(ap, int) != 0);
            break;
        case 'i':
            rc = ss_writer_put_int32(w, va_arg(ap, int32_t));
            break;
        case 'u':
            rc = ss_writer_put_uint32(w, va_arg(ap, uint32_t));
            break;
        case 'x':
            rc = ss_writer_put_int64(w, va_arg(ap, int64_t));
            break;
        case 't':
            rc = ss_writer_put_uint64(w, va_arg(ap, uint64_t));
            break;
        case 'd':
            rc = ss_writer_put_double(w, va_arg(ap, double));
            break;
        case 's':
            rc = ss_writer_put_string(w, va_arg(ap, const char *));
            break;
        case 'y': {
            const void *data = va_arg(ap, const void *);
            size_t len = va_arg(ap, size_t);
            rc = ss_writer_put_blob(w, data, len);
            break;
        }
        case 'p':
            rc = ss_writer_put_pointer(w, va_arg(ap, void *));
            break;
        default: { /* a, {, v: an encoded value of exactly this type */
            const ss_value *v = va_arg(ap, const ss_value *);
            if (!v || !v->sig)
                return w_fail(w, SS_EINVAL);
            if (!type_eq(v->sig, 0, s))
                return w_fail(w, SS_ESIGNATURE);
            rc = ss_writer_put_value(w, v);
            break;
        }
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

SS_API int(ss_pack)(ss_writer *w, const char *sig, ...)
{
    va_list ap;
    va_start(ap, sig);
    int rc = ss_vpack(w, sig, ap);
    va_end(ap);
    return rc;
}

/* ---- argument types (signal_slot/argcheck.h) ---- */

/* What an argument code of SS__ARGKIND() means, for the log. */
static const char *kind_name(char k)
{
    switch (k) {
    case 'I':
        return "an int (or a smaller integer)";
    case 'L':
        return "a 64-bit integer";
    case 'D':
        return "a double";
    case 'E':
        return "a long double";
    case 'S':
        return "a char pointer";
    case 'P':
        return "a void pointer";
    case 'V':
        return "an ss_value pointer";
    case 'b':
        return "a bool pointer";
    case 'i':
        return "an int32_t pointer";
    case 'u':
        return "a uint32_t pointer";
    case 'x':
        return "an int64_t pointer";
    case 't':
        return "a uint64_t pointer";
    case 'd':
        return "a double pointer";
    case 's':
        return "a char pointer pointer";
    case 'q':
        return "a void pointer pointer";
    default:
        return "a pointer of another type (or a struct)";
    }
}

/* The codes accepted for argument part (0, or 1: a blob's length) of type
 * letter c, and what the letter wants, for values or for outputs. Any
 * pointer may be NULL for an output ('P': NULL is a void pointer). */
static const char *kinds_ok(char c, int part, bool out, const char **want)
{
    static const char *const pointers = "SPV?bixutdsq";
    switch (c) {
    case 'b':
        *want = out ? "a bool *" : "an int (or a bool)";
        return out ? "bP" : "I";
    case 'i':
    case 'u':
        *want = out ? (c == 'i' ? "an int32_t *" : "a uint32_t *")
                    : (c == 'i' ? "an int32_t" : "a uint32_t");
        return out ? "iuP" : "I";
    case 'x':
    case 't':
        *want = out ? (c == 'x' ? "an int64_t *" : "a uint64_t *")
                    : (c == 'x' ? "an int64_t (write (int64_t)7, not 7)"
                                : "a uint64_t (write (uint64_t)7, not 7)");
        return out ? "xtP" : "L";
    case 'd':
        *want = out ? "a double *" : "a double (write 7.0, not 7)";
        return out ? "dP" : "D";
    case 's':
        *want = out ? "a const char **" : "a const char *";
        return out ? "sP" : "SP?";
    case 'y':
        if (part == 1) {
            *want = out ? "a size_t * (the length)"
                        : "a size_t (the length: cast it, (size_t)n)";
            return out ? "tP" : "L";
        }
        *want = out ? "a const void ** (the data)" : "a pointer (the data)";
        return out ? "qsP?" : pointers;
    case 'p':
        *want = out ? "a void **" : "a pointer";
        return out ? "qP?" : pointers;
    default: /* a, {, v: an ss_value (NULL, a void pointer, is refused
                by the call itself, or skips an output) */
        *want = "an ss_value *";
        return "VP";
    }
}

/* The fast check, for signatures of basic types, which is made on every
 * call: each argument code (SS__ARGKIND) is a bit, and each letter has the
 * set of bits it accepts, as values and as outputs (y: the data; its
 * length takes YLEN_*). The same sets as kinds_ok(), which explains a
 * mismatch. */
enum {
    K_I = 1 << 0, K_L = 1 << 1, K_D = 1 << 2, K_E = 1 << 3, K_S = 1 << 4,
    K_P = 1 << 5, K_V = 1 << 6, K_Q = 1 << 7, K_b = 1 << 8, K_i = 1 << 9,
    K_u = 1 << 10, K_x = 1 << 11, K_t = 1 << 12, K_d = 1 << 13,
    K_s = 1 << 14, K_q = 1 << 15,
    K_PTRS = K_S | K_P | K_V | K_Q | K_b | K_i | K_u | K_x | K_t | K_d |
             K_s | K_q,
    YLEN_IN = K_L, YLEN_OUT = K_t | K_P,
};

static const uint16_t kind_bit[128] = {
    ['I'] = K_I, ['L'] = K_L, ['D'] = K_D, ['E'] = K_E, ['S'] = K_S,
    ['P'] = K_P, ['V'] = K_V, ['?'] = K_Q, ['b'] = K_b, ['i'] = K_i,
    ['u'] = K_u, ['x'] = K_x, ['t'] = K_t, ['d'] = K_d, ['s'] = K_s,
    ['q'] = K_q,
};

static const uint16_t fits_in[128] = {
    ['b'] = K_I, ['i'] = K_I, ['u'] = K_I, ['x'] = K_L, ['t'] = K_L,
    ['d'] = K_D, ['s'] = K_S | K_P | K_Q, ['y'] = K_PTRS, ['p'] = K_PTRS,
};

static const uint16_t fits_out[128] = {
    ['b'] = K_b | K_P, ['i'] = K_i | K_u | K_P, ['u'] = K_i | K_u | K_P,
    ['x'] = K_x | K_t | K_P, ['t'] = K_x | K_t | K_P, ['d'] = K_d | K_P,
    ['s'] = K_s | K_P, ['y'] = K_q | K_s | K_Q | K_P, ['p'] = K_q | K_Q | K_P,
};

/* Whether the arguments kinds (after the signature's own code) fit sig,
 * a signature of basic types; false also for anything else (containers),
 * which the slow way then judges. */
static inline bool args_fit(const char *sig, const char *kinds, bool out)
{
    const uint16_t *fits = out ? fits_out : fits_in;
    const unsigned char *s = (const unsigned char *)sig;
    const unsigned char *k = (const unsigned char *)kinds + 1;
    for (; *s; s++, k++) {
        if (*s >= 128 || *k >= 128 || !(fits[*s] & kind_bit[*k]))
            return false;
        if (*s == 'y') {
            k++;
            if (*k >= 128 || !((out ? YLEN_OUT : YLEN_IN) & kind_bit[*k]))
                return false;
        }
    }
    return *k == 0;
}

int ss__args_check(const char *sig, const char *kinds, bool out, char *why,
                   size_t why_size)
{
    if (!sig || !kinds)
        return 0; /* the call itself reports a NULL */
    /* Fast path: basic types that all fit. Anything else (a container, a
     * mismatch, a count that differs) takes the way below, which also
     * says what is wrong. */
    if (args_fit(sig, kinds, out))
        return 0;
    const char *k = kinds + 1; /* kinds[0] is the signature's own */
    size_t arg = 0, nk = strlen(k);
    for (const char *t = sig; *t != '\0';) {
        size_t n = ss_signature_type_len(t);
        if (n == 0)
            return 0; /* invalid: the call reports SS_ESIGNATURE */
        for (int part = 0; part < (*t == 'y' ? 2 : 1); part++, arg++) {
            const char *want;
            const char *ok = kinds_ok(*t, part, out, &want);
            if (arg >= nk) {
                snprintf(why, why_size,
                         "\"%s\" needs more arguments than the %zu given "
                         "(%s for '%c')",
                         sig, nk, want, *t);
                return SS_ETYPE;
            }
            if (!strchr(ok, k[arg])) {
                snprintf(why, why_size,
                         "argument %zu (for '%c' of \"%s\") is %s; it must "
                         "be %s",
                         arg + 1, *t, sig, kind_name(k[arg]), want);
                return SS_ETYPE;
            }
        }
        t += n;
    }
    if (arg != nk) {
        snprintf(why, why_size,
                 "%zu arguments given, \"%s\" takes %zu", nk, sig, arg);
        return SS_ETYPE;
    }
    return 0;
}

SS_API int ss__pack_checked(ss_writer *w, const char *kinds, const char *sig,
                            ...)
{
    char why[256];
    if (w && !w->err && sig && kinds && !args_fit(sig, kinds, false) &&
        ss__args_check(sig, kinds, false, why, sizeof why)) {
        SS_LOG_ERR("payload", "ss_pack: %s; nothing written", why);
        return w_fail(w, SS_ETYPE);
    }
    va_list ap;
    va_start(ap, sig);
    int rc = ss_vpack(w, sig, ap);
    va_end(ap);
    return rc;
}

/* ---- reader ---- */

static int r_start(ss_reader *r, const char *sig, size_t n_types,
                   const void *data, size_t len, int err)
{
    r->data = data ? data : no_bytes;
    r->len = len;
    r->pos = 0;
    r->depth = 0;
    r->err = err;
    r->frames[0].sig = sig ? sig : "";
    r->frames[0].end = len;
    r->frames[0].left = err ? 0 : n_types;
    r->frames[0].kind = K_TOP;
    return err;
}

void ss__reader_init_valid(ss_reader *r, const char *sig, size_t n_types,
                           const void *data, size_t len)
{
    r_start(r, sig, n_types, data, len, 0);
}

SS_API int ss_reader_init(ss_reader *r, const char *sig, const void *data,
                          size_t len)
{
    size_t n = 0;
    int rc = val_payload(sig, data, len, 0, &n);
    return r_start(r, sig, n, data, len, rc);
}

SS_API int ss_reader_init_value(ss_reader *r, const ss_value *v)
{
    int rc = 0;

    if (!v || !v->sig || (!v->data && v->len > 0))
        return r_start(r, NULL, 0, NULL, 0, SS_EINVAL);
    if (sig_type(v->sig, SIG_MAX, 0) == 0)
        return r_start(r, NULL, 0, NULL, 0, SS_ESIGNATURE);
    size_t pos = 0;
    rc = val_value(v->sig, v->data ? v->data : no_bytes, &pos, v->len, 0, 0);
    if (rc == 0 && pos != v->len)
        rc = SS_EMALFORMED;
    return r_start(r, v->sig, 1, v->data, v->len, rc);
}

/* The type of the next value of the current container. */
static int r_next(const ss_reader *r, const char **type)
{
    if (SS_UNLIKELY(r->err))
        return r->err;
    const ss__rframe *f = &r->frames[r->depth];
    if (f->left == 0)
        return SS_ENOENT;
    *type = (f->kind == K_MAP && (f->left & 1) == 0) ? "s" : f->sig;
    return 0;
}

/* The next value (of type t) was consumed. */
static void r_advance(ss_reader *r, const char *t)
{
    ss__rframe *f = &r->frames[r->depth];
    f->left--;
    if (f->kind == K_TOP && f->left > 0)
        f->sig = t + type_len(t);
}

/* Bytes left in the current container. */
static size_t r_room(const ss_reader *r)
{
    return r->frames[r->depth].end - r->pos;
}

SS_API int ss_reader_peek(const ss_reader *r, const char **type, size_t *len)
{
    const char *t;
    int rc = r_next(r, &t);
    if (rc != 0)
        return rc;
    if (type)
        *type = t;
    if (len)
        *len = type_len(t);
    return 0;
}

SS_API bool ss_reader_at_end(const ss_reader *r)
{
    return r->err != 0 || r->frames[r->depth].left == 0;
}

/* Consume the next value, of fixed-size basic type code: *p receives
 * where its bytes are. */
static int r_fixed(ss_reader *r, char code, const unsigned char **p)
{
    const char *t;
    int rc = r_next(r, &t);
    if (rc != 0)
        return rc;
    if (*t != code)
        return SS_ETYPE;
    size_t n = fixed_size(code);
    if (SS_UNLIKELY(r_room(r) < n))
        return SS_EMALFORMED;
    *p = r->data + r->pos;
    r->pos += n;
    r_advance(r, t);
    return 0;
}

SS_API int ss_reader_get_bool(ss_reader *r, bool *out)
{
    const unsigned char *p;
    int rc = r_fixed(r, 'b', &p);
    if (rc == 0 && out)
        *out = *p != 0;
    return rc;
}

SS_API int ss_reader_get_int32(ss_reader *r, int32_t *out)
{
    const unsigned char *p;
    int rc = r_fixed(r, 'i', &p);
    if (rc == 0 && out)
        *out = (int32_t)ss__ld_le32(p);
    return rc;
}

SS_API int ss_reader_get_uint32(ss_reader *r, uint32_t *out)
{
    const unsigned char *p;
    int rc = r_fixed(r, 'u', &p);
    if (rc == 0 && out)
        *out = ss__ld_le32(p);
    return rc;
}

SS_API int ss_reader_get_int64(ss_reader *r, int64_t *out)
{
    const unsigned char *p;
    int rc = r_fixed(r, 'x', &p);
    if (rc == 0 && out)
        *out = (int64_t)ss__ld_le64(p);
    return rc;
}

SS_API int ss_reader_get_uint64(ss_reader *r, uint64_t *out)
{
    const unsigned char *p;
    int rc = r_fixed(r, 't', &p);
    if (rc == 0 && out)
        *out = ss__ld_le64(p);
    return rc;
}

SS_API int ss_reader_get_double(ss_reader *r, double *out)
{
    const unsigned char *p;
    int rc = r_fixed(r, 'd', &p);
    if (rc == 0 && out) {
        uint64_t bits = ss__ld_le64(p);
        memcpy(out, &bits, sizeof *out);
    }
    return rc;
}

SS_API int ss_reader_get_pointer(ss_reader *r, void **out)
{
    const unsigned char *p;
    int rc = r_fixed(r, 'p', &p);
    if (rc == 0 && out)
        *out = (void *)(uintptr_t)ss__ld_le64(p);
    return rc;
}

/* Consume the next value, a string ('s') or a blob ('y'). */
static int r_bytes(ss_reader *r, char code, const unsigned char **out,
                   size_t *len)
{
    const char *t;
    int rc = r_next(r, &t);
    if (rc != 0)
        return rc;
    if (*t != code)
        return SS_ETYPE;
    size_t room = r_room(r), extra = code == 's' ? 5 : 4;
    if (SS_UNLIKELY(room < extra))
        return SS_EMALFORMED;
    const unsigned char *p = r->data + r->pos;
    size_t n = ss__ld_le32(p);
    if (SS_UNLIKELY(n > room - extra || (code == 's' && p[4 + n] != 0)))
        return SS_EMALFORMED;
    *out = p + 4;
    *len = n;
    r->pos += n + extra;
    r_advance(r, t);
    return 0;
}

SS_API int ss_reader_get_string(ss_reader *r, const char **out, size_t *len)
{
    const unsigned char *p;
    size_t n;
    int rc = r_bytes(r, 's', &p, &n);
    if (rc == 0) {
        if (out)
            *out = (const char *)p;
        if (len)
            *len = n;
    }
    return rc;
}

SS_API int ss_reader_get_blob(ss_reader *r, const void **data, size_t *len)
{
    const unsigned char *p;
    size_t n;
    int rc = r_bytes(r, 'y', &p, &n);
    if (rc == 0) {
        if (data)
            *data = p;
        if (len)
            *len = n;
    }
    return rc;
}

SS_API int ss_reader_get_value(ss_reader *r, ss_value *out)
{
    const char *t;
    size_t end;
    int rc = r_next(r, &t);
    if (rc != 0)
        return rc;
    rc = value_end(t, r->data, r->pos, r->frames[r->depth].end, MAX_LEVEL + 1,
                   &end);
    if (rc != 0)
        return rc;
    if (out) {
        out->sig = t;
        out->data = r->data + r->pos;
        out->len = end - r->pos;
    }
    r->pos = end;
    r_advance(r, t);
    return 0;
}

SS_API int ss_reader_skip(ss_reader *r)
{
    return ss_reader_get_value(r, NULL);
}

/* Enter the next value, an array or a map. */
static int r_open(ss_reader *r, char code, size_t *count)
{
    const char *t;
    int rc = r_next(r, &t);
    if (rc != 0)
        return rc;
    if (*t != code)
        return SS_ETYPE;
    size_t room = r_room(r);
    if (SS_UNLIKELY(room < 8 || r->depth >= MAX_LEVEL))
        return SS_EMALFORMED;
    const unsigned char *p = r->data + r->pos;
    size_t c = ss__ld_le32(p), n = ss__ld_le32(p + 4);
    if (SS_UNLIKELY(n > room - 8 || c > n))
        return SS_EMALFORMED;
    r_advance(r, t);
    ss__rframe *f = &r->frames[++r->depth];
    f->sig = t + 1;
    f->end = r->pos + 8 + n;
    f->left = code == 'a' ? c : 2 * c;
    f->kind = code == 'a' ? K_ARRAY : K_MAP;
    r->pos += 8;
    if (count)
        *count = c;
    return 0;
}

/* Leave the innermost container, which must be of this kind. */
static int r_close(ss_reader *r, int kind)
{
    if (r->err)
        return r->err;
    if (r->depth == 0 || r->frames[r->depth].kind != kind)
        return SS_ESTATE;
    r->pos = r->frames[r->depth].end;
    r->depth--;
    return 0;
}

SS_API int ss_reader_array_begin(ss_reader *r, size_t *count)
{
    return r_open(r, 'a', count);
}

SS_API int ss_reader_array_end(ss_reader *r)
{
    return r_close(r, K_ARRAY);
}

SS_API int ss_reader_map_begin(ss_reader *r, size_t *count)
{
    return r_open(r, '{', count);
}

SS_API int ss_reader_map_next(ss_reader *r, const char **key, size_t *key_len)
{
    if (r->err)
        return r->err;
    const ss__rframe *f = &r->frames[r->depth];
    if (r->depth == 0 || f->kind != K_MAP)
        return SS_ESTATE;
    if (f->left & 1) {
        int rc = ss_reader_skip(r); /* the previous entry's value */
        if (rc != 0)
            return rc;
    }
    return ss_reader_get_string(r, key, key_len);
}

SS_API int ss_reader_map_end(ss_reader *r)
{
    return r_close(r, K_MAP);
}

SS_API int ss_reader_variant_begin(ss_reader *r, const char **sig,
                                   size_t *sig_len)
{
    const char *t;
    size_t end;
    int rc = r_next(r, &t);
    if (rc != 0)
        return rc;
    if (*t != 'v')
        return SS_ETYPE;
    size_t room = r_room(r);
    if (SS_UNLIKELY(room < 1 || r->depth >= MAX_LEVEL))
        return SS_EMALFORMED;
    const unsigned char *p = r->data + r->pos;
    size_t sl = p[0];
    const char *inner = (const char *)p + 1;
    /* Checked again (cheap): the frame will point at it. */
    if (SS_UNLIKELY(sl == 0 || sl > room - 1 ||
                    sig_type(inner, sl, r->depth + 1) != sl))
        return SS_EMALFORMED;
    rc = value_end(inner, r->data, r->pos + 1 + sl, r->frames[r->depth].end,
                   MAX_LEVEL + 1, &end);
    if (rc != 0)
        return rc;
    r_advance(r, t);
    ss__rframe *f = &r->frames[++r->depth];
    f->sig = inner;
    f->end = end;
    f->left = 1;
    f->kind = K_VARIANT;
    r->pos += 1 + sl;
    if (sig)
        *sig = inner;
    if (sig_len)
        *sig_len = sl;
    return 0;
}

SS_API int ss_reader_variant_end(ss_reader *r)
{
    return r_close(r, K_VARIANT);
}

/*
 * ss__unpack_valid - ss_vunpack() of a whole payload already validated
 * against sig (n_types values). A signature of basic types only is decoded
 * straight from the bytes, without the reader's checks (validation did
 * them); containers and variants go through a reader.
 */
int ss__unpack_valid(const char *sig, size_t n_types, const void *data,
                     size_t len, va_list ap)
{
    if (strpbrk(sig, "a{v") != NULL) {
        ss_reader r;
        r_start(&r, sig, n_types, data, len, 0);
        return ss_vunpack(&r, sig, ap);
    }
    const unsigned char *d = data;
    size_t p = 0;
    for (const char *s = sig; *s; s++) {
        uint64_t v;
        size_t n;
        switch (*s) {
        case 'b': {
            bool *o = va_arg(ap, bool *);
            if (o)
                *o = d[p] != 0;
            p += 1;
            break;
        }
        case 'i':
        case 'u': {
            uint32_t *o = va_arg(ap, uint32_t *);
            if (o)
                *o = ss__ld_le32(d + p);
            p += 4;
            break;
        }
        case 'x':
        case 't':
        case 'd': {
            void *o = va_arg(ap, void *);
            v = ss__ld_le64(d + p);
            if (o)
                memcpy(o, &v, sizeof v);
            p += 8;
            break;
        }
        case 'p': {
            void **o = va_arg(ap, void **);
            if (o)
                *o = (void *)(uintptr_t)ss__ld_le64(d + p);
            p += 8;
            break;
        }
        case 's': {
            const char **o = va_arg(ap, const char **);
            n = ss__ld_le32(d + p);
            if (o)
                *o = (const char *)d + p + 4;
            p += 5 + n;
            break;
        }
        case 'y': {
            const void **o = va_arg(ap, const void **);
            size_t *ol = va_arg(ap, size_t *);
            n = ss__ld_le32(d + p);
            if (o)
                *o = d + p + 4;
            if (ol)
                *ol = n;
            p += 4 + n;
            break;
        }
        default:
            return SS_EMALFORMED; /* not reached: sig is valid */
        }
    }
    return 0;
}

SS_API int ss_vunpack(ss_reader *r, const char *sig, va_list ap)
{
    int rc;

    if (r->err)
        return r->err;
    if (!sig)
        return SS_EINVAL;

    /* Check every type first, on a copy of the frame: consume nothing
     * unless all match. A type of sig that matches one of the payload's is
     * valid; on a mismatch sig itself is checked, for the right error. */
    ss__rframe f = r->frames[r->depth];
    const char *s = sig;
    rc = 0;
    while (*s != '\0') {
        if (f.left == 0) {
            rc = SS_ENOENT;
            break;
        }
        const char *t = (f.kind == K_MAP && (f.left & 1) == 0) ? "s" : f.sig;
        size_t n = type_len(t);
        if (strncmp(s, t, n) != 0) {
            rc = SS_ETYPE;
            break;
        }
        s += n;
        f.left--;
        if (f.kind == K_TOP)
            f.sig = t + n;
    }
    if (rc != 0 || s - sig > SIG_MAX)
        return ss_signature_validate(sig, NULL) != 0 ? SS_ESIGNATURE : rc;

    for (s = sig; *s != '\0' && rc == 0; s += type_len(s)) {
        switch (*s) {
        case 'b':
            rc = ss_reader_get_bool(r, va_arg(ap, bool *));
            break;
        case 'i':
            rc = ss_reader_get_int32(r, va_arg(ap, int32_t *));
            break;
        case 'u':
            rc = ss_reader_get_uint32(r, va_arg(ap, uint32_t *));
            break;
        case 'x':
            rc = ss_reader_get_int64(r, va_arg(ap, int64_t *));
            break;
        case 't':
            rc = ss_reader_get_uint64(r, va_arg(ap, uint64_t *));
            break;
        case 'd':
            rc = ss_reader_get_double(r, va_arg(ap, double *));
            break;
        case 's':
            rc = ss_reader_get_string(r, va_arg(ap, const char **), NULL);
            break;
        case 'y': {
            const void **data = va_arg(ap, const void **);
            size_t *len = va_arg(ap, size_t *);
            rc = ss_reader_get_blob(r, data, len);
            break;
        }
        case 'p':
            rc = ss_reader_get_pointer(r, va_arg(ap, void **));
            break;
        default:
            rc = ss_reader_get_value(r, va_arg(ap, ss_value *));
            break;
        }
    }
    return rc;
}

SS_API int(ss_unpack)(ss_reader *r, const char *sig, ...)
{
    va_list ap;
    va_start(ap, sig);
    int rc = ss_vunpack(r, sig, ap);
    va_end(ap);
    return rc;
}

SS_API int ss__unpack_checked(ss_reader *r, const char *kinds,
                              const char *sig, ...)
{
    char why[256];
    if (ss__args_check(sig, kinds, true, why, sizeof why)) {
        SS_LOG_ERR("payload", "ss_unpack: %s; nothing read", why);
        return SS_ETYPE;
    }
    va_list ap;
    va_start(ap, sig);
    int rc = ss_vunpack(r, sig, ap);
    va_end(ap);
    return rc;
}

/* ---- text rendering ---- */

/* Output of ss_payload_format(): what does not fit is dropped and noted. */
typedef struct fmt {
    char *out;
    size_t size, pos;
    bool full;
} fmt;

static void f_put(fmt *f, const char *s, size_t n)
{
    if (f->full)
        return;
    size_t room = f->size > 0 ? f->size - 1 - f->pos : 0;
    if (n > room) {
        n = room;
        f->full = true;
    }
    if (n > 0)
        memcpy(f->out + f->pos, s, n);
    f->pos += n;
}

static void f_str(fmt *f, const char *s)
{
    f_put(f, s, strlen(s));
}

static void SS_PRINTF(2, 3) f_printf(fmt *f, const char *fmt_, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt_);
    int n = vsnprintf(tmp, sizeof tmp, fmt_, ap);
    va_end(ap);
    if (n > 0)
        f_put(f, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* The shortest %g form that reads back as the same double, with ".0"
 * added to integral values so that they do not look like integers. */
static void f_double(fmt *f, double v)
{
    char tmp[40];
    int prec;
    for (prec = 15; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    if (strspn(tmp, "-0123456789") == strlen(tmp))
        strcat(tmp, ".0");
    f_str(f, tmp);
}

static void f_quoted(fmt *f, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    f_put(f, "\"", 1);
    for (size_t i = 0; i < n && !f->full; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[4] = {'\\', 0, 0, 0};
        size_t en = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                esc[1] = 'x';
                esc[2] = hex[c >> 4];
                esc[3] = hex[c & 15];
                en = 4;
            } else {
                esc[0] = (char)c;
                en = 1;
            }
        }
        f_put(f, esc, en);
    }
    f_put(f, "\"", 1);
}

static void f_blob(fmt *f, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    f_put(f, "x'", 2);
    for (size_t i = 0; i < n && !f->full; i++) {
        char h[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
        f_put(f, h, 2);
    }
    f_put(f, "'", 1);
}

/* Render the next value of r (validated). */
static int f_value(fmt *f, ss_reader *r)
{
    const char *t, *s;
    const void *vp;
    size_t n;
    int rc;

    if ((rc = ss_reader_peek(r, &t, NULL)) != 0)
        return rc;
    switch (*t) {
    case 'b': {
        bool b = false;
        rc = ss_reader_get_bool(r, &b);
        f_str(f, b ? "true" : "false");
        return rc;
    }
    case 'i': {
        int32_t v = 0;
        rc = ss_reader_get_int32(r, &v);
        f_printf(f, "%" PRId32, v);
        return rc;
    }
    case 'u': {
        uint32_t v = 0;
        rc = ss_reader_get_uint32(r, &v);
        f_printf(f, "%" PRIu32, v);
        return rc;
    }
    case 'x': {
        int64_t v = 0;
        rc = ss_reader_get_int64(r, &v);
        f_printf(f, "%" PRId64, v);
        return rc;
    }
    case 't': {
        uint64_t v = 0;
        rc = ss_reader_get_uint64(r, &v);
        f_printf(f, "%" PRIu64, v);
        return rc;
    }
    case 'd': {
        double v = 0;
        rc = ss_reader_get_double(r, &v);
        f_double(f, v);
        return rc;
    }
    case 'p': {
        void *v = NULL;
        rc = ss_reader_get_pointer(r, &v);
        f_printf(f, "ptr(0x%" PRIxPTR ")", (uintptr_t)v);
        return rc;
    }
    case 's':
        if ((rc = ss_reader_get_string(r, &s, &n)) == 0)
            f_quoted(f, s, n);
        return rc;
    case 'y':
        if ((rc = ss_reader_get_blob(r, &vp, &n)) == 0)
            f_blob(f, vp, n);
        return rc;
    case 'a':
        if ((rc = ss_reader_array_begin(r, NULL)) != 0)
            return rc;
        f_put(f, "[", 1);
        for (bool first = true; !ss_reader_at_end(r) && !f->full;
             first = false) {
            if (!first)
                f_put(f, ", ", 2);
            if ((rc = f_value(f, r)) != 0)
                return rc;
        }
        f_put(f, "]", 1);
        return ss_reader_array_end(r);
    case '{':
        if ((rc = ss_reader_map_begin(r, NULL)) != 0)
            return rc;
        f_put(f, "{", 1);
        for (bool first = true; !f->full; first = false) {
            if ((rc = ss_reader_map_next(r, &s, &n)) == SS_ENOENT)
                break;
            if (rc != 0)
                return rc;
            if (!first)
                f_put(f, ", ", 2);
            f_quoted(f, s, n);
            f_put(f, ": ", 2);
            if ((rc = f_value(f, r)) != 0)
                return rc;
        }
        f_put(f, "}", 1);
        return ss_reader_map_end(r);
    case 'v':
        if ((rc = ss_reader_variant_begin(r, NULL, NULL)) != 0)
            return rc;
        f_put(f, "<", 1);
        if ((rc = f_value(f, r)) != 0)
            return rc;
        f_put(f, ">", 1);
        return ss_reader_variant_end(r);
    default:
        return SS_EMALFORMED;
    }
}

SS_API int ss_payload_format(const char *sig, const void *data, size_t len,
                             char *out, size_t size)
{
    ss_reader r;
    fmt f = {out, out ? size : 0, 0, false};
    int rc = ss_reader_init(&r, sig, data, len);

    if (rc != 0) {
        if (f.size > 0)
            snprintf(out, f.size, "<invalid payload: %s>", ss_strerror(rc));
        return rc;
    }
    f_put(&f, "(", 1);
    for (bool first = true; !ss_reader_at_end(&r) && !f.full; first = false) {
        if (!first)
            f_put(&f, ", ", 2);
        if ((rc = f_value(&f, &r)) != 0)
            break;
    }
    f_put(&f, ")", 1);
    if (f.size == 0)
        return rc ? rc : SS_ENOBUFS;
    if (f.full && f.size >= 4)
        memcpy(out + f.size - 4, "...", 3);
    out[f.pos] = '\0';
    if (rc != 0)
        return rc;
    return f.full ? SS_ENOBUFS : 0;
}
