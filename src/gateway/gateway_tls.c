/* A self-signed certificate for serving https on a LAN without a
 * certificate authority: made once with libcrypto, kept in the data
 * directory and reused, so a browser that was told to trust it keeps
 * trusting it across restarts. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/gateway_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define TLS_DIR_MODE 0700
#define TLS_FILE_MODE 0600
/* The longest validity Apple platforms accept for a server certificate. */
#define TLS_CERT_DAYS 825
#define SECONDS_PER_DAY (24L * 3600)
#define TLS_SERIAL_BYTES 16
#define TLS_CURVE "P-256"
#define TLS_SAN_MAX 512
#define TLS_HOSTNAME_MAX 256

static int is_ip(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Appends ",DNS:name" or ",IP:name" unless name is empty or localhost. */
static size_t add_name(char *out, size_t n, size_t len, const char *name)
{
    if (!name || !name[0] || n >= len || strcmp(name, "localhost") == 0 ||
        strcmp(name, "127.0.0.1") == 0 || strcmp(name, "0.0.0.0") == 0 || strcmp(name, "::") == 0)
        return n;
    return n + (size_t)snprintf(out + n, len - n, ",%s:%s", is_ip(name) ? "IP" : "DNS", name);
}

/* The host of an http(s) URL into out ("" when there is none). */
static void url_host(const char *url, char *out, size_t len)
{
    char origin[GW_ORIGIN_MAX];
    out[0] = '\0';
    if (!url || gw_origin_normalize(url, origin, sizeof origin) < 0)
        return;
    const char *host = strstr(origin, "://") + strlen("://");
    const char *colon = strrchr(host, ':');
    size_t n = (size_t)(colon - host);
    if (host[0] == '[' && n >= 2) { /* an IPv6 literal goes in without brackets */
        host++;
        n -= 2;
    }
    snprintf(out, len, "%.*s", (int)n, host);
}

/* "DNS:localhost,IP:127.0.0.1,..." naming the listen host, the public
 * URL's host (what a LAN audience types or scans), this machine and
 * loopback. */
static void subject_alt_names(const char *host, const char *public_url, char *out, size_t len)
{
    char public_host[GW_ORIGIN_MAX];
    url_host(public_url, public_host, sizeof public_host);
    char machine[TLS_HOSTNAME_MAX] = "";
    gethostname(machine, sizeof machine - 1);
    size_t n = (size_t)snprintf(out, len, "DNS:localhost,IP:127.0.0.1");
    n = add_name(out, n, len, host);
    if (strcmp(public_host, host) != 0)
        n = add_name(out, n, len, public_host);
    if (strcmp(machine, host) != 0 && strcmp(machine, public_host) != 0)
        add_name(out, n, len, machine);
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *pkey, const char *host, const char *public_url)
{
    X509 *x = X509_new();
    unsigned char serial[TLS_SERIAL_BYTES];
    BIGNUM *bn = NULL;
    char san[TLS_SAN_MAX];
    const char *cn = host[0] && strcmp(host, "0.0.0.0") ? host : "localhost";
    if (!x || RAND_bytes(serial, sizeof serial) != 1)
        goto fail;
    serial[0] &= 0x7f; /* positive */
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    X509_NAME *name = X509_get_subject_name(x);
    subject_alt_names(host, public_url, san, sizeof san);
    if (!bn || !X509_set_version(x, 2) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), TLS_CERT_DAYS * SECONDS_PER_DAY) ||
        !X509_set_pubkey(x, pkey) ||
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"babelcast",
                                    -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, name) || add_ext(x, NID_subject_alt_name, san) < 0 ||
        add_ext(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
        add_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment") < 0 ||
        add_ext(x, NID_ext_key_usage, "serverAuth") < 0 || !X509_sign(x, pkey, EVP_sha256()))
        goto fail;
    BN_free(bn);
    return x;
fail:
    BN_free(bn);
    X509_free(x);
    return NULL;
}

/* Writes PEM to path through a private temporary file and a rename, so a
 * crash never leaves half a key where the next start would read it. */
static int write_pem(const char *path, EVP_PKEY *pkey, X509 *cert)
{
    char *tmp = bc_asprintf("%s.tmp", path);
    int rc = BC_EIO;
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, TLS_FILE_MODE);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        goto out;
    }
    int ok = pkey ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL)
                  : PEM_write_X509(f, cert);
    if (fclose(f) == 0 && ok && rename(tmp, path) == 0)
        rc = 0;
out:
    if (rc < 0) {
        bc_error("tls: cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

int gw_tls_self_signed(const char *dir, const char *host, const char *public_url,
                       char **cert_path, char **key_path)
{
    *cert_path = bc_asprintf("%s/cert.pem", dir);
    *key_path = bc_asprintf("%s/key.pem", dir);
    struct stat st;
    if (stat(*cert_path, &st) == 0 && stat(*key_path, &st) == 0)
        return 0; /* made by an earlier start: browsers may trust it already */
    if (mkdir(dir, TLS_DIR_MODE) < 0 && errno != EEXIST) {
        bc_error("tls: cannot create %s: %s", dir, strerror(errno));
        return BC_EIO;
    }
    int rc = BC_EIO;
    EVP_PKEY *pkey = EVP_EC_gen(TLS_CURVE);
    X509 *cert = pkey ? make_cert(pkey, host, public_url) : NULL;
    if (!cert) {
        bc_error("tls: cannot make a self-signed certificate");
        goto out;
    }
    /* The key first: a certificate without its key is never left behind. */
    if (write_pem(*key_path, pkey, NULL) < 0 || write_pem(*cert_path, NULL, cert) < 0)
        goto out;
    bc_info("tls: made a self-signed certificate for %s in %s", host, *cert_path);
    rc = 0;
out:
    X509_free(cert);
    EVP_PKEY_free(pkey);
    return rc;
}
