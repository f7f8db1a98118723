/* Unit test for the reuseport steering program (net_udp_steer): on a
 * group of 4 UDP sockets on loopback, the program -- not the kernel's own
 * hash -- picks the member (a program told the group has 2 members only
 * ever picks members 0 and 1), every datagram of one client (address and
 * port) reaches the same member, and clients spread over the members.
 * IPv4 and IPv6. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/net.h"

#define NSOCK 4
#define NCLIENT 64

/* Send 2 rounds from NCLIENT clients to a group of NSOCK members steered
 * as a group of `steer` members; count per member and check that each
 * client kept its member. */
static void
run(int family, unsigned steer, int counts[NSOCK])
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	int fds[NSOCK], cl[NCLIENT], member[NCLIENT];

	if (family == AF_INET6) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	} else {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	for (int i = 0; i < NSOCK; i++) {
		fds[i] = net_udp_bind((struct sockaddr *)&ss, len, true);
		if (fds[i] < 0 && family == AF_INET6)
			skip();		/* no IPv6 here */
		assert_true(fds[i] >= 0);
		if (i == 0) {
			socklen_t l = sizeof(ss);

			assert_int_equal(getsockname(fds[0], (struct sockaddr *)&ss, &l), 0);
		}
	}
	assert_int_equal(net_udp_steer(fds[0], family, steer), 0);
	for (int c = 0; c < NCLIENT; c++) {
		cl[c] = socket(family, SOCK_DGRAM, 0);
		assert_true(cl[c] >= 0);
		member[c] = -1;
	}
	memset(counts, 0, NSOCK * sizeof(int));
	for (int round = 0; round < 2; round++) {
		for (int c = 0; c < NCLIENT; c++) {
			char b = (char)c;

			assert_int_equal(sendto(cl[c], &b, 1, 0,
			    (struct sockaddr *)&ss, len), 1);
		}
		for (int got = 0, tries = 0; got < NCLIENT && tries < 200; tries++) {
			for (int k = 0; k < NSOCK; k++) {
				char b;

				while (recv(fds[k], &b, 1, MSG_DONTWAIT) == 1) {
					int c = (unsigned char)b;

					if (member[c] < 0)
						member[c] = k;
					assert_int_equal(member[c], k);
					counts[k]++;
					got++;
				}
			}
			if (got < NCLIENT)
				usleep(5000);
		}
	}
	for (int c = 0; c < NCLIENT; c++)
		close(cl[c]);
	for (int i = 0; i < NSOCK; i++)
		close(fds[i]);
	assert_int_equal(counts[0] + counts[1] + counts[2] + counts[3], 2 * NCLIENT);
}

static void
test_v4(void **state)
{
	int n[NSOCK];

	(void)state;
	run(AF_INET, 2, n);
	assert_int_equal(n[2] + n[3], 0);	/* the program decides */
	assert_true(n[0] > 0 && n[1] > 0);
	run(AF_INET, NSOCK, n);
	for (int k = 0; k < NSOCK; k++)
		assert_true(n[k] > 0);		/* clients spread */
}

static void
test_v6(void **state)
{
	int n[NSOCK];

	(void)state;
	run(AF_INET6, 3, n);
	assert_int_equal(n[3], 0);
	assert_true(n[0] > 0 && n[1] > 0 && n[2] > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4),
		cmocka_unit_test(test_v6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
