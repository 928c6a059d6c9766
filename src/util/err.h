/* Error codes shared by every module: functions return 0 or one of these. */
#ifndef BC_ERR_H
#define BC_ERR_H

enum bc_err {
    BC_OK = 0,
    BC_EINVAL = -1,    /* bad argument or malformed input */
    BC_EIO = -2,       /* read/write/system call failed */
    BC_EFORMAT = -3,   /* a file or frame is not what it claims to be */
    BC_ENOTFOUND = -4, /* no such session, language, file, voice */
    BC_EAGAIN = -5,    /* queue or buffer full: back off and retry */
    BC_ETIMEDOUT = -6, /* a peer or engine did not answer in time */
    BC_EENGINE = -7,   /* a speech/translation engine failed */
    BC_ELIMIT = -8,    /* a configured limit was reached */
    BC_EAUTH = -9,     /* missing or wrong credentials */
    BC_ESTATE = -10,   /* not allowed in the object's current state */
    BC_ECLOSED = -11,  /* the object is shutting down */
    BC_ENOSPC = -12,   /* the disk (or the quota) is full: nothing was stored */
};

/* Static English text for an error code; never NULL. */
const char *bc_strerror(int err);

#endif
