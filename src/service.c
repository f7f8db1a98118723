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

#include <systemd/sd-daemon.h>

#include <sys/socket.h>

#include "addr.h"
#include "log.h"
#include "stats.h"
#include "service.h"
#include "util.h"
#include "worker.h"

#define STATUS_PERIOD 2.0

static ev_timer status_timer;
static ev_timer watchdog_timer;
static struct gen *status_gen;	/* not a reference: main owns the current gen */
static char last_status[600];
static char override_status[256];

int
service_listen_fds(int **out)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);

	*out = NULL;
	if (n <= 0)
		return 0;
	*out = xmalloc((size_t)n * sizeof(int));
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char where[ADDR_STRLEN] = "?";

		(*out)[i] = fd;
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			addr_format((struct sockaddr *)&ss, where, sizeof(where));
		log_info("systemd passed socket %d '%s' bound to %s", fd,
		    names && names[i] ? names[i] : "unknown", where);
	}
	if (names) {
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	return n;
}

static void
status_compute(char *buf, size_t len)
{
	unsigned up = 0, total = 0, nbinds = 0;

	if (status_gen == NULL) {
		snprintf(buf, len, "starting");
		return;
	}
	gen_count_servers(status_gen, &up, &total);
	for (uint32_t i = 0; i < status_gen->nlisteners; i++)
		nbinds += status_gen->listeners[i].nbinds;
	snprintf(buf, len,
	    "%u listener%s (%u socket%s), %u/%u servers up, %u active connections, %llu total",
	    status_gen->nlisteners, status_gen->nlisteners == 1 ? "" : "s",
	    nbinds, nbinds == 1 ? "" : "s", up, total,
	    atomic_load(&tcplb_active),
	    (unsigned long long)stats_total_sessions());
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
	sd_notifyf(0, "STATUS=%s", buf);
}

void
service_ready(void)
{
	char now[256];

	status_compute(now, sizeof(now));
	if (override_status[0])
		sd_notifyf(0, "READY=1\nSTATUS=%s; %s", override_status, now);
	else
		sd_notifyf(0, "READY=1\nSTATUS=%s", now);
	snprintf(last_status, sizeof(last_status), "%s", override_status[0] ? "" : now);
}

void
service_reloading(void)
{
	struct timespec ts;

	/* Type=notify-reload wants the monotonic time of the reload start. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading configuration",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

void
service_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping: draining connections");
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
service_set_gen(struct gen *g)
{
	status_gen = g;
}

static void
status_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	status_send(false);
}

static void
watchdog_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	sd_notify(0, "WATCHDOG=1");
}

void
service_start_timers(struct ev_loop *loop)
{
	uint64_t usec = 0;

	ev_timer_init(&status_timer, status_cb, STATUS_PERIOD, STATUS_PERIOD);
	ev_timer_start(loop, &status_timer);
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		double half = (double)usec / 2e6;

		ev_timer_init(&watchdog_timer, watchdog_cb, half, half);
		ev_timer_start(loop, &watchdog_timer);
		log_debug("watchdog enabled: WATCHDOG=1 every %.3fs", half);
	}
}

void
service_stop_timers(struct ev_loop *loop)
{
	ev_timer_stop(loop, &status_timer);
	ev_timer_stop(loop, &watchdog_timer);
}
