#include "ss_internal.h"

#include <errno.h>

SS_API const char *ss_strerror(int err)
{
    switch (err) {
    case SS_OK:
        return "success";
#define SS__ERRNO_MSG(name, value, msg)                                        \
    case SS_##name:                                                            \
        return msg;
        SS_ERRNO_MAP(SS__ERRNO_MSG)
#undef SS__ERRNO_MSG
    default:
        return "unknown error";
    }
}

SS_API const char *ss_errname(int err)
{
    switch (err) {
    case SS_OK:
        return "SS_OK";
#define SS__ERRNO_NAME(name, value, msg)                                       \
    case SS_##name:                                                            \
        return "SS_" #name;
        SS_ERRNO_MAP(SS__ERRNO_NAME)
#undef SS__ERRNO_NAME
    default:
        return "SS_E?";
    }
}

int ss__errno_to_ss(int e)
{
    switch (e) {
    case 0:
        return SS_OK;
    case EINVAL:
        return SS_EINVAL;
    case ENOMEM:
    case ENOSPC:
    case EMFILE:
    case ENFILE:
        return SS_ENOMEM;
    case ENOENT:
        return SS_ENOENT;
    case EEXIST:
        return SS_EEXIST;
    case EACCES:
    case EPERM:
        return SS_EACCES;
    case ENAMETOOLONG:
        return SS_ENAMETOOLONG;
    case ETIMEDOUT:
        return SS_ETIMEDOUT;
    case EAGAIN:
        return SS_EAGAIN;
    case EBUSY:
        return SS_EBUSY;
    default:
        return SS_ESYS;
    }
}
