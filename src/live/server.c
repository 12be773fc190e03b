/*
 * server.c - the live view over TCP (see server.h and docs/LIVE.md).
 * Runs in `memtide run`: an accepting thread, and a thread per viewer
 * that answers each query with a snapshot of the engine.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "wire.h"

#define HELLO_TIMEOUT_S 5	/* a connection that says nothing is dropped */

struct conn {
	struct mt_server *s;
	int fd;
	int active;		/* its thread runs */
	int sent_end;		/* it was sent a snapshot of the ended program */
	pthread_t thread;
};

struct mt_server {
	struct mt_engine *e;
	int fd, port;
	int stop_pipe[2];	/* written by mt_server_free: the accepting thread ends */
	pthread_t accepter;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int watched;		/* a viewer has connected */
	struct conn conns[MT_SERVER_VIEWERS];
};

/* Says no with one line and closes the connection. */
static void refuse(int fd, const char *why)
{
	char line[MT_LIVE_LINE_MAX];
	int n = snprintf(line, sizeof(line), "%s %d error %s\n", MT_LIVE_HELLO, MT_LIVE_PROTOCOL, why);

	wire_write(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	close(fd);
}

/* Checks the viewer's hello line: 0, or -1 after refusing it. */
static int hello(int fd)
{
	char line[MT_LIVE_LINE_MAX], why[MT_LIVE_LINE_MAX];
	size_t k = strlen(MT_LIVE_HELLO);
	long version;
	char *end;

	if (wire_line(fd, line, sizeof(line)) < 0) {
		close(fd);
		return -1;
	}
	if (strncmp(line, MT_LIVE_HELLO " ", k + 1)) {
		refuse(fd, "not a memtide live viewer");
		return -1;
	}
	version = strtol(line + k + 1, &end, 10);
	if (version != MT_LIVE_PROTOCOL) {
		snprintf(why, sizeof(why), "this program is served with live protocol version %d, "
			 "the viewer speaks version %.20s: use the same memtide version for both",
			 MT_LIVE_PROTOCOL, line + k + 1);
		refuse(fd, why);
		return -1;
	}
	return 0;
}

static void encode(struct wbuf *b, const struct mt_live_snapshot *s)
{
	wbuf_start(b, MT_MSG_SNAPSHOT);
	wbuf_str(b, s->command);
	wbuf_num(b, s->pid);
	wbuf_num(b, (uint64_t)!!s->running);
	wbuf_num(b, (uint64_t)(unsigned)s->exit_status);
	wbuf_str(b, s->output_path);
	wbuf_str(b, s->capture_path);
	wbuf_num(b, s->elapsed_ns);
	wbuf_num(b, s->heap_bytes);
	wbuf_num(b, s->rss_bytes);
	wbuf_num(b, s->peak_heap_bytes);
	wbuf_num(b, s->peak_heap_ns);
	wbuf_num(b, s->live_allocs);
	wbuf_num(b, s->nheap_history);
	for (uint32_t i = 0; i < s->nheap_history; i++)
		wbuf_num(b, s->heap_history[i]);
	wbuf_num(b, s->nthreads);
	for (uint32_t i = 0; i < s->nthreads; i++)
		wbuf_str(b, s->threads[i]);
	wbuf_num(b, s->nrows);
	for (uint32_t i = 0; i < s->nrows; i++) {
		const struct mt_live_row *r = &s->rows[i];

		wbuf_num(b, r->id);
		wbuf_str(b, r->function);
		wbuf_str(b, r->file);
		wbuf_num(b, r->line);
		wbuf_num(b, r->own_bytes);
		wbuf_num(b, r->own_count);
		wbuf_num(b, r->total_bytes);
		wbuf_num(b, r->total_count);
	}
	wbuf_num(b, s->nstack);
	for (uint32_t i = 0; i < s->nstack; i++)
		wbuf_str(b, s->stack[i]);
	wbuf_num(b, s->sample_rate);	/* last: viewers before it stop at the stack */
}

/* One viewer: a query in, a snapshot out, until it leaves. */
static void *serve(void *arg)
{
	struct conn *cn = arg;
	struct mt_server *s = cn->s;
	struct mt_live_source src = { 0 };
	struct wbuf out = { 0 };
	uint8_t *in = NULL;
	size_t cap = 0;
	long n;

	if (mt_engine_source(s->e, &src) < 0)
		goto done;
	while ((n = wire_recv(cn->fd, &in, &cap)) > 0) {
		struct rbuf r = { in + 1, in + n, 0 };
		struct mt_live_query q = { -1, 0 };
		struct mt_live_snapshot snap;
		char err[512];

		if (in[0] != MT_MSG_QUERY)
			break;
		q.thread = (int)rbuf_num(&r) - 1;
		q.stack_of = (uint32_t)rbuf_num(&r);
		if (r.bad)
			break;
		if (src.snapshot(src.ctx, &q, &snap, err, sizeof(err)) < 0) {
			wbuf_start(&out, MT_MSG_ERROR);
			wbuf_str(&out, err);
			wire_send(cn->fd, &out);
			break;
		}
		encode(&out, &snap);
		if (wire_send(cn->fd, &out) < 0)
			break;
		if (!snap.running) {
			pthread_mutex_lock(&s->lock);
			cn->sent_end = 1;
			pthread_cond_broadcast(&s->changed);
			pthread_mutex_unlock(&s->lock);
		}
	}
	src.close(src.ctx);
done:
	free(in);
	free(out.p);
	pthread_mutex_lock(&s->lock);
	cn->active = 0;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* A new connection: hello, then a thread of its own, or "already watched". */
static void admit(struct mt_server *s, int fd)
{
	struct timeval tv = { HELLO_TIMEOUT_S, 0 }, none = { 0, 0 };
	char line[MT_LIVE_LINE_MAX];
	struct conn *cn = NULL;
	int n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (hello(fd) < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < MT_SERVER_VIEWERS && !cn; i++) {
		if (s->conns[i].thread && !s->conns[i].active) {	/* a viewer that left */
			pthread_join(s->conns[i].thread, NULL);
			close(s->conns[i].fd);
			s->conns[i].thread = 0;
		}
		if (!s->conns[i].thread)
			cn = &s->conns[i];
	}
	pthread_mutex_unlock(&s->lock);
	if (!cn) {
		snprintf(line, sizeof(line), "already watched by %d viewers", MT_SERVER_VIEWERS);
		refuse(fd, line);
		return;
	}
	n = snprintf(line, sizeof(line), "%s %d ok\n", MT_LIVE_HELLO, MT_LIVE_PROTOCOL);
	if (wire_write(fd, line, (size_t)n) < 0) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&s->lock);
	*cn = (struct conn){ s, fd, 1, 0, 0 };
	if (pthread_create(&cn->thread, NULL, serve, cn)) {
		cn->thread = 0;
		close(fd);
	} else {
		s->watched = 1;
	}
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

static void *accept_loop(void *arg)
{
	struct mt_server *s = arg;

	for (;;) {
		struct pollfd p[2] = { { s->fd, POLLIN, 0 }, { s->stop_pipe[0], POLLIN, 0 } };
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			admit(s, fd);
	}
	return NULL;
}

struct mt_server *mt_server_start(struct mt_engine *e, const char *host, int port,
				  char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	struct mt_server *s;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char service[16];
	int rc, fd = -1, one = 1, why = 0;

	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(host, service, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "cannot serve on %s: %s", host, gai_strerror(rc));
		return NULL;
	}
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			why = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 8)) {
			why = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		snprintf(err, errlen, "cannot serve on %s:%d: %s", host, port, strerror(why));
		return NULL;
	}
	s = mt_xcalloc(1, sizeof(*s));
	s->e = e;
	s->fd = fd;
	s->port = port;
	if (!getsockname(fd, (struct sockaddr *)&ss, &sl))
		s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							  : ((struct sockaddr_in *)&ss)->sin_port);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->changed, NULL);
	if (pipe2(s->stop_pipe, O_CLOEXEC) || pthread_create(&s->accepter, NULL, accept_loop, s)) {
		snprintf(err, errlen, "cannot start the live server: %s", strerror(errno));
		close(fd);
		free(s);
		return NULL;
	}
	return s;
}

int mt_server_port(const struct mt_server *s)
{
	return s->port;
}

/* An absolute CLOCK_REALTIME deadline timeout_ms from now, for pthread_cond_timedwait. */
static struct timespec deadline(int timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

int mt_server_wait_viewer(struct mt_server *s, int timeout_ms)
{
	struct timespec ts = deadline(timeout_ms);
	int watched;

	pthread_mutex_lock(&s->lock);
	while (!s->watched && pthread_cond_timedwait(&s->changed, &s->lock, &ts) != ETIMEDOUT)
		;
	watched = s->watched;
	pthread_mutex_unlock(&s->lock);
	return watched;
}

int mt_server_watched(struct mt_server *s)
{
	int watched;

	if (!s)
		return 0;	/* no server: nobody watches */
	pthread_mutex_lock(&s->lock);
	watched = s->watched;
	pthread_mutex_unlock(&s->lock);
	return watched;
}

void mt_server_finish(struct mt_server *s, int timeout_ms)
{
	struct timespec ts = deadline(timeout_ms);

	pthread_mutex_lock(&s->lock);
	for (;;) {
		int waiting = 0;

		for (int i = 0; i < MT_SERVER_VIEWERS; i++)
			waiting |= s->conns[i].active && !s->conns[i].sent_end;
		if (!waiting || pthread_cond_timedwait(&s->changed, &s->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&s->lock);
}

void mt_server_free(struct mt_server *s)
{
	if (!s)
		return;
	(void)!write(s->stop_pipe[1], "x", 1);
	pthread_join(s->accepter, NULL);
	for (int i = 0; i < MT_SERVER_VIEWERS; i++) {
		if (!s->conns[i].thread)
			continue;
		shutdown(s->conns[i].fd, SHUT_RDWR);	/* ends its thread's recv or send */
		pthread_join(s->conns[i].thread, NULL);
		close(s->conns[i].fd);
	}
	close(s->fd);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
