/*
 * log: the one place that knows where records go.  journald natively (its
 * datagram protocol, spoken here, with TCPLB_* fields) when stderr is the
 * journal (or when asked), otherwise one line per record on stderr --
 * prefixed "<N>" when JOURNAL_STREAM says a journal will read the stream,
 * with a timestamp when a person will.
 *
 * No caller ever writes: a record is formatted completely on the calling
 * thread and queued, and one log thread writes the queue out.  A stalled
 * journald or an unread stderr then blocks only that thread.  The queue is
 * bounded (LOG_QUEUE_RECORDS, LOG_QUEUE_BYTES); records beyond it are
 * dropped and counted, and the count is written as a record of its own as
 * soon as writing works again.  sd_journal_sendv() is not used because its
 * socket is blocking and private.
 *
 * The writer is woken as little as it can be (an access-log record per
 * connection must not cost a futex wake-up and a context switch per
 * connection on a 2-core box): a caller wakes it only when it sleeps idle
 * (the queue was empty for a whole LOG_BATCH_MS) or when the queue is half
 * full.  Otherwise the writer sleeps LOG_BATCH_MS after each batch and then
 * takes everything queued meanwhile, written with one writev() (stderr) or
 * sendmmsg() (journal) per LOG_BATCH_RECORDS.  A record waits at most
 * LOG_BATCH_MS plus the write itself.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <endian.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
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

#include <sys/mman.h>
#include <sys/un.h>

#include "base/log.h"
#include "base/util.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
/* What may wait for the log thread: enough for a burst of access-log
 * records while journald is busy, small enough to cost little memory. */
#define LOG_QUEUE_RECORDS	2048
#define LOG_QUEUE_BYTES		(2u << 20)
/* How long exit waits for queued records to be written. */
#define LOG_FLUSH_MS		1000
/* How long the writer lets records gather after a batch: the bound on a
 * record's wait while records keep coming (well under the 50 ms an
 * operator tailing the journal would notice). */
#define LOG_BATCH_MS		20
/* Records per writev()/sendmmsg(). */
#define LOG_BATCH_RECORDS	64

int log_level_current = LOG_INFO;
static bool use_journal;
static bool stderr_prefix;	/* "<N>" for a journal reading our stderr */
static void stderr_nonblocking(void);
static void log_start(void);
static const char *journal_path;
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
	if (getenv("TCPLB_JOURNAL_SOCKET") != NULL)
		journal_path = getenv("TCPLB_JOURNAL_SOCKET");
	switch (target) {
	case LOG_TARGET_JOURNAL:
		/* A journal that is not there would swallow even a start-up
		 * error. */
		use_journal = access(journal_path, W_OK) == 0;
		if (!use_journal) {
			stderr_prefix = getenv("JOURNAL_STREAM") != NULL;
			log_msg(LOG_WARNING, NULL, "no journal at %s: logging to standard error",
			    journal_path);
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
	log_start();
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

/* ---- the queue and the log thread --------------------------------------- */

/* One formatted record.  For the journal, data is the datagram (the
 * native protocol's fields); msg is always the stderr form's text, used
 * for stderr and as the fallback when the journal refuses the record. */
struct log_rec {
	struct log_rec *next;
	int prio;
	bool journal;
	size_t cost;		/* counted against LOG_QUEUE_BYTES */
	size_t len;		/* of data */
	char *msg;
	char data[];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* CLOCK_MONOTONIC (log_start) */
	struct log_rec *head, *tail;
	size_t nrecs, nbytes;
	bool running, stop;
	bool idle;		/* the writer sleeps until woken */
	bool kicked;		/* a wake-up is already on its way */
	pthread_t thread;
} q = { .lock = PTHREAD_MUTEX_INITIALIZER };

static atomic_uint_fast64_t log_dropped;	/* not yet reported */
static atomic_uint_fast64_t log_dropped_total;
static atomic_uint_fast64_t log_lost_exit;	/* still queued when exit gave up */
static uint64_t flush_deadline_ms;	/* set once stop is asked for */

uint64_t
log_dropped_count(void)
{
	return atomic_load(&log_dropped_total);
}

uint64_t
log_lost_at_exit(void)
{
	return atomic_load(&log_lost_exit);
}

static void
log_drop(uint64_t n)
{
	atomic_fetch_add(&log_dropped, n);
	atomic_fetch_add(&log_dropped_total, n);
}

/* Records a batch could not write: once exit has stopped waiting for the
 * target, they are what exit left behind. */
static void
log_give_up(uint64_t n)
{
	log_drop(n);
	if (__atomic_load_n(&flush_deadline_ms, __ATOMIC_RELAXED) != 0)
		atomic_fetch_add(&log_lost_exit, n);
}

/* Hand a record to the log thread, or drop it when the queue is full.
 * Never blocks beyond the queue's mutex, which no one holds across I/O. */
static void log_write_rec(struct log_rec *r);
static struct log_rec *log_rec_new(int prio, const char *msg,
    const char *const *kv);

static void
log_submit(struct log_rec *r)
{
	size_t cost = r->cost;
	bool wake = false;

	pthread_mutex_lock(&q.lock);
	if (!q.running) {
		/* Before log_init() started the thread, or after exit began
		 * to stop it: write here (the loops are not running). */
		pthread_mutex_unlock(&q.lock);
		log_write_rec(r);
		free(r);
		return;
	}
	if (q.nrecs >= LOG_QUEUE_RECORDS || q.nbytes + cost > LOG_QUEUE_BYTES) {
		pthread_mutex_unlock(&q.lock);
		log_drop(1);
		free(r);
		return;
	}
	r->next = NULL;
	if (q.tail)
		q.tail->next = r;
	else
		q.head = r;
	q.tail = r;
	q.nrecs++;
	q.nbytes += cost;
	/* Wake the writer only from its idle sleep, or when the queue is
	 * half full: otherwise it comes by itself within LOG_BATCH_MS. */
	if (!q.kicked && (q.idle || q.nrecs >= LOG_QUEUE_RECORDS / 2 ||
	    q.nbytes >= LOG_QUEUE_BYTES / 2)) {
		q.kicked = true;
		wake = true;
	}
	pthread_mutex_unlock(&q.lock);
	if (wake)
		pthread_cond_signal(&q.cond);
}

/* ---- stderr ---------------------------------------------------------------
 * A stderr nobody reads (a full pipe or socket) must not stop the balancer,
 * nor exit: the log thread waits for it (poll) while the queue absorbs what
 * comes, and only exit gives up after LOG_FLUSH_MS.  Setting O_NONBLOCK on
 * the inherited descriptor would change it for everyone who shares it (our
 * stdout after 2>&1, the shell, the next program in the pipeline), so a
 * pipe is reopened as a description of our own, and a socket (systemd's
 * journal stream) is written with MSG_DONTWAIT.  Files and terminals stay
 * as they are.  Records are at most PIPE_BUF bytes, so a write to a pipe is
 * all or nothing.
 */
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

/* Wait until fd takes more, or the exit deadline passes: false then.
 * Only the log thread (or exit) waits here. */
static bool
log_wait_writable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	uint64_t deadline = __atomic_load_n(&flush_deadline_ms, __ATOMIC_RELAXED);
	uint64_t now = now_ms();
	int wait = 200;

	if (deadline != 0) {
		if (now >= deadline)
			return false;
		if (deadline - now < (uint64_t)wait)
			wait = (int)(deadline - now);
	}
	(void)poll(&pfd, 1, wait);
	return true;
}

/* Write one line whole; false when it could not be (and never will). */
static bool
stderr_put(const char *line, size_t n)
{
	for (;;) {
		if (stderr_write_raw(line, n) >= 0)
			return true;
		if (errno == EINTR)
			continue;
		if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
		    !log_wait_writable(STDERR_FILENO))
			return false;
	}
}

static size_t
stderr_format(char *line, size_t size, int prio, const char *msg)
{
	size_t n;

	if (stderr_prefix) {
		n = (size_t)snprintf(line, size, "<%d>%s\n", prio, msg);
	} else {
		/* The broken-down time changes once a second, not once a
		 * record: localtime_r() and strftime() cost more than the
		 * rest of the line. */
		static _Thread_local time_t stamp_sec = -1;
		static _Thread_local char stamp[32];
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		if (ts.tv_sec != stamp_sec) {
			struct tm tm;

			localtime_r(&ts.tv_sec, &tm);
			strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
			stamp_sec = ts.tv_sec;
		}
		n = (size_t)snprintf(line, size, "%s.%03ld tcplb[%d]: %s: %s\n",
		    stamp, ts.tv_nsec / 1000000, log_pid,
		    log_level_name(prio), msg);
	}
	if (n >= size) {
		n = size - 1;
		line[n - 1] = '\n';
	}
	return n;
}

/* ---- the journal's native protocol ----------------------------------------
 * One datagram per record to JOURNAL_SOCKET (TCPLB_JOURNAL_SOCKET replaces
 * the path, for tests): "KEY=value\n" per field, or, for a value holding a
 * newline, "KEY\n", its length as 64-bit little endian, the value, "\n".
 * A record too big for a datagram goes as a sealed memfd (SCM_RIGHTS), as
 * libsystemd does.  The socket is connected, so poll() reports when
 * journald has room again.
 */
static const char *journal_path = JOURNAL_SOCKET;
static int journal_fd = -1;

static int
journal_connect(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (journal_fd >= 0)
		return 0;
	if (strlen(journal_path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, journal_path);
	journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (journal_fd < 0)
		return -1;
	if (connect(journal_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;

		close(journal_fd);
		journal_fd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

static int
journal_send_memfd(const char *data, size_t len)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct msghdr mh = { .msg_control = c.buf, .msg_controllen = sizeof(c.buf) };
	struct cmsghdr *cm;
	int fd, rc;

	fd = memfd_create("tcplb-journal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (write(fd, data, len) != (ssize_t)len ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
	    F_SEAL_SEAL) < 0) {
		close(fd);
		return -1;
	}
	memset(c.buf, 0, sizeof(c.buf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	for (;;) {
		rc = (int)sendmsg(journal_fd, &mh, MSG_NOSIGNAL);
		if (rc >= 0 || (errno != EAGAIN && errno != EINTR) ||
		    (errno == EAGAIN && !log_wait_writable(journal_fd)))
			break;
	}
	close(fd);
	return rc < 0 ? -1 : 0;
}

/* 0 sent; -1 the journal will not take it (then it goes to stderr). */
static int
journal_put(const char *data, size_t len)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (journal_connect() < 0)
			return -1;
		for (;;) {
			if (send(journal_fd, data, len, MSG_NOSIGNAL) >= 0)
				return 0;
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!log_wait_writable(journal_fd))
					return -1;
				continue;
			}
			break;
		}
		if (errno == EMSGSIZE || errno == ENOBUFS)
			return journal_send_memfd(data, len);
		/* journald restarted (ECONNREFUSED): connect once more. */
		close(journal_fd);
		journal_fd = -1;
	}
	return -1;
}

/* Append one field in the native protocol; false when it does not fit. */
static bool
journal_field(char *buf, size_t size, size_t *len, const char *key,
    const char *val, size_t vlen)
{
	size_t klen = strlen(key);
	bool binary = memchr(val, '\n', vlen) != NULL;
	size_t need = klen + 1 + (binary ? 8 : 0) + vlen + 1;

	if (*len + need > size)
		return false;
	memcpy(buf + *len, key, klen);
	*len += klen;
	if (binary) {
		uint64_t le = htole64((uint64_t)vlen);

		buf[(*len)++] = '\n';
		memcpy(buf + *len, &le, 8);
		*len += 8;
	} else {
		buf[(*len)++] = '=';
	}
	memcpy(buf + *len, val, vlen);
	*len += vlen;
	buf[(*len)++] = '\n';
	return true;
}

/* ---- writing (log thread, or the caller before the thread runs) ---------- */

static void
log_write_rec(struct log_rec *r)
{
	char line[PIPE_BUF];
	size_t n;

	if (r->journal && journal_put(r->data, r->len) == 0)
		return;
	n = stderr_format(line, sizeof(line), r->prio, r->msg);
	if (!stderr_put(line, n))
		log_give_up(1);
}

/* The drop count, as a record of its own, once a write has worked.  The
 * log thread writes it itself: queued, it would meet the full queue that
 * caused the drops and be dropped in turn. */
static void
log_report_drops(void)
{
	uint64_t lost = atomic_exchange(&log_dropped, 0);
	struct log_rec *r;
	char msg[160];

	if (lost == 0)
		return;
	snprintf(msg, sizeof(msg), "%llu log record%s dropped: %s was not "
	    "accepting them", (unsigned long long)lost, lost == 1 ? "" : "s",
	    use_journal ? "the journal" : "standard error");
	r = log_rec_new(LOG_WARNING, msg, (const char *const[]){ NULL });
	log_write_rec(r);
	free(r);
}

/* ---- batches ---------------------------------------------------------------
 * What one wake-up took from the queue goes out in as few system calls as
 * the target allows: stderr lines gathered into one writev() per
 * LOG_BATCH_RECORDS, journal records as one sendmmsg() of as many
 * datagrams.  A record the journal refuses takes the single-record path
 * (memfd for an oversized one, reconnect, stderr as a last resort).
 */
static void
stderr_write_batch(struct log_rec **v, size_t n)
{
	static char lines[LOG_BATCH_RECORDS][PIPE_BUF];
	struct iovec iov[LOG_BATCH_RECORDS];
	size_t first = 0;

	for (size_t i = 0; i < n; i++) {
		iov[i].iov_base = lines[i];
		iov[i].iov_len = stderr_format(lines[i], sizeof(lines[i]),
		    v[i]->prio, v[i]->msg);
	}
	/* A short write leaves us inside a line: the rest of it goes next,
	 * so lines stay whole and in order. */
	while (first < n) {
		ssize_t w;

		if (stderr_is_socket) {
			struct msghdr mh = { .msg_iov = iov + first,
			    .msg_iovlen = n - first };

			w = sendmsg(STDERR_FILENO, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		} else {
			w = writev(STDERR_FILENO, iov + first, (int)(n - first));
		}
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
			    log_wait_writable(STDERR_FILENO))
				continue;
			log_give_up(n - first);
			return;
		}
		while (first < n && (size_t)w >= iov[first].iov_len) {
			w -= (ssize_t)iov[first].iov_len;
			first++;
		}
		if (first < n) {
			iov[first].iov_base = (char *)iov[first].iov_base + w;
			iov[first].iov_len -= (size_t)w;
		}
	}
}

static void
journal_write_batch(struct log_rec **v, size_t n)
{
	struct mmsghdr mm[LOG_BATCH_RECORDS];
	struct iovec iov[LOG_BATCH_RECORDS];
	size_t first = 0;

	for (size_t i = 0; i < n; i++) {
		iov[i].iov_base = v[i]->data;
		iov[i].iov_len = v[i]->len;
		memset(&mm[i], 0, sizeof(mm[i]));
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	while (first < n) {
		int k = -1;

		if (journal_connect() == 0)
			k = sendmmsg(journal_fd, mm + first, (unsigned)(n - first),
			    MSG_NOSIGNAL);
		if (k > 0) {
			first += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (log_wait_writable(journal_fd))
				continue;
			log_give_up(n - first);
			return;
		}
		/* Too big for a datagram, journald restarted, or no journal:
		 * the single-record path knows each of those. */
		log_write_rec(v[first]);
		first++;
	}
}

/* Write a list taken off the queue, in order, and free it. */
static void
log_write_list(struct log_rec *r)
{
	struct log_rec *v[LOG_BATCH_RECORDS];

	while (r != NULL) {
		size_t n = 0;
		bool journal = r->journal;

		/* Records of one kind only: the target was decided at
		 * start, so in practice every record is. */
		while (r != NULL && n < LOG_BATCH_RECORDS && r->journal == journal) {
			v[n++] = r;
			r = r->next;
		}
		if (journal)
			journal_write_batch(v, n);
		else
			stderr_write_batch(v, n);
		for (size_t i = 0; i < n; i++)
			free(v[i]);
	}
}

static bool
log_past_deadline(void)
{
	uint64_t deadline = __atomic_load_n(&flush_deadline_ms, __ATOMIC_RELAXED);

	return deadline != 0 && now_ms() >= deadline;
}

static void
log_sleep_ms(unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
	}
	(void)pthread_cond_timedwait(&q.cond, &q.lock, &ts);
}

static void *
log_thread_main(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	pthread_mutex_lock(&q.lock);
	for (;;) {
		struct log_rec *list;

		if (q.head == NULL) {
			if (q.stop)
				break;
			/* Nothing came for a whole LOG_BATCH_MS: sleep until
			 * a caller wakes us. */
			q.idle = true;
			while (q.head == NULL && !q.stop)
				pthread_cond_wait(&q.cond, &q.lock);
			q.idle = false;
			continue;
		}
		/* Exit gave up waiting: what is left is counted by
		 * log_stop(), not written. */
		if (q.stop && log_past_deadline())
			break;
		list = q.head;
		q.head = q.tail = NULL;
		q.nrecs = q.nbytes = 0;
		q.kicked = false;
		pthread_mutex_unlock(&q.lock);
		log_write_list(list);
		if (atomic_load_explicit(&log_dropped, memory_order_relaxed) &&
		    !__atomic_load_n(&flush_deadline_ms, __ATOMIC_RELAXED))
			log_report_drops();
		pthread_mutex_lock(&q.lock);
		/* Let the next records gather, unless they are already
		 * many or exit waits for them. */
		if (!q.kicked && !q.stop)
			log_sleep_ms(LOG_BATCH_MS);
	}
	q.running = false;
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

/* At exit: give the thread LOG_FLUSH_MS to write what is queued, then
 * count the rest as lost, and say so on stderr if it takes it. */
static void
log_stop(void)
{
	struct log_rec *r;
	uint64_t lost = 0;

	pthread_mutex_lock(&q.lock);
	if (!q.running) {
		pthread_mutex_unlock(&q.lock);
		return;
	}
	__atomic_store_n(&flush_deadline_ms, now_ms() + LOG_FLUSH_MS,
	    __ATOMIC_RELAXED);
	q.stop = true;
	pthread_cond_signal(&q.cond);
	pthread_mutex_unlock(&q.lock);
	pthread_join(q.thread, NULL);
	while ((r = q.head) != NULL) {
		q.head = r->next;
		free(r);
		lost++;
	}
	q.tail = NULL;
	q.nrecs = q.nbytes = 0;
	if (lost > 0)
		log_give_up(lost);
	lost = atomic_load(&log_lost_exit);
	if (lost > 0) {
		char line[160];
		int n;

		n = snprintf(line, sizeof(line), "tcplb[%d]: %llu log record%s "
		    "still queued at exit after %d ms: lost\n", log_pid,
		    (unsigned long long)lost, lost == 1 ? "" : "s", LOG_FLUSH_MS);
		/* Best effort, never waiting: it is stderr that is stuck. */
		if (stderr_is_socket)
			(void)send(STDERR_FILENO, line, (size_t)n,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			(void)!write(STDERR_FILENO, line, (size_t)n);
	}
}

static void
log_start(void)
{
	pthread_condattr_t ca;
	sigset_t all, old;

	/* The batch timer must not jump with the wall clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q.cond, &ca);
	pthread_condattr_destroy(&ca);
	/* The thread must never take a signal meant for the main loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&q.thread, NULL, log_thread_main, NULL) == 0) {
		q.running = true;
		atexit(log_stop);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- building records ----------------------------------------------------- */

/* A record for the current target: msg always, journal fields when the
 * journal is the target (PRIORITY and SYSLOG_IDENTIFIER first, MESSAGE
 * last, the rest as given in kv: key, value, ..., NULL). */
static struct log_rec *
log_rec_new(int prio, const char *msg, const char *const *kv)
{
	size_t mlen = strlen(msg), cap = 0, len = 0;
	struct log_rec *r;
	char pbuf[8];

	if (use_journal) {
		cap = 64 + mlen + 16;
		for (size_t i = 0; kv[i] != NULL; i += 2)
			cap += strlen(kv[i]) + strlen(kv[i + 1]) + 10;
	}
	r = xmalloc(sizeof(*r) + cap + mlen + 1);
	r->prio = prio;
	r->journal = use_journal;
	r->msg = r->data + cap;
	memcpy(r->msg, msg, mlen + 1);
	if (use_journal) {
		snprintf(pbuf, sizeof(pbuf), "%d", prio);
		journal_field(r->data, cap, &len, "PRIORITY", pbuf, strlen(pbuf));
		journal_field(r->data, cap, &len, "SYSLOG_IDENTIFIER", "tcplb", 5);
		for (size_t i = 0; kv[i] != NULL; i += 2)
			journal_field(r->data, cap, &len, kv[i], kv[i + 1],
			    strlen(kv[i + 1]));
		journal_field(r->data, cap, &len, "MESSAGE", msg, mlen);
	}
	r->len = len;
	r->cost = sizeof(*r) + len + mlen + 1;
	return r;
}

static void
log_emit(int prio, const char *msg, const char *const *kv)
{
	log_submit(log_rec_new(prio, msg, kv));
}

/* Context fields, in the order the journal always had them. */
static void
log_ctx_fields(const struct log_ctx *ctx, const char **kv, char *sess,
    size_t sesslen)
{
	size_t n = 0;

	if (ctx != NULL) {
		if (ctx->listener) {
			kv[n++] = "TCPLB_LISTENER";
			kv[n++] = ctx->listener;
		}
		if (ctx->pool) {
			kv[n++] = "TCPLB_POOL";
			kv[n++] = ctx->pool;
		}
		if (ctx->server) {
			kv[n++] = "TCPLB_SERVER";
			kv[n++] = ctx->server;
		}
		if (ctx->server_addr) {
			kv[n++] = "TCPLB_SERVER_ADDR";
			kv[n++] = ctx->server_addr;
		}
		if (ctx->client) {
			kv[n++] = "TCPLB_CLIENT";
			kv[n++] = ctx->client;
		}
		if (ctx->session) {
			snprintf(sess, sesslen, "%llu",
			    (unsigned long long)ctx->session);
			kv[n++] = "TCPLB_SESSION";
			kv[n++] = sess;
		}
	}
	kv[n] = NULL;
}

static void
log_vemit(int prio, const struct log_ctx *ctx, const char *fmt, va_list ap,
    int errnum, const char *suffix)
{
	char msg[2048], sess[24];
	const char *kv[13];
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (errnum)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
		    strerror(errnum));
	if (suffix && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, "%s", suffix);
	log_ctx_fields(ctx, kv, sess, sizeof(sess));
	log_emit(prio, msg, kv);
}

void
log_msg(int prio, const struct log_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (!log_enabled(prio))
		return;
	va_start(ap, fmt);
	log_vemit(prio, ctx, fmt, ap, 0, NULL);
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
	log_vemit(prio, ctx, fmt, ap, saved, NULL);
	va_end(ap);
	errno = saved;
}

/*
 * At most rl->burst records per rl->interval_ms; the rest are counted, and
 * the first record of a later interval says how many were suppressed.  The
 * state is shared by every thread logging through it: a racing pair may
 * let one record too many through at an interval's edge, never block.
 */
void
log_ratelimited(struct log_ratelimit *rl, int prio, const struct log_ctx *ctx,
    const char *fmt, ...)
{
	uint64_t now = now_ms();
	uint64_t begin = atomic_load_explicit(&rl->begin_ms, memory_order_relaxed);
	unsigned suppressed = 0;
	char suffix[64];
	va_list ap;
	int saved = errno;

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
	suffix[0] = '\0';
	if (suppressed)
		snprintf(suffix, sizeof(suffix), " (%u similar message%s "
		    "suppressed)", suppressed, suppressed == 1 ? "" : "s");
	va_start(ap, fmt);
	log_vemit(prio, ctx, fmt, ap, 0, suffix);
	va_end(ap);
	errno = saved;
}

/* The access log is switched by global.access_log, not by log_level: an
 * operator who asks for it gets it even at "warning". */
void
log_access(const struct access_rec *r)
{
	char msg[1400], mp[32] = "";
	char conn[32], route[300], sess[24], bin[24], bout[24], cms[24];
	char dms[24], tries[12], rt[12], din[24], dout[24], sin[24], sout[24], mb[24];
	const char *server = r->server ? r->server : "-";
	const char *saddr = r->server_addr ? r->server_addr : "-";
	const char *kv[56];
	size_t n = 0;
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
	if (r->mptcp)
		snprintf(mp, sizeof(mp), " mptcp=%s", r->mptcp);
	snprintf(msg, sizeof(msg),
	    "%s listener=%s%s pool=%s server=%s (%s) bytes_in=%llu bytes_out=%llu "
	    "connect=%s duration=%llums tries=%u%s end=\"%s\"",
	    r->client, r->listener, route, r->pool, server, saddr,
	    (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
	    conn, (unsigned long long)r->duration_ms, r->tries, mp,
	    r->interim ? "-" : r->reason);
	if (r->dgram) {
		size_t len = strlen(msg);

		snprintf(msg + len, sizeof(msg) - len,
		    " protocol=udp datagrams_in=%llu datagrams_out=%llu",
		    (unsigned long long)r->dgrams_in,
		    (unsigned long long)r->dgrams_out);
	}
	/* Appended, so that a parser of the finished-session record reads
	 * an interim one the same way. */
	if (r->since) {
		size_t len = strlen(msg);

		snprintf(msg + len, sizeof(msg) - len,
		    "%s since_in=%llu since_out=%llu",
		    r->interim ? " interim=yes" : "",
		    (unsigned long long)r->since_in,
		    (unsigned long long)r->since_out);
	}
	if (r->mirrored) {
		size_t len = strlen(msg);

		snprintf(msg + len, sizeof(msg) - len,
		    " mirror=%s mirror_bytes=%llu", r->mirror_cut ? "cut" : "ok",
		    (unsigned long long)r->mirror_bytes);
	}
	if (!use_journal) {
		/* The fields below exist only in the journal's form. */
		log_emit(LOG_INFO, msg, (const char *const[]){ NULL });
		errno = saved;
		return;
	}
	snprintf(din, sizeof(din), "%llu", (unsigned long long)r->dgrams_in);
	snprintf(dout, sizeof(dout), "%llu", (unsigned long long)r->dgrams_out);
	snprintf(sess, sizeof(sess), "%llu", (unsigned long long)r->session);
	snprintf(bin, sizeof(bin), "%llu", (unsigned long long)r->bytes_in);
	snprintf(bout, sizeof(bout), "%llu", (unsigned long long)r->bytes_out);
	snprintf(cms, sizeof(cms), "%lld", (long long)r->connect_ms);
	snprintf(dms, sizeof(dms), "%llu", (unsigned long long)r->duration_ms);
	snprintf(tries, sizeof(tries), "%u", r->tries);
	snprintf(rt, sizeof(rt), "%d", r->route);
#define KV(k, v) do { kv[n++] = (k); kv[n++] = (v); } while (0)
	KV("TCPLB_EVENT", "access");
	KV("TCPLB_SESSION", sess);
	KV("TCPLB_CLIENT", r->client);
	KV("TCPLB_LISTENER", r->listener);
	KV("TCPLB_POOL", r->pool);
	if (r->routed) {
		if (r->sni)
			KV("TCPLB_SNI", r->sni);
		if (r->route >= 0)
			KV("TCPLB_ROUTE", rt);
	}
	KV("TCPLB_SERVER", server);
	KV("TCPLB_SERVER_ADDR", saddr);
	KV("TCPLB_BYTES_IN", bin);
	KV("TCPLB_BYTES_OUT", bout);
	KV("TCPLB_CONNECT_MS", cms);
	KV("TCPLB_DURATION_MS", dms);
	KV("TCPLB_TRIES", tries);
	if (r->interim)
		KV("TCPLB_INTERIM", "yes");
	else
		KV("TCPLB_TERMINATION", r->reason);
	if (r->since) {
		snprintf(sin, sizeof(sin), "%llu", (unsigned long long)r->since_in);
		snprintf(sout, sizeof(sout), "%llu",
		    (unsigned long long)r->since_out);
		KV("TCPLB_BYTES_IN_SINCE", sin);
		KV("TCPLB_BYTES_OUT_SINCE", sout);
	}
	if (r->dgram) {
		KV("TCPLB_PROTOCOL", "udp");
		KV("TCPLB_DATAGRAMS_IN", din);
		KV("TCPLB_DATAGRAMS_OUT", dout);
	}
	if (r->mptcp)
		KV("TCPLB_MPTCP", r->mptcp);
	if (r->mirrored) {
		snprintf(mb, sizeof(mb), "%llu",
		    (unsigned long long)r->mirror_bytes);
		KV("TCPLB_MIRROR", r->mirror_cut ? "cut" : "ok");
		KV("TCPLB_MIRROR_BYTES", mb);
	}
#undef KV
	kv[n] = NULL;
	log_emit(LOG_INFO, msg, kv);
	errno = saved;
}
