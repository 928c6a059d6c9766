/* The shared AWS credentials file (aws_credentials_parse). The input's
 * first line names the profile, the rest is the file. What must hold for
 * any file: the result is 0, BC_ENOTFOUND or BC_EFORMAT; what is accepted
 * has a key id and a secret, each value is printable ASCII without blanks
 * and shorter than its field, and a file written back from it (the same
 * profile, values in another layout) parses to the same credentials. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_credentials.h"
#include "fuzz_common.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_value(const char *v, size_t cap)
{
    size_t n = strnlen(v, cap);
    check(n < cap);
    for (size_t i = 0; i < n; i++)
        check(v[i] >= '!' && v[i] <= '~');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static int ready;
    if (!ready) {
        fuzz_quiet();
        ready = 1;
    }
    char *input = fuzz_cstr(data, len);
    char *nl = strchr(input, '\n');
    const char *profile = nl ? input : "default";
    const char *text = nl ? nl + 1 : input;
    if (nl)
        *nl = '\0';
    struct aws_credentials c;
    memset(&c, 0xA5, sizeof c);
    int rc = aws_credentials_parse(text, profile, &c);
    check(rc == 0 || rc == BC_ENOTFOUND || rc == BC_EFORMAT);
    if (rc == 0) {
        check_value(c.access_key_id, sizeof c.access_key_id);
        check_value(c.secret_access_key, sizeof c.secret_access_key);
        check_value(c.session_token, sizeof c.session_token);
        check(c.access_key_id[0] && c.secret_access_key[0]);
        /* Written back (when the profile can be a section name again). */
        if (!strpbrk(profile, "]\r\n\t\v\f ") && *profile && *profile != '#' && *profile != ';') {
            char *file = bc_asprintf("# written back\n[ %s ]\naws_session_token=%s\n"
                                     "  aws_secret_access_key =\t%s\naws_access_key_id = %s\n",
                                     profile, c.session_token, c.secret_access_key,
                                     c.access_key_id);
            struct aws_credentials back;
            check(aws_credentials_parse(file, profile, &back) == 0);
            check(strcmp(back.access_key_id, c.access_key_id) == 0 &&
                  strcmp(back.secret_access_key, c.secret_access_key) == 0 &&
                  strcmp(back.session_token, c.session_token) == 0);
            aws_credentials_wipe(&back);
            free(file);
        }
    }
    aws_credentials_wipe(&c);
    free(input);
    return 0;
}
