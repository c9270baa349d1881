/*
 * signal_slot/payload.h - typed payloads: the values a signal carries,
 * encoded as one byte string that can travel in a message queue.
 *
 * A payload is described by a signature, a string of type codes:
 *
 *   b bool      i int32     u uint32    x int64     t uint64    d double
 *   s string (UTF-8 or any bytes but NUL)        y blob (any bytes)
 *   p pointer (void *, meaningful only inside the process that wrote it)
 *   aT array of T      {T} map from string keys to values of type T
 *   v variant: a value that carries its own signature (one complete type)
 *
 * A signature is a sequence of complete types: "xs" is an int64 then a
 * string, "{v}i" a map of variants then an int32, "a{ad}" an array of maps
 * from strings to arrays of doubles. "" is the empty sequence. Signatures
 * are at most SS_SIGNATURE_MAX_LEN characters, and values nest at most
 * SS_PAYLOAD_MAX_DEPTH levels deep (variants count). The text is canonical: two
 * signatures describe the same types if and only if they are equal strings.
 *
 * The encoding is little-endian with no padding; docs/wire-format.md
 * describes it byte by byte. Encoding goes through an ss_writer, decoding
 * through an ss_reader, which validates the whole payload once, up front,
 * so that a malformed or hostile payload is refused before any value is
 * handed out, and never makes the library read out of bounds.
 *
 * Threads: writers and readers are plain structs owned by the caller and
 * used by one thread at a time; every function is reentrant and keeps no
 * global state, so any number of threads may encode and decode at once.
 */
#ifndef SIGNAL_SLOT_PAYLOAD_H
#define SIGNAL_SLOT_PAYLOAD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signal_slot/error.h"
#include "signal_slot/argcheck.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest signature, in characters (the terminating NUL not counted). A
 * variant stores its signature's length in one byte. */
#define SS_SIGNATURE_MAX_LEN 255
/* Deepest nesting of arrays, maps and variants. A value at the top of a
 * payload is at level 0; the elements of an array, the values of a map and
 * the content of a variant at level L are at level L + 1; no level may
 * exceed SS_PAYLOAD_MAX_DEPTH. In a signature, 'a', '{' and 'v' each open a
 * level: "aaa...ai" with 32 'a' is the deepest array, and a variant's own
 * signature is checked from the level of its content, so the limit holds
 * through variants too (it bounds the decoder's recursion). */
#define SS_PAYLOAD_MAX_DEPTH 32

/* The type codes of a signature. */
enum ss_type {
    SS_TYPE_BOOL = 'b',
    SS_TYPE_INT32 = 'i',
    SS_TYPE_UINT32 = 'u',
    SS_TYPE_INT64 = 'x',
    SS_TYPE_UINT64 = 't',
    SS_TYPE_DOUBLE = 'd',
    SS_TYPE_STRING = 's',
    SS_TYPE_BLOB = 'y',
    SS_TYPE_POINTER = 'p',
    SS_TYPE_ARRAY = 'a',
    SS_TYPE_MAP = '{', /* closed by '}' */
    SS_TYPE_VARIANT = 'v',
};

/*
 * ss_value - a view of one value that is already encoded: its type and its
 * bytes. It is how containers and variants are passed whole to ss_pack()
 * and handed out by ss_reader_get_value() and ss_unpack(), so that a value
 * can be forwarded without being decoded.
 * sig points at the start of exactly one complete type; the type ends where
 * its syntax ends, so whatever follows it is not part of it (a view handed
 * out by a reader points into a longer signature or into the payload; use
 * ss_signature_type_len() to know its length). data/len are the encoded
 * value, in the format of docs/wire-format.md. The view owns nothing.
 */
typedef struct ss_value {
    const char *sig;
    const void *data;
    size_t len;
} ss_value;

/* ---- signatures ---- */

/*
 * ss_signature_validate - check that sig is a well-formed signature: known
 * type codes, complete types, "{T}" holding exactly one type, at most
 * SS_SIGNATURE_MAX_LEN characters, at most SS_PAYLOAD_MAX_DEPTH nested
 * levels. On success *n_types (if not NULL) receives the number of
 * complete types at the top level ("" has 0, "a{v}i" has 2; "{sv}" is
 * refused: a map's braces hold its value type only, keys are strings).
 * Errors: SS_ESIGNATURE; SS_EINVAL if sig is NULL.
 */
SS_API int ss_signature_validate(const char *sig, size_t *n_types);

/*
 * ss_signature_equal - whether a and b are valid signatures of the same
 * sequence of types. Signatures are canonical, so this is string equality
 * of two valid signatures; false if either is NULL or invalid.
 */
SS_API bool ss_signature_equal(const char *a, const char *b);

/*
 * ss_signature_type_len - the length in characters of the one complete
 * type that sig starts with, characters after it ignored (4 for "a{i}x",
 * 1 for "xs"), or 0 if sig does not start with a valid complete type.
 * Reads no further than the end of that type (or the first character that
 * makes it invalid), so it is safe on an ss_value's sig. Use it to compare
 * or print the sig of an ss_value.
 */
SS_API size_t ss_signature_type_len(const char *sig);

/* ---- writer ---- */

/* Internal: one open container of a writer. */
typedef struct ss__wframe {
    size_t start;       /* offset of the container's header in the output */
    size_t sig_off;     /* offset of its expected type, in root_sig or buf */
    uint32_t count;     /* elements (arrays), entries (maps), values so far */
    uint8_t kind;       /* array, map or variant */
    uint8_t in_buf;     /* sig_off is an offset into buf (a variant's sig) */
    uint8_t want_value; /* maps: a key was written, its value comes next */
} ss__wframe;

/*
 * ss_writer - encodes a payload into a growing buffer. Public so that it
 * can live on the stack; its fields are private (use the functions).
 * It starts in a buffer supplied by the caller, which may be NULL; when
 * that is too small the writer moves to a heap buffer of its own, so that
 * encoding into a large enough stack or thread-local buffer never
 * allocates (ss_writer_allocated() tells). The writer checks that what is
 * written inside a container matches the container's signature.
 * Errors are sticky: the first error is kept, and every later write
 * returns it without doing anything, so a run of writes can be checked
 * once at the end (ss_writer_data()).
 * About 1 KiB: fine on the stack. A writer is used by one thread at a
 * time.
 */
typedef struct ss_writer {
    unsigned char *buf; /* output: user_buf or a heap buffer */
    size_t len, cap;
    unsigned char *user_buf; /* the caller's buffer, never freed */
    size_t user_cap;
    int err;        /* sticky first error, 0 if none */
    unsigned depth; /* open containers */
    /* Expected element type of the outermost open container. */
    char root_sig[SS_SIGNATURE_MAX_LEN + 1];
    ss__wframe frames[SS_PAYLOAD_MAX_DEPTH];
} ss_writer;

/*
 * ss_writer_init - start writing into buf (size bytes, owned by the caller,
 * which must keep it alive and untouched while the writer uses it). buf may
 * be NULL (size is then ignored): the writer allocates on first write.
 * Never fails; needs no ss_writer_free() as long as it never allocated.
 */
SS_API void ss_writer_init(ss_writer *w, void *buf, size_t size);

/*
 * ss_writer_reset - forget what was written and any error, to encode a new
 * payload. A heap buffer the writer moved to is kept for reuse (so a reused
 * writer stops allocating once it is large enough); ss_writer_free()
 * releases it.
 */
SS_API void ss_writer_reset(ss_writer *w);

/*
 * ss_writer_free - release the writer's heap buffer, if any, and reset it
 * onto the caller's original buffer: the writer can be used again. Data
 * pointers obtained from it become invalid. Idempotent.
 */
SS_API void ss_writer_free(ss_writer *w);

/*
 * ss_writer_data - the payload written so far: *data (optional) receives a
 * pointer to it, owned by the writer and valid until its next write, reset
 * or free; *len (optional) its length. Returns the writer's sticky error,
 * or SS_ESTATE if a container is still open (the outputs are then set to
 * what is written so far), else 0.
 */
SS_API int ss_writer_data(const ss_writer *w, const void **data, size_t *len);

/* ss_writer_error - the writer's sticky error, 0 if none. */
SS_API int ss_writer_error(const ss_writer *w);

/* ss_writer_allocated - whether the writer moved to a heap buffer (since
 * init or the last ss_writer_free()). */
SS_API bool ss_writer_allocated(const ss_writer *w);

/*
 * ss_writer_put_bool ... ss_writer_put_pointer - write one value. At the top
 * level anything may be written (the signature is the caller's business);
 * inside a container, the value must be of the type the container expects.
 * Errors (sticky): SS_ETYPE (another type expected), SS_ESTATE (a variant
 * that already holds its value), SS_ENOMEM.
 */
SS_API int ss_writer_put_bool(ss_writer *w, bool v);
SS_API int ss_writer_put_int32(ss_writer *w, int32_t v);
SS_API int ss_writer_put_uint32(ss_writer *w, uint32_t v);
SS_API int ss_writer_put_int64(ss_writer *w, int64_t v);
SS_API int ss_writer_put_uint64(ss_writer *w, uint64_t v);
/* The double's 64 bits are copied as they are (NaN payloads included). */
SS_API int ss_writer_put_double(ss_writer *w, double v);
/* p is stored as a 64-bit number and never dereferenced. */
SS_API int ss_writer_put_pointer(ss_writer *w, const void *p);

/*
 * ss_writer_put_string - write the NUL-terminated string s (copied). Also
 * the way to write a map's keys. Errors: as above, SS_EINVAL if s is NULL,
 * SS_EMSGSIZE if longer than UINT32_MAX bytes.
 */
SS_API int ss_writer_put_string(ss_writer *w, const char *s);

/*
 * ss_writer_put_stringn - write the len bytes at s as a string (copied).
 * Errors: as ss_writer_put_string(); SS_EINVAL if they contain a NUL.
 */
SS_API int ss_writer_put_stringn(ss_writer *w, const char *s, size_t len);

/*
 * ss_writer_put_blob - write len bytes from data (copied; data may be NULL
 * if len is 0). Errors: as above, SS_EMSGSIZE beyond UINT32_MAX bytes.
 */
SS_API int ss_writer_put_blob(ss_writer *w, const void *data, size_t len);

/*
 * ss_writer_put_value - write the already-encoded value v (its bytes are
 * copied after being validated against v->sig). Inside a container,
 * v->sig must be the expected type.
 * Errors: SS_EINVAL (NULL), SS_ESIGNATURE (v->sig is not one valid type,
 * is not the expected one, or would nest too deep here), SS_EMALFORMED
 * (v->data is not exactly one valid value of that type), SS_ESTATE,
 * SS_ENOMEM.
 */
SS_API int ss_writer_put_value(ss_writer *w, const ss_value *v);

/*
 * ss_writer_array_begin - open an array whose elements are of type
 * elem_sig (one complete type, e.g. "i" or "{d}"); the caller writes the
 * elements, then calls ss_writer_array_end(), which fills in the count and
 * the byte length. elem_sig is copied or checked at once: it need not stay
 * valid. Inside a container, "a" + elem_sig must be the expected type.
 * Errors: SS_ESIGNATURE (not one valid type, or too deep), SS_ETYPE,
 * SS_ESTATE, SS_ENOMEM.
 */
SS_API int ss_writer_array_begin(ss_writer *w, const char *elem_sig);

/*
 * ss_writer_array_end - close the innermost open container, which must be
 * an array. Errors: SS_ESTATE (no array open), SS_EMSGSIZE (its elements
 * take more than UINT32_MAX bytes).
 */
SS_API int ss_writer_array_end(ss_writer *w);

/*
 * ss_writer_map_begin - open a map from strings to values of type
 * value_sig (one complete type). For each entry the caller writes the key
 * with ss_writer_put_string() and then the value; ss_writer_map_end()
 * closes it. Keys are not checked for uniqueness: entries are kept in the
 * order written. Errors: as ss_writer_array_begin().
 */
SS_API int ss_writer_map_begin(ss_writer *w, const char *value_sig);

/*
 * ss_writer_map_end - close the innermost open container, which must be a
 * map with no key waiting for its value. Errors: SS_ESTATE, SS_EMSGSIZE.
 */
SS_API int ss_writer_map_end(ss_writer *w);

/*
 * ss_writer_variant_begin - open a variant of type sig (one complete type);
 * the caller writes exactly one value of that type, then calls
 * ss_writer_variant_end(). Errors: as ss_writer_array_begin().
 */
SS_API int ss_writer_variant_begin(ss_writer *w, const char *sig);

/*
 * ss_writer_variant_end - close the innermost open container, which must
 * be a variant holding its value. Errors: SS_ESTATE.
 */
SS_API int ss_writer_variant_end(ss_writer *w);

/*
 * ss_pack - write a sequence of values of the types of sig, taken from the
 * arguments, like printf. The arguments, one per type unless noted:
 *   b int (0 is false)   i int32_t   u uint32_t   x int64_t   t uint64_t
 *   d double   s const char *   y const void *data, size_t len (two)
 *   p void *   a..., {...}, v: const ss_value *, whose sig must be that type
 * Pass exactly these types (write (int64_t)1, not 1, for an 'x'): in C11
 * ss_pack is a macro that checks them (signal_slot/argcheck.h) and fails
 * with SS_ETYPE, nothing written, on a mismatch. For 'v'
 * the view is of an encoded variant (its sig is "v"); to wrap some other
 * value in a variant, use ss_writer_variant_begin() and
 * ss_writer_put_value().
 * Works at the top level and inside containers, where each value is
 * checked like the ss_writer_put_*() functions do.
 * Errors (sticky): SS_ESIGNATURE (sig invalid, or an ss_value of another
 * type), and those of the put functions. On error the values before the
 * failing one are written.
 */
SS_API int ss_pack(ss_writer *w, const char *sig, ...);

/* ss_vpack - ss_pack() with a va_list (which it consumes). */
SS_API int ss_vpack(ss_writer *w, const char *sig, va_list ap);

/* ---- reader ---- */

/* Internal: one open container of a reader. */
typedef struct ss__rframe {
    const char *sig; /* top level: next type; else the element type */
    size_t end;      /* offset just past the container's bytes */
    size_t left;     /* values left (maps: keys and values each count) */
    int kind;        /* top, array, map or variant */
} ss__rframe;

/*
 * ss_reader - decodes a payload, value after value. Public so that it can
 * live on the stack; its fields are private (use the functions).
 * The reader keeps pointers to the signature and the data given to
 * ss_reader_init(): both must stay valid and unchanged while it is used
 * (a message in shared memory is copied out first, or read while no one
 * can write it), and the strings and blobs it hands out point into the
 * data (no copy). The getters re-check the lengths they use all the same,
 * as a second line of defence.
 * About 1 KiB: fine on the stack. A reader is used by one thread at a
 * time.
 */
typedef struct ss_reader {
    const unsigned char *data;
    size_t len, pos;
    int err;        /* 0, or why init failed */
    unsigned depth; /* open containers */
    ss__rframe frames[SS_PAYLOAD_MAX_DEPTH + 1];
} ss_reader;

/*
 * ss_reader_init - validate the payload data[0..len) against signature sig
 * in full, then position the reader on its first value.
 * Errors: SS_EINVAL (NULL sig, or NULL data with len > 0), SS_ESIGNATURE
 * (sig invalid), SS_EMALFORMED (data is not exactly a payload of type sig:
 * truncated, a length past the end, a bool other than 0 or 1, a NUL inside
 * a string, a variant with an invalid signature, nesting deeper than
 * SS_PAYLOAD_MAX_DEPTH, bytes left over...). After an error every other
 * reader call returns the same error.
 */
SS_API int ss_reader_init(ss_reader *r, const char *sig, const void *data,
                          size_t len);

/*
 * ss_reader_init_value - like ss_reader_init(), over a single value v (for
 * example one obtained with ss_reader_get_value()): the reader's top level
 * holds that one value.
 */
SS_API int ss_reader_init_value(ss_reader *r, const ss_value *v);

/*
 * ss_reader_peek - the type of the next value in the current container
 * (the top level, or the innermost container begun): *type receives a
 * pointer to it (into the signature, or into the payload for a variant's
 * content; not NUL-terminated), *type_len (optional) its length. Consumes
 * nothing. Errors: SS_ENOENT (no value left).
 */
SS_API int ss_reader_peek(const ss_reader *r, const char **type,
                          size_t *type_len);

/* ss_reader_at_end - whether the current container has no value left
 * (also true after a failed init). */
SS_API bool ss_reader_at_end(const ss_reader *r);

/*
 * ss_reader_get_bool ... ss_reader_get_pointer - read the next value of
 * the current container, which must be of that type. out may be NULL to
 * skip the value. Nothing is consumed on error.
 * Errors: SS_ETYPE (the next value is of another type), SS_ENOENT (no
 * value left), SS_EMALFORMED (the data changed after init).
 */
SS_API int ss_reader_get_bool(ss_reader *r, bool *out);
SS_API int ss_reader_get_int32(ss_reader *r, int32_t *out);
SS_API int ss_reader_get_uint32(ss_reader *r, uint32_t *out);
SS_API int ss_reader_get_int64(ss_reader *r, int64_t *out);
SS_API int ss_reader_get_uint64(ss_reader *r, uint64_t *out);
SS_API int ss_reader_get_double(ss_reader *r, double *out);
SS_API int ss_reader_get_pointer(ss_reader *r, void **out);

/*
 * ss_reader_get_string - the next value, a string: *out receives a pointer
 * into the data, NUL-terminated, valid as long as the data; *len (optional)
 * its length. Also reads a map's keys (see ss_reader_map_next()).
 */
SS_API int ss_reader_get_string(ss_reader *r, const char **out, size_t *len);

/*
 * ss_reader_get_blob - the next value, a blob: *data receives a pointer
 * into the payload (any alignment; not NULL, even for an empty blob), *len
 * its length.
 */
SS_API int ss_reader_get_blob(ss_reader *r, const void **data, size_t *len);

/*
 * ss_reader_get_value - the next value, whatever its type, as a view into
 * the payload (*out), for forwarding it with ss_writer_put_value() or
 * reading it later with ss_reader_init_value(). Errors: SS_ENOENT.
 */
SS_API int ss_reader_get_value(ss_reader *r, ss_value *out);

/* ss_reader_skip - pass over the next value. Errors: SS_ENOENT. */
SS_API int ss_reader_skip(ss_reader *r);

/*
 * ss_reader_array_begin - enter the next value, an array: *count
 * (optional) receives its number of elements, which the typed getters then
 * read one by one (SS_ENOENT after the last). ss_reader_array_end() leaves
 * it, skipping the elements not read. Errors: SS_ETYPE, SS_ENOENT.
 */
SS_API int ss_reader_array_begin(ss_reader *r, size_t *count);

/* ss_reader_array_end - leave the array entered last. Errors: SS_ESTATE
 * (the current container is not an array). */
SS_API int ss_reader_array_end(ss_reader *r);

/*
 * ss_reader_map_begin - enter the next value, a map: *count (optional)
 * receives its number of entries. Each entry is read with
 * ss_reader_map_next() (the key), then with a getter for the value.
 * Errors: SS_ETYPE, SS_ENOENT.
 */
SS_API int ss_reader_map_begin(ss_reader *r, size_t *count);

/*
 * ss_reader_map_next - move to the next entry of the map entered last:
 * *key receives its key (pointer into the data, NUL-terminated), *key_len
 * (optional) its length; the entry's value is the next value. A value left
 * unread by the caller is skipped first. Errors: SS_ENOENT (no entry
 * left), SS_ESTATE (the current container is not a map).
 */
SS_API int ss_reader_map_next(ss_reader *r, const char **key, size_t *key_len);

/* ss_reader_map_end - leave the map entered last, skipping what is left.
 * Errors: SS_ESTATE. */
SS_API int ss_reader_map_end(ss_reader *r);

/*
 * ss_reader_variant_begin - enter the next value, a variant: *sig receives
 * a pointer to its signature (into the data, not NUL-terminated), *sig_len
 * its length (both optional); the variant's content is then the one value
 * of the current container. Errors: SS_ETYPE, SS_ENOENT.
 */
SS_API int ss_reader_variant_begin(ss_reader *r, const char **sig,
                                   size_t *sig_len);

/* ss_reader_variant_end - leave the variant entered last, skipping its
 * content if it was not read. Errors: SS_ESTATE. */
SS_API int ss_reader_variant_end(ss_reader *r);

/*
 * ss_unpack - read a sequence of values of the types of sig from the
 * current container, like scanf. It first checks that the next values are
 * exactly of the types of sig, and consumes nothing if not. Then it stores
 * each value through the argument(s) for its type:
 *   b bool *   i int32_t *   u uint32_t *   x int64_t *   t uint64_t *
 *   d double *   s const char **   y const void **, size_t * (two)
 *   p void **   a..., {...}, v: ss_value *
 * Strings, blobs and views point into the data. A NULL pointer skips the
 * value. Values after those of sig are left for the next calls. In C11
 * ss_unpack is a macro that checks the pointers' types
 * (signal_slot/argcheck.h): SS_ETYPE, nothing read, on a mismatch.
 * Errors: SS_ESIGNATURE (sig invalid), SS_ETYPE (a type differs),
 * SS_ENOENT (fewer values left than types in sig), SS_EINVAL (NULL sig).
 */
SS_API int ss_unpack(ss_reader *r, const char *sig, ...);

/* ss_vunpack - ss_unpack() with a va_list (which it consumes). */
SS_API int ss_vunpack(ss_reader *r, const char *sig, va_list ap);

/* ---- whole payloads ---- */

/* Flags of ss_payload_validate_flags(). */
#define SS_PAYLOAD_NO_POINTER 0x1u /* refuse 'p' values, even in variants */

/*
 * ss_payload_validate - check that data[0..len) is exactly one payload of
 * signature sig, as ss_reader_init() does. Errors: those of
 * ss_reader_init().
 */
SS_API int ss_payload_validate(const char *sig, const void *data, size_t len);

/*
 * ss_payload_validate_flags - ss_payload_validate() with checks added by
 * flags. SS_PAYLOAD_NO_POINTER: a pointer value anywhere, inside variants
 * included (where the signature alone cannot reveal it), fails with
 * SS_ETYPE; for payloads that leave the process.
 */
SS_API int ss_payload_validate_flags(const char *sig, const void *data,
                                     size_t len, unsigned flags);

/*
 * ss_payload_format - write a human-readable rendering of the payload into
 * out (size bytes, always NUL-terminated when size > 0), for log lines:
 *   (42, "hello", {"a": 1.5}, [1, 2], true, <"in a variant">, x'00ff',
 *    ptr(0x7ffd5c1e2a40))
 * Strings are quoted with C escapes, blobs in hex, variants in <>, doubles
 * in the shortest form that reads back exactly.
 * Errors: SS_ENOBUFS (did not fit: out holds the beginning, ended by
 * "..."), SS_ESIGNATURE / SS_EMALFORMED / SS_EINVAL (the payload is
 * invalid: out holds a short note saying so, not the data).
 */
SS_API int ss_payload_format(const char *sig, const void *data, size_t len,
                             char *out, size_t size);

/*
 * ss__pack_checked, ss__unpack_checked - ss_pack() and ss_unpack() after
 * checking the types of their arguments (signal_slot/argcheck.h): kinds
 * describes them. On a mismatch: SS_ETYPE and a log line, nothing written
 * or read (for ss_pack the writer keeps the error). Called by the ss_pack
 * and ss_unpack macros; not meant to be called directly.
 */
SS_API int ss__pack_checked(ss_writer *w, const char *kinds, const char *sig,
                            ...);
SS_API int ss__unpack_checked(ss_reader *r, const char *kinds,
                              const char *sig, ...);

#ifdef SS_ARG_CHECK
#define ss_pack(w, ...) ss__pack_checked((w), SS__KINDS(__VA_ARGS__), __VA_ARGS__)
#define ss_unpack(r, ...)                                                      \
    ss__unpack_checked((r), SS__KINDS(__VA_ARGS__), __VA_ARGS__)
#endif

#ifdef __cplusplus
}
#endif
#endif /* SIGNAL_SLOT_PAYLOAD_H */
