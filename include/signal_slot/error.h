/*
 * signal_slot/error.h - error codes of signal-slot.
 *
 * Every fallible function of the library returns int: 0 on success or one of
 * the negative SS_E* codes below. The codes come from one X-macro table,
 * SS_ERRNO_MAP, which also generates ss_strerror() and ss_errname(), so that
 * a code, its name and its message can never drift apart.
 */
#ifndef SIGNAL_SLOT_ERROR_H
#define SIGNAL_SLOT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* SS_API marks the library's exported symbols; everything else is hidden. */
#if defined(SS_BUILDING) && defined(__GNUC__)
#define SS_API __attribute__((visibility("default")))
#else
#define SS_API
#endif

/* X(NAME, value, message). Values are stable across releases: new codes are
 * appended, never renumbered. */
#define SS_ERRNO_MAP(X)                                                        \
    X(EINVAL, -1, "invalid argument")                                          \
    X(ENOMEM, -2, "out of memory")                                             \
    X(EAGAIN, -3, "operation would block (queue empty or full)")               \
    X(ETIMEDOUT, -4, "timed out")                                              \
    X(ECLOSED, -5, "queue closed")                                             \
    X(EMSGSIZE, -6, "message larger than the queue can ever hold")             \
    X(ENOBUFS, -7, "caller buffer too small for the next message")             \
    X(ECORRUPT, -8, "shared memory is corrupted")                              \
    X(ENOENT, -9, "no such object")                                            \
    X(EEXIST, -10, "object already exists")                                    \
    X(EFOREIGN, -11, "not a signal-slot object (bad magic or size)")           \
    X(EVERSION, -12, "incompatible layout version")                            \
    X(EACCES, -13, "permission denied")                                        \
    X(ESYS, -14, "system call failed (see the log line for errno)")            \
    X(EBUSY, -15, "resource busy")                                             \
    X(ENAMETOOLONG, -16, "name too long or malformed")                         \
    X(ESTATE, -17, "call not valid in the current state")                      \
    X(ETYPE, -18, "argument of another type than expected")                    \
    X(EMALFORMED, -19, "malformed encoded payload")                            \
    X(ESIGNATURE, -20, "invalid or mismatched type signature")                 \
    X(ENOTSUP, -21, "not supported (between these processes, or yet)")     \
    X(EREGISTRY, -22, "the registry or a stats block is damaged")

/* Negative error codes, SS_EINVAL and friends. SS_OK is 0. */
enum ss_errno {
    SS_OK = 0,
#define SS__ERRNO_ENUM(name, value, msg) SS_##name = (value),
    SS_ERRNO_MAP(SS__ERRNO_ENUM)
#undef SS__ERRNO_ENUM
};

/*
 * ss_strerror - a human-readable message for an error code.
 * Returns a static string, never NULL (unknown codes give "unknown error").
 * Thread-safe; callable from any thread and process.
 */
SS_API const char *ss_strerror(int err);

/*
 * ss_errname - the symbolic name of an error code, e.g. "SS_ECLOSED".
 * Returns a static string, never NULL. Thread-safe.
 */
SS_API const char *ss_errname(int err);

#ifdef __cplusplus
}
#endif
#endif /* SIGNAL_SLOT_ERROR_H */
