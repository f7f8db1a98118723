/*
 * check: the interface between the health scheduler (health.c: sockets,
 * connect, timeouts, the schedule, rise/fall) and the kinds of check
 * (check_tcp.c, check_http.c, check_tls.c, check_agent.c), which speak
 * the protocol on a connected non-blocking socket.  A kind never blocks
 * and never touches a loop: each hook does what the socket allows now and
 * says what to wait for next, or gives the verdict.
 */
#ifndef TCPLB_CHECK_H
#define TCPLB_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "config/gen.h"
#include "parse/check_reply.h"

/* Why a check failed, as a fixed word: the `reason` label of
 * tcplb_check_failures_total (never server-supplied text). */
enum check_reason {
	CR_NONE = 0,
	CR_REFUSED,
	CR_CONNECT_TIMEOUT,
	CR_TIMEOUT,
	CR_RESET,
	CR_CLOSED,
	CR_NETWORK,
	CR_BAD_REPLY,		/* tcp expect mismatch */
	CR_HTTP_STATUS,		/* a status outside expect_status */
	CR_HTTP_INVALID,	/* not HTTP, or headers too long */
	CR_TLS_HANDSHAKE,
	CR_TLS_VERIFY,
	CR_AGENT_DOWN,		/* the agent said down/fail/stopped */
	CR_AGENT_INVALID,	/* unknown word, line too long, empty */
	CR_OTHER,
	CR_N
};
/* 16 counters live in server_state. */
_Static_assert(CR_N <= 16, "check_failures[] too small");

const char *check_reason_name(enum check_reason r);

enum check_step {
	CS_READ,		/* wait until readable */
	CS_WRITE,		/* wait until writable */
	CS_PASS,
	CS_FAIL,
};

/* One check in progress, as the kinds see it. */
struct check_io {
	int fd;
	const struct server *srv;
	const struct health_cfg *cfg;
	const char *out;	/* what to send first (built once per server) */
	size_t out_len, sent;
	char *in;		/* the kind's receive buffer, freed by health */
	size_t in_len;
	void *priv;		/* the kind's (tls: its connection) */
	enum check_reason reason;	/* CS_FAIL: why */
	char text[96];		/* the outcome in words (show servers) */
	bool agent_valid;	/* agent: the line parsed */
	struct agent_reply agent;
};

struct check_kind {
	/* The bytes every check of s sends first (NULL/0: none). */
	void (*build)(const struct server *s, const struct health_cfg *cfg,
	    char **out, size_t *out_len);
	enum check_step (*start)(struct check_io *io);	/* connected */
	enum check_step (*readable)(struct check_io *io);
	enum check_step (*writable)(struct check_io *io);
	void (*end)(struct check_io *io);	/* free priv; may be NULL */
};

extern const struct check_kind check_kind_tcp;
extern const struct check_kind check_kind_http;
extern const struct check_kind check_kind_tls;
extern const struct check_kind check_kind_agent;

const struct check_kind *check_kind_of(enum health_type t);

/* Shared by the kinds. */
/* Send what is left of io->out: CS_WRITE while the socket is full, else
 * `then`; a send error is a failure. */
enum check_step check_send(struct check_io *io, enum check_step then);
/* Record a failure: reason and the words shown. */
enum check_step check_fail(struct check_io *io, enum check_reason r,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A failed recv/send: EAGAIN means wait (want), else a failure. */
enum check_step check_errno(struct check_io *io, int err, enum check_step want);
/* The PROXY header (send_proxy) for s into out; returns its length. */
size_t check_proxy_header(const struct server *s, const struct health_cfg *cfg,
    char *out, size_t outlen);
/* Words for a socket error, and its reason. */
const char *check_errno_text(int err, enum check_reason *r);

#endif
