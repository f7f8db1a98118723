/*
 * upgrade: the binary upgrade started by SIGUSR2 -- both sides of it.
 *
 * Why a new process and not execve() in place: the open sessions live on
 * the worker threads' loops, and neither threads nor loops survive an
 * execve() or a fork().  So the old process keeps them, and the new binary
 * runs beside it:
 *
 *   old (main PID)                          new
 *   SIGUSR2: state -> memfd, socketpair,
 *   fork, fork again (the new process is
 *   then PID 1's child, as a main process
 *   should be), execve(own path) with
 *   LISTEN_FDS = every listening socket  -> load the file (fails: exit, the
 *   (keeps accepting meanwhile)             old one logs it and serves on)
 *                                           adopt the sockets, restore state,
 *                                           start workers: both accept from
 *                                           the same queues, none is lost
 *                                        <- "ready PID"
 *   MAINPID=PID (NotifyAccess=main: only
 *   the main process may say it), then
 *   silent                               -> "ok"
 *                                           READY=1, STATUS=, WATCHDOG=1
 *   stop accepting, drain open sessions
 *   (shutdown_timeout), exit
 *
 * No listening socket is closed or re-bound: the kernel's accept queue
 * belongs to the socket, and both processes hold the same socket.
 *
 * The state is a text file of extensible "KIND key=value ..." lines, keyed
 * like gen_inherit() (pool name and address, listener name); keys a binary
 * does not know are skipped, so an older or newer peer never fails on it.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "config/added.h"
#include "control/admin.h"
#include "control/metrics.h"
#include "control/metrics_carry.h"
#include "control/metrics_render.h"
#include "relay/listener.h"
#include "service/reload.h"
#include "stats/peers.h"
#include "base/log.h"
#include "balance/pool.h"
#include "service/service.h"
#include "stats/stats.h"
#include "service/upgrade.h"
#include "base/util.h"
#include "relay/worker.h"

#define START_TIMEOUT_S 60.0	/* the new process must serve by then */
#define HANDOVER_WAIT_MS 10000	/* new process: wait for "ok" */

extern char **environ;

/* ---- old side -------------------------------------------------------- */

static struct ev_loop *loop;
static char exe[4096];
static char **args;
static void (*on_handed_over)(void);

static bool busy;
static int ctl = -1;
static pid_t new_pid;
static ev_io ctl_io;
static ev_timer start_timer;
static char linebuf[256];
static size_t linelen;
static bool reload_for_new;	/* a SIGHUP came while the new one started */
static int state_fd = -1;	/* the state file, rewritten at the handover */
static pid_t started_pid;	/* the new process, once it said "child" */

void
upgrade_init(struct ev_loop *l, char **argv, void (*handed_over)(void))
{
	ssize_t n;

	loop = l;
	args = argv;
	on_handed_over = handed_over;
	/* The path this binary was started from: a package upgrade puts the
	 * new binary there. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(exe, sizeof(exe), "%s", argv[0]);
		return;
	}
	exe[n] = '\0';
	if (n > 10 && strcmp(exe + n - 10, " (deleted)") == 0)
		exe[n - 10] = '\0';
}

bool
upgrade_in_progress(void)
{
	return busy;
}

/* Percent-encode a configured name for a state line (spaces, '=', '%'
 * and control bytes would break the line's syntax). */
static void
put_esc(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p <= ' ' || *p == '%' || *p == '=' || *p >= 0x7f)
			fprintf(f, "%%%02x", *p);
		else
			fputc(*p, f);
	}
}

/* Every field of a counter sum, as "key=N,N,...". */
static void
put_sums(FILE *f, const char *key, const uint64_t *v, size_t n)
{
	fprintf(f, " %s=", key);
	for (size_t i = 0; i < n; i++)
		fprintf(f, i ? ",%llu" : "%llu", (unsigned long long)v[i]);
}

static int
state_write(int fd, const struct gen *g)
{
	FILE *f;
	bool draining, accept_off;
	int64_t remaining;

	/* Rewritten at the handover (admin changes made meanwhile): the new
	 * process reads the file again from the start. */
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	f = fdopen(dup(fd), "w");
	if (f == NULL)
		return -1;
	fprintf(f, "tcplb-state 1\n");
	for (uint32_t i = 0; i < g->npools; i++) {
		const struct pool *p = &g->pools[i];

		for (uint32_t s = 0; s < p->nservers; s++) {
			const struct server *sv = &p->servers[s];
			const struct server_state *st = sv->st;
			struct stats_srv_sum sum;

			stats_srv_sum(st, &sum);
			fputs("server pool=", f);
			put_esc(f, p->name);
			fputs(" name=", f);
			put_esc(f, sv->name);
			fputs(" addr=", f);
			put_esc(f, sv->addr_text);
			fprintf(f, " up=%d passive_down=%d fails=%u retry_at_ms=%lld"
			    " up_since_ms=%lld rest_until_ms=%lld passive_epoch=%u"
			    " check_epoch=%u check_ok=%u check_fail=%u check_fresh=%d"
			    " check_failing=%d total=%llu admin=%d weight=%d"
			    " agent_admin=%d agent_weight=%d",
			    (int)atomic_load(&st->up), (int)atomic_load(&st->passive_down),
			    atomic_load(&st->fails), (long long)atomic_load(&st->retry_at_ms),
			    (long long)atomic_load(&st->up_since_ms),
			    (long long)atomic_load(&st->rest_until_ms),
			    atomic_load(&st->passive_epoch), st->check_epoch, st->check_ok,
			    st->check_fail, (int)st->check_fresh,
			    (int)atomic_load(&st->check_failing),
			    (unsigned long long)sum.conns,
			    atomic_load(&st->admin), atomic_load(&st->weight_override),
			    atomic_load(&st->agent_admin),
			    (int)atomic_load(&st->agent_weight));
			put_sums(f, "sums", (const uint64_t *)&sum, STATS_SRV_FIELDS);
			fputc('\n', f);
		}
	}
	/* Pool totals are the pool's own (they include servers long gone). */
	for (uint32_t i = 0; i < g->npools; i++) {
		struct stats_srv_sum ps;

		stats_pool_sum(g->pools[i].st, &ps);
		fputs("pool name=", f);
		put_esc(f, g->pools[i].name);
		fprintf(f, " total=%llu", (unsigned long long)ps.conns);
		put_sums(f, "sums", (const uint64_t *)&ps, STATS_SRV_FIELDS);
		fputc('\n', f);
	}
	{
		struct added_server *v;
		size_t n = added_list(&v, NULL);

		for (size_t i = 0; i < n; i++) {
			fputs("added-server pool=", f);
			put_esc(f, v[i].pool);
			fputs(" name=", f);
			put_esc(f, v[i].name);
			fputs(" addr=", f);
			put_esc(f, v[i].addr);
			fprintf(f, " weight=%u max_connections=%u backup=%d\n",
			    v[i].weight, v[i].max_conns, (int)v[i].backup);
		}
		added_free(v, n);
	}
	for (uint32_t i = 0; i < g->nlisteners; i++) {
		struct stats_lsn_sum sum;

		stats_lsn_sum(g->listeners[i].st, &sum);
		fputs("listener name=", f);
		put_esc(f, g->listeners[i].name);
		fprintf(f, " total=%llu", (unsigned long long)sum.conns);
		put_sums(f, "sums", (const uint64_t *)&sum, STATS_LSN_FIELDS);
		fputc('\n', f);
	}
	fprintf(f, "process total=%llu\n", (unsigned long long)stats_total_sessions());
	{
		/* Every other counter sample, as /metrics shows it now. */
		struct sbuf b = { 0 };

		metrics_render_prom_shared(&b, g);
		metrics_carry_write(f, b.p, b.len, "metric");
		sbuf_free(&b);
	}
	admin_drain_get(&draining, &remaining, &accept_off);
	fprintf(f, "instance draining=%d drain_remaining_ms=%lld accept_off=%d\n",
	    (int)draining, (long long)remaining, (int)accept_off);
	if (fclose(f) != 0)
		return -1;
	return lseek(fd, 0, SEEK_SET) < 0 ? -1 : 0;
}

static int
state_fd_new(void)
{
	int fd = memfd_create("tcplb-state", MFD_CLOEXEC);

	if (fd >= 0)
		return fd;
	/* No memfd (seccomp, old kernel): an unlinked file in /tmp, which
	 * the unit makes private and writable. */
	{
		FILE *f = tmpfile();

		if (f == NULL)
			return -1;
		fd = fcntl(fileno(f), F_DUPFD_CLOEXEC, 3);
		fclose(f);
		return fd;
	}
}

static void
ctl_close(void)
{
	admin_set_upgrading(false);
	reload_for_new = false;
	if (state_fd >= 0)
		close(state_fd);
	state_fd = -1;
	ev_io_stop(loop, &ctl_io);
	ev_timer_stop(loop, &start_timer);
	if (ctl >= 0)
		close(ctl);
	ctl = -1;
	linelen = 0;
}

static void
upgrade_failed(const char *why)
{
	bool reload = reload_for_new;

	log_errx("binary upgrade failed: %s; this process (tcplb %s) keeps serving",
	    why, PACKAGE_VERSION);
	/* The time lets a caller polling StatusText tell this failure from
	 * an earlier one. */
	service_status("upgrade failed (at %lld): %s", (long long)time(NULL), why);
	service_status_flush();
	metrics_thaw();
	if (new_pid > 0)
		kill(new_pid, SIGKILL);
	new_pid = 0;
	/* A new process killed, or dead before its exit path ran, leaves
	 * its own admin socket file PATH.PID behind. */
	if (started_pid > 0)
		admin_remove_process(started_pid);
	started_pid = 0;
	ctl_close();
	busy = false;
	if (reload) {
		/* Held back while the new process started (see
		 * upgrade_note_reload()): this process serves on, so it
		 * reloads now. */
		log_notice("binary upgrade failed: doing the reload asked for meanwhile");
		reload_request();
	}
}

static void
handle_line(const char *line)
{
	long pid;

	if (sscanf(line, "child %ld", &pid) == 1) {
		new_pid = started_pid = (pid_t)pid;
		return;
	}
	if (strncmp(line, "exec ", 5) == 0) {
		char why[300];

		snprintf(why, sizeof(why), "cannot execute %.200s: %.80s", exe, line + 5);
		upgrade_failed(why);
		return;
	}
	if (sscanf(line, "ready %ld", &pid) == 1) {
		char status[128];

		snprintf(status, sizeof(status), "upgraded: process %ld took over", pid);
		/* What changed since the new process read the state (admin
		 * commands answered meanwhile) is in the state again before
		 * it takes over; from here on this process takes no more
		 * changes (the admin socket path is the new one's). */
		metrics_freeze();
		if (state_fd >= 0 && state_write(state_fd, gen_current()) < 0)
			log_warn("binary upgrade: cannot write the state again");
		service_handover(pid, status);
		if (write(ctl, "ok\n", 3) != 3) {
			char why[160];

			/* It died after "ready" (its end of the socket is
			 * closed): systemd refuses a dead MAINPID=, or sees
			 * that main process exit.  Draining now would leave
			 * nobody accepting and end the unit with status 0,
			 * which Restart=on-failure does not restart. */
			log_warn("binary upgrade: cannot confirm the handover to process %ld", pid);
			service_reclaim();
			snprintf(why, sizeof(why),
			    "process %ld exited right after it started serving", pid);
			new_pid = 0;
			upgrade_failed(why);
			return;
		}
		log_notice("binary upgrade: process %ld (%s) serves now; this process stops accepting and drains",
		    pid, exe);
		if (reload_for_new) {
			/* The new process may have read the file before it
			 * changed: it reloads too (its SIGHUP handler is set
			 * before it says "ready"). */
			log_notice("binary upgrade: passing the reload asked for during the upgrade to process %ld",
			    pid);
			kill((pid_t)pid, SIGHUP);
		}
		new_pid = started_pid = 0;
		ctl_close();
		busy = false;
		on_handed_over();
		return;
	}
	log_warnx("binary upgrade: unexpected message from the new process: %.80s", line);
}

static void
ctl_cb(struct ev_loop *l, ev_io *w, int revents)
{
	ssize_t n = read(ctl, linebuf + linelen, sizeof(linebuf) - 1 - linelen);
	char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* The new process is gone; its own messages (configuration
		 * errors, ...) are in the journal beside ours. */
		new_pid = 0;
		upgrade_failed("the new process exited before serving (see its messages above)");
		return;
	}
	linelen += (size_t)n;
	linebuf[linelen] = '\0';
	while (ctl >= 0 && (nl = strchr(linebuf, '\n')) != NULL) {
		*nl = '\0';
		handle_line(linebuf);
		if (ctl < 0)
			return;
		linelen -= (size_t)(nl + 1 - linebuf);
		memmove(linebuf, nl + 1, linelen + 1);
	}
	if (ctl >= 0 && linelen == sizeof(linebuf) - 1)
		upgrade_failed("garbled message from the new process");
}

static void
start_timeout_cb(struct ev_loop *l, ev_timer *t, int revents)
{
	char why[128];

	snprintf(why, sizeof(why), "the new process did not serve within %.0fs",
	    START_TIMEOUT_S);
	upgrade_failed(why);
}

/* Decimal into buf, async-signal-safe (for the forked child). */
static void
put_pid(char *buf, long v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (n > 0)
		*buf++ = tmp[--n];
	*buf = '\0';
}

static void
child_write(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len > 0) {
		ssize_t n = write(fd, s, len);

		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

void
upgrade_request(struct gen *current)
{
	int *lfds = NULL, *high = NULL;
	const char **names = NULL;
	unsigned n, nenv = 0, ne = 0, nkept, nextra;
	int sv[2] = { -1, -1 }, state = -1;
	char **envp = NULL;
	char *listen_pid = NULL, *watchdog_pid = NULL, *fdnames = NULL;
	size_t fdnames_len = 1;
	pid_t child;
	sigset_t none;

	if (busy) {
		log_notice("SIGUSR2: a binary upgrade is already under way");
		return;
	}
	if (getpid() == 1) {
		/* The new process would be re-parented to us, and when PID 1
		 * exits the kernel kills every process of its namespace. */
		upgrade_failed("tcplb runs as PID 1 (a container's init), where a binary upgrade "
		    "cannot hand over: restart the container, or run tcplb under an init "
		    "(docker run --init, tini, dumb-init)");
		return;
	}
	if (access(exe, X_OK) < 0) {
		char why[300];

		snprintf(why, sizeof(why), "%.200s: %.80s", exe, strerror(errno));
		upgrade_failed(why);
		return;
	}
	log_notice("binary upgrade: starting %s", exe);
	service_status("upgrading: starting %s", exe);
	service_status_flush();

	n = listener_export(&lfds, &names);
	if (metrics_fd() >= 0) {
		/* Bound without SO_REUSEPORT: the new process could not bind
		 * it while this one holds it; it takes this socket. */
		lfds = xrealloc(lfds, (n + 1) * sizeof(int));
		names = xrealloc(names, (n + 1) * sizeof(char *));
		lfds[n] = metrics_fd();
		names[n++] = UPGRADE_FDNAME_METRICS;
	}
	state = state_fd_new();
	if (state < 0 || state_write(state, current) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		char why[128];

		snprintf(why, sizeof(why), "cannot prepare the handover: %s", strerror(errno));
		if (state >= 0)
			close(state);
		free(lfds);
		free(names);
		upgrade_failed(why);
		return;
	}

	/* Everything the child needs is built now: between fork() and
	 * execve() a threaded process may only make async-signal-safe calls. */
	nextra = peers_fd() >= 0 ? 3 : 2;
	high = xmalloc((n + nextra) * sizeof(int));
	for (unsigned i = 0; i < n + nextra; i++) {
		int src = i < n ? lfds[i] : i == n ? sv[1] : i == n + 1 ? state : peers_fd();

		/* Above every target (3 .. n+5) so the dup2()s cannot clash. */
		high[i] = fcntl(src, F_DUPFD_CLOEXEC, (int)n + 8);
	}
	for (unsigned i = 0; i < n; i++)
		fdnames_len += strlen(names[i]) + 1;
	fdnames = xmalloc(fdnames_len + 16);
	strcpy(fdnames, "LISTEN_FDNAMES=");
	for (unsigned i = 0; i < n; i++) {
		strcat(fdnames, names[i]);
		if (i + 1 < n)
			strcat(fdnames, ":");
	}
	for (char **e = environ; *e; e++)
		nenv++;
	envp = xcalloc(nenv + 10, sizeof(char *));
	for (char **e = environ; *e; e++) {
		if (strncmp(*e, "LISTEN_", 7) == 0 || strncmp(*e, "TCPLB_UPGRADE", 13) == 0 ||
		    strncmp(*e, "TCPLB_STATE_FD=", 15) == 0 ||
		    strncmp(*e, "TCPLB_BOARD_FD=", 15) == 0 ||
		    strncmp(*e, "WATCHDOG_PID=", 13) == 0)
			continue;
		envp[ne++] = *e;
	}
	nkept = ne;
	envp[ne++] = xasprintf("LISTEN_FDS=%u", n);
	envp[ne++] = fdnames;
	listen_pid = xmalloc(40);
	strcpy(listen_pid, "LISTEN_PID=");
	envp[ne++] = listen_pid;
	if (getenv("WATCHDOG_USEC")) {
		/* sd_watchdog_enabled() ignores a watchdog meant for another
		 * PID: this one is for the new process. */
		watchdog_pid = xmalloc(40);
		strcpy(watchdog_pid, "WATCHDOG_PID=");
		envp[ne++] = watchdog_pid;
	}
	envp[ne++] = xasprintf("TCPLB_UPGRADE_FD=%u", n + 3);
	envp[ne++] = xasprintf("TCPLB_STATE_FD=%u", n + 4);
	if (nextra > 2)
		envp[ne++] = xasprintf("TCPLB_BOARD_FD=%u", n + 5);
	envp[ne++] = xasprintf("TCPLB_UPGRADE_FROM=%ld", (long)getpid());
	envp[ne] = NULL;
	sigemptyset(&none);

	child = fork();
	if (child == 0) {
		pid_t g = fork();
		char buf[48];

		if (g != 0) {
			/* Double fork: the new process is orphaned at once and
			 * adopted by PID 1, which then sees its exit as a main
			 * process's exit. */
			if (g > 0) {
				strcpy(buf, "child ");
				put_pid(buf + 6, g);
				strcat(buf, "\n");
				child_write(sv[1], buf);
			}
			_exit(g > 0 ? 0 : 1);
		}
		put_pid(listen_pid + 11, getpid());
		if (watchdog_pid)
			put_pid(watchdog_pid + 13, getpid());
		for (unsigned i = 0; i < n + nextra; i++)
			if (high[i] < 0 || dup2(high[i], 3 + (int)i) < 0)
				_exit(126);
		(void)close_range(n + 3 + nextra, ~0U, 0);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(exe, args, envp);
		child_write(n + 3, "exec ");
		child_write(n + 3, strerror(errno));	/* glibc: a static table */
		child_write(n + 3, "\n");
		_exit(127);
	}
	for (unsigned i = 0; i < n + nextra; i++)
		if (high[i] >= 0)
			close(high[i]);
	close(sv[1]);
	state_fd = state;
	free(high);
	free(lfds);
	free(names);
	for (unsigned i = nkept; i < ne; i++)
		free(envp[i]);	/* ours: LISTEN_*, WATCHDOG_PID, TCPLB_* */
	free(envp);

	ctl = sv[0];
	if (child < 0) {
		char why[128];

		snprintf(why, sizeof(why), "fork: %s", strerror(errno));
		upgrade_failed(why);
		return;
	}
	waitpid(child, NULL, 0);	/* the intermediate exits at once */
	busy = true;
	admin_set_upgrading(true);
	new_pid = 0;
	linelen = 0;
	fcntl(ctl, F_SETFL, fcntl(ctl, F_GETFL) | O_NONBLOCK);
	ev_io_init(&ctl_io, ctl_cb, ctl, EV_READ);
	ev_io_start(loop, &ctl_io);
	ev_timer_init(&start_timer, start_timeout_cb, START_TIMEOUT_S, 0.);
	ev_timer_start(loop, &start_timer);
}

bool
upgrade_note_reload(void)
{
	if (!busy)
		return false;
	reload_for_new = true;
	return true;
}

void
upgrade_cancel(void)
{
	if (!busy)
		return;
	log_notice("binary upgrade: cancelled by shutdown");
	if (new_pid > 0)
		kill(new_pid, SIGKILL);
	new_pid = 0;
	if (started_pid > 0)
		admin_remove_process(started_pid);
	started_pid = 0;
	ctl_close();
	busy = false;
}

/* ---- new side -------------------------------------------------------- */

static int child_ctl = -1;
static bool legacy_predecessor;
static int child_state = -1;
static pid_t predecessor;

static int
env_fd(const char *name)
{
	const char *v = getenv(name);
	uint64_t n;

	if (v == NULL || parse_uint(v, 1 << 20, &n) < 0)
		return -1;
	unsetenv(name);
	return (int)n;
}

bool
upgrade_child_begin(void)
{
	const char *from = getenv("TCPLB_UPGRADE_FROM");
	uint64_t pid;

	child_ctl = env_fd("TCPLB_UPGRADE_FD");
	if (child_ctl < 0)
		return false;
	child_state = env_fd("TCPLB_STATE_FD");
	/* The board of draining processes, shared with the predecessor
	 * (and its own predecessors still draining).  A tcplb that passes
	 * none predates it, and passes no metrics socket either. */
	{
		int board = env_fd("TCPLB_BOARD_FD");

		legacy_predecessor = board < 0;
		peers_init(board);
	}
	if (from && parse_uint(from, INT32_MAX, &pid) == 0)
		predecessor = (pid_t)pid;
	unsetenv("TCPLB_UPGRADE_FROM");
	fcntl(child_ctl, F_SETFD, FD_CLOEXEC);
	if (child_state >= 0)
		fcntl(child_state, F_SETFD, FD_CLOEXEC);
	/* Not the main process until the old one says so. */
	service_detach();
	return true;
}

static void
unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '%' && hex_digit(s[1]) >= 0 && hex_digit(s[2]) >= 0) {
			*o++ = (char)(hex_digit(s[1]) * 16 + hex_digit(s[2]));
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* The value of key in a line of "key=value" words, unescaped into a new
 * string (NULL: no such key).  No length cap: a pool name of any length
 * keeps its state. */
static char *
field_dup(const char *line, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = line; p && *p; ) {
		while (*p == ' ')
			p++;
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			const char *v = p + kl + 1;
			char *buf = xstrndup(v, strcspn(v, " \n"));

			unescape(buf);
			return buf;
		}
		p = strchr(p, ' ');
	}
	return NULL;
}

static long long
num(const char *line, const char *key, long long dflt)
{
	char *v = field_dup(line, key);
	long long n;

	if (v == NULL)
		return dflt;
	n = strtoll(v, NULL, 10);
	free(v);
	return n;
}

/* "key=N,N,..." into a new array of want values; NULL unless the peer
 * wrote exactly that many (another layout: not ours to guess). */
static uint64_t *
sums(const char *line, const char *key, size_t want)
{
	char *v = field_dup(line, key), *p, *end;
	uint64_t *out;
	size_t n = 0;

	if (v == NULL)
		return NULL;
	out = xcalloc(want, sizeof(uint64_t));
	for (p = v; *p && n < want; n++) {
		out[n] = strtoull(p, &end, 10);
		if (end == p || (*end != ',' && *end != '\0'))
			break;
		p = *end == ',' ? end + 1 : end;
	}
	if (n != want || *p != '\0') {
		free(out);
		out = NULL;
	}
	free(v);
	return out;
}

/* The carried sums of a pool or listener line: "sums=" as this version
 * writes it, else (an older process, another layout) only "total=", the
 * connection count, which is the first field of both sum structs. */
_Static_assert(offsetof(struct stats_srv_sum, conns) == 0 &&
    offsetof(struct stats_lsn_sum, conns) == 0, "conns first");
static uint64_t *
carried_sums(const char *kv, size_t nfields)
{
	uint64_t *c = sums(kv, "sums", nfields);

	if (c == NULL) {
		c = xcalloc(nfields, sizeof(uint64_t));
		c[0] = (uint64_t)num(kv, "total", 0);
	}
	return c;
}

/* One "server" line of the old process's state. */
struct saved {
	char *pool, *name, *addr;
	char *line;
	uint32_t seq;		/* file order */
	bool taken;
};

static int
saved_cmp(const void *a, const void *b)
{
	const struct saved *x = a, *y = b;
	int c = strcmp(x->addr, y->addr);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* What admin commands set: read again at the handover. */
static void
restore_admin(struct server *s, const char *line)
{
	atomic_store(&s->st->admin, (int)num(line, "admin", SRV_ADMIN_READY));
	atomic_store(&s->st->weight_override, (int)num(line, "weight", -1));
	/* Whether the agent set them: else its `ready` could never lift
	 * a drain it set before the upgrade. */
	atomic_store(&s->st->agent_admin, (int)num(line, "agent_admin", 0));
	atomic_store(&s->st->agent_weight, num(line, "agent_weight", 0) != 0);
}

/* Counters: every sum the old process counted is carried, so no
 * Prometheus counter goes back (stats.h); from a peer with another layout,
 * the connection total.  Read again at the handover: the values then. */
static void
restore_counters(struct server *s, const char *line)
{
	uint64_t *carried = sums(line, "sums", STATS_SRV_FIELDS);

	if (carried == NULL) {
		carried = xcalloc(STATS_SRV_FIELDS, sizeof(uint64_t));
		((struct stats_srv_sum *)carried)->conns = (uint64_t)num(line, "total", 0);
	}
	free(s->st->carried);
	s->st->carried = carried;
}

static void
restore_state(struct server *s, const char *line, int64_t now)
{
	struct server_state *st = s->st;

	atomic_store(&st->up, num(line, "up", 1) != 0);
	atomic_store(&st->passive_down, num(line, "passive_down", 0) != 0);
	atomic_store(&st->fails, (unsigned)num(line, "fails", 0));
	atomic_store(&st->retry_at_ms, num(line, "retry_at_ms", 0));
	atomic_store(&st->up_since_ms, num(line, "up_since_ms", 0));
	/* Times are CLOCK_MONOTONIC: the same clock in the new process. */
	atomic_store(&st->rest_until_ms, num(line, "rest_until_ms", 0));
	atomic_store(&st->passive_epoch, (unsigned)num(line, "passive_epoch", 0));
	st->check_epoch = (unsigned)num(line, "check_epoch", 0);
	st->check_ok = (unsigned)num(line, "check_ok", 0);
	st->check_fail = (unsigned)num(line, "check_fail", 0);
	st->check_fresh = num(line, "check_fresh", st->check_fresh) != 0;
	atomic_store(&st->check_failing, num(line, "check_failing", 0) != 0);
	restore_counters(s, line);
	/* Admin state and weight override (admin socket) survive too. */
	restore_admin(s, line);
	/* Then the rules of a reload (a pool whose checks were removed
	 * brings its servers back, ...). */
	server_state_adopted(s, now);
}

/* Give each saved state to at most one server of g at the same address,
 * by gen_inherit()'s rules: a pool of the same name first, then the same
 * server name, then the first in file order.  Sorted by address, so a
 * large pool costs n log n.  admin_only: the second reading, at the
 * handover. */
static unsigned
restore_servers(struct gen *g, struct saved *sv, size_t n, int64_t now, bool admin_only)
{
	size_t total = 0, k;
	bool *done;
	unsigned restored = 0;

	qsort(sv, n, sizeof(*sv), saved_cmp);
	for (uint32_t i = 0; i < g->npools; i++)
		total += g->pools[i].nservers;
	done = xcalloc(total ? total : 1, sizeof(bool));
	for (int rule = 0; rule < 3; rule++) {
		k = 0;
		for (uint32_t i = 0; i < g->npools; i++) {
			struct pool *p = &g->pools[i];

			for (uint32_t j = 0; j < p->nservers; j++, k++) {
				struct server *s = &p->servers[j];
				size_t lo = 0, hi = n;

				if (done[k])
					continue;
				while (lo < hi) {	/* first entry with this address */
					size_t mid = (lo + hi) / 2;

					if (strcmp(sv[mid].addr, s->addr_text) < 0)
						lo = mid + 1;
					else
						hi = mid;
				}
				for (; lo < n && strcmp(sv[lo].addr, s->addr_text) == 0; lo++) {
					if (sv[lo].taken ||
					    (rule == 0 && strcmp(sv[lo].pool, p->name) != 0) ||
					    (rule == 1 && strcmp(sv[lo].name, s->name) != 0))
						continue;
					sv[lo].taken = true;
					done[k] = true;
					if (admin_only) {
						restore_admin(s, sv[lo].line);
						restore_counters(s, sv[lo].line);
					} else
						restore_state(s, sv[lo].line, now);
					restored++;
					break;
				}
			}
		}
	}
	free(done);
	return restored;
}

/* Before the new process loads its file: the servers the old one had
 * added at run time, so that the first generation has them.  Read with
 * pread(): upgrade_child_restore() reads the same file from the start. */
void
upgrade_child_added(void)
{
	char *buf, *line, *save = NULL;
	size_t cap = 1 << 16, len = 0;
	ssize_t r;
	unsigned n = 0;

	if (child_state < 0)
		return;
	buf = xmalloc(cap + 1);
	while ((r = pread(child_state, buf + len, cap - len, (off_t)len)) > 0) {
		len += (size_t)r;
		if (len == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
	}
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		struct added_server s = { 0 };
		char *pool, *name, *addr;

		if (strncmp(line, "added-server ", 13) != 0)
			continue;
		line += 13;
		pool = field_dup(line, "pool");
		name = field_dup(line, "name");
		addr = field_dup(line, "addr");
		if (pool && name && addr) {
			s.pool = pool;
			s.name = name;
			s.addr = addr;
			s.weight = (uint32_t)num(line, "weight", 1);
			s.max_conns = (uint32_t)num(line, "max_connections", 0);
			s.backup = num(line, "backup", 0) != 0;
			added_add(&s);
			n++;
		}
		free(pool);
		free(name);
		free(addr);
	}
	free(buf);
	if (n)
		log_info("binary upgrade: %u server%s added at run time taken "
		    "over", n, n == 1 ? "" : "s");
}

/* The instance drain, applied once the workers run. */
static struct {
	bool have, draining, accept_off;
	int64_t remaining_ms;
} drain_saved;

/* Read the state file (again: it is rewritten at the handover).
 * admin_only: the second reading, at the handover -- what admin commands
 * set and the counters (their values at the handover), not the health
 * state the new process's own checks have taken over. */
static void
read_state(struct gen *g, bool admin_only)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0, n = 0;
	struct saved *sv = NULL;
	unsigned restored;
	bool pool_lines = false;
	int64_t now = (int64_t)now_ms();
	bool metrics_read = false;
	int fd;

	if (child_state < 0 || lseek(child_state, 0, SEEK_SET) < 0 ||
	    (fd = dup(child_state)) < 0)
		return;
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return;
	}
	if (getline(&line, &cap, f) < 0 || strncmp(line, "tcplb-state 1", 13) != 0) {
		log_warnx("binary upgrade: state from the previous process not understood: servers start fresh");
		goto out;
	}
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, "server ", 7) == 0) {
			struct saved e = { 0 };

			e.pool = field_dup(line + 7, "pool");
			e.addr = field_dup(line + 7, "addr");
			if (e.pool == NULL || e.addr == NULL) {
				log_warnx("binary upgrade: a server line without pool or address skipped");
				free(e.pool);
				free(e.addr);
				continue;
			}
			e.name = field_dup(line + 7, "name");
			if (e.name == NULL)
				e.name = xstrdup("");
			e.line = xstrdup(line + 7);
			e.seq = (uint32_t)n;
			sv = xrealloc(sv, (n + 1) * sizeof(*sv));
			sv[n++] = e;
		} else if (strncmp(line, "pool ", 5) == 0) {
			char *name = field_dup(line + 5, "name");
			struct pool *p = name ? gen_find_pool(g, name) : NULL;

			pool_lines = true;
			if (p != NULL && p->st != NULL) {
				free(p->st->carried);
				p->st->carried = carried_sums(line + 5,
				    STATS_SRV_FIELDS);
			}
			free(name);
		} else if (strncmp(line, "listener ", 9) == 0) {
			char *name = field_dup(line + 9, "name");
			struct listener *l = name ? gen_find_listener(g, name) : NULL;

			if (l != NULL) {
				free(l->st->carried);
				l->st->carried = carried_sums(line + 9,
				    STATS_LSN_FIELDS);
			}
			free(name);
		} else if (strncmp(line, "process ", 8) == 0) {
			stats_carry_sessions((uint64_t)num(line + 8, "total", 0));
		} else if (strncmp(line, "metric ", 7) == 0) {
			if (!metrics_read) {
				/* Read again at the handover: the values then. */
				metrics_carry_reset();
				metrics_read = true;
			}
			metrics_carry_take(line + 7);
		} else if (strncmp(line, "instance ", 9) == 0) {
			drain_saved.have = true;
			drain_saved.draining = num(line + 9, "draining", 0) != 0;
			drain_saved.accept_off = num(line + 9, "accept_off", 0) != 0;
			drain_saved.remaining_ms = num(line + 9, "drain_remaining_ms", -1);
		}
		/* other kinds: from a newer binary, skipped */
	}
	restored = restore_servers(g, sv, n, now, admin_only);
	/* From a process that kept no pool totals: what its servers say. */
	for (uint32_t i = 0; !pool_lines && i < g->npools; i++) {
		struct pool *p = &g->pools[i];
		struct stats_srv_sum acc = { 0 };

		for (uint32_t s = 0; p->st != NULL && s < p->nservers; s++)
			if (p->servers[s].st->carried)
				stats_srv_sum_add(&acc,
				    (const struct stats_srv_sum *)p->servers[s].st->carried);
		if (p->st != NULL) {
			free(p->st->carried);
			p->st->carried = xmalloc(sizeof(acc));
			memcpy(p->st->carried, &acc, sizeof(acc));
		}
	}
	if (!admin_only)
		log_info("binary upgrade: state of %u server%s taken over", restored,
		    restored == 1 ? "" : "s");
out:
	for (size_t i = 0; i < n; i++) {
		free(sv[i].pool);
		free(sv[i].name);
		free(sv[i].addr);
		free(sv[i].line);
	}
	free(sv);
	free(line);
	fclose(f);
}

void
upgrade_child_restore(struct gen *g)
{
	read_state(g, false);
}

int
upgrade_child_handover(struct gen *g)
{
	char buf[64];
	struct pollfd pfd = { .fd = child_ctl, .events = POLLIN };
	size_t got = 0;
	int r;

	snprintf(buf, sizeof(buf), "ready %ld\n", (long)getpid());
	if (write(child_ctl, buf, strlen(buf)) != (ssize_t)strlen(buf))
		goto fail;
	/* Before the main loop runs: nothing else waits on us yet. */
	while (got < 3) {
		r = poll(&pfd, 1, HANDOVER_WAIT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto fail;
		r = (int)read(child_ctl, buf + got, sizeof(buf) - 1 - got);
		if (r <= 0)
			goto fail;
		got += (size_t)r;
	}
	close(child_ctl);
	child_ctl = -1;
	if (strncmp(buf, "ok\n", 3) != 0)
		return -1;
	service_attach();
	/* Admin changes answered by the old process while we started, and
	 * its instance drain (and deadline), which the routing layer must
	 * keep seeing: `check` fails on. */
	read_state(g, true);
	if (child_state >= 0)
		close(child_state);
	child_state = -1;
	if (drain_saved.have)
		admin_drain_set(drain_saved.draining, drain_saved.remaining_ms,
		    drain_saved.accept_off);
	return 0;
fail:
	log_errx("binary upgrade: the previous process did not hand over: exiting");
	close(child_ctl);
	child_ctl = -1;
	return -1;
}

bool
upgrade_predecessor_alive(void)
{
	if (predecessor > 0 && !proc_alive(predecessor))
		predecessor = 0;
	return predecessor > 0;
}

void
upgrade_signal_predecessor(int sig)
{
	if (upgrade_predecessor_alive())
		kill(predecessor, sig);
}

bool
upgrade_predecessor_legacy(void)
{
	return legacy_predecessor;
}
