/*
 * log: where records go (journald natively, or stderr one line per record)
 * and how they look.  Thread-safe, and never blocks the caller: one call
 * formats one whole record and queues it for the log thread (bounded:
 * beyond it records are dropped, counted and the count logged later).
 * Levels are syslog priorities (LOG_ERR .. LOG_DEBUG from <syslog.h>).
 */
#ifndef TCPLB_LOG_H
#define TCPLB_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

enum log_target {
	LOG_TARGET_AUTO,
	LOG_TARGET_JOURNAL,
	LOG_TARGET_STDERR,
};

/* Structured context attached to a record; every member may be NULL/0.
 * On journald each becomes a TCPLB_* field, on stderr a "key=value" suffix
 * only where the message text does not already say it. */
struct log_ctx {
	const char *listener;
	const char *pool;
	const char *server;	/* server name */
	const char *server_addr;
	const char *client;
	uint64_t session;
};

int log_target_parse(const char *s, enum log_target *out);
int log_level_parse(const char *s, int *out);
const char *log_level_name(int level);

/* Decide the target once (auto: journald when stderr is the journal). */
void log_init(enum log_target target, int level);
void log_set_level(int level);
int log_get_level(void);
bool log_is_journal(void);

static inline bool log_enabled(int prio);
extern int log_level_current;
static inline bool
log_enabled(int prio)
{
	return prio <= __atomic_load_n(&log_level_current, __ATOMIC_RELAXED);
}

void log_msg(int prio, const struct log_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like log_msg, appending ": strerror(errno)"; errno is preserved. */
void log_errno(int prio, const struct log_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(...)	 do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, NULL, __VA_ARGS__); } while (0)
#define log_info(...)	 log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_notice(...)	 log_msg(LOG_NOTICE, NULL, __VA_ARGS__)
#define log_warnx(...)	 log_msg(LOG_WARNING, NULL, __VA_ARGS__)
#define log_warn(...)	 log_errno(LOG_WARNING, NULL, __VA_ARGS__)
#define log_errx(...)	 log_msg(LOG_ERR, NULL, __VA_ARGS__)
#define log_err(...)	 log_errno(LOG_ERR, NULL, __VA_ARGS__)

/*
 * Rate limiting for records that real traffic can repeat without end (one
 * per connection: "pool has no server available"): at most `burst` per
 * `interval_ms`, shared by every thread; the next record let through ends
 * with " (N similar messages suppressed)".  One static state per call site:
 *
 *	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(5000, 10);
 *	log_ratelimited(&rl, LOG_WARNING, &ctx, "pool %s ...", name);
 */
struct log_ratelimit {
	atomic_uint_fast64_t begin_ms;
	atomic_uint count;
	atomic_uint suppressed;
	unsigned interval_ms;
	unsigned burst;
};
#define LOG_RATELIMIT_INIT(interval, n) { .interval_ms = (interval), .burst = (n) }
void log_ratelimited(struct log_ratelimit *rl, int prio,
    const struct log_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Records dropped since start (queue full, a target that never took
 * them, or still queued when exit stopped waiting for the target). */
uint64_t log_dropped_count(void);
/* Of those, the ones still queued when exit gave up (LOG_FLUSH_MS). */
uint64_t log_lost_at_exit(void);

/* One finished client connection (global.access_log), or one still open
 * (interim: a pool's log_interval). */
struct access_rec {
	uint64_t session;
	const char *client;	/* "ip:port" */
	const char *listener;
	const char *pool;
	const char *server;	/* name, or NULL when none was reached */
	const char *server_addr;
	uint64_t bytes_in;	/* client -> server */
	uint64_t bytes_out;	/* server -> client */
	int64_t connect_ms;	/* -1 when never connected */
	uint64_t duration_ms;
	unsigned tries;
	const char *reason;	/* termination reason */
	bool routed;		/* the listener routes by TLS name: */
	const char *sni;	/* the name (a valid host name) or NULL */
	int route;		/* the route index taken, -1: none */
	bool dgram;		/* a UDP flow: datagram counts follow */
	uint64_t dgrams_in, dgrams_out;
	const char *mptcp;	/* sides on Multipath TCP, NULL: none */
	bool interim;		/* the session is still open */
	bool since;		/* since_in/out are given (interim records, and
				 * the final one of a session that had some) */
	uint64_t since_in;	/* bytes since the previous record */
	uint64_t since_out;
	bool mirrored;		/* a shadow got a copy (pool mirror:) */
	bool mirror_cut;	/* ... until it was cut */
	uint64_t mirror_bytes;	/* delivered to it */
};
void log_access(const struct access_rec *r);

#endif
