/*
 * admin_cmd: parse one admin command line.  The grammar is small and fixed
 * (see admin_cmd_help()); every rejection names the word at fault, quoted
 * with anything unprintable replaced, and truncated, because the line comes
 * from whoever could connect to the socket.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "control/admin_cmd.h"
#include "base/duration.h"
#include "config/gen.h"
#include "base/util.h"

#define ADMIN_MAX_WORDS 12
#define ADMIN_QUOTE_MAX 48	/* bytes of a bad word repeated in an error */

struct words {
	char w[ADMIN_MAX_WORDS][ADMIN_NAME_MAX];
	unsigned n;
};

static const char help_text[] =
    "help                                        this list\n"
    "show info                                   version, pid, uptime, state, generation\n"
    "show listeners                              listeners and their counters\n"
    "show pools                                  pools and their counters\n"
    "show servers [POOL]                         servers: state, health, weight, counters\n"
    "show sessions [POOL[/SERVER]]               open client connections\n"
    "set server POOL/SERVER state ready|drain|maint\n"
    "set server POOL/SERVER weight N             0-256; until changed or restarted\n"
    "shutdown sessions server POOL/SERVER        close that server's sessions\n"
    "add server POOL ADDRESS [name N] [weight W] [max_connections M] [backup]\n"
    "                                            a server until deleted (kept across reloads)\n"
    "del server POOL/SERVER                      stop new sessions, remove an added server\n"
    "reload                                      re-read the configuration (as SIGHUP)\n"
    "check                                       ok when ready and every listener's pool (or, routes only,\n"
    "                                            one of its route pools) has a server up\n"
    "drain [--deadline DURATION]                 make 'check' fail; keep serving\n"
    "undrain                                     end a drain\n"
    "Any command may end with 'json' for one JSON document.\n";

const char *
admin_cmd_help(void)
{
	return help_text;
}

const char *
admin_state_name(int state)
{
	switch (state) {
	case SRV_ADMIN_READY: return "ready";
	case SRV_ADMIN_DRAIN: return "drain";
	case SRV_ADMIN_MAINT: return "maint";
	default: return "?";
	}
}

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A word fit to repeat in an error: printable ASCII, bounded. */
static const char *
quote(const char *s, char *buf, size_t len)
{
	size_t i = 0, max = len - 4;

	for (; *s && i < max; s++)
		buf[i++] = ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) ?
		    '?' : *s;
	if (*s) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static int
split(const char *line, size_t len, struct words *out, char *err, size_t errlen)
{
	size_t i = 0;

	out->n = 0;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	for (size_t k = 0; k < len; k++) {
		unsigned char c = (unsigned char)line[k];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			errf(err, errlen, "invalid byte 0x%02x at column %zu", c, k + 1);
			return -1;
		}
	}
	while (i < len) {
		size_t start, wl;

		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		wl = i - start;
		if (out->n == ADMIN_MAX_WORDS) {
			errf(err, errlen, "too many words (at most %d); try 'help'",
			    ADMIN_MAX_WORDS);
			return -1;
		}
		if (wl >= ADMIN_NAME_MAX) {
			errf(err, errlen, "word %u is longer than %d bytes", out->n + 1,
			    ADMIN_NAME_MAX - 1);
			return -1;
		}
		memcpy(out->w[out->n], line + start, wl);
		out->w[out->n][wl] = '\0';
		out->n++;
	}
	return 0;
}

/* A name as the text answers show it (admin_fmt.h, sbuf_field): \xHH is
 * that byte, \\ a backslash, "-" nothing in particular (no name is
 * empty).  Decoded in place; anything else stays as typed. */
static void
name_decode(char *s)
{
	char *o = s;

	while (*s) {
		int h, l;

		if (s[0] == '\\' && s[1] == '\\') {
			*o++ = '\\';
			s += 2;
		} else if (s[0] == '\\' && s[1] == 'x' &&
		    (h = hex_digit((unsigned char)s[2])) >= 0 &&
		    (l = hex_digit((unsigned char)s[3])) >= 0 && (h | l) != 0) {
			*o++ = (char)(h << 4 | l);
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

/* "POOL/SERVER" (server required) or "POOL" (when optional). */
static int
pool_server(const char *arg, bool need_server, struct admin_cmd *c, char *err,
    size_t errlen)
{
	const char *slash = strchr(arg, '/');
	char q[ADMIN_QUOTE_MAX];

	if (slash == NULL) {
		if (need_server) {
			errf(err, errlen, "expected POOL/SERVER, got '%s'",
			    quote(arg, q, sizeof(q)));
			return -1;
		}
		snprintf(c->pool, sizeof(c->pool), "%s", arg);
		name_decode(c->pool);
		return 0;
	}
	if (slash == arg || slash[1] == '\0') {
		errf(err, errlen, "expected POOL/SERVER, got '%s'", quote(arg, q, sizeof(q)));
		return -1;
	}
	snprintf(c->pool, sizeof(c->pool), "%.*s", (int)(slash - arg), arg);
	snprintf(c->server, sizeof(c->server), "%s", slash + 1);
	name_decode(c->pool);
	name_decode(c->server);
	return 0;
}

static int
too_many(const struct words *w, unsigned want, const char *usage, char *err,
    size_t errlen)
{
	char q[ADMIN_QUOTE_MAX];

	if (w->n <= want)
		return 0;
	errf(err, errlen, "unexpected '%s' (usage: %s)", quote(w->w[want], q, sizeof(q)),
	    usage);
	return -1;
}

static int
parse_show(const struct words *w, struct admin_cmd *c, char *err, size_t errlen)
{
	static const char *const what =
	    "info, listeners, pools, servers [POOL], sessions [POOL[/SERVER]]";
	const char *sub = w->n > 1 ? w->w[1] : NULL;
	char q[ADMIN_QUOTE_MAX];

	if (sub == NULL) {
		errf(err, errlen, "show what? (%s)", what);
		return -1;
	}
	if (strcmp(sub, "info") == 0) {
		c->verb = ADM_SHOW_INFO;
		return too_many(w, 2, "show info", err, errlen);
	}
	if (strcmp(sub, "listeners") == 0) {
		c->verb = ADM_SHOW_LISTENERS;
		return too_many(w, 2, "show listeners", err, errlen);
	}
	if (strcmp(sub, "pools") == 0) {
		c->verb = ADM_SHOW_POOLS;
		return too_many(w, 2, "show pools", err, errlen);
	}
	if (strcmp(sub, "servers") == 0) {
		c->verb = ADM_SHOW_SERVERS;
		if (too_many(w, 3, "show servers [POOL]", err, errlen) < 0)
			return -1;
		if (w->n == 3) {
			if (strchr(w->w[2], '/') != NULL) {
				errf(err, errlen, "expected POOL, got '%s' (usage: show servers [POOL])",
				    quote(w->w[2], q, sizeof(q)));
				return -1;
			}
			snprintf(c->pool, sizeof(c->pool), "%s", w->w[2]);
		}
		return 0;
	}
	if (strcmp(sub, "sessions") == 0) {
		c->verb = ADM_SHOW_SESSIONS;
		if (too_many(w, 3, "show sessions [POOL[/SERVER]]", err, errlen) < 0)
			return -1;
		return w->n == 3 ? pool_server(w->w[2], false, c, err, errlen) : 0;
	}
	errf(err, errlen, "unknown 'show %s' (%s)", quote(sub, q, sizeof(q)), what);
	return -1;
}

static int
parse_set(const struct words *w, struct admin_cmd *c, char *err, size_t errlen)
{
	static const char usage[] =
	    "set server POOL/SERVER state ready|drain|maint, or set server POOL/SERVER weight N";
	char q[ADMIN_QUOTE_MAX];
	const char *what, *val;

	if (w->n < 5 || strcmp(w->w[1], "server") != 0) {
		errf(err, errlen, "usage: %s", usage);
		return -1;
	}
	if (pool_server(w->w[2], true, c, err, errlen) < 0)
		return -1;
	if (too_many(w, 5, usage, err, errlen) < 0)
		return -1;
	what = w->w[3];
	val = w->w[4];
	if (strcmp(what, "state") == 0) {
		c->verb = ADM_SET_STATE;
		if (strcmp(val, "ready") == 0)
			c->state = SRV_ADMIN_READY;
		else if (strcmp(val, "drain") == 0)
			c->state = SRV_ADMIN_DRAIN;
		else if (strcmp(val, "maint") == 0)
			c->state = SRV_ADMIN_MAINT;
		else {
			errf(err, errlen, "invalid state '%s' (ready, drain or maint)",
			    quote(val, q, sizeof(q)));
			return -1;
		}
		return 0;
	}
	if (strcmp(what, "weight") == 0) {
		uint64_t n;

		c->verb = ADM_SET_WEIGHT;
		if (parse_uint(val, ADMIN_WEIGHT_MAX, &n) < 0) {
			errf(err, errlen, "invalid weight '%s' (0-%d)", quote(val, q, sizeof(q)),
			    ADMIN_WEIGHT_MAX);
			return -1;
		}
		c->weight = (uint32_t)n;
		return 0;
	}
	errf(err, errlen, "cannot set '%s' (state or weight)", quote(what, q, sizeof(q)));
	return -1;
}

static int
parse_drain(const struct words *w, struct admin_cmd *c, char *err, size_t errlen)
{
	static const char usage[] = "drain [--deadline DURATION]";
	char q[ADMIN_QUOTE_MAX], derr[128];

	c->verb = ADM_DRAIN;
	if (w->n == 1)
		return 0;
	if (strcmp(w->w[1], "--deadline") != 0 && strcmp(w->w[1], "deadline") != 0) {
		errf(err, errlen, "unexpected '%s' (usage: %s)", quote(w->w[1], q, sizeof(q)),
		    usage);
		return -1;
	}
	if (w->n < 3) {
		errf(err, errlen, "--deadline needs a duration (usage: %s)", usage);
		return -1;
	}
	if (too_many(w, 3, usage, err, errlen) < 0)
		return -1;
	if (duration_parse(w->w[2], &c->deadline_ms, derr, sizeof(derr)) < 0) {
		errf(err, errlen, "invalid --deadline '%s': %s",
		    quote(w->w[2], q, sizeof(q)), derr);
		return -1;
	}
	c->has_deadline = true;
	return 0;
}

/* add server POOL ADDRESS [name N] [weight W] [max_connections M] [backup],
 * del server POOL/SERVER.  The address is checked by the executor (it
 * knows the pool); here only the shape of the line. */
static int
parse_add_del(const struct words *w, struct admin_cmd *c, char *err,
    size_t errlen)
{
	static const char add_usage[] = "add server POOL ADDRESS [name N] "
	    "[weight W] [max_connections M] [backup]";
	static const char del_usage[] = "del server POOL/SERVER";
	char q[ADMIN_QUOTE_MAX];
	uint64_t n;

	if (strcmp(w->w[0], "del") == 0) {
		if (w->n < 3 || strcmp(w->w[1], "server") != 0) {
			errf(err, errlen, "usage: %s", del_usage);
			return -1;
		}
		c->verb = ADM_DEL_SERVER;
		if (too_many(w, 3, del_usage, err, errlen) < 0)
			return -1;
		return pool_server(w->w[2], true, c, err, errlen);
	}
	if (w->n < 4 || strcmp(w->w[1], "server") != 0) {
		errf(err, errlen, "usage: %s", add_usage);
		return -1;
	}
	c->verb = ADM_ADD_SERVER;
	c->weight = 1;
	if (strchr(w->w[2], '/') != NULL) {
		errf(err, errlen, "expected POOL, got '%s' (usage: %s)",
		    quote(w->w[2], q, sizeof(q)), add_usage);
		return -1;
	}
	snprintf(c->pool, sizeof(c->pool), "%s", w->w[2]);
	snprintf(c->addr, sizeof(c->addr), "%s", w->w[3]);
	for (unsigned i = 4; i < w->n; i++) {
		const char *k = w->w[i], *v = i + 1 < w->n ? w->w[i + 1] : NULL;

		if (strcmp(k, "backup") == 0) {
			c->backup = true;
			continue;
		}
		if (strcmp(k, "name") != 0 && strcmp(k, "weight") != 0 &&
		    strcmp(k, "max_connections") != 0) {
			errf(err, errlen, "unexpected '%s' (usage: %s)",
			    quote(k, q, sizeof(q)), add_usage);
			return -1;
		}
		if (v == NULL) {
			errf(err, errlen, "'%s' needs a value (usage: %s)", k,
			    add_usage);
			return -1;
		}
		i++;
		if (strcmp(k, "name") == 0) {
			if (strchr(v, '/') != NULL) {
				errf(err, errlen, "invalid name '%s': no '/' "
				    "in a server name", quote(v, q, sizeof(q)));
				return -1;
			}
			snprintf(c->server, sizeof(c->server), "%s", v);
		} else if (strcmp(k, "weight") == 0) {
			if (parse_uint(v, ADMIN_WEIGHT_MAX, &n) < 0) {
				errf(err, errlen, "invalid weight '%s' (0-%d)",
				    quote(v, q, sizeof(q)), ADMIN_WEIGHT_MAX);
				return -1;
			}
			c->weight = (uint32_t)n;
		} else {
			if (parse_uint(v, ADMIN_MAX_CONNS, &n) < 0) {
				errf(err, errlen, "invalid max_connections "
				    "'%s' (0-%d)", quote(v, q, sizeof(q)),
				    ADMIN_MAX_CONNS);
				return -1;
			}
			c->max_conns = (uint32_t)n;
		}
	}
	return 0;
}

static int parse_line(const char *line, size_t len, struct admin_cmd *c,
    char *err, size_t errlen);

int
admin_cmd_parse(const char *line, size_t len, struct admin_cmd *c, char *err,
    size_t errlen)
{
	int r = parse_line(line, len, c, err, errlen);

	/* Messages from other parsers (duration_parse) may repeat raw
	 * input: the answer is one printable line whatever happened. */
	if (r < 0)
		for (char *p = err; errlen && *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
	return r;
}

static int
parse_line(const char *line, size_t len, struct admin_cmd *c, char *err,
    size_t errlen)
{
	static struct words w;	/* 2 KiB: main thread only, keep it off the stack */
	char q[ADMIN_QUOTE_MAX];
	const char *verb;

	memset(c, 0, sizeof(*c));
	if (errlen)
		err[0] = '\0';
	if (split(line, len, &w, err, errlen) < 0)
		return -1;
	if (w.n > 0 && strcmp(w.w[w.n - 1], "json") == 0) {
		c->json = true;
		w.n--;
	}
	if (w.n == 0) {
		errf(err, errlen, "empty command; try 'help'");
		return -1;
	}
	verb = w.w[0];
	if (strcmp(verb, "help") == 0) {
		c->verb = ADM_HELP;
		return too_many(&w, 1, "help", err, errlen);
	}
	if (strcmp(verb, "show") == 0)
		return parse_show(&w, c, err, errlen);
	if (strcmp(verb, "set") == 0)
		return parse_set(&w, c, err, errlen);
	if (strcmp(verb, "shutdown") == 0) {
		static const char usage[] = "shutdown sessions server POOL/SERVER";

		if (w.n < 4 || strcmp(w.w[1], "sessions") != 0 ||
		    strcmp(w.w[2], "server") != 0) {
			errf(err, errlen, "usage: %s", usage);
			return -1;
		}
		c->verb = ADM_SHUTDOWN_SESSIONS;
		if (too_many(&w, 4, usage, err, errlen) < 0)
			return -1;
		return pool_server(w.w[3], true, c, err, errlen);
	}
	if (strcmp(verb, "reload") == 0) {
		c->verb = ADM_RELOAD;
		return too_many(&w, 1, "reload", err, errlen);
	}
	if (strcmp(verb, "check") == 0) {
		c->verb = ADM_CHECK;
		return too_many(&w, 1, "check", err, errlen);
	}
	if (strcmp(verb, "drain") == 0)
		return parse_drain(&w, c, err, errlen);
	if (strcmp(verb, "add") == 0 || strcmp(verb, "del") == 0)
		return parse_add_del(&w, c, err, errlen);
	if (strcmp(verb, "undrain") == 0) {
		c->verb = ADM_UNDRAIN;
		return too_many(&w, 1, "undrain", err, errlen);
	}
	errf(err, errlen, "unknown command '%s'; try 'help'", quote(verb, q, sizeof(q)));
	return -1;
}
