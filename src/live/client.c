/*
 * client.c - a live source over TCP (see client.h): sends each query to
 * the server and decodes the snapshot it answers, in place in the
 * message (strings are NUL-terminated on the wire).  Runs in `memtide
 * live`.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "client.h"
#include "wire.h"
#include "../report/output.h"

#define REPLY_TIMEOUT_S 30	/* a server that answers nothing for this long is lost (a first
				   snapshot may symbolize many stacks) */

struct client {
	int fd;
	char where[300];		/* host:port, for messages */
	uint8_t *msg[2];		/* the last snapshot's message, and the next */
	size_t cap[2];
	int cur;
	/* the last snapshot, pointing into msg[cur] and the arrays below */
	struct mt_live_snapshot last;
	int have_last;
	uint64_t *history;
	const char **threads, **stack;
	struct mt_live_row *rows;
	char **made;			/* strings made safe, for the last snapshot */
	size_t nmade, cap_made;
	struct wbuf out;
};

static void free_made(struct client *c)
{
	for (size_t i = 0; i < c->nmade; i++)
		free(c->made[i]);
	c->nmade = 0;
}

/*
 * A string of the server's, safe for a terminal: the server sends display
 * forms, but what comes over a socket is checked.  Returns s itself, or a
 * copy with control characters and bad UTF-8 escaped (mt_fmt_text).
 */
static const char *safe(struct client *c, const char *s)
{
	char buf[4096];

	mt_fmt_text(buf, sizeof(buf), s);
	if (!strcmp(buf, s))
		return s;
	if (c->nmade == c->cap_made) {
		c->cap_made = c->cap_made ? c->cap_made * 2 : 16;
		c->made = mt_xrealloc(c->made, c->cap_made * sizeof(*c->made));
	}
	return c->made[c->nmade++] = mt_xstrdup(buf);
}

/* Decodes a snapshot message into c->last (arrays reallocated). */
static int decode(struct client *c, uint8_t *p, long n)
{
	struct rbuf r = { p + 1, p + n, 0 };
	struct mt_live_snapshot *s = &c->last;
	uint32_t k;

	memset(s, 0, sizeof(*s));
	free_made(c);
	s->command = safe(c, rbuf_str(&r));
	s->pid = rbuf_num(&r);
	s->running = (int)rbuf_num(&r);
	s->exit_status = (int)rbuf_num(&r);
	s->output_path = safe(c, rbuf_str(&r));
	if (!*s->output_path)
		s->output_path = NULL;
	s->capture_path = safe(c, rbuf_str(&r));
	s->elapsed_ns = rbuf_num(&r);
	s->heap_bytes = rbuf_num(&r);
	s->rss_bytes = rbuf_num(&r);
	s->peak_heap_bytes = rbuf_num(&r);
	s->peak_heap_ns = rbuf_num(&r);
	s->live_allocs = rbuf_num(&r);
	k = rbuf_count(&r);
	c->history = mt_xrealloc(c->history, ((size_t)k + 1) * sizeof(*c->history));
	for (uint32_t i = 0; i < k; i++)
		c->history[i] = rbuf_num(&r);
	s->heap_history = c->history;
	s->nheap_history = k;
	k = rbuf_count(&r);
	c->threads = mt_xrealloc(c->threads, ((size_t)k + 1) * sizeof(*c->threads));
	for (uint32_t i = 0; i < k; i++)
		c->threads[i] = safe(c, rbuf_str(&r));
	s->threads = c->threads;
	s->nthreads = k;
	k = rbuf_count(&r);
	c->rows = mt_xrealloc(c->rows, ((size_t)k + 1) * sizeof(*c->rows));
	for (uint32_t i = 0; i < k && !r.bad; i++) {
		struct mt_live_row *row = &c->rows[i];

		row->id = (uint32_t)rbuf_num(&r);
		row->function = safe(c, rbuf_str(&r));
		row->file = safe(c, rbuf_str(&r));
		row->line = (uint32_t)rbuf_num(&r);
		row->own_bytes = rbuf_num(&r);
		row->own_count = rbuf_num(&r);
		row->total_bytes = rbuf_num(&r);
		row->total_count = rbuf_num(&r);
	}
	s->rows = c->rows;
	s->nrows = k;
	k = rbuf_count(&r);
	c->stack = mt_xrealloc(c->stack, ((size_t)k + 1) * sizeof(*c->stack));
	for (uint32_t i = 0; i < k; i++)
		c->stack[i] = safe(c, rbuf_str(&r));
	s->stack = c->stack;
	s->nstack = k;
	/* from servers that send it (a capture's sample rate) */
	s->sample_rate = r.p < r.end ? rbuf_num(&r) : 0;
	return r.bad ? -1 : 0;
}

static int client_snapshot(void *ctx, const struct mt_live_query *q, struct mt_live_snapshot *out,
			   char *err, size_t errlen)
{
	struct client *c = ctx;
	int next = !c->cur;
	long n;

	if (c->fd >= 0) {
		wbuf_start(&c->out, MT_MSG_QUERY);
		wbuf_num(&c->out, (uint64_t)(q->thread + 1));
		wbuf_num(&c->out, q->stack_of);
		if (wire_send(c->fd, &c->out) == 0 &&
		    (n = wire_recv(c->fd, &c->msg[next], &c->cap[next])) > 0) {
			char text[1024];

			if (c->msg[next][0] == MT_MSG_ERROR) {
				c->msg[next][n] = 0;
				snprintf(err, errlen, "%s: %s", c->where,
					 mt_fmt_text(text, sizeof(text), (char *)c->msg[next] + 1));
				return -1;
			}
			if (c->msg[next][0] != MT_MSG_SNAPSHOT || decode(c, c->msg[next], n) < 0) {
				c->have_last = 0;
				snprintf(err, errlen, "%s: a snapshot that makes no sense", c->where);
				return -1;
			}
			c->cur = next;
			c->have_last = 1;
			*out = c->last;
			return 0;
		}
		close(c->fd);
		c->fd = -1;
	}
	/* the server has gone: after the program's end, its final state stays */
	if (c->have_last && !c->last.running) {
		*out = c->last;
		return 0;
	}
	snprintf(err, errlen, "lost the connection to %s", c->where);
	return -1;
}

static void client_close(void *ctx)
{
	struct client *c = ctx;

	if (c->fd >= 0)
		close(c->fd);
	free(c->msg[0]);
	free(c->msg[1]);
	free(c->history);
	free(c->threads);
	free(c->stack);
	free(c->rows);
	free_made(c);
	free(c->made);
	free(c->out.p);
	free(c);
}

/* Says hello and reads the answer: 0, or -1 with err set. */
static int greet(int fd, const char *where, char *err, size_t errlen)
{
	char line[MT_LIVE_LINE_MAX];
	size_t k = strlen(MT_LIVE_HELLO);
	int n = snprintf(line, sizeof(line), "%s %d\n", MT_LIVE_HELLO, MT_LIVE_PROTOCOL);
	long version;
	char *end;

	if (wire_write(fd, line, (size_t)n) < 0 || wire_line(fd, line, sizeof(line)) < 0) {
		snprintf(err, errlen, "%s: %s", where, errno == EAGAIN ? "no answer" :
			 errno ? strerror(errno) : "the connection was closed at once");
		return -1;
	}
	if (strncmp(line, MT_LIVE_HELLO " ", k + 1)) {
		snprintf(err, errlen, "%s: not a memtide live server", where);
		return -1;
	}
	version = strtol(line + k + 1, &end, 10);
	if (!strncmp(end, " error ", 7)) {
		char text[MT_LIVE_LINE_MAX];

		snprintf(err, errlen, "%s: %s", where, mt_fmt_text(text, sizeof(text), end + 7));
		return -1;
	}
	if (version != MT_LIVE_PROTOCOL) {
		snprintf(err, errlen, "%s serves live protocol version %ld, this viewer speaks "
			 "version %d: use the same memtide version for both", where, version,
			 MT_LIVE_PROTOCOL);
		return -1;
	}
	if (strcmp(end, " ok")) {
		snprintf(err, errlen, "%s: not a memtide live server", where);
		return -1;
	}
	return 0;
}

int mt_client_connect(const char *host, int port, struct mt_live_source *out,
		      char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	struct timeval tv = { REPLY_TIMEOUT_S, 0 };
	struct client *c;
	char service[16], where[300];
	int rc, fd = -1, why = ECONNREFUSED;

	snprintf(service, sizeof(service), "%d", port);
	snprintf(where, sizeof(where), "%s:%d", host, port);
	rc = getaddrinfo(host, service, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "cannot connect to %s: %s", where, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen)) {
			why = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		if (why == ECONNREFUSED)
			return MT_CLIENT_REFUSED;
		snprintf(err, errlen, "cannot connect to %s: %s", where, strerror(why));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (greet(fd, where, err, errlen) < 0) {
		close(fd);
		return -1;
	}
	c = mt_xcalloc(1, sizeof(*c));
	c->fd = fd;
	snprintf(c->where, sizeof(c->where), "%s", where);
	*out = (struct mt_live_source){ client_snapshot, client_close, c };
	return 0;
}
