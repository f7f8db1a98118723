/*
 * ctl: the admin client.  Joins its arguments into one command line, sends
 * it to the admin socket, copies the answer to stdout, and exits 0, or 1 when
 * the answer is an error ("error: ..." or {"error": ...}) or the socket cannot
 * be reached, 64 on a usage error.  `check` is made for keepalived's
 * track_script and routing daemons' check scripts: the exit status is the
 * answer.
 *
 * The socket path: -s PATH, else global.admin_socket of the configuration
 * file (-c FILE, default the packaged one), else /run/tcplb/admin.sock.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <yaml.h>

#include "control/admin_cmd.h"
#include "config/config.h"
#include "control/ctl.h"

#define CTL_DEFAULT_SOCKET "/run/tcplb/admin.sock"
#define CTL_TIMEOUT_S 120	/* a reload resolves host names: allow for DNS */
#define EXIT_USAGE 64

static void
ctl_usage(FILE *f)
{
	fprintf(f,
	    "Usage: tcplb ctl [-s SOCKET] [-c CONFIG] COMMAND...\n"
	    "\n"
	    "Send one command to a running tcplb's admin socket and print the answer.\n"
	    "Exit status 0, or 1 when the answer is an error (or tcplb cannot be\n"
	    "reached), 64 on a usage error.\n"
	    "\n"
	    "  -s, --socket PATH   admin socket (default: global.admin_socket of the\n"
	    "                      configuration file, else %s)\n"
	    "  -c, --config FILE   configuration file to take the socket from\n"
	    "                      (default %s)\n"
	    "  -h, --help          this help\n"
	    "\n"
	    "Commands:\n%s",
	    CTL_DEFAULT_SOCKET, CONFIG_DEFAULT_PATH, admin_cmd_help());
}

/* global.admin_socket of a YAML file, or NULL (missing, unreadable, not
 * set: the caller falls back to the default; tcplb -t reports errors). */
static char *
ctl_socket_from_config(const char *path)
{
	yaml_parser_t p;
	yaml_document_t d;
	yaml_node_t *root, *global = NULL;
	char *out = NULL;
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		return NULL;
	if (!yaml_parser_initialize(&p)) {
		fclose(f);
		return NULL;
	}
	yaml_parser_set_input_file(&p, f);
	if (!yaml_parser_load(&p, &d)) {
		yaml_parser_delete(&p);
		fclose(f);
		return NULL;
	}
	root = yaml_document_get_root_node(&d);
	for (int pass = 0; pass < 2 && root; pass++) {
		yaml_node_t *map = pass == 0 ? root : global;

		if (map == NULL || map->type != YAML_MAPPING_NODE)
			break;
		for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
		    pr < map->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(&d, pr->key);
			yaml_node_t *v = yaml_document_get_node(&d, pr->value);
			const char *want = pass == 0 ? "global" : "admin_socket";

			if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE ||
			    strcmp((char *)k->data.scalar.value, want) != 0)
				continue;
			if (pass == 0)
				global = v;
			else if (v->type == YAML_SCALAR_NODE && v->data.scalar.length > 0)
				out = strdup((char *)v->data.scalar.value);
			break;
		}
	}
	yaml_document_delete(&d);
	yaml_parser_delete(&p);
	fclose(f);
	return out;
}

int
ctl_main(int argc, char **argv)
{
	const char *sock = NULL, *config = NULL;
	char *from_config = NULL;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { CTL_TIMEOUT_S, 0 };
	char *line = NULL, buf[65536];
	size_t len = 0, got = 0;
	bool is_error = false, first = true;
	int i, fd, status = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			ctl_usage(stdout);
			return 0;
		}
		if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0 ||
		    strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "tcplb ctl: option '%s' needs an argument\n", a);
				return EXIT_USAGE;
			}
			if (a[1] == 's' || a[2] == 's')
				sock = argv[++i];
			else
				config = argv[++i];
			continue;
		}
		if (strncmp(a, "--socket=", 9) == 0) {
			sock = a + 9;
			continue;
		}
		if (strncmp(a, "--config=", 9) == 0) {
			config = a + 9;
			continue;
		}
		if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "tcplb ctl: unknown option '%s'\n"
			    "Try 'tcplb ctl --help' for more information.\n", a);
			return EXIT_USAGE;
		}
		break;
	}
	if (i >= argc) {
		fprintf(stderr, "tcplb ctl: no command given\n"
		    "Try 'tcplb ctl --help' for more information.\n");
		return EXIT_USAGE;
	}
	for (int k = i; k < argc; k++)
		len += strlen(argv[k]) + 1;
	if (len >= ADMIN_LINE_MAX) {
		fprintf(stderr, "tcplb ctl: command longer than %d bytes\n", ADMIN_LINE_MAX - 1);
		return EXIT_USAGE;
	}
	line = malloc(len + 1);
	if (line == NULL)
		return 1;
	line[0] = '\0';
	for (int k = i; k < argc; k++) {
		strcat(line, argv[k]);
		strcat(line, k + 1 < argc ? " " : "\n");
	}
	if (sock == NULL) {
		from_config = ctl_socket_from_config(config ? config : CONFIG_DEFAULT_PATH);
		sock = from_config ? from_config : CTL_DEFAULT_SOCKET;
	}
	if (strlen(sock) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "tcplb ctl: socket path too long: %s\n", sock);
		free(line);
		free(from_config);
		return EXIT_USAGE;
	}
	memcpy(sun.sun_path, sock, strlen(sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "tcplb ctl: cannot connect to %s: %s\n", sock, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(line);
		free(from_config);
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0) {
		fprintf(stderr, "tcplb ctl: cannot send to %s: %s\n", sock, strerror(errno));
		status = 1;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "tcplb ctl: reading the answer from %s: %s\n", sock,
			    errno == EAGAIN ? "timed out" : strerror(errno));
			status = 1;
			break;
		}
		if (n == 0)
			break;
		if (first) {
			first = false;
			is_error = (n >= 6 && memcmp(buf, "error:", 6) == 0) ||
			    (n >= 9 && memcmp(buf, "{\"error\"", 8) == 0);
		}
		got += (size_t)n;
		fwrite(buf, 1, (size_t)n, is_error ? stderr : stdout);
	}
	if (got == 0 && status == 0) {
		fprintf(stderr, "tcplb ctl: %s closed the connection without an answer\n", sock);
		status = 1;
	}
	if (is_error)
		status = 1;
out:
	fflush(stdout);
	close(fd);
	free(line);
	free(from_config);
	return status;
}
