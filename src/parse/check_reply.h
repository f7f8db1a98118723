/*
 * check_reply: pure parsers for what health-check servers answer -- an
 * HTTP/1.x status line, the `expect_status` set (a code, a list, a range)
 * and a line of HAProxy's agent-check text protocol.  No sockets, no loop:
 * the health module feeds them bytes, cmocka tests them offline.
 */
#ifndef TCPLB_CHECK_REPLY_H
#define TCPLB_CHECK_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- HTTP -------------------------------------------------------------- */

/* The longest status line and header block a check reads: a server that
 * sends more before its headers end fails the check. */
#define HTTP_CHECK_HEAD_MAX	16384

enum http_parse {
	HTTP_MORE = 0,		/* need more bytes */
	HTTP_DONE = 1,		/* status line (and headers) complete */
	HTTP_BAD = -1,		/* not an HTTP/1.x response */
	HTTP_TOO_LONG = -2,	/* no end within HTTP_CHECK_HEAD_MAX */
};

/* Parse the status line at the start of buf[0..len): "HTTP/1.x NNN
 * reason\r\n".  On HTTP_DONE, *code is the status.  Bytes that cannot
 * start a status line give HTTP_BAD at once, not after the timeout. */
enum http_parse http_status_line(const char *buf, size_t len, int *code);
/* Where the header block (status line included) ends: HTTP_DONE with *end
 * the offset just past the empty line, HTTP_MORE, or HTTP_TOO_LONG once
 * len reaches HTTP_CHECK_HEAD_MAX without one. */
enum http_parse http_head_end(const char *buf, size_t len, size_t *end);

/* expect_status: up to STATUS_SET_MAX ranges of codes. */
#define STATUS_SET_MAX	16
struct status_set {
	unsigned n;
	uint16_t lo[STATUS_SET_MAX], hi[STATUS_SET_MAX];
};

/* Add one item -- "200", "200-399", or a comma-separated list of those --
 * to set.  Codes are 100-599.  Returns 0, or -1 with err set. */
int status_set_parse(struct status_set *set, const char *text, char *err,
    size_t errlen);
bool status_set_match(const struct status_set *set, int code);

/* ---- agent ------------------------------------------------------------- */

/* The longest agent line read; a longer one fails the check. */
#define AGENT_LINE_MAX		1024

enum agent_health {
	AGENT_H_NONE = 0,	/* no up/down word */
	AGENT_H_UP,
	AGENT_H_DOWN,		/* down, fail or stopped */
};
enum agent_admin {
	AGENT_A_NONE = 0,
	AGENT_A_READY,
	AGENT_A_DRAIN,
	AGENT_A_MAINT,
};

struct agent_reply {
	enum agent_health health;
	enum agent_admin admin;
	int weight_pct;		/* -1: not given; else 0..100000 ("N%") */
	long maxconn;		/* -1: not given ("maxconn:N", read, not applied) */
	const char *desc;	/* after '#' in the line (may be ""), or NULL */
	size_t desc_len;
};

/* Parse one agent line (without its newline; a trailing \r is ignored).
 * Words are separated by spaces, tabs or commas, case-insensitively, as
 * HAProxy reads them; a '#' starts a free-text description.  Returns 0,
 * or -1 with err naming the first word not understood (sanitised: only
 * printable ASCII is copied). */
int agent_parse(const char *line, size_t len, struct agent_reply *r,
    char *err, size_t errlen);

/* Copy at most dstlen-1 bytes of src to dst with every byte outside
 * printable ASCII replaced by '?', for showing server-sent text. */
void check_text_sanitize(char *dst, size_t dstlen, const char *src,
    size_t len);

#endif
