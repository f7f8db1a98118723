/*
 * check_agent: health_check type agent -- HAProxy's agent-check text
 * protocol.  The agent writes one line on connect (nothing is sent); the
 * line is parsed (parse/check_reply.c) and the health module applies it:
 * down/fail/stopped fail the check, up passes, drain/maint/ready set the
 * admin state, N% the weight.  A silent or unreachable agent, an unknown
 * word or a line longer than AGENT_LINE_MAX fail the check.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/util.h"
#include "health/check.h"

static void
agent_build(const struct server *s, const struct health_cfg *cfg,
    char **out, size_t *out_len)
{
	(void)s;
	(void)cfg;
	*out = NULL;
	*out_len = 0;
}

static enum check_step
agent_line(struct check_io *io, size_t len)
{
	char err[96], shown[64];

	if (len > 0 && io->in[len - 1] == '\r')
		len--;
	check_text_sanitize(shown, sizeof(shown), io->in, len);
	if (agent_parse(io->in, len, &io->agent, err, sizeof(err)) != 0)
		return check_fail(io, CR_AGENT_INVALID, "agent: %s", err);
	io->agent_valid = true;
	if (io->agent.health == AGENT_H_DOWN)
		return check_fail(io, CR_AGENT_DOWN, "agent: %s", shown);
	snprintf(io->text, sizeof(io->text), "agent: %s", shown);
	return CS_PASS;
}

static enum check_step
agent_readable(struct check_io *io)
{
	for (;;) {
		char *nl;
		ssize_t n;

		if (io->in == NULL)
			io->in = xmalloc(AGENT_LINE_MAX);
		n = recv(io->fd, io->in + io->in_len,
		    AGENT_LINE_MAX - io->in_len, 0);
		if (n < 0)
			return check_errno(io, errno, CS_READ);
		if (n == 0) {
			/* HAProxy takes a line ended by the close too. */
			if (io->in_len == 0)
				return check_fail(io, CR_CLOSED, "agent: "
				    "connection closed without a line");
			return agent_line(io, io->in_len);
		}
		nl = memchr(io->in + io->in_len, '\n', (size_t)n);
		io->in_len += (size_t)n;
		if (nl != NULL)
			return agent_line(io, (size_t)(nl - io->in));
		if (io->in_len == AGENT_LINE_MAX)
			return check_fail(io, CR_AGENT_INVALID, "agent: line "
			    "longer than %d bytes", AGENT_LINE_MAX);
	}
}

static enum check_step
agent_start(struct check_io *io)
{
	(void)io;
	return CS_READ;
}

const struct check_kind check_kind_agent = {
	.build = agent_build,
	.start = agent_start,
	.readable = agent_readable,
	.writable = agent_start,
	.end = NULL,
};
