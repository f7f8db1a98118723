/*
 * peers: the shared board of draining predecessors (see peers.h).  A slot
 * is claimed by a compare-and-swap of its pid from 0; its owner writes the
 * figures, readers load them and skip a pid that no longer lives (a
 * process killed by SIGKILL never frees its slot: the reader does).
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "stats/peers.h"

#define PEERS_MAGIC 0x7463706cU	/* "tcpl" */

struct slot {
	atomic_int pid;		/* 0: free */
	atomic_uint active;
	atomic_uint_fast64_t total;
	char admin[PEERS_PATH_MAX];	/* written before pid is published */
};

struct board {
	uint32_t magic;
	uint32_t nslots;
	struct slot slot[PEERS_MAX];
};

atomic_uint peers_active;
static struct board *board;
static int board_fd = -1;
static struct slot *mine;

void
peers_init(int fd)
{
	struct stat sb;
	bool fresh = fd < 0;

	if (fresh) {
		fd = memfd_create("tcplb-peers", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, sizeof(struct board)) < 0) {
			if (fd >= 0)
				close(fd);
			log_debug("no board for upgrades (memfd: %s)", strerror(errno));
			return;
		}
	} else if (fstat(fd, &sb) < 0 || (size_t)sb.st_size < sizeof(struct board)) {
		/* From an older or other peer: start a new one. */
		close(fd);
		peers_init(-1);
		return;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	board = mmap(NULL, sizeof(*board), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (board == MAP_FAILED) {
		board = NULL;
		close(fd);
		return;
	}
	if (fresh) {
		board->magic = PEERS_MAGIC;
		board->nslots = PEERS_MAX;
	} else if (board->magic != PEERS_MAGIC || board->nslots != PEERS_MAX) {
		munmap(board, sizeof(*board));
		board = NULL;
		close(fd);
		peers_init(-1);
		return;
	}
	board_fd = fd;
}

int
peers_fd(void)
{
	return board_fd;
}

void
peers_publish(unsigned active, uint64_t total, const char *admin)
{
	int me = (int)getpid();

	if (board == NULL)
		return;
	if (mine == NULL) {
		for (unsigned i = 0; i < PEERS_MAX && mine == NULL; i++) {
			struct slot *s = &board->slot[i];
			int p = atomic_load(&s->pid);

			/* A dead owner's slot is free too. */
			if (p != 0 && p != me && proc_alive(p))
				continue;
			if (!atomic_compare_exchange_strong(&s->pid, &p, -1))
				continue;
			snprintf(s->admin, sizeof(s->admin), "%s", admin ? admin : "");
			mine = s;
		}
		if (mine == NULL) {
			log_warnx("binary upgrade: %d processes drain already; this one is not shown in show info",
			    PEERS_MAX);
			board = NULL;
			return;
		}
	}
	atomic_store(&mine->active, active);
	atomic_store(&mine->total, total);
	atomic_store(&mine->pid, me);
}

void
peers_leave(void)
{
	if (mine) {
		atomic_store(&mine->active, 0);
		atomic_store(&mine->pid, 0);
		mine = NULL;
	}
}

unsigned
peers_refresh(struct peer_info *out, unsigned max)
{
	unsigned n = 0, sum = 0;
	int me = (int)getpid();

	for (unsigned i = 0; board && i < PEERS_MAX; i++) {
		struct slot *s = &board->slot[i];
		int p = atomic_load(&s->pid);

		if (p <= 0 || p == me)
			continue;
		if (!proc_alive(p)) {
			/* Killed without leaving: free its slot. */
			atomic_compare_exchange_strong(&s->pid, &p, 0);
			continue;
		}
		sum += atomic_load(&s->active);
		if (out && n < max) {
			out[n].pid = p;
			out[n].active = atomic_load(&s->active);
			out[n].total = atomic_load(&s->total);
			memcpy(out[n].admin, s->admin, sizeof(out[n].admin));
			out[n].admin[sizeof(out[n].admin) - 1] = '\0';
		}
		n++;
	}
	atomic_store(&peers_active, sum);
	return n;
}
