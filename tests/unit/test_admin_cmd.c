/*
 * test_admin_cmd: the admin command language -- every command with its
 * arguments, the trailing `json`, line endings and blanks, and each
 * rejection with its exact one-line message (bounded and printable even when
 * the offending word is not).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "control/admin_cmd.h"
#include "config/gen.h"

static struct admin_cmd
ok(const char *line)
{
	struct admin_cmd c;
	char err[256] = "";

	if (admin_cmd_parse(line, strlen(line), &c, err, sizeof(err)) != 0)
		fail_msg("'%s' rejected: %s", line, err);
	return c;
}

static void
bad(const char *line, const char *msg)
{
	struct admin_cmd c;
	char err[256];

	assert_int_equal(admin_cmd_parse(line, strlen(line), &c, err, sizeof(err)), -1);
	assert_string_equal(err, msg);
}

static void
test_add_del(void **state)
{
	struct admin_cmd c;

	(void)state;
	c = ok("add server web 10.0.0.9:80");
	assert_int_equal(c.verb, ADM_ADD_SERVER);
	assert_string_equal(c.pool, "web");
	assert_string_equal(c.addr, "10.0.0.9:80");
	assert_string_equal(c.server, "");
	assert_int_equal(c.weight, 1);
	assert_int_equal(c.max_conns, 0);
	assert_false(c.backup);
	c = ok("add server web [::1]:80 name n1 weight 0 max_connections 500 "
	    "backup json");
	assert_string_equal(c.addr, "[::1]:80");
	assert_string_equal(c.server, "n1");
	assert_int_equal(c.weight, 0);
	assert_int_equal(c.max_conns, 500);
	assert_true(c.backup);
	assert_true(c.json);
	c = ok("del server web/n1");
	assert_int_equal(c.verb, ADM_DEL_SERVER);
	assert_string_equal(c.pool, "web");
	assert_string_equal(c.server, "n1");
	bad("add server web", "usage: add server POOL ADDRESS [name N] "
	    "[weight W] [max_connections M] [backup]");
	bad("add pool web 1.2.3.4:5", "usage: add server POOL ADDRESS "
	    "[name N] [weight W] [max_connections M] [backup]");
	bad("add server web 1.2.3.4:5 weight", "'weight' needs a value "
	    "(usage: add server POOL ADDRESS [name N] [weight W] "
	    "[max_connections M] [backup])");
	bad("add server web 1.2.3.4:5 weight 257", "invalid weight '257' "
	    "(0-256)");
	bad("add server web 1.2.3.4:5 max_connections -1",
	    "invalid max_connections '-1' (0-10000000)");
	bad("add server web 1.2.3.4:5 name a/b",
	    "invalid name 'a/b': no '/' in a server name");
	bad("add server web 1.2.3.4:5 port 8", "unexpected 'port' (usage: "
	    "add server POOL ADDRESS [name N] [weight W] [max_connections M] "
	    "[backup])");
	bad("del server web", "expected POOL/SERVER, got 'web'");
	bad("del server web/a x", "unexpected 'x' (usage: del server "
	    "POOL/SERVER)");
	bad("del web/a", "usage: del server POOL/SERVER");
}

static void
test_show(void **state)
{
	struct admin_cmd c;

	(void)state;
	c = ok("show info");
	assert_int_equal(c.verb, ADM_SHOW_INFO);
	assert_false(c.json);
	c = ok("show info json\n");
	assert_int_equal(c.verb, ADM_SHOW_INFO);
	assert_true(c.json);
	c = ok("  show\tlisteners  \r\n");
	assert_int_equal(c.verb, ADM_SHOW_LISTENERS);
	assert_int_equal(ok("show pools json").verb, ADM_SHOW_POOLS);
	c = ok("show servers");
	assert_int_equal(c.verb, ADM_SHOW_SERVERS);
	assert_string_equal(c.pool, "");
	c = ok("show servers web json");
	assert_string_equal(c.pool, "web");
	assert_true(c.json);
	c = ok("show sessions");
	assert_int_equal(c.verb, ADM_SHOW_SESSIONS);
	c = ok("show sessions web");
	assert_string_equal(c.pool, "web");
	assert_string_equal(c.server, "");
	c = ok("show sessions web/10.0.0.1:80");
	assert_string_equal(c.pool, "web");
	assert_string_equal(c.server, "10.0.0.1:80");
	/* "json" is the last word only */
	c = ok("show servers json");
	assert_string_equal(c.pool, "");
	assert_true(c.json);
}

static void
test_set(void **state)
{
	struct admin_cmd c;

	(void)state;
	c = ok("set server web/app2 state drain");
	assert_int_equal(c.verb, ADM_SET_STATE);
	assert_string_equal(c.pool, "web");
	assert_string_equal(c.server, "app2");
	assert_int_equal(c.state, SRV_ADMIN_DRAIN);
	assert_int_equal(ok("set server a/b state maint").state, SRV_ADMIN_MAINT);
	assert_int_equal(ok("set server a/b state ready json").state, SRV_ADMIN_READY);
	/* a server named by its address: the first '/' splits */
	c = ok("set server web/[::1]:80 weight 0");
	assert_int_equal(c.verb, ADM_SET_WEIGHT);
	assert_string_equal(c.server, "[::1]:80");
	assert_int_equal(c.weight, 0);
	assert_int_equal(ok("set server web/x weight 256").weight, 256);
	c = ok("shutdown sessions server web/app2");
	assert_int_equal(c.verb, ADM_SHUTDOWN_SESSIONS);
	assert_string_equal(c.server, "app2");
	/* Names as the text answers show them (sbuf_field) are decoded. */
	c = ok("set server my\\x20pool/a\\x20b state drain");
	assert_string_equal(c.pool, "my pool");
	assert_string_equal(c.server, "a b");
	c = ok("set server p/a\\\\x20b state drain");
	assert_string_equal(c.server, "a\\x20b");
	c = ok("show servers caf\xc3\xa9");
	assert_string_equal(c.pool, "caf\xc3\xa9");
}

static void
test_instance(void **state)
{
	struct admin_cmd c;

	(void)state;
	assert_int_equal(ok("help").verb, ADM_HELP);
	assert_int_equal(ok("reload").verb, ADM_RELOAD);
	assert_int_equal(ok("check").verb, ADM_CHECK);
	assert_int_equal(ok("undrain").verb, ADM_UNDRAIN);
	c = ok("drain");
	assert_int_equal(c.verb, ADM_DRAIN);
	assert_false(c.has_deadline);
	c = ok("drain --deadline 30s");
	assert_true(c.has_deadline);
	assert_int_equal(c.deadline_ms, 30000);
	c = ok("drain deadline 1.5s json");
	assert_int_equal(c.deadline_ms, 1500);
	assert_true(c.json);
}

static void
test_rejects(void **state)
{
	char big[600];

	(void)state;
	bad("", "empty command; try 'help'");
	bad("  \r\n", "empty command; try 'help'");
	bad("json", "empty command; try 'help'");
	bad("frob", "unknown command 'frob'; try 'help'");
	bad("frob\xff", "unknown command 'frob?'; try 'help'");
	bad("show", "show what? (info, listeners, pools, servers [POOL], sessions [POOL[/SERVER]])");
	bad("show cats", "unknown 'show cats' (info, listeners, pools, servers [POOL], sessions [POOL[/SERVER]])");
	bad("show info now", "unexpected 'now' (usage: show info)");
	bad("show servers a/b", "expected POOL, got 'a/b' (usage: show servers [POOL])");
	bad("show sessions /b", "expected POOL/SERVER, got '/b'");
	bad("show sessions a/", "expected POOL/SERVER, got 'a/'");
	bad("set server web state drain", "expected POOL/SERVER, got 'web'");
	bad("set server web/a", "usage: set server POOL/SERVER state ready|drain|maint, or set server POOL/SERVER weight N");
	bad("set pool web/a state drain", "usage: set server POOL/SERVER state ready|drain|maint, or set server POOL/SERVER weight N");
	bad("set server web/a state up", "invalid state 'up' (ready, drain or maint)");
	bad("set server web/a weight -1", "invalid weight '-1' (0-256)");
	bad("set server web/a weight 257", "invalid weight '257' (0-256)");
	bad("set server web/a weight 1x", "invalid weight '1x' (0-256)");
	bad("set server web/a colour red", "cannot set 'colour' (state or weight)");
	bad("shutdown sessions web/a", "usage: shutdown sessions server POOL/SERVER");
	bad("drain --deadline", "--deadline needs a duration (usage: drain [--deadline DURATION])");
	bad("drain --deadline soon", "invalid --deadline 'soon': unknown unit (expected a number with an optional unit: ms, s, m or h)");
	/* found by fuzz_admin: the duration parser repeats raw bytes */
	bad("drain --deadline 3\xd6", "invalid --deadline '3?': unknown unit '?' (ms, s, m or h)");
	bad("drain now", "unexpected 'now' (usage: drain [--deadline DURATION])");
	bad("reload now", "unexpected 'now' (usage: reload)");
	bad("show\x01info", "invalid byte 0x01 at column 5");
	bad("show info\n\n", "invalid byte 0x0a at column 10");
	bad("a b c d e f g h i j k l m", "too many words (at most 12); try 'help'");
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	bad(big, "word 1 is longer than 255 bytes");
	big[100] = '\0';
	bad(big, "unknown command 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'; try 'help'");
}

static void
test_small_err(void **state)
{
	struct admin_cmd c;
	char err[8];

	(void)state;
	assert_int_equal(admin_cmd_parse("frobnicate", 10, &c, err, sizeof(err)), -1);
	assert_non_null(memchr(err, '\0', sizeof(err)));
	/* not NUL-terminated input: only len bytes are read */
	assert_int_equal(admin_cmd_parse("checkXXXX", 5, &c, err, sizeof(err)), 0);
	assert_int_equal(c.verb, ADM_CHECK);
	assert_string_equal(admin_state_name(SRV_ADMIN_MAINT), "maint");
	assert_string_equal(admin_state_name(42), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_show),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_instance),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_add_del),
		cmocka_unit_test(test_small_err),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
