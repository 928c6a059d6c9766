/* AWS credentials: an access key id, its secret and, for temporary
 * credentials, a session token. Read from the standard environment
 * variables, else from the shared credentials file. The secret and the
 * token are never logged; messages name only where credentials were looked
 * for. Loading is meant for start-up (it reads the environment). */
#ifndef BC_AWS_CREDENTIALS_H
#define BC_AWS_CREDENTIALS_H

#define AWS_ACCESS_KEY_ID_MAX 128
#define AWS_SECRET_MAX 128
#define AWS_SESSION_TOKEN_MAX 4096
#define AWS_PROFILE_MAX 128

struct aws_credentials {
    char access_key_id[AWS_ACCESS_KEY_ID_MAX];
    char secret_access_key[AWS_SECRET_MAX];
    char session_token[AWS_SESSION_TOKEN_MAX]; /* "" when none */
};

/* AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN when
 * set) when both are set; else profile AWS_PROFILE (default "default") of
 * the file AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials).
 * Returns 0 and *out, BC_EAUTH when neither has credentials (logged, with
 * where it looked), BC_EFORMAT when a value is too long or holds anything
 * but printable ASCII without blanks. */
int aws_credentials_load(struct aws_credentials *out);

/* Parses the text of a shared credentials file (INI: [profile] sections,
 * key = value lines, # and ; comments) for profile. Returns 0 and *out,
 * BC_ENOTFOUND when the profile is missing or lacks a key id or secret,
 * BC_EFORMAT when a value of its keys is too long or holds anything but
 * printable ASCII without blanks. */
int aws_credentials_parse(const char *text, const char *profile, struct aws_credentials *out);

/* Overwrites the secrets (before the memory is given back). */
void aws_credentials_wipe(struct aws_credentials *c);

#endif
