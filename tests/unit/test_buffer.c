/* Unit tests for the ring buffer and its per-worker chunk pool. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buffer.h"

static void
test_put_get_wraps(void **state)
{
	struct bufpool p;
	struct buffer b = { 0 };
	char in[BUFFER_SIZE], out[BUFFER_SIZE];

	bufpool_init(&p, 4);
	buffer_attach(&b, &p);
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (char)(i * 7);
	/* Fill, drain most, refill across the end of the ring. */
	assert_int_equal(buffer_put(&b, in, sizeof(in)), sizeof(in));
	assert_true(buffer_full(&b));
	assert_int_equal(buffer_put(&b, in, 1), 0);
	assert_int_equal(buffer_get(&b, out, BUFFER_SIZE - 100), BUFFER_SIZE - 100);
	assert_memory_equal(out, in, BUFFER_SIZE - 100);
	assert_int_equal(buffer_put(&b, in, 1000), 1000);
	assert_int_equal(buffer_len(&b), 1100);
	assert_int_equal(buffer_get(&b, out, sizeof(out)), 1100);
	assert_memory_equal(out, in + BUFFER_SIZE - 100, 100);
	assert_memory_equal(out + 100, in, 1000);
	assert_true(buffer_empty(&b));
	buffer_release(&b, &p);
	assert_null(b.data);
	bufpool_destroy(&p);
}

/* A header put before bytes already held, wrapped or not; all or
 * nothing when the room is short. */
static void
test_prepend(void **state)
{
	struct bufpool p;
	struct buffer b = { 0 };
	char out[BUFFER_SIZE];

	(void)state;
	bufpool_init(&p, 1);
	buffer_attach(&b, &p);
	assert_int_equal(buffer_put(&b, "body", 4), 4);
	assert_int_equal(buffer_prepend(&b, "HDR:", 4), 4);	/* wraps */
	assert_int_equal(b.len, 8);
	assert_int_equal(buffer_get(&b, out, sizeof(out)), 8);
	assert_memory_equal(out, "HDR:body", 8);
	/* from the middle of the ring */
	assert_int_equal(buffer_put(&b, "0123456789", 10), 10);
	assert_int_equal(buffer_get(&b, out, 6), 6);
	assert_int_equal(buffer_prepend(&b, "ab", 2), 2);
	assert_int_equal(buffer_get(&b, out, sizeof(out)), 6);
	assert_memory_equal(out, "ab6789", 6);
	/* no room: nothing changes */
	memset(out, 'x', sizeof(out));
	assert_int_equal(buffer_put(&b, out, BUFFER_SIZE - 1), BUFFER_SIZE - 1);
	assert_int_equal(buffer_prepend(&b, "yz", 2), 0);
	assert_int_equal(b.len, BUFFER_SIZE - 1);
	assert_int_equal(buffer_prepend(&b, "y", 1), 1);
	assert_int_equal(buffer_get(&b, out, 2), 2);
	assert_memory_equal(out, "yx", 2);
	buffer_release(&b, &p);
	bufpool_destroy(&p);
}

static void
test_fd_io_wrapped(void **state)
{
	struct bufpool p;
	struct buffer b = { 0 };
	int sv[2];
	char in[3000], out[4000];
	ssize_t n;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	bufpool_init(&p, 1);
	buffer_attach(&b, &p);
	/* Move head near the end so the next read wraps. */
	b.head = b.size - 1000;
	memset(in, 'x', sizeof(in));
	in[0] = 'A';
	in[2999] = 'Z';
	assert_int_equal(write(sv[0], in, sizeof(in)), sizeof(in));
	n = buffer_read_fd(&b, sv[1]);
	assert_int_equal(n, 3000);
	n = buffer_write_fd(&b, sv[1]);
	assert_int_equal(n, 3000);
	assert_int_equal(read(sv[0], out, sizeof(out)), 3000);
	assert_memory_equal(out, in, 3000);
	/* Empty socket: EAGAIN, nothing consumed. */
	n = buffer_read_fd(&b, sv[1]);
	assert_int_equal(n, -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	close(sv[0]);
	assert_int_equal(buffer_read_fd(&b, sv[1]), 0);	/* EOF */
	close(sv[1]);
	buffer_release(&b, &p);
	bufpool_destroy(&p);
}

static void
test_pool_recycles_and_caps(void **state)
{
	struct bufpool p;
	struct buffer a = { 0 }, b = { 0 }, c = { 0 };
	char *first;

	bufpool_init(&p, 1);
	buffer_attach(&a, &p);
	first = a.data;
	buffer_attach(&b, &p);
	buffer_attach(&c, &p);
	assert_int_equal(p.out, 3);
	buffer_detach_if_empty(&a, &p);
	assert_null(a.data);
	assert_int_equal(p.nfree, 1);
	buffer_release(&b, &p);		/* pool full: freed */
	assert_int_equal(p.nfree, 1);
	buffer_attach(&a, &p);
	assert_ptr_equal(a.data, first);	/* recycled */
	buffer_put(&c, "x", 1);
	buffer_detach_if_empty(&c, &p);	/* holds data: kept */
	assert_non_null(c.data);
	buffer_release(&a, &p);
	buffer_release(&c, &p);
	assert_int_equal(p.out, 0);
	bufpool_destroy(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_wraps),
		cmocka_unit_test(test_prepend),
		cmocka_unit_test(test_fd_io_wrapped),
		cmocka_unit_test(test_pool_recycles_and_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
