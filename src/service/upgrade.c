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
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "config/added.h"
#include "relay/listener.h"
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

static int
state_write(int fd, const struct gen *g)
{
	FILE *f = fdopen(dup(fd), "w");

	if (f == NULL)
		return -1;
	fprintf(f, "tcplb-state 1\n");
	for (uint32_t i = 0; i < g->npools; i++) {
		const struct pool *p = &g->pools[i];

		for (uint32_t s = 0; s < p->nservers; s++) {
			const struct server *sv = &p->servers[s];
			const struct server_state *st = sv->st;

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
			    " agent_admin=%d agent_weight=%d\n",
			    (int)atomic_load(&st->up), (int)atomic_load(&st->passive_down),
			    atomic_load(&st->fails), (long long)atomic_load(&st->retry_at_ms),
			    (long long)atomic_load(&st->up_since_ms),
			    (long long)atomic_load(&st->rest_until_ms),
			    atomic_load(&st->passive_epoch), st->check_epoch, st->check_ok,
			    st->check_fail, (int)st->check_fresh,
			    (int)atomic_load(&st->check_failing),
			    (unsigned long long)stats_server_total(st),
			    atomic_load(&st->admin), atomic_load(&st->weight_override),
			    atomic_load(&st->agent_admin),
			    (int)atomic_load(&st->agent_weight));
		}
	}
	/* Pool totals are the pool's own (they include servers long gone). */
	for (uint32_t i = 0; i < g->npools; i++) {
		struct stats_srv_sum ps;

		stats_pool_sum(g->pools[i].st, &ps);
		fputs("pool name=", f);
		put_esc(f, g->pools[i].name);
		fprintf(f, " total=%llu\n", (unsigned long long)ps.conns);
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
		fputs("listener name=", f);
		put_esc(f, g->listeners[i].name);
		fprintf(f, " total=%llu\n",
		    (unsigned long long)stats_listener_total(g->listeners[i].st));
	}
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
	reload_for_new = false;
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
	log_errx("binary upgrade failed: %s; this process (tcplb %s) keeps serving",
	    why, PACKAGE_VERSION);
	/* The time lets a caller polling StatusText tell this failure from
	 * an earlier one. */
	service_status("upgrade failed (at %lld): %s", (long long)time(NULL), why);
	service_status_flush();
	if (new_pid > 0)
		kill(new_pid, SIGKILL);
	new_pid = 0;
	ctl_close();
	busy = false;
}

static void
handle_line(const char *line)
{
	long pid;

	if (sscanf(line, "child %ld", &pid) == 1) {
		new_pid = (pid_t)pid;
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
		new_pid = 0;
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
	unsigned n, nenv = 0, ne = 0, nkept;
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
	high = xmalloc((n + 2) * sizeof(int));
	for (unsigned i = 0; i < n + 2; i++) {
		int src = i < n ? lfds[i] : i == n ? sv[1] : state;

		/* Above every target (3 .. n+4) so the dup2()s cannot clash. */
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
		for (unsigned i = 0; i < n + 2; i++)
			if (high[i] < 0 || dup2(high[i], 3 + (int)i) < 0)
				_exit(126);
		(void)close_range(n + 5, ~0U, 0);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(exe, args, envp);
		child_write(n + 3, "exec ");
		child_write(n + 3, strerror(errno));	/* glibc: a static table */
		child_write(n + 3, "\n");
		_exit(127);
	}
	for (unsigned i = 0; i < n + 2; i++)
		if (high[i] >= 0)
			close(high[i]);
	close(sv[1]);
	close(state);
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
	new_pid = 0;
	linelen = 0;
	fcntl(ctl, F_SETFL, fcntl(ctl, F_GETFL) | O_NONBLOCK);
	ev_io_init(&ctl_io, ctl_cb, ctl, EV_READ);
	ev_io_start(loop, &ctl_io);
	ev_timer_init(&start_timer, start_timeout_cb, START_TIMEOUT_S, 0.);
	ev_timer_start(loop, &start_timer);
}

void
upgrade_note_reload(void)
{
	if (busy)
		reload_for_new = true;
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
	ctl_close();
	busy = false;
}

/* ---- new side -------------------------------------------------------- */

static int child_ctl = -1;
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

/* The value of key in a line of "key=value" words, unescaped into buf. */
static const char *
field(const char *line, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);

	for (const char *p = line; p && *p; ) {
		while (*p == ' ')
			p++;
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t vl = strcspn(v, " \n");

			if (vl >= len)
				return NULL;
			memcpy(buf, v, vl);
			buf[vl] = '\0';
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
	char buf[32];

	if (field(line, key, buf, sizeof(buf)) == NULL)
		return dflt;
	return strtoll(buf, NULL, 10);
}

/* One "server" line of the old process's state. */
struct saved {
	char pool[512], name[512], addr[128];
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
	/* Counters: what the old process counted is carried (stats.h). */
	st->carried_conns = (uint64_t)num(line, "total", 0);
	/* Admin state and weight override (admin socket) survive too. */
	atomic_store(&st->admin, (int)num(line, "admin", SRV_ADMIN_READY));
	atomic_store(&st->weight_override, (int)num(line, "weight", -1));
	/* Whether the agent set them: else its `ready` could never lift
	 * a drain it set before the upgrade. */
	atomic_store(&st->agent_admin, (int)num(line, "agent_admin", 0));
	atomic_store(&st->agent_weight, num(line, "agent_weight", 0) != 0);
	/* Then the rules of a reload (a pool whose checks were removed
	 * brings its servers back, ...). */
	server_state_adopted(s, now);
}

/* Give each saved state to at most one server of g at the same address,
 * by gen_inherit()'s rules: a pool of the same name first, then the same
 * server name, then the first in file order.  Sorted by address, so a
 * large pool costs n log n. */
static unsigned
restore_servers(struct gen *g, struct saved *sv, size_t n, int64_t now)
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
		char pool[512], name[512], addr[128];
		struct added_server s = { .pool = pool, .name = name,
			.addr = addr };

		if (strncmp(line, "added-server ", 13) != 0)
			continue;
		line += 13;
		if (!field(line, "pool", pool, sizeof(pool)) ||
		    !field(line, "name", name, sizeof(name)) ||
		    !field(line, "addr", addr, sizeof(addr)))
			continue;
		s.weight = (uint32_t)num(line, "weight", 1);
		s.max_conns = (uint32_t)num(line, "max_connections", 0);
		s.backup = num(line, "backup", 0) != 0;
		added_add(&s);
		n++;
	}
	free(buf);
	if (n)
		log_info("binary upgrade: %u server%s added at run time taken "
		    "over", n, n == 1 ? "" : "s");
}

void
upgrade_child_restore(struct gen *g)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0, n = 0;
	struct saved *sv = NULL;
	unsigned restored;
	bool pool_lines = false;
	int64_t now = (int64_t)now_ms();

	if (child_state < 0)
		return;
	f = fdopen(child_state, "r");
	if (f == NULL) {
		close(child_state);
		child_state = -1;
		return;
	}
	child_state = -1;
	if (getline(&line, &cap, f) < 0 || strncmp(line, "tcplb-state 1", 13) != 0) {
		log_warnx("binary upgrade: state from the previous process not understood: servers start fresh");
		goto out;
	}
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, "server ", 7) == 0) {
			struct saved *e;

			sv = xrealloc(sv, (n + 1) * sizeof(*sv));
			e = &sv[n];
			memset(e, 0, sizeof(*e));
			if (!field(line + 7, "pool", e->pool, sizeof(e->pool)) ||
			    !field(line + 7, "addr", e->addr, sizeof(e->addr)))
				continue;
			if (!field(line + 7, "name", e->name, sizeof(e->name)))
				e->name[0] = '\0';
			e->line = xstrdup(line + 7);
			e->seq = (uint32_t)n++;
		} else if (strncmp(line, "pool ", 5) == 0) {
			char name[512];
			struct pool *p;

			pool_lines = true;
			if (field(line + 5, "name", name, sizeof(name)) &&
			    (p = gen_find_pool(g, name)) != NULL && p->st != NULL)
				p->st->carried_conns = (uint64_t)num(line + 5, "total", 0);
		} else if (strncmp(line, "listener ", 9) == 0) {
			char name[512];
			struct listener *l;

			if (field(line + 9, "name", name, sizeof(name)) &&
			    (l = gen_find_listener(g, name)) != NULL)
				l->st->carried_conns = (uint64_t)num(line + 9, "total", 0);
		}
		/* other kinds: from a newer binary, skipped */
	}
	restored = restore_servers(g, sv, n, now);
	/* From a process that kept no pool totals: what its servers say. */
	for (uint32_t i = 0; !pool_lines && i < g->npools; i++) {
		struct pool *p = &g->pools[i];

		for (uint32_t s = 0; p->st != NULL && s < p->nservers; s++)
			p->st->carried_conns += p->servers[s].st->carried_conns;
	}
	log_info("binary upgrade: state of %u server%s taken over", restored,
	    restored == 1 ? "" : "s");
out:
	for (size_t i = 0; i < n; i++)
		free(sv[i].line);
	free(sv);
	free(line);
	fclose(f);
}

int
upgrade_child_handover(void)
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
	char path[64], buf[256];
	const char *paren;
	ssize_t n;
	int fd;

	if (predecessor <= 0)
		return false;
	if (kill(predecessor, 0) < 0 && errno != EPERM) {
		predecessor = 0;
		return false;
	}
	/* A zombie has finished (its parent has not reaped it yet). */
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)predecessor);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	if (paren && paren[1] == ' ' && paren[2] == 'Z') {
		predecessor = 0;
		return false;
	}
	return true;
}
