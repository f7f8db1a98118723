/*
 * resolved: what name lookups found for a generation's host and SRV entries
 * -- the addresses one entry expands to, in one canonical order -- and the
 * function the loader calls to look a name up.  The loader sits below the
 * resolver (dns/), so it knows lookups only through this type and the
 * function installed with config_install(); a DNS change hands it a whole
 * resolved_set to build the next generation from without asking again.
 */
#ifndef TCPLB_RESOLVED_H
#define TCPLB_RESOLVED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* One address found for a server entry. */
struct resolved_addr {
	struct sockaddr_storage addr;	/* port set */
	uint32_t weight;		/* SRV: from the record; host: 0 (the entry's) */
	bool backup;			/* SRV: not of the lowest priority */
};

/* What the resolver found for every dynamic entry, to build a generation
 * from instead of asking DNS again (see config_rebuild()). */
struct resolved_entry {
	char *pool;
	uint32_t entry;			/* index in pool->entries */
	char *host;			/* to check it is the same entry */
	struct resolved_addr *addrs;	/* sorted */
	size_t n;
	/* Set when the new answer could not be built into a generation:
	 * why, and that answer (addrs is then the running generation's
	 * addresses).  See reload.c and resolve_rejected(). */
	char *rejected;
	struct resolved_addr *rejected_addrs;
	size_t nrejected_addrs;
};

struct resolved_set {
	struct resolved_entry *v;
	size_t n;
};

void resolved_set_free(struct resolved_set *r);
const struct resolved_entry *resolved_set_find(const struct resolved_set *r,
    const char *pool, uint32_t entry, const char *host);

/* Canonical order (family, address, port), duplicates removed: a DNS
 * answer that only rotates compares equal.  Returns the new count. */
size_t resolved_sort(struct resolved_addr *a, size_t n);
/* At most max of the n addresses a (sorted by resolved_sort()), the same
 * ones whatever order DNS gave them in: primaries before backups, then by
 * address.  Returns the new count (a stays sorted); max 0: no cap. */
size_t resolved_cap(struct resolved_addr *a, size_t n, size_t max);

/* Addresses one entry may expand to by default (resolve_max_addresses),
 * and the most it may be set to. */
#define RESOLVED_MAX_ADDRS	256
#define RESOLVED_MAX_ADDRS_LIMIT	4096

/* Is "ip", "ip:port" or "[ip6]:port" a valid name server address?  Writes
 * the canonical "ip:port" (port 53 by default) to out; -1 with err if not. */
int resolved_parse_server(const char *text, char *out, size_t outlen,
    char *err, size_t errlen);

/* Look host up (srv: as an SRV name, port unused) through resolvers
 * ("ip:port,..."; NULL: the system's), bounded in time: *out (malloc'd,
 * sorted, at most max: resolved_cap()) and *n, *total the addresses before
 * the cap, or -1 with err.  family (AF_INET, AF_INET6; AF_UNSPEC: both):
 * the one the servers' source can use, whose failure alone fails the
 * lookup.  dns/ provides it (resolve_sync). */
typedef int (*resolved_lookup_fn)(bool srv, const char *host, uint16_t port,
    const char *resolvers, size_t max, int family, struct resolved_addr **out,
    size_t *n, size_t *total, char *err, size_t errlen);

#endif
