/*
 * resolve_int: what the resolver's files share (private to resolve*.c):
 * making a c-ares channel with tcplb's settings, and one entry's lookup on
 * it, whoever drives the channel (libev or poll).
 */
#ifndef TCPLB_RESOLVE_INT_H
#define TCPLB_RESOLVE_INT_H

#include <ares.h>

#include "config/gen.h"
#include "config/resolved.h"

/* ok: addrs (malloc'd, sorted, n > 0, capped) pass to the callee; total is
 * how many the answer had before the cap.  Else error says why (valid
 * only during the call) and addrs is NULL. */
typedef void (*resolve_lookup_cb)(void *arg, bool ok, const char *error,
    struct resolved_addr *addrs, size_t n, size_t total);

/* A channel that reads /etc/hosts before DNS ("fb"), with our timeout and
 * tries, and resolvers (csv, may be NULL) as its name servers.
 * sock_cb may be NULL (poll-driven).  Returns 0 or -1 with err set. */
int resolve_channel_new(ares_channel *ch, const char *resolvers,
    ares_sock_state_cb sock_cb, void *sock_arg, char *err, size_t errlen);

/* Start one lookup; cb runs exactly once, from inside ares_process_fd()
 * or ares_destroy() (error "cancelled").  family: AF_INET or AF_INET6 when
 * only that family is usable -- the other is still asked, but its failure
 * does not fail the lookup; AF_UNSPEC: both must answer. */
void resolve_lookup(ares_channel ch, enum server_entry_kind kind,
    const char *host, uint16_t port, size_t max, int family,
    resolve_lookup_cb cb, void *arg);

#endif
