/*
 * flowtab: the pure part of datagram flows -- a chained hash table of
 * flows keyed by (listening socket, client address and port), growing by
 * doubling, with no socket or loop calls (tests/unit/test_flowtab.c).
 * Entries are the caller's structs, linked through an embedded
 * struct flowtab_node; the table never allocates an entry.
 */
#ifndef TCPLB_FLOWTAB_H
#define TCPLB_FLOWTAB_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* A client address in a fixed, comparable form: IPv4 addresses are kept
 * as IPv4-mapped IPv6, so one key type serves both families. */
struct flowtab_key {
	uint8_t addr[16];
	uint16_t port;			/* network order */
	int lfd;			/* listening socket the flow arrived on */
	/* The address the client sent to, same form, when the socket
	 * reports it (wildcard binds; else zero): one client port toward
	 * two addresses is two flows, each answering from its own. */
	uint8_t local[16];
};

struct flowtab_node {
	struct flowtab_node *next;
	struct flowtab_key key;
	uint32_t hash;
};

struct flowtab {
	struct flowtab_node **b;
	size_t nb;			/* buckets, a power of two */
	size_t n;			/* entries */
	uint32_t seed;
};

void flowtab_init(struct flowtab *t, uint32_t seed);
void flowtab_free(struct flowtab *t);	/* the buckets; entries are the caller's */
/* Fill key from a client address (AF_INET or AF_INET6) and socket;
 * returns -1 for another family. */
int flowtab_key_make(struct flowtab_key *k, const struct sockaddr *sa, int lfd);
/* Set the key's local address: 4 bytes (IPv4) or 16 (IPv6). */
void flowtab_key_local(struct flowtab_key *k, const void *addr, size_t len);
uint32_t flowtab_hash(const struct flowtab *t, const struct flowtab_key *k);
struct flowtab_node *flowtab_find(const struct flowtab *t,
    const struct flowtab_key *k, uint32_t hash);
/* node->key and node->hash set by the caller; the key must be absent. */
void flowtab_insert(struct flowtab *t, struct flowtab_node *node);
void flowtab_remove(struct flowtab *t, struct flowtab_node *node);

#endif
