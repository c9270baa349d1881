/*
 * signal_slot/argcheck.h - the types of the variadic arguments of
 * ss_emit(), ss_pack(), ss_unpack() and ss_args_unpack(), checked against
 * the signature at run time.
 *
 * A variadic argument is not converted to the type the signature wants:
 * the literal 7 passed for an 'x' (int64_t) is an int, and the callee
 * reads garbage in its place; &n of an int for an 'x' output gets 8 bytes
 * written into 4. So that these mistakes fail loudly instead, in C11 the
 * four calls are macros that also pass, for each argument, a code for its
 * C type (taken with _Generic at compile time, the argument not evaluated
 * twice); the call compares it with the signature before reading anything
 * and refuses a mismatch with SS_ETYPE and a log line naming the argument,
 * the type it got and the type it wants. The functions themselves are
 * unchanged: (ss_emit)(...) calls the unchecked one, and so do C++,
 * pre-C11 compilers and programs that define SS_NO_ARG_CHECK before
 * including signal_slot.h.
 *
 * What is accepted (docs/guide.md has the full table): b i u an int or a
 * smaller integer; x t a 64-bit integer; d a double (or float); s y p a
 * pointer, y's length a size_t; a { v an ss_value pointer. Outputs: a
 * pointer to exactly that type (bool, int32_t, uint32_t, int64_t or
 * uint64_t, double, const char *, const void * and size_t, void *,
 * ss_value), or NULL to skip a value.
 *
 * One limit of any macro: an argument with a comma outside parentheses (a
 * compound literal such as &(ss_value){"i", p, 4}) must be put in
 * parentheses, &((ss_value){"i", p, 4}). At most 63 arguments after the
 * signature or signal name.
 */
#ifndef SIGNAL_SLOT_ARGCHECK_H
#define SIGNAL_SLOT_ARGCHECK_H

#if !defined(SS_NO_ARG_CHECK) && !defined(SS_BUILDING) &&                     \
    !defined(__cplusplus) && defined(__STDC_VERSION__) &&                      \
    __STDC_VERSION__ >= 201112L
#define SS_ARG_CHECK 1

/* The code of an argument's C type (see ss__args_check() in payload.c):
 * I int or smaller integer, L 64-bit integer, D double or float, E long
 * double, S char pointer, P void pointer, V ss_value pointer, ? another
 * pointer or anything else; pointers to outputs: b bool, i int, u
 * unsigned, x 64-bit signed, t 64-bit unsigned, d double, s char pointer,
 * q void pointer. */
#define SS__ARGKIND(x)                                                         \
    _Generic((x),                                                              \
        _Bool: 'I', char: 'I', signed char: 'I', unsigned char: 'I',           \
        short: 'I', unsigned short: 'I', int: 'I', unsigned int: 'I',          \
        long: (sizeof(long) == 8 ? 'L' : 'I'),                                 \
        unsigned long: (sizeof(long) == 8 ? 'L' : 'I'),                        \
        long long: 'L', unsigned long long: 'L',                               \
        float: 'D', double: 'D', long double: 'E',                             \
        char *: 'S', const char *: 'S',                                        \
        void *: 'P', const void *: 'P',                                        \
        ss_value *: 'V', const ss_value *: 'V',                                \
        _Bool *: 'b', int *: 'i', unsigned int *: 'u',                         \
        long *: (sizeof(long) == 8 ? 'x' : 'i'),                               \
        unsigned long *: (sizeof(long) == 8 ? 't' : 'u'),                      \
        long long *: 'x', unsigned long long *: 't', double *: 'd',            \
        char **: 's', const char **: 's', void **: 'q', const void **: 'q',   \
        default: '?')

#define SS__NARG(...) SS__NARG_(__VA_ARGS__, SS__RSEQ)
#define SS__NARG_(...) SS__ARG_N(__VA_ARGS__)
#define SS__ARG_N(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, \
    _14, _15, _16, _17, _18, _19, _20, _21, _22, _23, _24, _25, _26, _27, \
    _28, _29, _30, _31, _32, _33, _34, _35, _36, _37, _38, _39, _40, _41, \
    _42, _43, _44, _45, _46, _47, _48, _49, _50, _51, _52, _53, _54, _55, \
    _56, _57, _58, _59, _60, _61, _62, _63, _64, N, ...) N
#define SS__RSEQ 64, 63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, \
    49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, \
    31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, \
    13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1
#define SS__CAT(a, b) SS__CAT_(a, b)
#define SS__CAT_(a, b) a##b
/* f applied to each argument, separated by commas. */
#define SS__MAP(f, ...) SS__CAT(SS__MAP_, SS__NARG(__VA_ARGS__))(f, __VA_ARGS__)
#define SS__MAP_1(f, x) f(x)
#define SS__MAP_2(f, x, ...) f(x), SS__MAP_1(f, __VA_ARGS__)
#define SS__MAP_3(f, x, ...) f(x), SS__MAP_2(f, __VA_ARGS__)
#define SS__MAP_4(f, x, ...) f(x), SS__MAP_3(f, __VA_ARGS__)
#define SS__MAP_5(f, x, ...) f(x), SS__MAP_4(f, __VA_ARGS__)
#define SS__MAP_6(f, x, ...) f(x), SS__MAP_5(f, __VA_ARGS__)
#define SS__MAP_7(f, x, ...) f(x), SS__MAP_6(f, __VA_ARGS__)
#define SS__MAP_8(f, x, ...) f(x), SS__MAP_7(f, __VA_ARGS__)
#define SS__MAP_9(f, x, ...) f(x), SS__MAP_8(f, __VA_ARGS__)
#define SS__MAP_10(f, x, ...) f(x), SS__MAP_9(f, __VA_ARGS__)
#define SS__MAP_11(f, x, ...) f(x), SS__MAP_10(f, __VA_ARGS__)
#define SS__MAP_12(f, x, ...) f(x), SS__MAP_11(f, __VA_ARGS__)
#define SS__MAP_13(f, x, ...) f(x), SS__MAP_12(f, __VA_ARGS__)
#define SS__MAP_14(f, x, ...) f(x), SS__MAP_13(f, __VA_ARGS__)
#define SS__MAP_15(f, x, ...) f(x), SS__MAP_14(f, __VA_ARGS__)
#define SS__MAP_16(f, x, ...) f(x), SS__MAP_15(f, __VA_ARGS__)
#define SS__MAP_17(f, x, ...) f(x), SS__MAP_16(f, __VA_ARGS__)
#define SS__MAP_18(f, x, ...) f(x), SS__MAP_17(f, __VA_ARGS__)
#define SS__MAP_19(f, x, ...) f(x), SS__MAP_18(f, __VA_ARGS__)
#define SS__MAP_20(f, x, ...) f(x), SS__MAP_19(f, __VA_ARGS__)
#define SS__MAP_21(f, x, ...) f(x), SS__MAP_20(f, __VA_ARGS__)
#define SS__MAP_22(f, x, ...) f(x), SS__MAP_21(f, __VA_ARGS__)
#define SS__MAP_23(f, x, ...) f(x), SS__MAP_22(f, __VA_ARGS__)
#define SS__MAP_24(f, x, ...) f(x), SS__MAP_23(f, __VA_ARGS__)
#define SS__MAP_25(f, x, ...) f(x), SS__MAP_24(f, __VA_ARGS__)
#define SS__MAP_26(f, x, ...) f(x), SS__MAP_25(f, __VA_ARGS__)
#define SS__MAP_27(f, x, ...) f(x), SS__MAP_26(f, __VA_ARGS__)
#define SS__MAP_28(f, x, ...) f(x), SS__MAP_27(f, __VA_ARGS__)
#define SS__MAP_29(f, x, ...) f(x), SS__MAP_28(f, __VA_ARGS__)
#define SS__MAP_30(f, x, ...) f(x), SS__MAP_29(f, __VA_ARGS__)
#define SS__MAP_31(f, x, ...) f(x), SS__MAP_30(f, __VA_ARGS__)
#define SS__MAP_32(f, x, ...) f(x), SS__MAP_31(f, __VA_ARGS__)
#define SS__MAP_33(f, x, ...) f(x), SS__MAP_32(f, __VA_ARGS__)
#define SS__MAP_34(f, x, ...) f(x), SS__MAP_33(f, __VA_ARGS__)
#define SS__MAP_35(f, x, ...) f(x), SS__MAP_34(f, __VA_ARGS__)
#define SS__MAP_36(f, x, ...) f(x), SS__MAP_35(f, __VA_ARGS__)
#define SS__MAP_37(f, x, ...) f(x), SS__MAP_36(f, __VA_ARGS__)
#define SS__MAP_38(f, x, ...) f(x), SS__MAP_37(f, __VA_ARGS__)
#define SS__MAP_39(f, x, ...) f(x), SS__MAP_38(f, __VA_ARGS__)
#define SS__MAP_40(f, x, ...) f(x), SS__MAP_39(f, __VA_ARGS__)
#define SS__MAP_41(f, x, ...) f(x), SS__MAP_40(f, __VA_ARGS__)
#define SS__MAP_42(f, x, ...) f(x), SS__MAP_41(f, __VA_ARGS__)
#define SS__MAP_43(f, x, ...) f(x), SS__MAP_42(f, __VA_ARGS__)
#define SS__MAP_44(f, x, ...) f(x), SS__MAP_43(f, __VA_ARGS__)
#define SS__MAP_45(f, x, ...) f(x), SS__MAP_44(f, __VA_ARGS__)
#define SS__MAP_46(f, x, ...) f(x), SS__MAP_45(f, __VA_ARGS__)
#define SS__MAP_47(f, x, ...) f(x), SS__MAP_46(f, __VA_ARGS__)
#define SS__MAP_48(f, x, ...) f(x), SS__MAP_47(f, __VA_ARGS__)
#define SS__MAP_49(f, x, ...) f(x), SS__MAP_48(f, __VA_ARGS__)
#define SS__MAP_50(f, x, ...) f(x), SS__MAP_49(f, __VA_ARGS__)
#define SS__MAP_51(f, x, ...) f(x), SS__MAP_50(f, __VA_ARGS__)
#define SS__MAP_52(f, x, ...) f(x), SS__MAP_51(f, __VA_ARGS__)
#define SS__MAP_53(f, x, ...) f(x), SS__MAP_52(f, __VA_ARGS__)
#define SS__MAP_54(f, x, ...) f(x), SS__MAP_53(f, __VA_ARGS__)
#define SS__MAP_55(f, x, ...) f(x), SS__MAP_54(f, __VA_ARGS__)
#define SS__MAP_56(f, x, ...) f(x), SS__MAP_55(f, __VA_ARGS__)
#define SS__MAP_57(f, x, ...) f(x), SS__MAP_56(f, __VA_ARGS__)
#define SS__MAP_58(f, x, ...) f(x), SS__MAP_57(f, __VA_ARGS__)
#define SS__MAP_59(f, x, ...) f(x), SS__MAP_58(f, __VA_ARGS__)
#define SS__MAP_60(f, x, ...) f(x), SS__MAP_59(f, __VA_ARGS__)
#define SS__MAP_61(f, x, ...) f(x), SS__MAP_60(f, __VA_ARGS__)
#define SS__MAP_62(f, x, ...) f(x), SS__MAP_61(f, __VA_ARGS__)
#define SS__MAP_63(f, x, ...) f(x), SS__MAP_62(f, __VA_ARGS__)
#define SS__MAP_64(f, x, ...) f(x), SS__MAP_63(f, __VA_ARGS__)
/* The codes of every argument, as a string (the first is the signature's
 * or the signal name's own, which the checks skip). */
#define SS__KINDS(...) ((const char[]){SS__MAP(SS__ARGKIND, __VA_ARGS__), 0})

#endif
#endif /* SIGNAL_SLOT_ARGCHECK_H */
