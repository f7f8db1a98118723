/*
 * tls: the one wrapper around OpenSSL.  Client contexts (optional
 * verification against a CA file), and non-blocking handshakes on a
 * socket the caller owns and polls: tls_handshake() says whether to wait
 * for readable or writable, or how it ended, in words.  Depends on base
 * only; TLS health checks use it now, TLS termination will later.
 */
#ifndef TCPLB_TLS_H
#define TCPLB_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct tls_ctx;
struct tls_conn;

enum tls_step {
	TLS_DONE = 0,
	TLS_WANT_READ,
	TLS_WANT_WRITE,
	TLS_FAILED,		/* why in the error text */
};

/* Why a handshake failed, as a fixed word (for metric labels). */
enum tls_fail {
	TLS_FAIL_NONE = 0,
	TLS_FAIL_HANDSHAKE,	/* protocol error, alert, closed */
	TLS_FAIL_VERIFY,	/* certificate not trusted/expired/wrong name */
};

/* A client context.  ca_file NULL: no verification; else the server's
 * chain must verify against it (and its name match `host`, when given to
 * tls_conn_new).  Returns NULL with err set (a missing or unreadable
 * file).  Reads the file: call it off the event loops (config load). */
struct tls_ctx *tls_client_ctx_new(const char *ca_file, char *err,
    size_t errlen);
struct tls_ctx *tls_ctx_ref(struct tls_ctx *c);
void tls_ctx_unref(struct tls_ctx *c);

/* A client connection over fd (not owned: the caller closes it after
 * tls_conn_free).  sni may be NULL; when verifying, a given sni is also
 * the name the certificate must carry. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int fd, const char *sni);
/* Drive the handshake; on TLS_FAILED, err says why and *why classifies
 * it. */
enum tls_step tls_handshake(struct tls_conn *c, enum tls_fail *why,
    char *err, size_t errlen);
/* "TLSv1.3" etc. after TLS_DONE. */
const char *tls_conn_version(const struct tls_conn *c);
void tls_conn_free(struct tls_conn *c);

#endif
