/*
 * pool: runtime decisions about servers that more than one thread makes --
 * reserving a connection slot on a server (max_connections never exceeded),
 * passive health from real traffic, up/down transitions and their log
 * records, and slow start.  Lock-free: all shared state is atomic in
 * struct server_state.
 */
#ifndef TCPLB_POOL_H
#define TCPLB_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/gen.h"

/* Pick and reserve a server (active++ and total++), or NULL when none may
 * take the connection.  tried[] holds indices already attempted by this
 * session; they are not picked again. */
struct server *pool_pick(struct pool *p, const struct sockaddr *client,
    const uint32_t *tried, unsigned ntried, int64_t now_ms, uint32_t *rnd);
/* Undo a reservation when the session ends or the attempt failed; a
 * client queued for the pool gets its turn. */
void pool_release(struct server *s);
/* Is a server that could take a client (up, weight > 0) at its
 * max_connections?  Then a client may queue (max_queue) rather than be
 * turned away. */
bool pool_full(const struct pool *p, int64_t now_ms);

/* Slow-start admission: false if s is ramping up and this pick should go
 * elsewhere.  Deterministic, lock-free.  client (may be NULL): in a
 * `source` pool, the same client always gets the same answer. */
bool server_ramp_admit(struct server *s, int64_t now_ms,
    const struct sockaddr *client);

/* Admission for a weight lowered by the admin socket below the configured
 * one, on algorithms with precomputed schedules. */
bool server_weight_admit(struct server *s);

/* Passive health: the outcome of a connect attempt by real traffic.
 * reason: "refused", "timeout", "reset", ... */
void pool_report_connect(struct server *s, bool ok, const char *reason,
    int64_t now_ms);

/* s took over the runtime state of a server of the previous generation,
 * and the reload is committed.  If that state was down waiting for an
 * active check and s's pool no longer has one, nothing would ever bring it
 * back: a server down by an active check is marked up again, one down by
 * traffic may be tried now.  One resting after traffic failures in a pool
 * that gained a check waits for the check (and the rest) instead. */
void server_state_adopted(struct server *s, int64_t now_ms);

/* Health transition (active checks or passive); logs once per transition
 * with the server's fields.  Returns true if the state changed. */
bool server_set_up(struct server *s, bool up, const char *reason,
    int64_t now_ms);

/* The parts a pool hangs on a generation (config's struct gen_parts):
 * every pool's balancing tables, within one budget for all of them
 * (-1 with err past it), and its wait queue; the queue follows the pool
 * of the same name into the next generation. */
int pool_parts_build(struct gen *g, char *err, size_t errlen);
void pool_parts_follow(struct pool *np, const struct pool *op);
void pool_parts_free(struct pool *p);
/* A reload is committed (after gen_adopt_commit): every server of g that
 * took over a previous generation's state applies what that means in its
 * new pool (server_state_adopted). */
void pool_adopt_commit(struct gen *g, int64_t now_ms);

#endif
