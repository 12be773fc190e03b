/*
 * reader.c - decoding of capture files (docs/FORMAT.md) for the reports.
 *
 * Chunks are read and decompressed one at a time; the records form one
 * stream that may cross chunk boundaries.  Events come in the order they
 * happened, all threads merged by the writer, and go straight to the
 * caller.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "memtide/format.h"
#include "reader.h"
#include "varint.h"
#include "xalloc.h"

#define MAX_RECORD (1u << 20)	/* no record is longer than this */

struct mt_reader_state {
	FILE *f;
	uint8_t *z, *raw;		/* compressed chunk, stream bytes */
	size_t raw_len, raw_cap;
	ZSTD_DCtx *dctx;
	uint32_t thread, stack;		/* decoder state */
	uint64_t time_ns;
	uint32_t cap_strings, cap_pyframes, cap_nodes, cap_modules, cap_threads;
	const struct mt_read_ops *ops;
	char *err;
	size_t errlen;
};

static int fail(struct mt_capture *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct mt_capture *c, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->st->err, c->st->errlen, "'%s': ", c->path);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < c->st->errlen)
		vsnprintf(c->st->err + n, c->st->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t elem)
{
	if (need < *cap)
		return p;
	uint32_t ncap = *cap ? *cap : 64;

	while (ncap <= need)
		ncap *= 2;
	p = mt_xrealloc(p, (size_t)ncap * elem);
	memset((char *)p + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
	*cap = ncap;
	return p;
}

static char *dupn(const uint8_t *s, size_t n)
{
	char *d = mt_xrealloc(NULL, n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

const char *mt_capture_string(const struct mt_capture *c, uint32_t id)
{
	return id && id < c->nstrings && c->strings[id] ? c->strings[id] : "?";
}

const char *mt_event_kind_name(unsigned kind)
{
	static const char *names[MT_EV_KIND_COUNT] = {
		"?", "malloc", "calloc", "realloc", "reallocarray",
		"posix_memalign", "aligned_alloc", "memalign", "valloc",
		"pvalloc", "mmap", "mremap", "pymalloc", "free", "munmap", "step",
	};
	return kind < MT_EV_KIND_COUNT ? names[kind] : "?";
}

/* ---- events ----------------------------------------------------------- */

static int decode_events(struct mt_capture *c, const uint8_t *p, const uint8_t *end)
{
	struct mt_reader_state *st = c->st;

	while (p < end) {
		uint8_t head = *p++;
		struct mt_event ev = { .kind = head & 15, .time_ns = st->time_ns };
		uint64_t v;

		if (ev.kind == 0 || ev.kind >= MT_EV_KIND_COUNT)
			return fail(c, "corrupt capture: unknown event kind %u", ev.kind);
		if (head & MT_EVF_THREAD) {
			if (mt_get_varint(&p, end, &v) || v >= UINT32_MAX)
				goto bad;
			st->thread = (uint32_t)v;
		}
		ev.thread = st->thread;
		if ((ev.kind == MT_EV_FREE || ev.kind == MT_EV_STEP || mt_event_is_mmap(ev.kind)) &&
		    mt_get_varint(&p, end, &ev.addr))
			goto bad;
		if (ev.kind != MT_EV_FREE && mt_get_varint(&p, end, &ev.size))
			goto bad;
		if (ev.kind == MT_EV_STEP) {	/* its own time, and the RSS then */
			if (mt_get_varint(&p, end, &v))
				goto bad;
			ev.time_ns = ev.size;
			ev.size = v * 4096;
		}
		if (mt_event_is_alloc(ev.kind)) {
			if (!(head & MT_EVF_SAMESTACK)) {
				if (mt_get_varint(&p, end, &v) || v > UINT32_MAX)
					goto bad;
				st->stack = (uint32_t)v;
			}
			ev.stack = st->stack;
		}
		c->nevents++;
		if (st->ops && st->ops->event)
			st->ops->event(st->ops->ctx, &ev);
	}
	return 0;
bad:
	return fail(c, "corrupt capture: malformed event");
}

/* ---- records ---------------------------------------------------------- */

struct cursor {
	const uint8_t *p, *end;
	int short_;		/* ran out of bytes */
	int bad;		/* bytes that make no sense */
};

static uint64_t num(struct cursor *k)
{
	uint64_t v = 0;

	if (k->short_ || k->bad)
		return 0;
	if (mt_get_varint(&k->p, k->end, &v)) {
		if (k->end - k->p >= 10)
			k->bad = 1;
		else
			k->short_ = 1;
	}
	return v;
}

static const uint8_t *bytes(struct cursor *k, size_t *n)
{
	const uint8_t *s;

	*n = num(k);
	if (k->short_ || k->bad)
		return NULL;
	if (*n > MAX_RECORD) {
		k->bad = 1;
		return NULL;
	}
	if ((size_t)(k->end - k->p) < *n) {
		k->short_ = 1;
		return NULL;
	}
	s = k->p;
	k->p += *n;
	return s;
}

static char *str(struct cursor *k)
{
	size_t n;
	const uint8_t *s = bytes(k, &n);

	return s ? dupn(s, n) : NULL;
}

static void set_meta(struct mt_capture *c, const char *key, char *value)
{
	if (!strcmp(key, "command")) {
		free((char *)c->command);
		c->command = value;
		return;
	}
	if (!strcmp(key, "python")) {
		free((char *)c->python);
		c->python = value;
		return;
	}
	if (!strcmp(key, "pid"))
		c->pid = strtoull(value, NULL, 10);
	else if (!strcmp(key, "start_unix_ns"))
		c->start_unix_ns = strtoull(value, NULL, 10);
	else if (!strcmp(key, "native"))
		c->native = !strcmp(value, "1");
	else if (!strcmp(key, "dropped_events"))
		c->dropped_events = strtoull(value, NULL, 10);
	free(value);
}

/*
 * Parses one record at k->p.  Returns 1 when done, 0 when the record
 * continues in the next chunk (nothing consumed), -1 on corruption.
 */
static int parse_record(struct mt_capture *c, struct cursor *k)
{
	struct mt_reader_state *st = c->st;
	const uint8_t *start = k->p;
	uint8_t tag = *k->p++;
	char *a = NULL, *b = NULL;

	switch (tag) {
	case MT_REC_META:
		a = str(k);
		b = str(k);
		if (a && b) {
			set_meta(c, a, b);
			b = NULL;
		}
		break;
	case MT_REC_STRING:
		a = str(k);
		if (a) {
			c->strings = grow(c->strings, &st->cap_strings, c->nstrings + 1, sizeof(char *));
			if (!c->nstrings)
				c->nstrings = 1;
			c->strings[c->nstrings++] = a;
			a = NULL;
		}
		break;
	case MT_REC_PYFRAME: {
		struct mt_pyframe f;

		f.name = (uint32_t)num(k);
		f.file = (uint32_t)num(k);
		f.line = (uint32_t)num(k);
		f.flags = (uint32_t)num(k);
		if (!k->short_ && !k->bad) {
			c->pyframes = grow(c->pyframes, &st->cap_pyframes, c->npyframes + 1, sizeof(f));
			if (!c->npyframes)
				c->npyframes = 1;
			c->pyframes[c->npyframes++] = f;
		}
		break;
	}
	case MT_REC_NODE: {
		struct mt_node n = { 0 };

		n.parent = (uint32_t)num(k);
		n.kind = (uint8_t)num(k);
		n.value = num(k);
		if (n.kind == MT_NODE_NATIVE)
			n.gen = (uint32_t)num(k);
		else if (n.kind != MT_NODE_PYTHON)
			k->bad = 1;
		if (!k->short_ && !k->bad) {
			c->nodes = grow(c->nodes, &st->cap_nodes, c->nnodes + 1, sizeof(n));
			if (!c->nnodes)
				c->nnodes = 1;
			if (n.parent >= c->nnodes)
				k->bad = 1;
			else
				c->nodes[c->nnodes++] = n;
		}
		break;
	}
	case MT_REC_MODULE: {
		struct mt_module m = { 0 };
		uint64_t nseg;

		m.gen_load = num(k);
		m.bias = num(k);
		a = str(k);
		b = str(k);
		nseg = num(k);
		m.lo = UINT64_MAX;
		for (uint64_t i = 0; i < nseg && !k->short_ && !k->bad; i++) {
			uint64_t vaddr = num(k), memsz = num(k);

			if (m.bias + vaddr < m.lo)
				m.lo = m.bias + vaddr;
			if (m.bias + vaddr + memsz > m.hi)
				m.hi = m.bias + vaddr + memsz;
		}
		if (!k->short_ && !k->bad && a && b) {
			m.gen_unload = UINT64_MAX;
			m.path = a;
			m.build_id = b;
			a = b = NULL;
			c->modules = grow(c->modules, &st->cap_modules, c->nmodules, sizeof(m));
			c->modules[c->nmodules++] = m;
		}
		break;
	}
	case MT_REC_UNLOAD: {
		uint64_t gen = num(k), bias = num(k);

		if (!k->short_ && !k->bad)
			for (uint32_t i = 0; i < c->nmodules; i++)
				if (c->modules[i].bias == bias && c->modules[i].gen_unload == UINT64_MAX)
					c->modules[i].gen_unload = gen;
		break;
	}
	case MT_REC_THREAD: {
		uint64_t idx = num(k), tid = num(k);

		a = str(k);
		if (a && idx > UINT32_MAX - 2)
			k->bad = 1;
		if (a && !k->bad) {
			c->threads = grow(c->threads, &st->cap_threads, (uint32_t)idx, sizeof(*c->threads));
			if (idx >= c->nthreads)
				c->nthreads = (uint32_t)idx + 1;
			free((char *)c->threads[idx].name);
			c->threads[idx].tid = tid;
			c->threads[idx].name = a;
			a = NULL;
		}
		break;
	}
	case MT_REC_EVENTS: {
		size_t n;
		const uint8_t *ev = bytes(k, &n);

		if (ev && decode_events(c, ev, ev + n) < 0)
			return -1;
		break;
	}
	case MT_REC_TIME: {
		uint64_t ns = num(k);

		if (!k->short_ && !k->bad) {
			st->time_ns = ns;
			if (ns > c->end_ns)
				c->end_ns = ns;
		}
		break;
	}
	case MT_REC_SAMPLE: {
		uint64_t ns = num(k), rss = num(k);

		if (!k->short_ && !k->bad) {
			if (rss > c->peak_rss) {
				c->peak_rss = rss;
				c->peak_rss_ns = ns;
			}
			if (st->ops && st->ops->sample)
				st->ops->sample(st->ops->ctx, ns, rss);
		}
		break;
	}
	case MT_REC_END: {
		uint64_t ns = num(k);

		if (!k->short_ && !k->bad) {
			if (ns > c->end_ns)
				c->end_ns = ns;
			c->complete = 1;
		}
		break;
	}
	default:
		return fail(c, "corrupt capture: unknown record %u at stream byte %zu",
			    tag, (size_t)(start - st->raw));
	}
	free(a);
	free(b);
	if (k->bad)
		return fail(c, "corrupt capture: malformed record %u", tag);
	if (k->short_) {
		k->short_ = 0;
		k->p = start;
		return 0;
	}
	return 1;
}

/* Parses what st->raw holds; keeps an unfinished record for later. */
static int parse_stream(struct mt_capture *c)
{
	struct mt_reader_state *st = c->st;
	struct cursor k = { st->raw, st->raw + st->raw_len, 0, 0 };
	int r = 1;

	while (k.p < k.end && (r = parse_record(c, &k)) == 1)
		;
	if (r < 0)
		return -1;
	st->raw_len = (size_t)(k.end - k.p);
	if (st->raw_len > MAX_RECORD)
		return fail(c, "corrupt capture: a record longer than %u bytes", MAX_RECORD);
	memmove(st->raw, k.p, st->raw_len);
	return 0;
}

/* ---- chunks ----------------------------------------------------------- */

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int read_header(struct mt_capture *c)
{
	uint8_t h[MT_FILE_HEADER_SIZE];
	size_t n = fread(h, 1, sizeof(h), c->st->f);
	unsigned version;

	if (n == 0)
		return fail(c, "not a memtide capture (empty file)");
	if (n < 8 || memcmp(h, MT_MAGIC, 8))
		return fail(c, "not a memtide capture (bad magic)");
	if (n < sizeof(h))
		return fail(c, "not a memtide capture (header cut short)");
	version = h[8] | (unsigned)h[9] << 8;
	if (version != MT_VERSION)
		return fail(c, "capture format version %u is not supported (this memtide reads version %u)",
			    version, MT_VERSION);
	if (h[10] != MT_FILE_HEADER_SIZE)
		return fail(c, "corrupt capture: header size %u", h[10]);
	return 0;
}

int mt_capture_read(const char *path, struct mt_capture *c,
		    const struct mt_read_ops *ops, char *err, size_t errlen)
{
	struct mt_reader_state *st = calloc(1, sizeof(*st));
	size_t zcap = ZSTD_compressBound(MT_CHUNK_RAW_MAX);
	uint64_t offset = MT_FILE_HEADER_SIZE, nchunk = 0;
	struct stat sb = { 0 };

	memset(c, 0, sizeof(*c));
	c->path = path;
	c->st = st;
	if (!st)
		return -1;
	st->ops = ops;
	st->err = err;
	st->errlen = errlen;
	st->f = fopen(path, "rb");
	if (!st->f)
		return fail(c, "cannot open: %s", strerror(errno));
	if (fstat(fileno(st->f), &sb) == 0)
		c->file_size = (uint64_t)sb.st_size;
	if (S_ISDIR(sb.st_mode))
		return fail(c, "is a directory");
	if (read_header(c) < 0)
		return -1;
	st->z = malloc(zcap);
	st->raw_cap = MT_CHUNK_RAW_MAX + MAX_RECORD;
	st->raw = malloc(st->raw_cap);
	st->dctx = ZSTD_createDCtx();
	if (!st->z || !st->raw || !st->dctx)
		return fail(c, "out of memory");

	for (;;) {
		uint8_t h[MT_CHUNK_HEADER_SIZE];
		size_t n = fread(h, 1, sizeof(h), st->f), got;
		uint32_t zsize, rsize;

		if (n == 0)
			break;
		if (n < sizeof(h))
			return fail(c, "truncated capture: cut inside the header of chunk %llu at offset %llu",
				    (unsigned long long)nchunk, (unsigned long long)offset);
		if (get_u32(h) != MT_CHUNK_MAGIC)
			return fail(c, "corrupt capture: bad chunk header at offset %llu",
				    (unsigned long long)offset);
		zsize = get_u32(h + 4);
		rsize = get_u32(h + 8);
		if (rsize > MT_CHUNK_RAW_MAX || zsize > zcap)
			return fail(c, "corrupt capture: impossible chunk sizes at offset %llu",
				    (unsigned long long)offset);
		got = fread(st->z, 1, zsize, st->f);
		if (got < zsize)
			return fail(c, "truncated capture: chunk %llu at offset %llu is cut short "
				    "(%zu of %u bytes)", (unsigned long long)nchunk,
				    (unsigned long long)offset, got, zsize);
		n = ZSTD_decompressDCtx(st->dctx, st->raw + st->raw_len, rsize, st->z, zsize);
		if (ZSTD_isError(n) || n != rsize)
			return fail(c, "corrupt capture: chunk %llu at offset %llu does not decompress (%s)",
				    (unsigned long long)nchunk, (unsigned long long)offset,
				    ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong size");
		st->raw_len += n;
		if (parse_stream(c) < 0)
			return -1;
		offset += sizeof(h) + zsize;
		nchunk++;
		if (ops && ops->progress)
			ops->progress(ops->ctx, offset, c->file_size);
	}
	/* A capture of a killed program ends after a whole chunk, without END. */
	if (!c->complete)
		c->truncated = 1;
	return 0;
}

void mt_capture_release(struct mt_capture *c)
{
	struct mt_reader_state *st = c->st;

	for (uint32_t i = 1; i < c->nstrings; i++)
		free(c->strings[i]);
	free(c->strings);
	free(c->pyframes);
	free(c->nodes);
	for (uint32_t i = 0; i < c->nmodules; i++) {
		free((char *)c->modules[i].path);
		free((char *)c->modules[i].build_id);
	}
	free(c->modules);
	for (uint32_t i = 0; i < c->nthreads; i++)
		free((char *)c->threads[i].name);
	free(c->threads);
	free((char *)c->command);
	free((char *)c->python);
	if (st) {
		if (st->f)
			fclose(st->f);
		free(st->z);
		free(st->raw);
		ZSTD_freeDCtx(st->dctx);
		free(st);
	}
	memset(c, 0, sizeof(*c));
}
