#include "util/err.h"

const char *bc_strerror(int err)
{
    switch (err) {
    case BC_OK: return "success";
    case BC_EINVAL: return "invalid argument";
    case BC_EIO: return "input/output error";
    case BC_EFORMAT: return "malformed data";
    case BC_ENOTFOUND: return "not found";
    case BC_EAGAIN: return "resource temporarily full";
    case BC_ETIMEDOUT: return "timed out";
    case BC_EENGINE: return "engine failure";
    case BC_ELIMIT: return "limit reached";
    case BC_EAUTH: return "not authorized";
    case BC_ESTATE: return "not allowed in current state";
    case BC_ECLOSED: return "closed";
    case BC_ENOSPC: return "no space left on the server's disk";
    default: return "unknown error";
    }
}
