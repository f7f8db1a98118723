/*
 * buffer: ring buffer I/O with readv()/writev() so a wrapped ring still moves
 * in one system call, and the per-worker chunk pool that lets an idle
 * session hold no buffer memory at all.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/buffer.h"
#include "base/util.h"

/* The free space as up to two iovecs. */
static int
buffer_free_iov(struct buffer *b, struct iovec iov[2])
{
	uint32_t tail = (b->head + b->len) % b->size;
	uint32_t room = b->size - b->len;

	if (room == 0)
		return 0;
	if (tail >= b->head) {
		iov[0].iov_base = b->data + tail;
		iov[0].iov_len = b->size - tail;
		if (b->head == 0 || iov[0].iov_len >= room) {
			iov[0].iov_len = room;
			return 1;
		}
		iov[1].iov_base = b->data;
		iov[1].iov_len = room - iov[0].iov_len;
		return 2;
	}
	iov[0].iov_base = b->data + tail;
	iov[0].iov_len = room;
	return 1;
}

/* The held bytes as up to two iovecs. */
static int
buffer_data_iov(const struct buffer *b, struct iovec iov[2])
{
	uint32_t first;

	if (b->len == 0)
		return 0;
	first = b->size - b->head;
	if (first >= b->len) {
		iov[0].iov_base = b->data + b->head;
		iov[0].iov_len = b->len;
		return 1;
	}
	iov[0].iov_base = b->data + b->head;
	iov[0].iov_len = first;
	iov[1].iov_base = b->data;
	iov[1].iov_len = b->len - first;
	return 2;
}

static void
buffer_consume(struct buffer *b, uint32_t n)
{
	b->len -= n;
	/* Rewinding an emptied ring keeps the next read contiguous. */
	b->head = b->len ? (b->head + n) % b->size : 0;
}

ssize_t
buffer_read_fd(struct buffer *b, int fd)
{
	return buffer_read_fd_max(b, fd, SIZE_MAX);
}

ssize_t
buffer_read_fd_max(struct buffer *b, int fd, size_t max)
{
	struct iovec iov[2];
	int cnt = buffer_free_iov(b, iov);
	ssize_t n;

	if (cnt == 0 || max == 0) {
		errno = ENOBUFS;
		return -1;
	}
	if (iov[0].iov_len >= max) {
		iov[0].iov_len = max;
		cnt = 1;
	} else if (cnt == 2 && iov[0].iov_len + iov[1].iov_len > max) {
		iov[1].iov_len = max - iov[0].iov_len;
	}
	do {
		n = cnt == 1 ? read(fd, iov[0].iov_base, iov[0].iov_len)
			     : readv(fd, iov, cnt);
	} while (n < 0 && errno == EINTR);
	if (n > 0)
		b->len += (uint32_t)n;
	return n;
}

ssize_t
buffer_write_fd(struct buffer *b, int fd)
{
	return buffer_write_fd_flags(b, fd, 0);
}

ssize_t
buffer_write_fd_flags(struct buffer *b, int fd, int flags)
{
	struct iovec iov[2];
	int cnt = buffer_data_iov(b, iov);
	ssize_t n;

	if (cnt == 0)
		return 0;
	do {
		/* MSG_NOSIGNAL: a reset peer must yield EPIPE, never SIGPIPE. */
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };

		n = sendmsg(fd, &mh, MSG_NOSIGNAL | flags);
		if (n < 0 && errno == ENOTSOCK)
			n = writev(fd, iov, cnt);
	} while (n < 0 && errno == EINTR);
	if (n > 0)
		buffer_consume(b, (uint32_t)n);
	return n;
}

size_t
buffer_put(struct buffer *b, const void *p, size_t n)
{
	struct iovec iov[2];
	int cnt = buffer_free_iov(b, iov);
	size_t done = 0;

	for (int i = 0; i < cnt && done < n; i++) {
		size_t k = iov[i].iov_len < n - done ? iov[i].iov_len : n - done;

		memcpy(iov[i].iov_base, (const char *)p + done, k);
		done += k;
	}
	b->len += (uint32_t)done;
	return done;
}

size_t
buffer_prepend(struct buffer *b, const void *p, size_t n)
{
	uint32_t first;

	if (b->data == NULL || n > b->size - b->len)
		return 0;
	b->head = (b->head + b->size - (uint32_t)n) % b->size;
	first = b->size - b->head;
	if (first >= n) {
		memcpy(b->data + b->head, p, n);
	} else {
		memcpy(b->data + b->head, p, first);
		memcpy(b->data, (const char *)p + first, n - first);
	}
	b->len += (uint32_t)n;
	return n;
}

size_t
buffer_get(struct buffer *b, void *p, size_t n)
{
	struct iovec iov[2];
	int cnt = buffer_data_iov(b, iov);
	size_t done = 0;

	for (int i = 0; i < cnt && done < n; i++) {
		size_t k = iov[i].iov_len < n - done ? iov[i].iov_len : n - done;

		memcpy((char *)p + done, iov[i].iov_base, k);
		done += k;
	}
	buffer_consume(b, (uint32_t)done);
	return done;
}

void
bufpool_init(struct bufpool *p, size_t cap)
{
	p->free = cap ? xcalloc(cap, sizeof(*p->free)) : NULL;
	p->nfree = 0;
	p->cap = cap;
	p->out = 0;
}

void
bufpool_destroy(struct bufpool *p)
{
	for (size_t i = 0; i < p->nfree; i++)
		free(p->free[i]);
	free(p->free);
	p->free = NULL;
	p->nfree = p->cap = 0;
}

void
buffer_attach(struct buffer *b, struct bufpool *p)
{
	if (b->data != NULL)
		return;
	b->data = p->nfree ? p->free[--p->nfree] : xmalloc(BUFFER_SIZE);
	b->size = BUFFER_SIZE;
	b->head = b->len = 0;
	p->out++;
}

void
buffer_release(struct buffer *b, struct bufpool *p)
{
	if (b->data == NULL)
		return;
	if (p->nfree < p->cap)
		p->free[p->nfree++] = b->data;
	else
		free(b->data);
	p->out--;
	b->data = NULL;
	b->size = b->head = b->len = 0;
}

void
buffer_detach_if_empty(struct buffer *b, struct bufpool *p)
{
	if (b->data != NULL && b->len == 0)
		buffer_release(b, p);
}
