/*
 * admin_cmd: the admin socket's command language, parsed from one line into
 * a struct admin_cmd -- tokens, the command words, their arguments, the
 * optional trailing `json` -- or a one-line error that says what is wrong
 * ("unknown command 'x'; try 'help'").  Pure: no sockets, no generation;
 * whether a named pool or server exists is the executor's business.
 */
#ifndef TCPLB_ADMIN_CMD_H
#define TCPLB_ADMIN_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADMIN_LINE_MAX 4096	/* bytes in one command line, newline included */
#define ADMIN_NAME_MAX 256	/* bytes in a POOL or SERVER argument */
#define ADMIN_WEIGHT_MAX 256	/* as in the configuration file */

enum admin_verb {
	ADM_HELP,
	ADM_SHOW_INFO,
	ADM_SHOW_LISTENERS,
	ADM_SHOW_POOLS,
	ADM_SHOW_SERVERS,	/* [POOL] */
	ADM_SHOW_SESSIONS,	/* [POOL[/SERVER]] */
	ADM_SET_STATE,		/* POOL/SERVER, state */
	ADM_SET_WEIGHT,		/* POOL/SERVER, weight */
	ADM_SHUTDOWN_SESSIONS,	/* POOL/SERVER */
	ADM_RELOAD,
	ADM_CHECK,
	ADM_DRAIN,		/* [--deadline D] */
	ADM_UNDRAIN,
	ADM_ADD_SERVER,		/* pool, addr, server (name; "" = addr),
				 * weight, max_conns, backup */
	ADM_DEL_SERVER,		/* POOL/SERVER */
};

struct admin_cmd {
	enum admin_verb verb;
	bool json;
	char pool[ADMIN_NAME_MAX];	/* "" when not given */
	char server[ADMIN_NAME_MAX];	/* "" when not given */
	int state;			/* enum server_admin */
	uint32_t weight;
	bool has_deadline;
	uint64_t deadline_ms;
	char addr[ADMIN_NAME_MAX];	/* add server */
	uint32_t max_conns;
	bool backup;
};

/* add server: max_connections as in the configuration file */
#define ADMIN_MAX_CONNS 10000000

/* Parse line[0..len) (a trailing "\n" or "\r\n" is allowed).  Returns 0,
 * or -1 with a one-line message in err (no newline). */
int admin_cmd_parse(const char *line, size_t len, struct admin_cmd *out,
    char *err, size_t errlen);

/* The command summary `help` prints, one command per line. */
const char *admin_cmd_help(void);
/* "ready", "drain", "maint" (enum server_admin), "?" otherwise. */
const char *admin_state_name(int state);

#endif
