/*
 * wire.h - the live protocol's framing and encoding (docs/LIVE.md), shared
 * by the server (server.c) and the viewer's client (client.c): a hello
 * line each way, then messages of a 4-byte little-endian length and a
 * payload of varints and NUL-terminated strings.  Header-only.
 */
#ifndef MT_WIRE_H
#define MT_WIRE_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "../format/varint.h"
#include "../format/xalloc.h"

#define MT_LIVE_PROTOCOL 1		/* docs/LIVE.md; a change of the messages bumps it */
#define MT_LIVE_HELLO "memtide-live"	/* the hello line: "memtide-live 1\n" */
#define MT_LIVE_LINE_MAX 512		/* a hello line is shorter */
#define MT_LIVE_MSG_MAX (256u << 20)	/* no message is longer */

enum { MT_MSG_QUERY = 'Q', MT_MSG_SNAPSHOT = 'S', MT_MSG_ERROR = 'E' };

/* A message being built; its first 4 bytes are the length, set by wire_send. */
struct wbuf {
	uint8_t *p;
	size_t len, cap;
};

static inline void wbuf_room(struct wbuf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return;
	while (b->len + n > b->cap)
		b->cap = b->cap ? b->cap * 2 : 4096;
	b->p = mt_xrealloc(b->p, b->cap);
}

static inline void wbuf_start(struct wbuf *b, uint8_t type)
{
	b->len = 0;
	wbuf_room(b, 5);
	b->len = 4;
	b->p[b->len++] = type;
}

static inline void wbuf_num(struct wbuf *b, uint64_t v)
{
	wbuf_room(b, 10);
	b->len = (size_t)(mt_put_varint(b->p + b->len, v) - b->p);
}

/* A string without NULs, NUL-terminated; NULL is sent as "". */
static inline void wbuf_str(struct wbuf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	wbuf_room(b, n + 1);
	memcpy(b->p + b->len, s ? s : "", n);
	b->p[b->len + n] = 0;
	b->len += n + 1;
}

/* Writes all of p; 0, or -1 (errno set). */
static inline int wire_write(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p = (const char *)p + k;
		n -= (size_t)k;
	}
	return 0;
}

/* Reads exactly n bytes; 0, or -1 (errno set; 0 for the peer's end). */
static inline int wire_read(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t k = recv(fd, p, n, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = 0;
			return -1;
		}
		p = (char *)p + k;
		n -= (size_t)k;
	}
	return 0;
}

static inline int wire_send(int fd, struct wbuf *b)
{
	uint32_t n = (uint32_t)(b->len - 4);

	b->p[0] = (uint8_t)n;
	b->p[1] = (uint8_t)(n >> 8);
	b->p[2] = (uint8_t)(n >> 16);
	b->p[3] = (uint8_t)(n >> 24);
	return wire_write(fd, b->p, b->len);
}

/* Reads one message into *buf (grown as needed); its length, or -1
 * (errno set, 0 for the peer's end; EPROTO for a message too long). */
static inline long wire_recv(int fd, uint8_t **buf, size_t *cap)
{
	uint8_t h[4];
	uint32_t n;

	if (wire_read(fd, h, 4) < 0)
		return -1;
	n = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
	if (n == 0 || n > MT_LIVE_MSG_MAX) {
		errno = EPROTO;
		return -1;
	}
	if (n + 1 > *cap) {
		*cap = n + 1;
		*buf = mt_xrealloc(*buf, *cap);
	}
	if (wire_read(fd, *buf, n) < 0)
		return -1;
	return (long)n;
}

/* Reads a hello line (without its newline) into line; 0, or -1. */
static inline int wire_line(int fd, char *line, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		char ch;

		if (wire_read(fd, &ch, 1) < 0)
			return -1;
		if (ch == '\n') {
			line[n] = '\0';
			return 0;
		}
		line[n++] = ch;
	}
	errno = EPROTO;
	return -1;
}

/* A message being decoded; bad is set when it makes no sense. */
struct rbuf {
	uint8_t *p, *end;
	int bad;
};

static inline uint64_t rbuf_num(struct rbuf *r)
{
	uint64_t v = 0;

	if (!r->bad && mt_get_varint((const uint8_t **)&r->p, r->end, &v))
		r->bad = 1;
	return r->bad ? 0 : v;
}

/* A count of items of at least one byte each: bounded by what is left. */
static inline uint32_t rbuf_count(struct rbuf *r)
{
	uint64_t n = rbuf_num(r);

	if (n > (uint64_t)(r->end - r->p) || n > UINT32_MAX)
		r->bad = 1;
	return r->bad ? 0 : (uint32_t)n;
}

/* A string, in place (the message stays the owner). */
static inline const char *rbuf_str(struct rbuf *r)
{
	uint8_t *nul;

	if (r->bad || !(nul = memchr(r->p, 0, (size_t)(r->end - r->p)))) {
		r->bad = 1;
		return "";
	}
	{
		const char *s = (const char *)r->p;

		r->p = nul + 1;
		return s;
	}
}

#endif
