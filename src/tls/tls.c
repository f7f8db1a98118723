/*
 * tls: OpenSSL contexts and non-blocking client handshakes (see tls.h).
 * The only file that includes OpenSSL headers.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/util.h"
#include "tls/tls.h"

struct tls_ctx {
	atomic_int refs;
	SSL_CTX *ssl;
	bool verify;
};

struct tls_conn {
	SSL *ssl;
	bool verify;
};

/* OpenSSL's error queue is per thread: take the first error as text and
 * leave the queue empty for the next caller. */
static void
tls_err_text(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e == 0) {
		snprintf(err, errlen, "%s", what);
	} else {
		ERR_error_string_n(e, buf, sizeof(buf));
		/* The library's text only: "error:0A000086:SSL routines::
		 * certificate verify failed" -> the part after the last
		 * colon. */
		const char *p = strrchr(buf, ':');
		snprintf(err, errlen, "%s: %s", what, p ? p + 1 : buf);
	}
	ERR_clear_error();
}

struct tls_ctx *
tls_client_ctx_new(const char *ca_file, char *err, size_t errlen)
{
	struct tls_ctx *c;
	SSL_CTX *ssl = SSL_CTX_new(TLS_client_method());

	if (ssl == NULL) {
		tls_err_text(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ssl, ca_file, NULL) != 1) {
			tls_err_text(err, errlen, "cannot load CA file");
			SSL_CTX_free(ssl);
			return NULL;
		}
		SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	}
	c = xcalloc(1, sizeof(*c));
	atomic_init(&c->refs, 1);
	c->ssl = ssl;
	c->verify = ca_file != NULL;
	return c;
}

struct tls_ctx *
tls_ctx_ref(struct tls_ctx *c)
{
	atomic_fetch_add(&c->refs, 1);
	return c;
}

void
tls_ctx_unref(struct tls_ctx *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	SSL_CTX_free(c->ssl);
	free(c);
}

struct tls_conn *
tls_conn_new(struct tls_ctx *ctx, int fd, const char *sni)
{
	struct tls_conn *c;
	SSL *ssl = SSL_new(ctx->ssl);

	if (ssl == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	if (sni != NULL && *sni != '\0') {
		SSL_set_tlsext_host_name(ssl, sni);
		if (ctx->verify)
			SSL_set1_host(ssl, sni);
	}
	SSL_set_connect_state(ssl);
	c = xcalloc(1, sizeof(*c));
	c->ssl = ssl;
	c->verify = ctx->verify;
	return c;
}

enum tls_step
tls_handshake(struct tls_conn *c, enum tls_fail *why, char *err,
    size_t errlen)
{
	int rc = SSL_do_handshake(c->ssl);
	int e;
	long vr;

	*why = TLS_FAIL_NONE;
	if (rc == 1)
		return TLS_DONE;
	e = SSL_get_error(c->ssl, rc);
	if (e == SSL_ERROR_WANT_READ)
		return TLS_WANT_READ;
	if (e == SSL_ERROR_WANT_WRITE)
		return TLS_WANT_WRITE;
	*why = TLS_FAIL_HANDSHAKE;
	vr = SSL_get_verify_result(c->ssl);
	if (c->verify && vr != X509_V_OK) {
		*why = TLS_FAIL_VERIFY;
		snprintf(err, errlen, "certificate: %s",
		    X509_verify_cert_error_string(vr));
		ERR_clear_error();
		return TLS_FAILED;
	}
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		int se = errno;

		snprintf(err, errlen, "TLS handshake: %s", rc == 0 || se == 0 ?
		    "connection closed" : strerror(se));
		ERR_clear_error();
		return TLS_FAILED;
	}
	if (e == SSL_ERROR_ZERO_RETURN) {
		snprintf(err, errlen, "TLS handshake: connection closed");
		ERR_clear_error();
		return TLS_FAILED;
	}
	tls_err_text(err, errlen, "TLS handshake");
	return TLS_FAILED;
}

const char *
tls_conn_version(const struct tls_conn *c)
{
	return SSL_get_version(c->ssl);
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	/* No close_notify: the check is over either way, and sending it
	 * could block on a full socket. */
	SSL_free(c->ssl);
	free(c);
}
