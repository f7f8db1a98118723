/* Unit tests for one relay direction over socketpairs: bytes arrive intact,
 * back-pressure stops reading, EOF becomes shutdown(SHUT_WR), errors are
 * reported with the side that failed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay/relay.h"

struct fixture {
	int src[2];	/* [0] the peer that writes, [1] the relay's source */
	int dst[2];	/* [0] the relay's destination, [1] the peer that reads */
	struct relay_pools pool;
	struct relay_dir d;
};

static int
setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, f.src) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, f.dst) < 0)
		return -1;
	relay_pools_init(&f.pool, 2, 2, true);
	relay_init(&f.d);
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	relay_release(&f->d, &f->pool);
	relay_pools_destroy(&f->pool);
	for (int i = 0; i < 2; i++) {
		close(f->src[i]);
		close(f->dst[i]);
	}
	return 0;
}

static void
test_moves_bytes_and_detaches(void **state)
{
	struct fixture *f = *state;
	char out[64];

	assert_int_equal(write(f->src[0], "hello world", 11), 11);
	assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true), RELAY_OK);
	assert_int_equal(read(f->dst[1], out, sizeof(out)), 11);
	assert_memory_equal(out, "hello world", 11);
	assert_int_equal(f->d.bytes, 11);
	/* Everything was delivered: no buffer is held while idle. */
	assert_null(f->d.buf.data);
	assert_true(relay_wants_read(&f->d));
	assert_false(relay_wants_write(&f->d));
}

/* Fill everything: the destination stops taking bytes, then the relay must
 * stop reading the source; drained, every byte arrives in order. */
static void
run_backpressure(struct fixture *f, bool splice)
{
	static char chunk[BUFFER_SIZE];
	static char sink[1 << 20];
	size_t sent = 0, got = 0;
	unsigned char expect = 0;
	int rounds = 0;
	bool used_pipe = false;

	f->pool.splice = splice;
	for (int i = 0; i < 400; i++) {
		for (size_t k = 0; k < sizeof(chunk); k++)
			chunk[k] = (char)(unsigned char)((sent + k) % 251);
		ssize_t n = write(f->src[0], chunk, sizeof(chunk));

		if (n > 0)
			sent += (size_t)n;
		relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true);
		used_pipe |= f->d.pipe[0] >= 0;
		if (f->d.wblocked && !relay_wants_read(&f->d))
			break;
	}
	assert_true(f->d.wblocked);
	assert_false(relay_wants_read(&f->d));
	assert_true(relay_wants_write(&f->d));
	if (splice) {
		assert_true(used_pipe);
		assert_true(f->d.in_pipe > 0 && f->d.in_pipe <= f->d.pipe_cap);
		assert_true(f->d.pipe_full || f->d.in_pipe == f->d.pipe_cap);
	} else {
		assert_true(buffer_full(&f->d.buf));
		assert_int_equal(f->d.pipe[0], -1);
	}
	while (got < sent && rounds++ < 100000) {
		ssize_t n = read(f->dst[1], sink, sizeof(sink));

		for (ssize_t k = 0; k < n; k++) {
			assert_int_equal((unsigned char)sink[k], expect);
			expect = (unsigned char)((got + (size_t)k + 1) % 251);
		}
		if (n > 0)
			got += (size_t)n;
		f->d.wblocked = false;
		assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true), RELAY_OK);
	}
	assert_int_equal(got, sent);
	assert_int_equal(f->d.bytes, sent);
}

static void
test_backpressure_buffered(void **state)
{
	run_backpressure(*state, false);
}

static void
test_backpressure_spliced(void **state)
{
	run_backpressure(*state, true);
}

/* A bulk sender whose bytes come in bursts smaller than the buffer (reads
 * of 40 KB: more than half of it) still goes zero-copy; a flow of small
 * reads does not. */
static void
test_half_reads_switch_to_splice(void **state)
{
	struct fixture *f = *state;
	static char chunk[40000], sink[1 << 17];

	memset(chunk, 'h', sizeof(chunk));
	for (int i = 0; i < 4 && f->d.pipe[0] < 0; i++) {
		assert_int_equal(write(f->src[0], chunk, sizeof(chunk)), sizeof(chunk));
		assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true), RELAY_OK);
		assert_int_equal(read(f->dst[1], sink, sizeof(sink)), sizeof(chunk));
	}
	assert_true(f->d.pipe[0] >= 0);
}

static void
test_small_reads_stay_buffered(void **state)
{
	struct fixture *f = *state;
	char chunk[1000], sink[4096];

	memset(chunk, 's', sizeof(chunk));
	for (int i = 0; i < 8; i++) {
		assert_int_equal(write(f->src[0], chunk, sizeof(chunk)), sizeof(chunk));
		assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true), RELAY_OK);
		assert_int_equal(read(f->dst[1], sink, sizeof(sink)), sizeof(chunk));
	}
	assert_true(f->d.pipe[0] < 0);
}

/* Small segments fill a pipe's slots long before its byte size: the relay
 * must then stop asking to read (a readable socket would wake it for ever),
 * and ask again once the pipe drains. */
static void
test_splice_pipe_full_by_segments(void **state)
{
	struct fixture *f = *state;
	static char chunk[BUFFER_SIZE];
	static char sink[1 << 20];
	int i;

	f->pool.splice = true;
	memset(chunk, 'b', sizeof(chunk));
	/* Bulk first, drained as it goes, until the direction is spliced. */
	for (i = 0; i < 20 && f->d.pipe[0] < 0; i++) {
		assert_int_equal(write(f->src[0], chunk, sizeof(chunk)), sizeof(chunk));
		relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true);
		while (read(f->dst[1], sink, sizeof(sink)) > 0)
			;
		f->d.wblocked = false;
	}
	assert_true(f->d.pipe[0] >= 0);
	relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true);
	while (read(f->dst[1], sink, sizeof(sink)) > 0)
		;
	/* Now the reader stops and the writer sends 100-byte segments. */
	for (i = 0; i < 5000 && relay_wants_read(&f->d); i++) {
		if (write(f->src[0], chunk, 100) != 100)
			break;
		relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true);
	}
	assert_false(relay_wants_read(&f->d));
	assert_true(f->d.in_pipe > 0);
	assert_true(relay_wants_write(&f->d));
	/* The reader drains: the relay may read again. */
	while (relay_wants_write(&f->d) || !relay_wants_read(&f->d)) {
		while (read(f->dst[1], sink, sizeof(sink)) > 0)
			;
		f->d.wblocked = false;
		assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, false), RELAY_OK);
		if (++i > 20000)
			break;
	}
	assert_true(relay_wants_read(&f->d));
}

static void
test_eof_forwards_shutdown(void **state)
{
	struct fixture *f = *state;
	char out[16];

	assert_int_equal(write(f->src[0], "bye", 3), 3);
	shutdown(f->src[0], SHUT_WR);
	/* A short read means "drained": the relay waits for the loop to say
	 * readable again before it reads the EOF. */
	assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true), RELAY_OK);
	assert_false(f->d.shut);
	assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true), RELAY_OK);
	assert_true(f->d.eof);
	assert_true(relay_done(&f->d));
	assert_int_equal(read(f->dst[1], out, sizeof(out)), 3);
	/* The reader sees EOF after the bytes... */
	assert_int_equal(read(f->dst[1], out, sizeof(out)), 0);
	/* ...while the other direction still works. */
	assert_int_equal(write(f->dst[1], "back", 4), 4);
	assert_int_equal(read(f->dst[0], out, sizeof(out)), 4);
}

static void
test_write_error_reported(void **state)
{
	struct fixture *f = *state;

	close(f->dst[1]);
	f->dst[1] = -1;
	assert_int_equal(write(f->src[0], "lost", 4), 4);
	assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true),
	    RELAY_WRITE_ERR);
	assert_int_equal(f->d.err, EPIPE);
}

/* A connected TCP pair on loopback: *c the client end, *a the accepted
 * one (non-blocking).  For resets, which socketpairs cannot produce. */
static void
tcp_pair(int *c, int *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(0x7f000001) };
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 1), 0);
	getsockname(l, (struct sockaddr *)&ss, &len);
	*c = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(*c, (struct sockaddr *)&ss, len), 0);
	*a = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	assert_true(*a >= 0);
	close(l);
}

static void
rst_close(int fd)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void
test_read_error_reported(void **state)
{
	struct fixture *f = *state;
	int c, a;

	tcp_pair(&c, &a);
	rst_close(c);
	usleep(10000);
	assert_int_equal(relay_pump(&f->d, a, f->dst[0], &f->pool, true), RELAY_READ_ERR);
	assert_int_equal(f->d.err, ECONNRESET);
	close(a);
}

/* What a peer sent just before its reset is still read and delivered;
 * the end is then a reset for the session to pass on, never a FIN. */
static void
test_reset_source_last_words(void **state)
{
	struct fixture *f = *state;
	char out[64];
	int c, a;

	tcp_pair(&c, &a);
	assert_int_equal(write(c, "413 too large", 13), 13);
	rst_close(c);
	usleep(10000);
	assert_int_equal(relay_pump(&f->d, a, f->dst[0], &f->pool, true), RELAY_OK);
	assert_int_equal(relay_pump(&f->d, a, f->dst[0], &f->pool, true), RELAY_READ_ERR);
	assert_true(f->d.eof);
	assert_true(f->d.src_reset);
	assert_true(relay_flushed(&f->d));
	assert_false(relay_done(&f->d));
	assert_int_equal(read(f->dst[1], out, sizeof(out)), 13);
	assert_memory_equal(out, "413 too large", 13);
	/* No EOF was forwarded: the destination still waits. */
	assert_int_equal(read(f->dst[1], out, sizeof(out)), -1);
	assert_int_equal(errno, EAGAIN);
	close(a);
}

/* The destination is gone: bytes held for it are dropped, a pipe that
 * held some is closed rather than pooled, the direction is done, and
 * what the source still sends is read and dropped up to its EOF. */
static void
test_abort_drops_held_bytes(void **state)
{
	struct fixture *f = *state;
	static char chunk[BUFFER_SIZE];

	memset(chunk, 'x', sizeof(chunk));
	/* Nobody reads dst: keep writing until the relay holds bytes in
	 * its pipe (bulk reads switch it to splice). */
	for (int i = 0; i < 200 && f->d.in_pipe == 0; i++) {
		(void)write(f->src[0], chunk, sizeof(chunk));
		assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true),
		    RELAY_OK);
	}
	assert_true(f->d.in_pipe > 0);
	assert_int_equal(f->pool.pipes.out, 1);
	relay_abort(&f->d, &f->pool);
	assert_int_equal(f->pool.pipes.out, 0);
	assert_int_equal(f->pool.pipes.nfree, 0);
	assert_int_equal(f->d.in_pipe, 0);
	assert_true(relay_done(&f->d));
	assert_false(relay_wants_write(&f->d));
	/* Drain the destination of what was delivered before the abort. */
	while (read(f->dst[1], chunk, sizeof(chunk)) > 0)
		;
	assert_true(relay_wants_read(&f->d));
	assert_int_equal(write(f->src[0], "more", 4), 4);
	shutdown(f->src[0], SHUT_WR);
	assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true), RELAY_OK);
	assert_true(f->d.eof);
	assert_false(relay_wants_read(&f->d));
	/* Nothing reached the destination, and it got no FIN either. */
	assert_int_equal(read(f->dst[1], chunk, sizeof(chunk)), -1);
	assert_int_equal(errno, EAGAIN);
}

/* A spliced direction meets a TCP urgent mark: splice() cannot pass it,
 * so the direction goes back to read(), which (SO_OOBINLINE) takes the
 * urgent byte as an ordinary one; nothing is lost, nothing spins. */
static void
test_urgent_mark_leaves_splice(void **state)
{
	struct fixture *f = *state;
	static char chunk[BUFFER_SIZE], sink[1 << 20];
	char tail[64];
	size_t got = 0, want = 0, tl = 0;
	int c, a, one = 1;
	ssize_t n;

	tcp_pair(&c, &a);
	setsockopt(a, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
	memset(chunk, 'b', sizeof(chunk));
	for (int i = 0; i < 64 && f->d.pipe[0] < 0; i++) {
		assert_int_equal(write(c, chunk, sizeof(chunk)), sizeof(chunk));
		want += sizeof(chunk);
		usleep(2000);
		assert_int_equal(relay_pump(&f->d, a, f->dst[0], &f->pool, true), RELAY_OK);
		while ((n = read(f->dst[1], sink, sizeof(sink))) > 0)
			got += (size_t)n;
	}
	assert_true(f->d.pipe[0] >= 0);
	assert_int_equal(send(c, "!", 1, MSG_OOB), 1);
	assert_int_equal(write(c, "after", 5), 5);
	want += 6;
	usleep(10000);
	for (int i = 0; i < 100 && got < want; i++) {
		assert_int_equal(relay_pump(&f->d, a, f->dst[0], &f->pool, true), RELAY_OK);
		f->d.wblocked = false;
		while ((n = read(f->dst[1], sink, sizeof(sink))) > 0) {
			got += (size_t)n;
			/* keep the last bytes seen */
			for (ssize_t k = 0; k < n; k++) {
				if (tl == sizeof(tail))
					memmove(tail, tail + 1, --tl);
				tail[tl++] = sink[k];
			}
		}
	}
	assert_int_equal(got, want);
	assert_true(tl >= 6);
	assert_memory_equal(tail + tl - 6, "!after", 6);
	/* Back in the buffer, the pipe returned to the pool. */
	assert_true(f->d.pipe[0] < 0);
	assert_int_equal(f->pool.pipes.out, 0);
	close(c);
	close(a);
}

/* eof_probe: a source that sent its last bytes and its EOF together is
 * seen to end in the same pass that reads the bytes, so the FIN can leave
 * with them; the probe is spent after the first drained read. */
static void
test_eof_probe_one_pass(void **state)
{
	struct fixture *f = *state;
	char out[16];

	f->d.eof_probe = true;
	assert_int_equal(write(f->src[0], "bye", 3), 3);
	shutdown(f->src[0], SHUT_WR);
	assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true), RELAY_OK);
	assert_true(f->d.eof);
	assert_true(f->d.shut);
	assert_false(f->d.eof_probe);
	assert_int_equal(f->d.rbytes, 3);
	assert_int_equal(read(f->dst[1], out, sizeof(out)), 3);
	assert_memory_equal(out, "bye", 3);
	assert_int_equal(read(f->dst[1], out, sizeof(out)), 0);
}

static void
test_eof_probe_once(void **state)
{
	struct fixture *f = *state;
	char out[16];

	f->d.eof_probe = true;
	assert_int_equal(write(f->src[0], "a", 1), 1);
	assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true), RELAY_OK);
	/* The probe found nothing more: the source stays open, spent. */
	assert_false(f->d.eof);
	assert_false(f->d.eof_probe);
	assert_int_equal(read(f->dst[1], out, sizeof(out)), 1);
	/* Later bytes are relayed as before: a short read waits for the loop. */
	assert_int_equal(write(f->src[0], "b", 1), 1);
	shutdown(f->src[0], SHUT_WR);
	assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true), RELAY_OK);
	assert_false(f->d.eof);
	assert_int_equal(relay_pump(&f->d, f->src[1], f->dst[0], &f->pool, true), RELAY_OK);
	assert_true(f->d.eof);
	assert_int_equal(read(f->dst[1], out, sizeof(out)), 1);
	assert_int_equal(read(f->dst[1], out, sizeof(out)), 0);
}

/* Segments the peer of fd has received (TCP_INFO; linux/tcp.h has the
 * field, glibc's struct stops before it). */
static uint32_t
segs_in(int fd)
{
	unsigned char info[256];
	socklen_t len = sizeof(info);
	uint32_t v;

	memset(info, 0, sizeof(info));
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &len), 0);
	assert_true(len >= 144);
	memcpy(&v, info + 140, sizeof(v));	/* tcpi_segs_in */
	return v;
}

/* Over TCP the last bytes and the FIN travel in one segment (MSG_MORE,
 * then shutdown()), where a plain write would send them in two. */
static void
test_fin_rides_on_last_bytes(void **state)
{
	struct fixture *f = *state;
	char out[16];
	uint32_t before;
	int c, a, one = 1;

	tcp_pair(&c, &a);
	setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	before = segs_in(c);
	f->d.eof_probe = true;
	assert_int_equal(write(f->src[0], "last", 4), 4);
	shutdown(f->src[0], SHUT_WR);
	assert_int_equal(relay_pump(&f->d, f->src[1], a, &f->pool, true), RELAY_OK);
	assert_true(f->d.shut);
	usleep(20000);
	assert_int_equal(recv(c, out, sizeof(out), MSG_DONTWAIT), 4);
	assert_int_equal(recv(c, out, sizeof(out), MSG_DONTWAIT), 0);
	assert_int_equal(segs_in(c) - before, 1);
	close(c);
	close(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_moves_bytes_and_detaches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure_buffered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure_spliced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_reads_switch_to_splice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_reads_stay_buffered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_splice_pipe_full_by_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_forwards_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_probe_one_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_probe_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fin_rides_on_last_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_error_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_source_last_words, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_drops_held_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_urgent_mark_leaves_splice, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
