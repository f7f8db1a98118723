/*
 * wiring: hands the loader (config/) its name lookups (dns/) and the table
 * of runtime parts every generation carries (balance/ and edge/), and the
 * admin socket (control/) the service's reload, the listeners (relay/)
 * systemd's fd store, and the workers (relay/) the datagram path (dgram/),
 * so that none of them names a subsystem above it.
 * See wiring.h.
 */
#include "autoconfig.h"

#include "balance/pool.h"
#include "config/config.h"
#include "control/admin.h"
#include "dgram/dgram.h"
#include "dns/resolve.h"
#include "edge/guard.h"
#include "relay/listener.h"
#include "service/reload.h"
#include "service/service.h"
#include "service/wiring.h"

/* A listener's limit tables are sized from the global limit too. */
static int
wiring_parts_build(struct gen *g, char *err, size_t errlen)
{
	if (pool_parts_build(g, err, errlen) == -1)
		return -1;
	for (uint32_t i = 0; i < g->nlisteners; i++)
		guard_listener_prepare(&g->listeners[i], g->global.max_conns);
	return 0;
}

static const struct gen_parts wiring_parts = {
	.build = wiring_parts_build,
	.pool_follow = pool_parts_follow,
	.listener_follow = guard_inherit,
	.pool_free = pool_parts_free,
	.listener_free = guard_listener_free,
};

const struct gen_parts *
wiring_gen_parts(void)
{
	return &wiring_parts;
}

void
wiring_install(void)
{
	static const struct config_env env = {
		.lookup = resolve_sync,
		.parts = &wiring_parts,
	};

	static const struct admin_reloader reloader = {
		.has_file = reload_has_file,
		.in_progress = reload_in_progress,
		.request = reload_request,
		.servers_changed = reload_servers_request,
	};

	static const struct listener_keeper keeper = {
		.keep = service_fdstore_add,
		.forget = service_fdstore_remove,
	};

	config_install(&env);
	admin_install(&reloader);
	listener_install_keeper(&keeper);
	dgram_init();
}
