/*
 * main: the command line, the choice between quick mode (backends on the
 * command line), file mode and --check, exit statuses (0, 1, 64, 78), the
 * start-up order (load, bind, start workers, READY=1) and the signals, which
 * are handled on the main loop only: SIGHUP reloads, SIGUSR2 upgrades the
 * binary (upgrade.c), SIGTERM/SIGINT drain and exit, a second one exits at
 * once.  Also the new process's side of a binary upgrade: restore the
 * state, then take over as the main process before READY=1.
 */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ev.h>

#include "control/admin.h"
#include "config/config.h"
#include "control/ctl.h"
#include "dgram/dgram.h"
#include "config/gen.h"
#include "health/health.h"
#include "relay/listener.h"
#include "base/log.h"
#include "control/metrics.h"
#include "service/reload.h"
#include "dns/resolve.h"
#include "service/service.h"
#include "service/transparent.h"
#include "stats/peers.h"
#include "stats/stats.h"
#include "service/upgrade.h"
#include "service/wiring.h"
#include "base/util.h"
#include "relay/worker.h"
#include "relay/workers.h"

#define EXIT_USAGE 64		/* EX_USAGE */
#define EXIT_CONFIG 78		/* EX_CONFIG */
#define DRAIN_POLL_S 0.05
/* A package's own version, e.g. -DTCPLB_VENDOR_VERSION=0.1.0-1 (debian/rules):
 * `tcplb -V` then tells two builds of one release apart. */
#define STR_(x) #x
#define STR(x) STR_(x)

#define PEERS_POLL_S 0.25

static ev_signal sig_hup, sig_term, sig_int, sig_usr2;
static ev_timer drain_timer, peers_timer;
static ev_tstamp drain_deadline;	/* 0: none (upgrade_timeout unlimited) */
static bool stopping;
static bool upgrade_draining;	/* handed over; no SIGTERM yet */
static bool handed_over_once;	/* on the board of draining processes */

static void
usage(FILE *f)
{
	fprintf(f,
	    "Usage: tcplb [OPTIONS] [BACKEND...]\n"
	    "       tcplb ctl [-s SOCKET] COMMAND...   (see 'tcplb ctl --help')\n"
	    "\n"
	    "A TCP (layer 4) load balancer.  With BACKEND arguments (HOST:PORT or\n"
	    "[IPv6]:PORT) it runs in quick mode: it listens on --listen, prints\n"
	    "\"listening on IP:PORT\" and spreads connections over the backends.\n"
	    "Without them it reads its configuration file.\n"
	    "\n"
	    "Options:\n"
	    "  -c, --config FILE     configuration file (default %s)\n"
	    "  -t, --check           validate the configuration and exit\n"
	    "  -l, --listen ADDR     quick mode: address to listen on (default 127.0.0.1:0)\n"
	    "  -b, --balance ALG     quick mode: roundrobin, leastconn, source, maglev,\n"
	    "                        random, first\n"
	    "  -w, --workers N       event-loop threads, or auto (one per CPU; default)\n"
	    "      --udp             quick mode: balance UDP datagrams (flows) instead of\n"
	    "                        TCP connections\n"
	    "      --log-target T    auto, journal or stderr (default auto)\n"
	    "  -v, --verbose         debug logging\n"
	    "  -V, --version         print the version and exit\n"
	    "  -h, --help            print this help and exit\n"
	    "\n"
	    "Signals: SIGHUP reloads the configuration, SIGUSR2 starts the binary now\n"
	    "installed at this path and hands the listening sockets over to it (binary\n"
	    "upgrade), SIGTERM/SIGINT drain and stop.\n"
	    "See tcplb(8) and tcplb.yaml(5).\n",
	    CONFIG_DEFAULT_PATH);
}

static void
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tcplb: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'tcplb --help' for more information.\n");
	exit(EXIT_USAGE);
}

/* Raise the soft descriptor limit to the hard one (and the hard one too
 * when privileged and it is short): the usual soft limit of 1024 would cap
 * tcplb at a few hundred clients. */
static void
raise_nofile(uint32_t max_conns)
{
	struct rlimit rl;
	/* Two sockets per session, plus up to two pipes when both of its
	 * directions are spliced. */
	rlim_t want = max_conns ? (rlim_t)max_conns * 6 + 1024 : 1048576;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		struct rlimit hard = { want, want };

		if (setrlimit(RLIMIT_NOFILE, &hard) == 0) {
			rl = hard;
		}
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the open files limit to %llu",
			    (unsigned long long)rl.rlim_max);
	}
	if (max_conns && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		log_warnx("open files limit %llu is below the %llu that max_connections %u needs",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)want, max_conns);
}

/* Configuration errors: bare "FILE:LINE:COL: message" lines for a person
 * at a terminal; records at priority err when a journal reads us (under
 * systemd, `tcplb -t` in ExecStartPre included), so that
 * `journalctl -p err` shows them.  --check prints every one, as promised;
 * a start the first CONFIG_ERRORS_SHOWN. */
static void
print_errors(const struct config_errors *e, bool all)
{
	config_errors_report(e, log_is_journal() || getenv("JOURNAL_STREAM") != NULL,
	    all ? SIZE_MAX : CONFIG_ERRORS_SHOWN);
}

static void
finish_stop(void)
{
	struct ev_loop *loop = EV_DEFAULT;

	ev_timer_stop(loop, &drain_timer);
	/* Before the workers: the page thread reads their counters, and
	 * the checker may queue an on_down task to them. */
	metrics_stop();
	health_stop();
	ev_timer_stop(loop, &peers_timer);
	peers_leave();
	workers_stop();
	/* After the workers: an admin task may still point at a client. */
	admin_stop();
	ev_signal_stop(loop, &sig_hup);
	ev_signal_stop(loop, &sig_term);
	ev_signal_stop(loop, &sig_int);
	ev_signal_stop(loop, &sig_usr2);
	service_stop_timers(loop);
	ev_break(loop, EVBREAK_ALL);
}

static void
drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	/* UDP flows that still expect an answer (`responses`) count too:
	 * a query in flight at SIGTERM or an upgrade gets its reply. */
	unsigned active = atomic_load(&tcplb_active) + dgram_awaiting();
	unsigned answering = 0;

	if (handed_over_once) {
		peers_publish(active, stats_total_sessions(), admin_own_path());
		/* Scrapes accepted before the handover, and admin commands
		 * that found our socket before the new process took the
		 * path, are answered before we exit. */
		answering = metrics_answering() + admin_answering();
	}
	/* A stopping main process waits for its draining predecessor (the
	 * unit ends with it); a process draining after its own upgrade does
	 * not. */
	if (active == 0 && answering == 0 &&
	    (upgrade_draining || !upgrade_predecessor_alive())) {
		log_notice("all connections finished");
		finish_stop();
		return;
	}
	if (drain_deadline > 0 && ev_now(loop) >= drain_deadline) {
		log_notice("%s: closing %u remaining connection%s",
		    upgrade_draining ? "upgrade_timeout" : "shutdown timeout",
		    active, active == 1 ? "" : "s");
		finish_stop();
	}
}

static void
drained_cb(struct gen *unused)
{
	/* No worker watches a listening socket any more: closing is safe.
	 * UDP sockets stay until the workers stop: open flows still send
	 * their replies from them (a closed one's number could be reused). */
	listener_close_streams();
}

/* Does a pool act on its servers' sessions when a check changes their
 * state?  Then checks go on while the sessions drain. */
static bool
gen_acts_on_sessions(const struct gen *g)
{
	for (uint32_t i = 0; i < g->npools; i++)
		if (g->pools[i].health.enabled && (g->pools[i].on_down_shutdown ||
		    g->pools[i].on_up_shutdown_backup))
			return true;
	return false;
}

/* Stop accepting and drain: on SIGTERM/SIGINT, and in the old process
 * once a binary upgrade has handed over (then service_stopping() says
 * nothing: the unit's main process is the new one). */
static void
start_drain(struct ev_loop *loop, const char *why, bool upgrade)
{
	struct gen *g = gen_current();
	uint64_t ms = upgrade ? g->global.upgrade_timeout_ms : g->global.shutdown_timeout_ms;
	unsigned active;
	char limit[64];

	stopping = true;
	upgrade_draining = upgrade;
	handed_over_once = upgrade;
	if (upgrade) {
		/* On the board at once: the new process's `show info` and
		 * max_connections count our sessions from its first moment. */
		peers_publish(atomic_load(&tcplb_active), stats_total_sessions(),
		    admin_own_path());
		admin_set_handed_over();
	} else {
		admin_set_stopping();
	}
	reload_cancel();
	upgrade_cancel();
	if (!upgrade)
		service_stopping(g->global.shutdown_timeout_ms);
	else
		/* The metrics port is the new process's now (it took the
		 * socket); this one's figures are in its `show info`.  It
		 * still answers the scrapes it accepted (drain_cb waits). */
		metrics_handed_over();
	/* The sessions still open are this process's alone (after an
	 * upgrade the new process knows nothing of them): if a pool resets
	 * a downed server's sessions (on_down), keep checking until they
	 * end, or a client could write on to a demoted database primary for
	 * all of shutdown_timeout.  Otherwise checks decide nothing now. */
	if (!gen_acts_on_sessions(g))
		health_stop();
	resolve_stop();
	active = atomic_load(&tcplb_active);
	if (ms == UINT64_MAX)
		snprintf(limit, sizeof(limit), "until they finish (upgrade_timeout unlimited)");
	else
		snprintf(limit, sizeof(limit), "up to %.1fs", (double)ms / 1000.0);
	log_notice("%s: no longer accepting; waiting %s for %u connection%s",
	    why, limit, active, active == 1 ? "" : "s");
	workers_drain(drained_cb);
	drain_deadline = ms == UINT64_MAX ? 0 : ev_now(loop) + (double)ms / 1000.0;
	ev_timer_init(&drain_timer, drain_cb, 0., DRAIN_POLL_S);
	ev_timer_again(loop, &drain_timer);
}

static void
stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	if (stopping && upgrade_draining) {
		/* Draining after an upgrade, now the unit stops (the new
		 * main process passed its SIGTERM on): the stop's limit,
		 * shutdown_timeout, applies from here. */
		struct gen *g = gen_current();
		ev_tstamp d = ev_now(loop) + (double)g->global.shutdown_timeout_ms / 1000.0;

		upgrade_draining = false;
		if (drain_deadline == 0 || d < drain_deadline)
			drain_deadline = d;
		log_notice("%s while draining after an upgrade: closing what is still open in %.1fs",
		    strsignal(w->signum), drain_deadline - ev_now(loop));
		upgrade_signal_predecessor(w->signum);
		return;
	}
	if (stopping) {
		log_notice("second %s: exiting now", strsignal(w->signum));
		finish_stop();
		return;
	}
	/* A stop ends the old processes still draining after upgrades too
	 * (each passes it on to its own predecessor): within
	 * shutdown_timeout, not at systemd's SIGKILL. */
	upgrade_signal_predecessor(w->signum);
	start_drain(loop, strsignal(w->signum), false);
}

static void
handed_over(void)
{
	start_drain(EV_DEFAULT, "binary upgrade done", true);
}

/* The draining predecessors' sessions count in the global
 * max_connections and show in `show info` (peers.h). */
static void
peers_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	peers_refresh(NULL, 0);
}

static void
usr2_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	if (stopping) {
		log_notice("SIGUSR2 ignored: stopping");
		return;
	}
	upgrade_request(gen_current());
}

static void
hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	if (stopping)
		return;
	/* During an upgrade, passed to the new process (and done here only
	 * if the upgrade fails). */
	if (upgrade_note_reload())
		return;
	reload_request();
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 't' },
		{ "listen", required_argument, NULL, 'l' },
		{ "balance", required_argument, NULL, 'b' },
		{ "workers", required_argument, NULL, 'w' },
		{ "udp", no_argument, NULL, 'U' },
		{ "log-target", required_argument, NULL, 'T' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct quick_opts q = { 0 };
	struct config_errors errs = { 0 };
	const char *config_path = NULL;
	const char *log_target_arg = "auto";
	enum log_target target;
	bool check = false, verbose = false, upgrading;
	struct ev_loop *loop;
	struct gen *g;
	unsigned nworkers;
	char err[512];
	int c;

	/* `tcplb ctl ...`: the admin client, in the same binary. */
	if (argc > 1 && strcmp(argv[1], "ctl") == 0)
		return ctl_main(argc - 1, argv + 1);

	/* Our own messages: getopt's name the program by its full path. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:tl:b:w:vVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 't': check = true; break;
		case 'l': q.listen = optarg; break;
		case 'b': q.balance = optarg; break;
		case 'w': q.workers = optarg; break;
		case 'U': q.udp = true; break;
		case 'T': log_target_arg = optarg; break;
		case 'v': verbose = true; break;
		case 'V':
#ifdef TCPLB_VENDOR_VERSION
			printf("tcplb %s (%s)\n", PACKAGE_VERSION, STR(TCPLB_VENDOR_VERSION));
#else
			printf("tcplb %s\n", PACKAGE_VERSION);
#endif
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			usage_error("option '%s' needs an argument", argv[optind - 1]);
			break;
		default: {
			const char *arg = argv[optind - 1];
			const char *eq = strchr(arg, '=');

			if (strncmp(arg, "--", 2) != 0)
				usage_error("unknown option '-%c'", optopt);
			if (optopt && eq)
				usage_error("option '%.*s' takes no argument",
				    (int)(eq - arg), arg);
			usage_error("unknown or ambiguous option '%s'", arg);
			break;
		}
		}
	}
	if (log_target_parse(log_target_arg, &target) < 0)
		usage_error("invalid --log-target '%s' (auto, journal, stderr)", log_target_arg);
	q.backends = argv + optind;
	q.nbackends = argc - optind;
	if (q.nbackends > 0 && config_path != NULL)
		usage_error("BACKEND arguments (quick mode) and --config '%s' exclude each other",
		    config_path);
	if (q.nbackends == 0 && (q.listen || q.balance || q.udp))
		usage_error("--%s needs BACKEND arguments (quick mode); in a configuration file use listeners and pools",
		    q.listen ? "listen" : q.balance ? "balance" : "udp");

	log_init(target, verbose ? LOG_DEBUG : LOG_INFO);
	wiring_install();
	/* The new process of a binary upgrade (started by SIGUSR2). */
	upgrading = !check && upgrade_child_begin();
	/* A client that vanishes mid-write must cost an EPIPE, not the
	 * process. */
	signal(SIGPIPE, SIG_IGN);

	if (q.nbackends > 0) {
		bool usage = false;

		g = config_quick(&q, &errs, &usage);
		if (g == NULL) {
			for (size_t i = 0; i < errs.n; i++)
				fprintf(stderr, "tcplb: %s\n", errs.msg[i]);
			/* A host name that does not resolve is not a misuse
			 * of the command line: no usage hint, and the status
			 * a file whose host does not resolve gets. */
			if (usage)
				fprintf(stderr, "Try 'tcplb --help' for more information.\n");
			config_errors_free(&errs);
			return usage ? EXIT_USAGE : EXIT_CONFIG;
		}
	} else {
		int workers = -1;

		if (config_path == NULL) {
			config_path = CONFIG_DEFAULT_PATH;
			if (access(config_path, F_OK) < 0 && errno == ENOENT) {
				/* Not a usage error: the command line is fine,
				 * the configuration is missing (78, as for
				 * -c with a missing file). */
				fprintf(stderr, "tcplb: no configuration file %s "
				    "(give -c FILE, or BACKEND arguments for "
				    "quick mode)\n", config_path);
				return EXIT_CONFIG;
			}
		}
		if (q.workers) {
			uint64_t n;

			if (strcmp(q.workers, "auto") == 0)
				workers = 0;
			else if (parse_uint(q.workers, 1024, &n) == 0 && n > 0)
				workers = (int)n;
			else
				usage_error("invalid --workers '%s' (auto or 1-1024)", q.workers);
		}
		if (upgrading)
			upgrade_child_added();
		g = config_load_file(config_path, &errs);
		if (g == NULL) {
			print_errors(&errs, check);
			if (check)
				fprintf(stderr, "%zu error%s in %s\n", errs.n,
				    errs.n == 1 ? "" : "s", config_path);
			config_errors_free(&errs);
			return EXIT_CONFIG;
		}
		/* Overrides stay in force across reloads. */
		if (workers >= 0)
			g->global.workers = (unsigned)workers;
		reload_set_overrides(verbose, workers);
	}
	config_errors_free(&errs);
	if (check) {
		printf("configuration OK\n");
		gen_put(g);
		return 0;
	}
	if (!verbose)
		log_set_level(g->global.log_level);
	if (upgrading)
		upgrade_child_restore(g);
	else
		peers_init(-1);

	raise_nofile(g->global.max_conns);
	nworkers = g->global.workers ? g->global.workers : workers_auto_count();
	{
		int *fds;
		char **names;
		int n = service_listen_fds(&fds, &names);

		/* The previous process's metrics socket is not a listener's. */
		for (int i = 0; i < n; i++) {
			if (names && names[i] &&
			    strcmp(names[i], UPGRADE_FDNAME_METRICS) == 0) {
				metrics_set_inherited(fds[i]);
				free(names[i]);
				memmove(&fds[i], &fds[i + 1], (size_t)(n - i - 1) * sizeof(int));
				memmove(&names[i], &names[i + 1], (size_t)(n - i) * sizeof(char *));
				n--;
				i--;
			}
		}
		if (n > 0)
			listener_set_inherited(fds, names, (unsigned)n);
		free(fds);
		service_free_names(names);
	}
	if (transparent_check(g, err, sizeof(err)) < 0 ||
	    listener_prepare(g, nworkers, err, sizeof(err)) < 0) {
		log_errx("%s", err);
		gen_put(g);
		return 1;
	}
	listener_warn_unused_inherited();
	/* Again, now that the groups no listener binds any more are out of
	 * the fd store: at FileDescriptorStoreMax the first round may have
	 * been refused for the last few (systemd ignores duplicates). */
	if (!upgrading)
		listener_fdstore_all();

	loop = EV_DEFAULT;
	stats_init(nworkers);
	stats_attach(g);
	if ((g->global.admin_socket &&
	    admin_start(loop, g->global.admin_socket, upgrading, err, sizeof(err)) < 0) ||
	    (g->global.metrics &&
	    metrics_start(loop, g->global.metrics, upgrading && upgrade_predecessor_legacy(),
	    err, sizeof(err)) < 0)) {
		log_errx("%s", err);
		admin_stop();
		listener_close_all();
		gen_put(g);
		return 1;
	}
	if (workers_start(loop, nworkers, g) < 0) {
		listener_close_all();
		gen_put(g);
		return 1;
	}
	reload_init(loop, q.nbackends > 0 ? NULL : config_path, g);
	service_set_gen(g);

	ev_signal_init(&sig_hup, hup_cb, SIGHUP);
	ev_signal_start(loop, &sig_hup);
	ev_signal_init(&sig_term, stop_cb, SIGTERM);
	ev_signal_start(loop, &sig_term);
	ev_signal_init(&sig_int, stop_cb, SIGINT);
	ev_signal_start(loop, &sig_int);
	ev_signal_init(&sig_usr2, usr2_cb, SIGUSR2);
	ev_signal_start(loop, &sig_usr2);
	upgrade_init(loop, argv, handed_over);
	if (health_start(g) < 0) {
		workers_stop();
		listener_close_all();
		reload_shutdown();
		return 1;
	}
	resolve_init(loop, reload_dns_request);
	resolve_start(g, false);
	service_start_timers(loop);

	for (uint32_t i = 0; i < g->nlisteners; i++) {
		const struct listener *l = &g->listeners[i];
		char what[64];

		/* A routing listener without a pool closes what no route
		 * matches. */
		if (l->nroutes > 0)
			snprintf(what, sizeof(what), "%u route%s, ", l->nroutes,
			    l->nroutes == 1 ? "" : "s");
		else
			what[0] = '\0';
		for (uint32_t b = 0; b < l->nbinds; b++)
			log_notice("listener %s: listening on %s (%spool %s, %u worker%s)",
			    l->name, l->binds[b].ls->text, what,
			    l->pool ? l->pool->name : "none", nworkers,
			    nworkers == 1 ? "" : "s");
	}
	if (q.nbackends > 0 && !upgrading) {
		printf("listening on %s\n", g->listeners[0].binds[0].ls->text);
		fflush(stdout);
	}
	if (upgrading) {
		if (upgrade_child_handover(g) < 0) {
			health_stop();
			resolve_stop();
			/* Before the workers: the page thread reads their
			 * counters. */
			metrics_stop();
			workers_stop();
			/* Removes only our own PATH.PID: PATH is still the
			 * predecessor's. */
			admin_stop();
			listener_close_all();
			reload_shutdown();
			return 1;
		}
		log_notice("binary upgrade: tcplb %s serves now as the main process", PACKAGE_VERSION);
		/* Into systemd's fd store again: a predecessor that knew no
		 * fd store never put them there (duplicates are ignored). */
		listener_fdstore_all();
	}
	/* Only a process that serves puts its admin socket at the path. */
	admin_commit();
	ev_timer_init(&peers_timer, peers_cb, PEERS_POLL_S, PEERS_POLL_S);
	ev_timer_start(loop, &peers_timer);
	service_ready();

	ev_run(loop, 0);

	health_stop();
	resolve_stop();
	listener_close_all();
	reload_shutdown();
	log_notice("stopped");
	return 0;
}
