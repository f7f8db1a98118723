/*
 * buffer: a fixed-size ring of bytes between two sockets, filled with readv()
 * and drained with writev(), plus a per-worker free list of buffer memory so
 * an idle session holds none.  No event loop; works on any fd (tests use
 * socketpairs).
 */
#ifndef TCPLB_BUFFER_H
#define TCPLB_BUFFER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BUFFER_SIZE (64 * 1024)

struct buffer {
	char *data;		/* NULL while empty and detached */
	uint32_t size;
	uint32_t head;		/* offset of the first unread byte */
	uint32_t len;		/* bytes held */
};

static inline uint32_t buffer_len(const struct buffer *b) { return b->len; }
static inline uint32_t buffer_room(const struct buffer *b) { return b->data ? b->size - b->len : 0; }
static inline int buffer_empty(const struct buffer *b) { return b->len == 0; }
static inline int buffer_full(const struct buffer *b) { return b->data && b->len == b->size; }

/* Read from fd into the free space: returns bytes read, 0 on EOF,
 * -1 with errno (EAGAIN when nothing is there). */
ssize_t buffer_read_fd(struct buffer *b, int fd);
/* The same, reading at most max bytes (max > 0). */
ssize_t buffer_read_fd_max(struct buffer *b, int fd, size_t max);
/* Write held bytes to fd: returns bytes written, -1 with errno. */
ssize_t buffer_write_fd(struct buffer *b, int fd);
/* The same with extra send() flags (MSG_MORE). */
ssize_t buffer_write_fd_flags(struct buffer *b, int fd, int flags);
/* Copy in/out (tests and health checks). */
size_t buffer_put(struct buffer *b, const void *p, size_t n);
size_t buffer_get(struct buffer *b, void *p, size_t n);
/* Put n bytes before the held ones (a header for bytes already read):
 * all of them, or nothing (0) when the room is short. */
size_t buffer_prepend(struct buffer *b, const void *p, size_t n);

/* Per-worker pool of BUFFER_SIZE chunks. Not thread-safe by design: each
 * worker owns one. */
struct bufpool {
	void **free;
	size_t nfree;
	size_t cap;		/* chunks kept at most; the rest go back to malloc */
	size_t out;		/* chunks handed out */
};

void bufpool_init(struct bufpool *p, size_t cap);
void bufpool_destroy(struct bufpool *p);
/* Give b memory if it has none. */
void buffer_attach(struct buffer *b, struct bufpool *p);
/* Return b's memory to the pool if b is empty. */
void buffer_detach_if_empty(struct buffer *b, struct bufpool *p);
/* Return b's memory whatever it holds (teardown). */
void buffer_release(struct buffer *b, struct bufpool *p);

#endif
