/*
 * test_inspect: the inspection stage's PROXY phase over a socketpair --
 * a header in any number of reads, the bytes after it kept as leftover,
 * LOCAL keeping the peer, EOF before and inside a header, garbage, and a
 * listener with no phase not inspecting at all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edge/inspect.h"

static struct listener L;

static void
pair(int fd[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	assert_int_equal(fcntl(fd[0], F_SETFL, O_NONBLOCK), 0);
}

static void
test_wanted(void **state)
{
	struct listener plain = { 0 };

	(void)state;
	assert_false(inspect_wanted(&plain));
	plain.accept_proxy = true;
	assert_true(inspect_wanted(&plain));
}

static void
test_split_and_leftover(void **state)
{
	const char *msg = "PROXY TCP4 192.0.2.1 192.0.2.2 1234 80\r\nGET / HTTP/1.0\r\n";
	size_t hl = strstr(msg, "\r\n") - msg + 2;
	struct inspect *in = inspect_new();
	int fd[2];

	(void)state;
	L.accept_proxy = true;
	pair(fd);
	/* nothing yet */
	assert_int_equal(inspect_read(in, fd[0], &L), INSPECT_WAIT);
	/* one byte at a time up to the last byte of the header */
	for (size_t i = 0; i + 1 < hl; i++) {
		assert_int_equal(write(fd[1], msg + i, 1), 1);
		assert_int_equal(inspect_read(in, fd[0], &L), INSPECT_WAIT);
	}
	/* the last header byte together with the request */
	assert_int_equal(write(fd[1], msg + hl - 1, strlen(msg) - hl + 1),
	    (ssize_t)(strlen(msg) - hl + 1));
	assert_int_equal(inspect_read(in, fd[0], &L), INSPECT_CONTINUE);
	assert_true(in->has_client);
	assert_int_equal(in->client.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&in->client)->sin_port), 1234);
	assert_true(in->has_local);
	assert_int_equal(ntohs(((struct sockaddr_in *)&in->local)->sin_port), 80);
	assert_int_equal(inspect_leftover_len(in), strlen(msg) - hl);
	assert_memory_equal(inspect_leftover(in), msg + hl, strlen(msg) - hl);
	assert_int_equal(in->proxy_version, 1);
	inspect_free(in);
	close(fd[0]);
	close(fd[1]);
}

static void
test_local(void **state)
{
	static const unsigned char local[16] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00,
	    0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00 };
	struct inspect *in = inspect_new();
	int fd[2];

	(void)state;
	L.accept_proxy = true;
	pair(fd);
	assert_int_equal(write(fd[1], local, sizeof(local)), 16);
	assert_int_equal(inspect_read(in, fd[0], &L), INSPECT_CONTINUE);
	assert_false(in->has_client);
	assert_int_equal(inspect_leftover_len(in), 0);
	inspect_free(in);
	close(fd[0]);
	close(fd[1]);
}

static void
expect_close(const char *data, bool eof, const char *why)
{
	struct inspect *in = inspect_new();
	int fd[2];
	enum inspect_verdict v;

	pair(fd);
	if (*data)
		assert_int_equal(write(fd[1], data, strlen(data)), (ssize_t)strlen(data));
	if (eof)
		shutdown(fd[1], SHUT_WR);
	v = inspect_read(in, fd[0], &L);
	if (v == INSPECT_WAIT && eof)
		v = inspect_read(in, fd[0], &L);
	assert_int_equal(v, INSPECT_CLOSE);
	assert_non_null(in->reason);
	if (strstr(in->reason, why) == NULL)
		fail_msg("reason '%s' lacks '%s'", in->reason, why);
	inspect_free(in);
	close(fd[0]);
	close(fd[1]);
}

static void
test_close(void **state)
{
	(void)state;
	L.accept_proxy = true;
	expect_close("GET / HTTP/1.0\r\n", false, "no PROXY protocol header");
	expect_close("", true, "client closed before the PROXY header");
	expect_close("PROXY TCP4 1.2", true, "truncated");
	expect_close("PROXY TCP4 1.2.3.4 1.2.3.5 1 70000\r\n", false, "port");
}

static void
test_timeout_reason(void **state)
{
	struct inspect *in = inspect_new();

	(void)state;
	assert_non_null(strstr(inspect_timeout_reason(in), "PROXY"));
	inspect_free(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wanted),
		cmocka_unit_test(test_split_and_leftover),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_timeout_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
