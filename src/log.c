/*
 * log: the one place that knows where records go.  journald natively through
 * sd_journal_sendv() with TCPLB_* fields when stderr is the journal (or when
 * asked), otherwise one line per record on stderr -- prefixed "<N>" when
 * JOURNAL_STREAM says a journal will read the stream, with a timestamp when
 * a person will.  Each record is formatted completely and written with one
 * call, so threads never interleave inside a line.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <limits.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"
#include "util.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

int log_level_current = LOG_INFO;
static bool use_journal;
static bool stderr_prefix;	/* "<N>" for a journal reading our stderr */
static void stderr_nonblocking(void);
static int log_pid;		/* getpid() is a system call per record otherwise */

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int
log_target_parse(const char *s, enum log_target *out)
{
	if (strcmp(s, "auto") == 0)
		*out = LOG_TARGET_AUTO;
	else if (strcmp(s, "journal") == 0 || strcmp(s, "journald") == 0)
		*out = LOG_TARGET_JOURNAL;
	else if (strcmp(s, "stderr") == 0)
		*out = LOG_TARGET_STDERR;
	else
		return -1;
	return 0;
}

int
log_level_parse(const char *s, int *out)
{
	for (int i = LOG_ERR; i <= LOG_DEBUG; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	/* Accept the spellings operators carry over from syslog and HAProxy. */
	if (strcmp(s, "warn") == 0) {
		*out = LOG_WARNING;
		return 0;
	}
	if (strcmp(s, "error") == 0) {
		*out = LOG_ERR;
		return 0;
	}
	return -1;
}

const char *
log_level_name(int level)
{
	if (level < LOG_EMERG || level > LOG_DEBUG)
		return "?";
	return level_names[level];
}

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected to our
 * stdout/stderr; it only means "stderr is the journal" if it still matches
 * fd 2 (a shell may have redirected it since). */
static bool
stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(enum log_target target, int level)
{
	log_set_level(level);
	log_pid = (int)getpid();
	stderr_nonblocking();
	switch (target) {
	case LOG_TARGET_JOURNAL:
		/* libsystemd drops records silently when journald is not
		 * there, which would hide even a start-up error. */
		use_journal = access(JOURNAL_SOCKET, W_OK) == 0;
		if (!use_journal) {
			stderr_prefix = getenv("JOURNAL_STREAM") != NULL;
			log_msg(LOG_WARNING, NULL, "no journal at %s: logging to standard error",
			    JOURNAL_SOCKET);
		}
		break;
	case LOG_TARGET_STDERR:
		use_journal = false;
		break;
	case LOG_TARGET_AUTO:
		use_journal = stderr_is_journal();
		break;
	}
	stderr_prefix = getenv("JOURNAL_STREAM") != NULL;
}

void
log_set_level(int level)
{
	__atomic_store_n(&log_level_current, level, __ATOMIC_RELAXED);
}

int
log_get_level(void)
{
	return __atomic_load_n(&log_level_current, __ATOMIC_RELAXED);
}

bool
log_is_journal(void)
{
	return use_journal;
}

/*
 * A stderr nobody reads (a full pipe or socket) must not stop the balancer:
 * writes to it never block, and records that do not fit are dropped and
 * counted; the next record that fits is preceded by the count.  Setting
 * O_NONBLOCK on the inherited descriptor would change it for everyone who
 * shares it (our stdout after 2>&1, the shell, the next program in the
 * pipeline), so a pipe is reopened as a description of our own, and a
 * socket (systemd's journal stream) is written with MSG_DONTWAIT.  Files
 * and terminals stay as they are.  Records are at most PIPE_BUF bytes, so a
 * write to a pipe is all or nothing.
 */
static atomic_uint_fast64_t stderr_dropped;
static bool stderr_is_socket;

static void
stderr_nonblocking(void)
{
	struct stat st;
	int fd;

	if (fstat(STDERR_FILENO, &st) < 0)
		return;
	if (S_ISSOCK(st.st_mode)) {
		stderr_is_socket = true;
	} else if (S_ISFIFO(st.st_mode)) {
		fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			(void)dup2(fd, STDERR_FILENO);	/* dup2 clears CLOEXEC */
			close(fd);
		}
	}
}

static ssize_t
stderr_write_raw(const char *p, size_t n)
{
	if (stderr_is_socket)
		return send(STDERR_FILENO, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	return write(STDERR_FILENO, p, n);
}

static void
stderr_put(const char *line, size_t n)
{
	uint_fast64_t lost = atomic_exchange(&stderr_dropped, 0);

	if (lost) {
		char note[128];
		int k = snprintf(note, sizeof(note),
		    "%stcplb: %llu log record%s dropped: standard error was not being read\n",
		    stderr_prefix ? "<4>" : "", (unsigned long long)lost, lost == 1 ? "" : "s");

		if (stderr_write_raw(note, (size_t)k) < 0) {
			atomic_fetch_add(&stderr_dropped, lost + 1);
			return;
		}
	}
	if (stderr_write_raw(line, n) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		atomic_fetch_add(&stderr_dropped, 1);
}

static void
stderr_write(int prio, const char *msg)
{
	char line[PIPE_BUF];
	size_t n;

	if (stderr_prefix) {
		n = (size_t)snprintf(line, sizeof(line), "<%d>%s\n", prio, msg);
	} else {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		n = (size_t)snprintf(line, sizeof(line), "%s.%03ld tcplb[%d]: %s: %s\n",
		    stamp, ts.tv_nsec / 1000000, log_pid,
		    log_level_name(prio), msg);
	}
	if (n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	stderr_put(line, n);
}

/* Up to 20 short "KEY=value" fields, built on the stack; MESSAGE is added
 * by journal_send(). */
struct jfields {
	struct iovec iov[20];
	char buf[20][320];
	int n;
};

static void
jf_add(struct jfields *j, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
jf_add(struct jfields *j, const char *key, const char *fmt, ...)
{
	va_list ap;
	int klen, vlen;

	if (j->n >= (int)ARRAY_SIZE(j->iov))
		return;
	klen = snprintf(j->buf[j->n], sizeof(j->buf[0]), "%s=", key);
	va_start(ap, fmt);
	vlen = vsnprintf(j->buf[j->n] + klen, sizeof(j->buf[0]) - (size_t)klen, fmt, ap);
	va_end(ap);
	if (vlen < 0)
		return;
	j->iov[j->n].iov_base = j->buf[j->n];
	j->iov[j->n].iov_len = strnlen(j->buf[j->n], sizeof(j->buf[0]));
	j->n++;
}

/* Send j's fields plus MESSAGE=msg; on failure write msg to stderr.  The
 * message, up to a whole record, is assembled on the stack (the field
 * buffers hold only short values). */
static void
journal_send(struct jfields *j, int prio, const char *msg)
{
	struct iovec iov[ARRAY_SIZE(j->iov) + 1];
	char m[sizeof("MESSAGE=") + 2048];
	int len = snprintf(m, sizeof(m), "MESSAGE=%s", msg);

	memcpy(iov, j->iov, sizeof(j->iov[0]) * (size_t)j->n);
	iov[j->n].iov_base = m;
	iov[j->n].iov_len = len < (int)sizeof(m) ? (size_t)len : sizeof(m) - 1;
	if (sd_journal_sendv(iov, j->n + 1) < 0)
		stderr_write(prio, msg);
}

static void
journal_write(int prio, const struct log_ctx *ctx, const char *msg)
{
	struct jfields j;

	j.n = 0;
	jf_add(&j, "PRIORITY", "%d", prio);
	jf_add(&j, "SYSLOG_IDENTIFIER", "tcplb");
	if (ctx != NULL) {
		if (ctx->listener)
			jf_add(&j, "TCPLB_LISTENER", "%s", ctx->listener);
		if (ctx->pool)
			jf_add(&j, "TCPLB_POOL", "%s", ctx->pool);
		if (ctx->server)
			jf_add(&j, "TCPLB_SERVER", "%s", ctx->server);
		if (ctx->server_addr)
			jf_add(&j, "TCPLB_SERVER_ADDR", "%s", ctx->server_addr);
		if (ctx->client)
			jf_add(&j, "TCPLB_CLIENT", "%s", ctx->client);
		if (ctx->session)
			jf_add(&j, "TCPLB_SESSION", "%llu", (unsigned long long)ctx->session);
	}
	journal_send(&j, prio, msg);
}

static void
log_vemit(int prio, const struct log_ctx *ctx, const char *fmt, va_list ap,
    int errnum)
{
	char msg[2048];
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (errnum && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(errnum));
	if (use_journal)
		journal_write(prio, ctx, msg);
	else
		stderr_write(prio, msg);
}

void
log_msg(int prio, const struct log_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (!log_enabled(prio))
		return;
	va_start(ap, fmt);
	log_vemit(prio, ctx, fmt, ap, 0);
	va_end(ap);
	errno = saved;
}

void
log_errno(int prio, const struct log_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (!log_enabled(prio))
		return;
	va_start(ap, fmt);
	log_vemit(prio, ctx, fmt, ap, saved);
	va_end(ap);
	errno = saved;
}

/* The access log is switched by global.access_log, not by log_level: an
 * operator who asks for it gets it even at "warning". */
void
log_access(const struct access_rec *r)
{
	char msg[1400];
	char conn[32], route[300];
	const char *server = r->server ? r->server : "-";
	const char *saddr = r->server_addr ? r->server_addr : "-";
	int saved = errno;

	if (r->connect_ms >= 0)
		snprintf(conn, sizeof(conn), "%lldms", (long long)r->connect_ms);
	else
		snprintf(conn, sizeof(conn), "-");
	route[0] = '\0';
	if (r->routed) {
		/* The name holds only host name characters (tls_hello
		 * validated it): nothing to escape. */
		if (r->route >= 0)
			snprintf(route, sizeof(route), " sni=%s route=%d",
			    r->sni ? r->sni : "-", r->route);
		else
			snprintf(route, sizeof(route), " sni=%s route=-",
			    r->sni ? r->sni : "-");
	}
	snprintf(msg, sizeof(msg),
	    "%s listener=%s%s pool=%s server=%s (%s) bytes_in=%llu bytes_out=%llu "
	    "connect=%s duration=%llums tries=%u end=\"%s\"",
	    r->client, r->listener, route, r->pool, server, saddr,
	    (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
	    conn, (unsigned long long)r->duration_ms, r->tries, r->reason);

	if (!use_journal) {
		stderr_write(LOG_INFO, msg);
		errno = saved;
		return;
	}

	struct jfields j;
	j.n = 0;
	jf_add(&j, "PRIORITY", "%d", LOG_INFO);
	jf_add(&j, "SYSLOG_IDENTIFIER", "tcplb");
	jf_add(&j, "TCPLB_EVENT", "access");
	jf_add(&j, "TCPLB_SESSION", "%llu", (unsigned long long)r->session);
	jf_add(&j, "TCPLB_CLIENT", "%s", r->client);
	jf_add(&j, "TCPLB_LISTENER", "%s", r->listener);
	jf_add(&j, "TCPLB_POOL", "%s", r->pool);
	if (r->routed) {
		if (r->sni)
			jf_add(&j, "TCPLB_SNI", "%s", r->sni);
		if (r->route >= 0)
			jf_add(&j, "TCPLB_ROUTE", "%d", r->route);
	}
	jf_add(&j, "TCPLB_SERVER", "%s", server);
	jf_add(&j, "TCPLB_SERVER_ADDR", "%s", saddr);
	jf_add(&j, "TCPLB_BYTES_IN", "%llu", (unsigned long long)r->bytes_in);
	jf_add(&j, "TCPLB_BYTES_OUT", "%llu", (unsigned long long)r->bytes_out);
	jf_add(&j, "TCPLB_CONNECT_MS", "%lld", (long long)r->connect_ms);
	jf_add(&j, "TCPLB_DURATION_MS", "%llu", (unsigned long long)r->duration_ms);
	jf_add(&j, "TCPLB_TRIES", "%u", r->tries);
	jf_add(&j, "TCPLB_TERMINATION", "%s", r->reason);
	journal_send(&j, LOG_INFO, msg);
	errno = saved;
}

void
log_ratelimited(struct log_ratelimit *rl, int prio, const struct log_ctx *ctx,
    const char *fmt, ...)
{
	uint64_t now = now_ms();
	uint64_t begin = atomic_load_explicit(&rl->begin_ms, memory_order_relaxed);
	unsigned suppressed = 0;
	char msg[2048];
	va_list ap;
	int saved = errno, n;

	if (!log_enabled(prio))
		return;
	if (begin == 0 || now - begin >= rl->interval_ms) {
		if (atomic_compare_exchange_strong(&rl->begin_ms, &begin, now)) {
			atomic_store(&rl->count, 0);
			suppressed = atomic_exchange(&rl->suppressed, 0);
		}
	}
	if (atomic_fetch_add(&rl->count, 1) >= rl->burst) {
		atomic_fetch_add(&rl->suppressed, 1);
		errno = saved;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && suppressed && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, " (%u similar "
		    "message%s suppressed)", suppressed, suppressed == 1 ? "" : "s");
	if (n >= 0)
		log_msg(prio, ctx, "%s", msg);
	errno = saved;
}
