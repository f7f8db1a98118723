/*
 * check_tls: health_check type tls -- the TLS handshake completes (after
 * the PROXY header, with send_proxy).  SNI from `host`; the certificate
 * is verified only with `verify: CA-FILE` (and then must name `host` when
 * given).  Through the OpenSSL wrapper in src/tls/.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "health/check.h"
#include "parse/proxy_proto.h"
#include "tls/tls.h"

static void
tls_build(const struct server *s, const struct health_cfg *cfg, char **out,
    size_t *out_len)
{
	char hdr[PROXY_BUILD_MAX];
	size_t hl = check_proxy_header(s, cfg, hdr, sizeof(hdr));

	*out = NULL;
	*out_len = hl;
	if (hl == 0)
		return;
	*out = xmalloc(hl);
	memcpy(*out, hdr, hl);
}

static enum check_step
tls_step(struct check_io *io)
{
	enum tls_fail why;
	char err[96];

	if (io->sent < io->out_len) {
		enum check_step st = check_send(io, CS_READ);

		if (st != CS_READ)
			return st;
	}
	if (io->priv == NULL) {
		if (io->cfg->tls == NULL)
			return check_fail(io, CR_OTHER, "no TLS context");
		io->priv = tls_conn_new(io->cfg->tls, io->fd, io->cfg->host);
		if (io->priv == NULL)
			return check_fail(io, CR_OTHER, "cannot start TLS");
	}
	switch (tls_handshake(io->priv, &why, err, sizeof(err))) {
	case TLS_DONE:
		snprintf(io->text, sizeof(io->text), "%s handshake ok",
		    tls_conn_version(io->priv));
		return CS_PASS;
	case TLS_WANT_READ:
		return CS_READ;
	case TLS_WANT_WRITE:
		return CS_WRITE;
	case TLS_FAILED:
		break;
	}
	return check_fail(io, why == TLS_FAIL_VERIFY ? CR_TLS_VERIFY :
	    CR_TLS_HANDSHAKE, "%s", err);
}

static void
tls_end(struct check_io *io)
{
	tls_conn_free(io->priv);
	io->priv = NULL;
}

const struct check_kind check_kind_tls = {
	.build = tls_build,
	.start = tls_step,
	.readable = tls_step,
	.writable = tls_step,
	.end = tls_end,
};
