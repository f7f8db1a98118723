/*
 * worker: one thread, one libev loop, the sessions born on it, and the
 * accept watchers for its share of the listening sockets.  The main thread
 * talks to a worker only through its mailbox (a new generation, drain, stop)
 * and an ev_async; a worker answers through an ack counter and the main
 * loop's ev_async.  Nothing on a worker blocks.
 */
#ifndef TCPLB_WORKER_H
#define TCPLB_WORKER_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "edge/guard.h"
#include "edge/inspect.h"
#include "relay/hupwatch.h"
#include "relay/mirror.h"
#include "relay/relay.h"
#include "config/gen.h"

struct session;
struct session_wait;

/* One accept watcher: listening fd + the listener it belongs to in the
 * worker's current generation. */
struct wlisten {
	ev_io io;
	struct worker *w;
	struct listener *l;
	int fd;
	bool paused;
};

struct worker {
	unsigned id;
	pthread_t thread;
	struct ev_loop *loop;
	struct gen *gen;		/* current generation (one reference) */

	struct wlisten *wl;
	unsigned nwl;
	ev_timer resume_timer;		/* accepts paused: EMFILE or a limit */
	bool draining;
	bool accept_off;		/* `tcplb ctl drain` deadline passed */

	struct session *sessions;	/* every open session, for shutdown */
	struct session *fin_pending;	/* sessions with a FIN to send once
					 * this loop iteration's events are
					 * handled (session_send_fins) */
	ev_prepare fin_prep;
	struct session *free_sessions;	/* slab: recycled session memory */
	unsigned nfree_sessions;
	unsigned nsessions;
	unsigned fd_waiters;		/* sessions waiting for a descriptor */
	struct session_wait *queued;	/* sessions waiting in a pool queue, */
	struct session_wait *queued_tail;	/* oldest first */
	struct hupwatch queued_hup;	/* their clients, watched for reset/EOF */
	ev_tstamp last_queue_log[2];	/* queue full, timeout: rate limits */
	unsigned queue_log_suppressed[2];
	struct relay_pools pools;
	uint32_t rnd;
	uint64_t next_session_id;
	ev_tstamp last_emfile_log;
	/* Connects that found no local address (EADDRNOTAVAIL): written by
	 * this worker only, read by anyone (workers_no_local_addr()). */
	atomic_uint_fast64_t no_local_addr;
	struct guard_stats guard;	/* refused connections, per reason */
	void *dgram;			/* the datagram module's state (dgram/) */
	struct inspect_tls_stats tls;	/* TLS routing outcomes */
	atomic_uint_fast64_t inspect_held;	/* inspected client bytes held
					 * for sessions waiting for a server */
	struct mirror_stats mirror;	/* shadow copies (mirror.c) */

	/* Mailbox, written by the main thread under the lock. */
	ev_async wake;
	pthread_mutex_t lock;
	struct gen *mb_gen;
	bool mb_drain;
	bool mb_stop;
	struct worker_task *mb_task;
	atomic_bool mb_queue;		/* a queued session was woken (any thread) */
	atomic_uint acked_gen;
	atomic_bool acked_drain;
	atomic_uint heartbeat;		/* last heartbeat request answered */
	ev_timer test_stall;		/* TCPLB_TEST_STALL_WORKER only */
};

/* Work the main loop asks every worker to do on its own thread (the
 * admin socket: snapshot sessions, close a server's sessions, stop or
 * resume accepting).  fn runs once on each worker; done runs on the main
 * loop after the last.  Tasks run one at a time, in order; the caller owns
 * the struct until done. */
struct worker_task {
	void (*fn)(struct worker *w, void *arg);
	void (*done)(void *arg);
	void *arg;
	atomic_uint left;
	struct worker_task *next;
};

/* Sessions open on all workers (global.max_connections). */
extern atomic_uint tcplb_active;
/* Open UDP flows over all listeners (dgram/): global.max_connections
 * bounds TCP connections and UDP flows together. */
extern atomic_uint tcplb_flows;

/* The table of workers, made by workers_start() (workers.c). */
struct worker *worker_table_new(unsigned n);
void worker_table_shrink(unsigned n);	/* fewer started after all */
void worker_table_free(void);

/* Datagram listeners (`protocol: udp`) are served by dgram/, which sits
 * above relay: it registers these before workers_start(), and the worker
 * calls them without knowing the module.  read watches a UDP listening
 * socket (io->data is its struct wlisten); gen_switched runs on the
 * worker's thread once it runs a new generation; stop closes every flow of the
 * worker (on its thread, at shutdown); destroy frees w->dgram after the
 * thread ended. */
struct worker_dgram_ops {
	void (*read)(struct ev_loop *loop, ev_io *io, int revents);
	void (*gen_switched)(struct worker *w);	/* w->gen is new */
	void (*stop)(struct worker *w);
	void (*destroy)(struct worker *w);
};
void workers_set_dgram_ops(const struct worker_dgram_ops *ops);
/* The ops registered, or NULL (workers.c runs stop and destroy). */
const struct worker_dgram_ops *worker_dgram_ops(void);
unsigned workers_count(void);
/* Worker i (0 <= i < workers_count()), for reading its counters. */
struct worker *worker_get(unsigned i);
/* Connections refused for reason r, summed over every worker (admin,
 * metrics): relaxed loads of counters only their worker writes. */
uint64_t worker_refused_total(enum guard_reason r);
/* Mirror connections begun, bytes delivered to shadows and cuts, all
 * workers (what: 0, 1, 2). */
uint64_t workers_mirror_total(int what);
/* Connects that failed for want of a local address, all workers. */
uint64_t workers_no_local_addr(void);
/* TLS inspection outcomes, all workers. */
uint64_t workers_tls_total(enum inspect_tls_outcome o);
/* Inspected client bytes (ClientHellos) held for sessions waiting for a
 * server, all workers. */
uint64_t workers_inspect_held(void);

/* Accept control.  The resume timer, once per worker at start. */
void worker_accept_init(struct worker *w);
/* Task bodies for the admin socket's instance drain. */
void worker_accept_off(struct worker *w, void *unused);
void worker_accept_on(struct worker *w, void *unused);
/* Called by listener.c when accept must pause on this worker. */
void worker_pause_accept(struct worker *w, struct wlisten *only, double seconds);
/* Called by session.c. */
void worker_session_closed(struct worker *w);

#endif
