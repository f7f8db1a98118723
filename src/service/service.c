/*
 * service: the sd_notify protocol and socket activation.  Only the main
 * thread calls in here.  The live STATUS= line is recomputed every two
 * seconds from atomics and sent only when its text changes, so systemd is
 * not woken for nothing.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include <sys/socket.h>

#include "base/addr.h"
#include "base/log.h"
#include "stats/peers.h"
#include "stats/stats.h"
#include "service/service.h"
#include "base/util.h"
#include "relay/worker.h"
#include "relay/workers.h"

#define STATUS_PERIOD 2.0
#define LISTEN_FDS_LOGGED 64	/* more passed sockets: a summary line */

static ev_timer status_timer;
static ev_timer watchdog_timer;
static struct ev_loop *timer_loop;
static struct gen *status_gen;	/* not a reference: main owns the current gen */
static char last_status[600];
static char override_status[256];
static bool detached;		/* not (or no longer) the unit's main process */

/* Every notification goes through here: a process that is not the main
 * one (an upgrade in progress, or the old process draining after it) must
 * not speak for the unit. */
static void
notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
notify(const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int r;

	if (detached)
		return;
	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	sd_notify(0, msg);
	free(msg);
}

void
service_detach(void)
{
	detached = true;
}

/* FDSTOREREMOVE= held back while detached: the new process of an upgrade
 * drops a group only once it is the main process -- if the handover fails,
 * the old one still serves it. */
static char **pending_removals;
static size_t npending_removals;

void
service_attach(void)
{
	detached = false;
	/* Systemd's watchdog deadline runs from the previous main process's
	 * last keep-alive, up to half the interval ago; ours, timed from our
	 * own start, could come up to half an interval after the handover --
	 * together a whole WatchdogSec=, and the new process would be killed.
	 * Ping at once and count the period from here. */
	if (timer_loop && ev_is_active(&watchdog_timer)) {
		notify("WATCHDOG=1");
		ev_timer_again(timer_loop, &watchdog_timer);
	}
	for (size_t i = 0; i < npending_removals; i++) {
		service_fdstore_remove(pending_removals[i]);
		free(pending_removals[i]);
	}
	free(pending_removals);
	pending_removals = NULL;
	npending_removals = 0;
}

void
service_handover(long pid, const char *status)
{
	notify("MAINPID=%ld\nSTATUS=%s", pid, status);
	detached = true;
}

void
service_reclaim(void)
{
	detached = false;
	notify("MAINPID=%ld", (long)getpid());
}

void
service_fdstore_add(const char *name, const int *fds, unsigned n)
{
	char *msg;

	if (n == 0 || getenv("NOTIFY_SOCKET") == NULL)
		return;
	msg = xasprintf("FDSTORE=1\nFDNAME=%s", name);
	/* From a detached process (an upgrade's new one, before the
	 * handover) too: systemd takes fds from any process of the unit only
	 * with NotifyAccess=all, so a refused one is merely not stored. */
	if (sd_pid_notify_with_fds(0, 0, msg, fds, n) < 0)
		log_debug("cannot store socket %s in systemd's fd store", name);
	free(msg);
}

void
service_fdstore_remove(const char *name)
{
	if (name == NULL)
		return;
	if (detached) {
		pending_removals = xrealloc(pending_removals,
		    (npending_removals + 1) * sizeof(char *));
		pending_removals[npending_removals++] = xstrdup(name);
		return;
	}
	notify("FDSTOREREMOVE=1\nFDNAME=%s", name);
}

void
service_free_names(char **names)
{
	if (names == NULL)
		return;
	for (char **p = names; *p; p++)
		free(*p);
	free(names);
}

int
service_listen_fds(int **out, char ***names_out)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);
	size_t namelen = 0;

	*out = NULL;
	*names_out = NULL;
	if (n <= 0) {
		service_free_names(names);
		return 0;
	}
	*out = xmalloc((size_t)n * sizeof(int));
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char where[ADDR_STRLEN] = "?";

		(*out)[i] = fd;
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			addr_format((struct sockaddr *)&ss, where, sizeof(where));
		/* Thousands (workers x binds) would flood the journal and
		 * hit its rate limit: then one line per socket at debug. */
		namelen += names && names[i] ? strlen(names[i]) + 1 : 0;
		log_msg(n > LISTEN_FDS_LOGGED ? LOG_DEBUG : LOG_INFO, NULL, "%s socket %d '%s' bound to %s",
		    detached ? "the previous process passed" : "systemd passed",
		    fd, names && names[i] ? names[i] : "unknown", where);
	}
	if (n > LISTEN_FDS_LOGGED)
		log_info("%s %d sockets (LISTEN_FDNAMES of %zu bytes)",
		    detached ? "the previous process passed" : "systemd passed", n,
		    namelen ? namelen - 1 : 0);
	*names_out = names;
	return n;
}

static void
status_compute(char *buf, size_t len)
{
	unsigned up = 0, total = 0, nbinds = 0;
	uint64_t noport = workers_no_local_addr();
	int n;

	if (status_gen == NULL) {
		snprintf(buf, len, "starting");
		return;
	}
	gen_count_servers(status_gen, &up, &total);
	for (uint32_t i = 0; i < status_gen->nlisteners; i++)
		nbinds += status_gen->listeners[i].nbinds;
	n = snprintf(buf, len,
	    "%u listener%s (%u socket%s), %u/%u servers up, %u active connections, %llu total",
	    status_gen->nlisteners, status_gen->nlisteners == 1 ? "" : "s",
	    nbinds, nbinds == 1 ? "" : "s", up, total,
	    atomic_load(&tcplb_active),
	    (unsigned long long)stats_total_sessions());
	/* Old processes still draining after an upgrade: their sessions
	 * are this unit's too. */
	if (atomic_load(&peers_active) > 0 && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, " (+%u in draining old processes)",
		    atomic_load(&peers_active));
	/* Only once it happened: a shortage the operator must act on. */
	if (noport && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ", %llu connects found no "
		    "free local port", (unsigned long long)noport);
}

static void
status_send(bool force)
{
	char buf[600];
	char now[256];

	status_compute(now, sizeof(now));
	if (override_status[0])
		snprintf(buf, sizeof(buf), "%s; %s", override_status, now);
	else
		snprintf(buf, sizeof(buf), "%s", now);
	if (!force && strcmp(buf, last_status) == 0)
		return;
	snprintf(last_status, sizeof(last_status), "%s", buf);
	notify("STATUS=%s", buf);
}

void
service_ready(void)
{
	char now[256];

	status_compute(now, sizeof(now));
	if (override_status[0])
		notify("READY=1\nSTATUS=%s; %s", override_status, now);
	else
		notify("READY=1\nSTATUS=%s", now);
	snprintf(last_status, sizeof(last_status), "%s", override_status[0] ? "" : now);
}

void
service_reloading(void)
{
	struct timespec ts;

	/* Type=notify-reload wants the monotonic time of the reload start. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading configuration",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

void
service_stopping(uint64_t drain_ms)
{
	/* The unit's TimeoutStopSec= is a default; the drain the file asks
	 * for (plus a margin for the last closes) wins when it is longer. */
	notify("STOPPING=1\nEXTEND_TIMEOUT_USEC=%llu\nSTATUS=stopping: draining connections",
	    (unsigned long long)(drain_ms + 15000) * 1000ULL);
}

void
service_status(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(override_status, sizeof(override_status), fmt, ap);
	va_end(ap);
}

void
service_status_flush(void)
{
	status_send(true);
}

void
service_set_gen(struct gen *g)
{
	status_gen = g;
}

static void
status_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	status_send(false);
}

/* WATCHDOG=1 means "every loop turns", not just "the main loop turns": a
 * worker blocked in a system call would otherwise go unnoticed.  Each tick
 * checks that every worker answered the previous tick's heartbeat request
 * (worker.c), pings only then, and asks again. */
static void
watchdog_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(10000, 1);
	int stuck = workers_heartbeat_missing();

	if (stuck < 0)
		notify("WATCHDOG=1");
	else
		log_ratelimited(&rl, LOG_ERR, NULL, "worker %d has not answered "
		    "for %.1fs: not pinging the watchdog", stuck, t->repeat);
	workers_heartbeat_request();
}

void
service_start_timers(struct ev_loop *loop)
{
	uint64_t usec = 0;

	timer_loop = loop;
	ev_timer_init(&status_timer, status_cb, STATUS_PERIOD, STATUS_PERIOD);
	ev_timer_start(loop, &status_timer);
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		double half = (double)usec / 2e6;

		ev_timer_init(&watchdog_timer, watchdog_cb, half, half);
		ev_timer_start(loop, &watchdog_timer);
		workers_heartbeat_request();
		log_debug("watchdog enabled: WATCHDOG=1 every %.3fs", half);
	}
}

void
service_stop_timers(struct ev_loop *loop)
{
	ev_timer_stop(loop, &status_timer);
	ev_timer_stop(loop, &watchdog_timer);
}
