/*
 * flowtab: pure chained hash table of datagram flows by (listening socket,
 * client address:port).  A seeded hash, so that a spoofed flood cannot aim
 * every flow at one bucket; the table doubles at a load factor of 1 and
 * never shrinks below its peak (memory bounded by max_connections).
 */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "dgram/flowtab.h"

#define FLOWTAB_MIN_BUCKETS 64

void
flowtab_init(struct flowtab *t, uint32_t seed)
{
	t->nb = FLOWTAB_MIN_BUCKETS;
	t->b = xcalloc(t->nb, sizeof(*t->b));
	t->n = 0;
	t->seed = seed;
}

void
flowtab_free(struct flowtab *t)
{
	free(t->b);
	t->b = NULL;
	t->nb = t->n = 0;
}

int
flowtab_key_make(struct flowtab_key *k, const struct sockaddr *sa, int lfd)
{
	memset(k, 0, sizeof(*k));
	k->lfd = lfd;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		k->addr[10] = 0xff;
		k->addr[11] = 0xff;
		memcpy(&k->addr[12], &in->sin_addr, 4);
		k->port = in->sin_port;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		memcpy(k->addr, &in6->sin6_addr, 16);
		k->port = in6->sin6_port;
		return 0;
	}
	return -1;
}

void
flowtab_key_local(struct flowtab_key *k, const void *addr, size_t len)
{
	memset(k->local, 0, sizeof(k->local));
	if (len == 4) {
		k->local[10] = 0xff;
		k->local[11] = 0xff;
		memcpy(&k->local[12], addr, 4);
	} else if (len == 16) {
		memcpy(k->local, addr, 16);
	}
}

/* Mix of 32-bit words (murmur3 finalizer rounds), seeded. */
static uint32_t
mix(uint32_t h, uint32_t v)
{
	v *= 0xcc9e2d51u;
	v = (v << 15) | (v >> 17);
	v *= 0x1b873593u;
	h ^= v;
	h = (h << 13) | (h >> 19);
	return h * 5 + 0xe6546b64u;
}

uint32_t
flowtab_hash(const struct flowtab *t, const struct flowtab_key *k)
{
	uint32_t h = t->seed, w;

	for (int i = 0; i < 16; i += 4) {
		memcpy(&w, &k->addr[i], 4);
		h = mix(h, w);
	}
	for (int i = 0; i < 16; i += 4) {
		memcpy(&w, &k->local[i], 4);
		h = mix(h, w);
	}
	h = mix(h, (uint32_t)k->port << 16 ^ (uint32_t)k->lfd);
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

static bool
key_eq(const struct flowtab_key *a, const struct flowtab_key *b)
{
	return a->port == b->port && a->lfd == b->lfd &&
	    memcmp(a->addr, b->addr, 16) == 0 &&
	    memcmp(a->local, b->local, 16) == 0;
}

struct flowtab_node *
flowtab_find(const struct flowtab *t, const struct flowtab_key *k,
    uint32_t hash)
{
	for (struct flowtab_node *n = t->b[hash & (t->nb - 1)]; n; n = n->next)
		if (n->hash == hash && key_eq(&n->key, k))
			return n;
	return NULL;
}

static void
grow(struct flowtab *t)
{
	size_t nb = t->nb * 2;
	struct flowtab_node **b = xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < t->nb; i++) {
		struct flowtab_node *n = t->b[i], *next;

		for (; n; n = next) {
			next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

void
flowtab_insert(struct flowtab *t, struct flowtab_node *node)
{
	struct flowtab_node **head;

	if (t->n >= t->nb)
		grow(t);
	head = &t->b[node->hash & (t->nb - 1)];
	node->next = *head;
	*head = node;
	t->n++;
}

void
flowtab_remove(struct flowtab *t, struct flowtab_node *node)
{
	struct flowtab_node **pp = &t->b[node->hash & (t->nb - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == node) {
			*pp = node->next;
			node->next = NULL;
			t->n--;
			return;
		}
	}
}
