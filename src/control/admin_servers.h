/*
 * admin_servers: `add server` and `del server` on the admin socket.  A
 * change is checked against the running generation (one clear error, and
 * nothing changes), recorded in the list of added servers (config/added.c),
 * and made live by a rebuild of the generation published like a DNS
 * change; the client is answered once a generation with the change is
 * published.  `del server` stops new sessions on the server at once
 * (drain) and lets open ones finish on the generation they started in.
 */
#ifndef TCPLB_ADMIN_SERVERS_H
#define TCPLB_ADMIN_SERVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "control/admin_cmd.h"

/* How admin.c answers a client that waited (ok: msg is the result line,
 * else the error); client is admin.c's own. */
typedef void (*admin_servers_answer_fn)(void *client, bool ok,
    const char *msg);

/* Check and record the change.  Returns 0 when the client waits for the
 * rebuild (answer() is called later, exactly once, unless
 * admin_servers_forget() came first), -1 with msg (the error) when
 * nothing changed. */
int admin_servers_exec(const struct admin_cmd *cmd, uid_t uid, pid_t pid,
    void *client, admin_servers_answer_fn answer, void (*rebuild)(void),
    char *msg, size_t msglen);
/* The client went away: never answer it (the change stands). */
void admin_servers_forget(void *client);

/* The service, after a swap: version is the list version it was built
 * with; ok false when it failed (err: the first error).  A rebuild that
 * failed undoes the changes it carried and tells their clients; a file
 * reload that failed leaves them waiting and asks for a rebuild. */
void admin_servers_swap_done(uint64_t version, bool ok, bool file,
    const char *err);

#endif
