/*
 * tracker.c - the state of libmemtide.so inside the profiled process:
 * start-up from the environment memtide run sets, per-thread event
 * buffers, interning of frames and stacks, module maps, fork and thread
 * exit.  The hooks (hooks.c) feed it; the writer thread (writer.c)
 * drains it.
 *
 * The hot path (mt_record_alloc/free) appends a few bytes to the calling
 * thread's own block under that thread's own lock, which only the writer
 * ever contends for, once per 10 ms round.  Stacks are interned through a
 * per-thread cache; the global tables, behind one mutex, are reached only
 * on a cache miss, i.e. the first time a thread sees a call site.  All
 * memory comes from mmap, never from malloc.
 */

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "memtide/format.h"
#include "pyhelper.h"
#include "tracker.h"
#include "../format/varint.h"

/*
 * Deeper Python stacks keep their innermost frames.  The hooks run on the
 * program's own stacks, which may be small (threading.stack_size(32768)):
 * a capture uses about 5 KiB of stack.
 */
#define MAX_PYTHON 192
#define MAX_DEPTH (MT_MAX_NATIVE + MAX_PYTHON)
#define CACHE_SLOTS 2048	/* per-thread (parent, frame) -> node cache */
#define NATIVE_BIT (1ull << 63)	/* in key.b: the key is an instruction pointer */

/* Read on every event, written once per session: kept apart from locks. */
_Alignas(64) atomic_int mt_active;
int mt_native_stacks;
uintptr_t mt_self_base;
__thread int mt_in_hook MT_TLS;
/* On a cache line of its own: every event of every thread takes a number. */
struct mt_seq_line mt_seq_line = { 1 };
_Alignas(64) pthread_mutex_t mt_registry_lock = PTHREAD_MUTEX_INITIALIZER;
struct mt_thread *mt_threads;

static __thread struct mt_thread *tls_thread MT_TLS;
#define THREAD_GONE ((struct mt_thread *)1)

static struct {
	pid_t pid;
	int native;
	int follow_fork;
	int tpa_pending;	/* Python's allocators still to be wrapped */
	char output[4096];
	const struct mt_pyhelper *py;
	pthread_key_t exit_key;
	uint32_t next_thread;
	atomic_int shut;
	uintptr_t self_lo, self_hi;	/* our own code, skipped in native stacks */
} g;

/* ---- raw memory ---------------------------------------------------- */

static void *raw_alloc(size_t n)
{
	void *p = mt_real.mmap(NULL, n, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void raw_free(void *p, size_t n)
{
	if (p)
		mt_real.munmap(p, n);
}

/* ---- block pool ---------------------------------------------------- */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mt_block *pool;

struct mt_block *mt_block_get(void)
{
	struct mt_block *b;

	pthread_mutex_lock(&pool_lock);
	b = pool;
	if (b)
		pool = b->next;
	pthread_mutex_unlock(&pool_lock);
	if (!b) {
		b = raw_alloc(sizeof(*b));
		if (!b)
			return NULL;
	}
	b->next = NULL;
	b->len = 0;
	return b;
}

void mt_block_put(struct mt_block *b)
{
	pthread_mutex_lock(&pool_lock);
	b->next = pool;
	pool = b;
	pthread_mutex_unlock(&pool_lock);
}

/* ---- the meta log: strings, frames, nodes, threads, modules --------- */

/*
 * Every record that is not an event goes to this append-only log, which
 * is kept whole: the writer drains it as it grows, and a forked child
 * following the parent writes it again at the top of its own file.
 */
static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint8_t *buf;
	size_t len, cap;
} meta;

/*
 * The log never moves: the writer copies from it without holding
 * intern_lock, so it lives in one reservation of address space whose
 * pages the kernel provides as they are first written.
 */
#define META_RESERVE (1ull << 32)

static uint8_t *meta_room(size_t n)
{
	if (!meta.buf) {
		void *p = mt_real.mmap(NULL, META_RESERVE, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED)
			return NULL;
		meta.buf = p;
		meta.cap = META_RESERVE;
	}
	return meta.len + n <= meta.cap ? meta.buf + meta.len : NULL;
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t n)
{
	p = mt_put_varint(p, n);
	memcpy(p, s, n);
	return p + n;
}

/* Appends a record of a tag, up to four varints and up to two strings. */
static void meta_record(int tag, int nint, const uint64_t *ints,
			const char *s1, const char *s2)
{
	size_t l1 = s1 ? strlen(s1) : 0, l2 = s2 ? strlen(s2) : 0;
	uint8_t *p = meta_room(1 + 10 * (size_t)nint + l1 + l2 + 20), *start = p;

	if (!p)
		return;
	*p++ = (uint8_t)tag;
	for (int i = 0; i < nint; i++)
		p = mt_put_varint(p, ints[i]);
	if (s1)
		p = put_str(p, s1, l1);
	if (s2)
		p = put_str(p, s2, l2);
	meta.len += (size_t)(p - start);
}

/*
 * Hands out what was appended since *off; the bytes stay valid.  lock
 * returns 0 when it gave up (a dying process whose interrupted thread
 * holds it): meta.len then still counts whole records only.
 */
size_t mt_meta_drain(uint8_t **out, size_t *off, int (*lock)(pthread_mutex_t *))
{
	int locked = lock(&intern_lock);
	size_t n;

	n = meta.len - *off;
	*out = meta.buf + *off;
	*off = meta.len;
	if (locked)
		pthread_mutex_unlock(&intern_lock);
	return n;
}

/* ---- intern tables ------------------------------------------------- */

/* Open addressing on two 64-bit words; value 0 means an empty slot. */
struct table {
	struct tslot {
		uint64_t k1, k2;
		uint32_t val;
	} *slots;
	size_t mask, used;
};

static uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t h = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull);

	h ^= h >> 31;
	h *= 0xBF58476D1CE4E5B9ull;
	return h ^ (h >> 29);
}

static struct tslot *table_find(struct table *t, uint64_t k1, uint64_t k2)
{
	size_t i = mix(k1, k2) & t->mask;

	while (t->slots[i].val && (t->slots[i].k1 != k1 || t->slots[i].k2 != k2))
		i = (i + 1) & t->mask;
	return &t->slots[i];
}

static int table_grow(struct table *t)
{
	size_t n = t->slots ? (t->mask + 1) * 2 : 4096;
	struct table nt = { raw_alloc(n * sizeof(struct tslot)), n - 1, t->used };

	if (!nt.slots)
		return -1;
	for (size_t i = 0; t->slots && i <= t->mask; i++)
		if (t->slots[i].val)
			*table_find(&nt, t->slots[i].k1, t->slots[i].k2) = t->slots[i];
	raw_free(t->slots, t->slots ? (t->mask + 1) * sizeof(struct tslot) : 0);
	*t = nt;
	return 0;
}

/* Finds (k1, k2); when absent, *fresh is set and the next id stored. */
static uint32_t table_get(struct table *t, uint64_t k1, uint64_t k2,
			  uint32_t *next_id, int *fresh)
{
	struct tslot *s;

	if ((!t->slots || t->used * 2 >= t->mask) && table_grow(t) < 0)
		return 0;
	s = table_find(t, k1, k2);
	*fresh = !s->val;
	if (*fresh) {
		s->k1 = k1;
		s->k2 = k2;
		s->val = (*next_id)++;
		t->used++;
	}
	return s->val;
}

static struct table strings, frames, nodes;
static uint32_t next_string = 1, next_frame = 1, next_node = 1;
static _Atomic uint64_t module_gen;

static uint64_t str_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
	return h;
}

static uint32_t intern_string(const char *s)
{
	size_t n = strlen(s);
	int fresh;
	uint32_t id = table_get(&strings, str_hash(s, n), n, &next_string, &fresh);

	if (fresh)
		meta_record(MT_REC_STRING, 0, NULL, s, NULL);
	return id;
}

static uint32_t intern_pyframe(const struct mt_pykey *k)
{
	int fresh;
	uint32_t id = table_get(&frames, k->a, k->b, &next_frame, &fresh);

	if (fresh) {
		char name[256], file[1024];
		int line = 0;
		uint64_t v[4];

		g.py->describe(k, name, sizeof(name), file, sizeof(file), &line);
		v[0] = intern_string(name);
		v[1] = intern_string(file);
		v[2] = line > 0 ? (uint64_t)line : 0;
		v[3] = k->b & 1 ? MT_PYFRAME_ENTRY : 0;
		meta_record(MT_REC_PYFRAME, 4, v, NULL, NULL);
	}
	return id;
}

/* Node for frame key (a, b) under parent; takes intern_lock. */
static uint32_t intern_node(uint32_t parent, uint64_t a, uint64_t b)
{
	uint64_t v[4];
	uint32_t id;
	int fresh;

	pthread_mutex_lock(&intern_lock);
	if (b & NATIVE_BIT) {
		v[1] = MT_NODE_NATIVE;
		v[2] = a;
		v[3] = b & ~NATIVE_BIT;
	} else {
		struct mt_pykey k = { a, b };

		v[1] = MT_NODE_PYTHON;
		v[2] = intern_pyframe(&k);
	}
	v[0] = parent;
	id = table_get(&nodes, (uint64_t)parent << 1 | v[1], v[2] ^ (v[1] ? v[3] << 48 : 0),
		       &next_node, &fresh);
	if (fresh)
		meta_record(MT_REC_NODE, v[1] ? 4 : 3, v, NULL, NULL);
	pthread_mutex_unlock(&intern_lock);
	return id;
}

/* ---- stacks -------------------------------------------------------- */

struct mt_stackcache {
	int depth;
	struct mt_pykey last[MAX_DEPTH];	/* previous stack, outermost first */
	uint32_t last_node[MAX_DEPTH];
	struct cslot {
		uint64_t a, b;
		uint32_t parent, node;
	} slot[CACHE_SLOTS];
};

static uint32_t cached_node(struct mt_stackcache *sc, uint32_t parent,
			    const struct mt_pykey *k)
{
	struct cslot *s = &sc->slot[mix(k->a ^ parent, k->b) & (CACHE_SLOTS - 1)];

	if (s->node && s->parent == parent && s->a == k->a && s->b == k->b)
		return s->node;
	s->node = intern_node(parent, k->a, k->b);
	s->parent = parent;
	s->a = k->a;
	s->b = k->b;
	return s->node;
}

static uint32_t capture_stack(struct mt_thread *t, void **ips, int k)
{
	struct mt_stackcache *sc = t->sc;
	struct mt_pykey keys[MAX_DEPTH];
	int n = 0, same = 0;
	uint32_t node = 0;

	if (k > 0) {
		uint64_t gen = atomic_load_explicit(&module_gen, memory_order_relaxed);
		int skip = 0;

		while (skip < k && (uintptr_t)ips[skip] >= g.self_lo && (uintptr_t)ips[skip] < g.self_hi)
			skip++;
		if (k - skip > MT_MAX_NATIVE)
			k = skip + MT_MAX_NATIVE;
		for (int i = k - 1; i >= skip; i--) {
			keys[n].a = (uint64_t)(uintptr_t)ips[i];
			keys[n++].b = NATIVE_BIT | gen;
		}
	}
	if (g.py) {
		/* innermost first into place, then turned outermost first */
		int k = g.py->walk(keys + n, MAX_PYTHON);

		for (int i = 0, j = k - 1; i < j; i++, j--) {
			struct mt_pykey tmp = keys[n + i];

			keys[n + i] = keys[n + j];
			keys[n + j] = tmp;
		}
		n += k;
	}
	if (n == 0)
		return 0;
	while (same < n && same < sc->depth && keys[same].a == sc->last[same].a &&
	       keys[same].b == sc->last[same].b)
		same++;
	if (same)
		node = sc->last_node[same - 1];
	for (int i = same; i < n; i++) {
		node = cached_node(sc, node, &keys[i]);
		if (!node) {		/* out of memory for the tables */
			sc->depth = 0;
			return 0;
		}
		sc->last[i] = keys[i];
		sc->last_node[i] = node;
	}
	sc->depth = n;
	return node;
}

/* ---- threads ------------------------------------------------------- */

static void mt_thread_lock(struct mt_thread *t)
{
	while (atomic_exchange_explicit(&t->lock, 1, memory_order_acquire))
		while (atomic_load_explicit(&t->lock, memory_order_relaxed))
			__builtin_ia32_pause();
}

/*
 * The writer's way in: it backs off instead of spinning, so that it does
 * not keep pulling the cache line of a lock that the owning thread takes
 * for every event.
 */
void mt_thread_lock_writer(struct mt_thread *t)
{
	struct timespec pause = { 0, 20000 };

	while (atomic_exchange_explicit(&t->lock, 1, memory_order_acquire))
		nanosleep(&pause, NULL);
}

void mt_thread_unlock(struct mt_thread *t)
{
	atomic_store_explicit(&t->lock, 0, memory_order_release);
}

static void emit_thread_record(struct mt_thread *t, const char *name)
{
	uint64_t v[2] = { t->index, (uint64_t)syscall(SYS_gettid) };

	pthread_mutex_lock(&intern_lock);
	meta_record(MT_REC_THREAD, 2, v, name, NULL);
	pthread_mutex_unlock(&intern_lock);
}

#define THREAD_SIZE (sizeof(struct mt_thread) + sizeof(struct mt_stackcache))

void mt_thread_free(struct mt_thread *t)
{
	raw_free(t, THREAD_SIZE);
}

static struct mt_thread *thread_register(void)
{
	struct mt_thread *t = raw_alloc(THREAD_SIZE);
	char name[64] = "";

	if (!t)
		return NULL;
	t->sc = (struct mt_stackcache *)(t + 1);
	t->cur = mt_block_get();
	t->full_tail = &t->full;
	if (!t->cur) {
		mt_thread_free(t);
		return NULL;
	}
	pthread_mutex_lock(&mt_registry_lock);
	t->index = g.next_thread++;
	t->next = mt_threads;
	mt_threads = t;
	pthread_mutex_unlock(&mt_registry_lock);
	pthread_getname_np(pthread_self(), name, sizeof(name));
	emit_thread_record(t, name);
	pthread_setspecific(g.exit_key, t);
	tls_thread = t;
	return t;
}

/* pthread key destructor: the thread's last events go with it. */
static void thread_exit(void *arg)
{
	struct mt_thread *t = arg;

	tls_thread = THREAD_GONE;
	mt_thread_lock(t);
	t->dead = 1;
	mt_thread_unlock(t);
}

void mt_thread_set_name(const char *name)
{
	struct mt_thread *t = tls_thread;

	if (t && t != THREAD_GONE)
		emit_thread_record(t, name);
}

/* ---- events -------------------------------------------------------- */

static struct mt_thread *current_thread(void)
{
	struct mt_thread *t = tls_thread;

	if (MT_UNLIKELY(!t))
		t = thread_register();
	return t == THREAD_GONE ? NULL : t;
}

/*
 * Filled blocks the writer has not taken yet.  Past MAX_WAITING (64 MiB of
 * events) a thread that fills another block waits for the writer, so a
 * program allocating faster than the writer encodes does not grow without
 * bound.
 */
#define MAX_WAITING 256
atomic_int mt_blocks_waiting;

static void wait_for_writer(void)
{
	struct timespec ms = { 0, 1000000 };

	while (atomic_load_explicit(&mt_blocks_waiting, memory_order_relaxed) > MAX_WAITING / 2 &&
	       atomic_load_explicit(&mt_active, memory_order_relaxed) && mt_writer_running()) {
		if (atomic_load_explicit(&mt_writer_paused, memory_order_relaxed))
			mt_writer_resume_due();
		nanosleep(&ms, NULL);
	}
}

static void emit(struct mt_thread *t, unsigned kind, uintptr_t addr,
		 uint64_t size, uint32_t stack)
{
	struct mt_rawev *ev;
	int wait = 0;

	mt_thread_lock(t);
	if (MT_UNLIKELY(t->cur->len == MT_BLOCK_EVENTS)) {
		struct mt_block *nb = mt_block_get();

		if (!nb) {
			mt_thread_unlock(t);
			return;
		}
		*t->full_tail = t->cur;
		t->full_tail = &t->cur->next;
		t->cur = nb;
		wait = atomic_fetch_add(&mt_blocks_waiting, 1) >= MAX_WAITING;
	}
	ev = &t->cur->ev[t->cur->len++];
	ev->seq = atomic_fetch_add_explicit(&mt_seq, 1, memory_order_relaxed);
	ev->addr = addr;
	ev->size = size;
	ev->stack = stack;
	ev->kind = (uint8_t)kind;
	mt_thread_unlock(t);
	if (MT_UNLIKELY(wait))
		wait_for_writer();
}

void mt_record_alloc(unsigned kind, const void *addr, size_t size, void **ips, int nips)
{
	struct mt_thread *t = current_thread();

	if (MT_UNLIKELY(atomic_load_explicit(&mt_writer_paused, memory_order_relaxed)))
		mt_writer_resume_due();
	if (MT_UNLIKELY(g.tpa_pending) && g.py->trace_python_allocators())
		g.tpa_pending = 0;
	if (t)
		emit(t, kind, (uintptr_t)addr, size, capture_stack(t, ips, nips));
}

void mt_record_free(unsigned kind, const void *addr, size_t size)
{
	struct mt_thread *t = current_thread();

	if (t)
		emit(t, kind, (uintptr_t)addr, size, 0);
}

/* ---- modules ------------------------------------------------------- */

#define MAX_MODULES 4096
struct module {
	uint64_t bias;
	uint64_t name_hash;
};
static struct module *known;	/* modules reported so far */
static size_t nknown;

struct scan {
	struct module *found;
	size_t n;
	uint8_t *recs;		/* MODULE records of new modules */
	size_t len, cap;
};

static void hex(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void build_id(struct dl_phdr_info *info, char *out, size_t cap)
{
	out[0] = '\0';
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const void *)p;
			size_t nsz = (nh->n_namesz + 3) & ~3u, dsz = (nh->n_descsz + 3) & ~3u;
			const uint8_t *desc = p + sizeof(*nh) + nsz;

			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(p + sizeof(*nh), "GNU", 4) && nh->n_descsz * 2 + 1 <= cap &&
			    desc + nh->n_descsz <= end) {
				hex(out, desc, nh->n_descsz);
				return;
			}
			p = desc + dsz;
		}
	}
}

static int scan_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct scan *s = arg;
	const char *name = info->dlpi_name;
	char exe[4096], id[128];
	uint64_t h;
	size_t need;
	uint8_t *p;
	int nseg = 0;

	(void)size;
	if (!name[0]) {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		exe[n > 0 ? n : 0] = '\0';
		name = exe;
	}
	h = str_hash(name, strlen(name));
	if (s->n < MAX_MODULES)
		s->found[s->n++] = (struct module){ info->dlpi_addr, h };
	for (size_t i = 0; i < nknown; i++)
		if (known[i].bias == info->dlpi_addr && known[i].name_hash == h)
			return 0;
	build_id(info, id, sizeof(id));
	need = 64 + strlen(name) + strlen(id) + 20 * (size_t)info->dlpi_phnum;
	if (s->len + need > s->cap)
		return 0;	/* more new modules than room: the next scan adds them */
	p = s->recs + s->len;
	*p++ = MT_REC_MODULE;
	p = mt_put_varint(p, module_gen);
	p = mt_put_varint(p, info->dlpi_addr);
	p = put_str(p, name, strlen(name));
	p = put_str(p, id, strlen(id));
	for (int i = 0; i < info->dlpi_phnum; i++)
		nseg += info->dlpi_phdr[i].p_type == PT_LOAD;
	p = mt_put_varint(p, (uint64_t)nseg);
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		p = mt_put_varint(p, ph->p_vaddr);
		p = mt_put_varint(p, ph->p_memsz);
	}
	s->len = (size_t)(p - s->recs);
	return 0;
}

/*
 * Re-reads the loaded objects and records what appeared or went away.
 * dl_iterate_phdr runs outside intern_lock: a thread inside dlopen holds
 * the loader lock and may be waiting for intern_lock in a hook.
 */
void mt_modules_changed(void)
{
	static pthread_mutex_t scan_lock = PTHREAD_MUTEX_INITIALIZER;
	struct scan s = { 0 };
	size_t found_size = MAX_MODULES * sizeof(struct module);

	pthread_mutex_lock(&scan_lock);
	s.cap = 1u << 20;
	s.found = raw_alloc(found_size);
	s.recs = raw_alloc(s.cap);
	if (!known)
		known = raw_alloc(found_size);
	if (!s.found || !s.recs || !known)
		goto out;
	dl_iterate_phdr(scan_one, &s);

	pthread_mutex_lock(&intern_lock);
	for (size_t i = 0; i < nknown; i++) {
		int still = 0;

		for (size_t j = 0; j < s.n && !still; j++)
			still = s.found[j].bias == known[i].bias &&
				s.found[j].name_hash == known[i].name_hash;
		if (!still) {
			uint64_t v[2] = { module_gen + 1, known[i].bias };

			meta_record(MT_REC_UNLOAD, 2, v, NULL, NULL);
			atomic_store(&module_gen, v[0]);
		}
	}
	if (s.len) {
		uint8_t *p = meta_room(s.len);

		if (p) {
			memcpy(p, s.recs, s.len);
			meta.len += s.len;
		}
	}
	memcpy(known, s.found, s.n * sizeof(struct module));
	nknown = s.n;
	pthread_mutex_unlock(&intern_lock);
out:
	raw_free(s.found, found_size);
	raw_free(s.recs, s.cap);
	pthread_mutex_unlock(&scan_lock);
}

/* ---- start-up, fork, shutdown --------------------------------------- */

static int self_range(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t me = (uintptr_t)arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
		    me >= lo && me < lo + ph->p_memsz) {
			g.self_lo = lo;
			g.self_hi = lo + ph->p_memsz;
			mt_self_base = info->dlpi_addr;
			return 1;
		}
	}
	return 0;
}

static void meta_kv(const char *k, const char *v)
{
	pthread_mutex_lock(&intern_lock);
	meta_record(MT_REC_META, 0, NULL, k, v);
	pthread_mutex_unlock(&intern_lock);
}

static void meta_kv_num(const char *k, unsigned long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", v);
	meta_kv(k, buf);
}

static void record_command_line(void)
{
	char buf[8192];
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return;
	for (ssize_t i = 0; i < n - 1; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = '\0';
	meta_kv("command", buf);
}

/* Loads the helper built for the interpreter in this process, if any. */
static int load_python_helper(void)
{
	const char *(*version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
	const char *dir = getenv("MEMTIDE_PYDIR");
	char path[4200];
	int major = 0, minor = 0;
	void *h;

	if (!version)
		return 0;
	if (sscanf(version(), "%d.%d", &major, &minor) != 2)
		return 0;
	if (!dir)
		return 0;
	snprintf(path, sizeof(path), "%s/memtide/_memtide.cpython-%d%d-x86_64-linux-gnu.so",
		 dir, major, minor);
	h = mt_real.dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h)
		g.py = dlsym(h, MT_PYHELPER_SYMBOL);
	if (!g.py || g.py->abi != MT_PYHELPER_ABI ||
	    g.py->version != major * 100 + minor) {
		mt_warn("no support for Python %d.%d in this build (%s): "
			"rebuild with 'make PYTHONS=/path/to/python%d.%d'",
			major, minor, path, major, minor);
		g.py = NULL;
		return -1;
	}
	return 0;
}

/* Puts LD_PRELOAD back as it was and drops memtide's variables. */
static void restore_environment(void)
{
	const char *orig = getenv("MEMTIDE_LD_PRELOAD");

	if (orig && *orig)
		setenv("LD_PRELOAD", orig, 1);
	else
		unsetenv("LD_PRELOAD");
	unsetenv("MEMTIDE_LD_PRELOAD");
	unsetenv("MEMTIDE_OUTPUT");
	unsetenv("MEMTIDE_NATIVE");
	unsetenv("MEMTIDE_FOLLOW_FORK");
	unsetenv("MEMTIDE_TRACE_PYTHON");
	unsetenv("MEMTIDE_PYDIR");
	unsetenv("MEMTIDE_STATUS_FD");
}

static void fork_prepare(void)
{
	mt_in_hook++;
	if (atomic_load(&mt_active))
		mt_writer_pause();
	pthread_mutex_lock(&mt_registry_lock);
	pthread_mutex_lock(&intern_lock);
	pthread_mutex_lock(&pool_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&pool_lock);
	pthread_mutex_unlock(&intern_lock);
	pthread_mutex_unlock(&mt_registry_lock);
	if (atomic_load(&mt_active))
		mt_writer_resume(g.py && g.py->version >= 312 ? 10000000 : 0);
	mt_in_hook--;
}

static void child_output(char *out, size_t cap, const char *parent, pid_t pid)
{
	const char *slash = strrchr(parent, '/');
	const char *dot = strrchr(slash ? slash + 1 : parent, '.');
	int stem = dot && dot != (slash ? slash + 1 : parent) ? (int)(dot - parent)
							      : (int)strlen(parent);

	snprintf(out, cap, "%.*s.%d%s", stem, parent, (int)pid, dot && stem != (int)strlen(parent) ? dot : "");
}

static void fork_child(void)
{
	struct mt_thread *self = tls_thread;

	pthread_mutex_init(&pool_lock, NULL);
	pthread_mutex_init(&mt_registry_lock, NULL);
	pthread_mutex_init(&intern_lock, NULL);
	if (!atomic_load(&mt_active) || !g.follow_fork) {
		atomic_store(&mt_active, 0);
		mt_in_hook--;
		return;
	}
	/* Only this thread lives on; its unsent events belong to the parent. */
	mt_threads = NULL;
	atomic_store(&mt_blocks_waiting, 0);
	if (self && self != THREAD_GONE) {
		atomic_store(&self->lock, 0);
		self->cur->len = 0;
		self->full = NULL;
		self->full_tail = &self->full;
		self->stolen = NULL;
		self->pos = 0;
		self->next = NULL;
		mt_threads = self;
	}
	char parent[sizeof(g.output)];

	memcpy(parent, g.output, sizeof(parent));
	g.pid = getpid();
	child_output(g.output, sizeof(g.output), parent, g.pid);
	meta_kv_num("pid", (unsigned long long)g.pid);
	mt_writer_after_fork_child(g.output);
	mt_in_hook--;
}

/* What a capture session needs, however it was started; -1 on failure. */
static int session_start(const char *output, int native, int follow_fork)
{
	static int once, unwind_ready;
	const char *(*py_version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
	struct timespec ts;
	char cwd[PATH_MAX];

	snprintf(g.output, sizeof(g.output), "%s", output);
	g.native = native;
	g.follow_fork = follow_fork;
	g.pid = getpid();
	atomic_store(&g.shut, 0);
	if (!once) {
		if (pthread_key_create(&g.exit_key, thread_exit))
			return -1;
		dl_iterate_phdr(self_range, (void *)(uintptr_t)&mt_tracker_init);
	}
	if (native && !unwind_ready) {
		mt_unwind_init();
		unwind_ready = 1;
	}
	mt_native_stacks = native;
	clock_gettime(CLOCK_REALTIME, &ts);
	meta_kv("format", "memtide capture");
	meta_kv_num("pid", (unsigned long long)g.pid);
	meta_kv_num("start_unix_ns", (unsigned long long)ts.tv_sec * 1000000000ull +
				     (unsigned long long)ts.tv_nsec);
	meta_kv("native", native ? "1" : "0");
	if (py_version)
		meta_kv("python", py_version());
	record_command_line();
	if (getcwd(cwd, sizeof(cwd)))	/* reports show paths relative to it */
		meta_kv("cwd", cwd);
	mt_modules_changed();
	if (mt_writer_start(g.output) < 0)
		return -1;
	if (!once)
		pthread_atfork(fork_prepare, fork_parent, fork_child);
	once = 1;
	atomic_store(&mt_active, 1);
	return 0;
}

/* Start-up under LD_PRELOAD, from the variables memtide run sets. */
int mt_tracker_init(void)
{
	const char *out = getenv("MEMTIDE_OUTPUT");
	int native, follow;

	if (!out || !*out)
		return 0;
	native = getenv("MEMTIDE_NATIVE") && !strcmp(getenv("MEMTIDE_NATIVE"), "1");
	follow = getenv("MEMTIDE_FOLLOW_FORK") && !strcmp(getenv("MEMTIDE_FOLLOW_FORK"), "1");
	if (load_python_helper() < 0) {
		restore_environment();
		_exit(2);
	}
	g.tpa_pending = g.py && getenv("MEMTIDE_TRACE_PYTHON") &&
			!strcmp(getenv("MEMTIDE_TRACE_PYTHON"), "1");
	mt_writer_status_fd(getenv("MEMTIDE_STATUS_FD"));
	restore_environment();
	if (session_start(out, native, follow) < 0)
		return -1;
	mt_signals_install();
	return 0;
}

/*
 * The in-process API, for memtide.Tracker: libmemtide.so is dlopen()ed
 * (no LD_PRELOAD) and the allocator calls of every loaded object are
 * redirected through their GOT slots.  Returns 0, or -1 with a reason.
 */
__attribute__((visibility("default")))
int memtide_tracker_start(const char *path, int native, int follow_fork,
			  const void *pyhelper, char *err, size_t errlen)
{
	int rc;

	mt_resolve();
	if (atomic_load(&mt_active)) {
		snprintf(err, errlen, "a memtide tracker is already running in this process");
		return -1;
	}
	mt_in_hook++;
	g.py = pyhelper;
	errno = 0;
	rc = session_start(path, native, follow_fork);
	if (rc < 0)
		snprintf(err, errlen, "cannot write capture '%s': %s", path,
			 errno ? strerror(errno) : "writer failed");
	else if (mt_got_install() < 0)
		snprintf(err, errlen, "cannot install the allocation hooks");
	mt_in_hook--;
	return rc;
}

__attribute__((visibility("default")))
int memtide_tracker_stop(void)
{
	if (!atomic_load(&mt_active))
		return -1;
	mt_in_hook++;
	mt_got_remove();
	mt_tracker_shutdown();
	mt_in_hook--;
	return 0;
}

__attribute__((visibility("default")))
int memtide_tracker_active(void)
{
	return atomic_load(&mt_active);
}

/* Marks the start of a pipeline step (name NULL or "": outside steps). */
__attribute__((visibility("default")))
int memtide_step(const char *name)
{
	struct mt_thread *t;
	uint32_t id = 0;

	if (!atomic_load(&mt_active) || mt_in_hook)
		return -1;
	mt_in_hook = 1;
	t = current_thread();
	if (t && name && *name) {
		pthread_mutex_lock(&intern_lock);
		id = intern_string(name);
		pthread_mutex_unlock(&intern_lock);
	}
	if (t)	/* the stack field carries the RSS, in pages */
		emit(t, MT_EV_STEP, id, mt_now_ns(), (uint32_t)(mt_rss_bytes() / 4096));
	mt_in_hook = 0;
	return t ? 0 : -1;
}

/*
 * For the Python allocator wrappers of the helper: enter() before calling
 * the wrapped allocator (so its own malloc/mmap calls are not recorded),
 * then record the block and leave().
 */
__attribute__((visibility("default")))
int memtide_guard_enter(void)
{
	if (!atomic_load_explicit(&mt_active, memory_order_relaxed) || mt_in_hook)
		return 0;
	mt_in_hook = 1;
	return 1;
}

__attribute__((visibility("default")))
void memtide_guard_leave(void)
{
	mt_in_hook = 0;
}

__attribute__((visibility("default")))
void memtide_record_pymalloc(void *p, size_t n)
{
	if (!p)
		return;
	if (mt_native_stacks) {
		void *ips[MT_MAX_NATIVE + 4];
		int k = unw_backtrace(ips, MT_MAX_NATIVE + 4);

		mt_record_alloc(MT_EV_PYMALLOC, p, n, ips, k);
	} else {
		mt_record_alloc(MT_EV_PYMALLOC, p, n, NULL, 0);
	}
}

__attribute__((visibility("default")))
void memtide_record_pyfree(void *p)
{
	if (p)
		mt_record_free(MT_EV_FREE, p, 0);
}

/* This process's capture is live: not a child that stopped tracking. */
int mt_tracker_owner(void)
{
	return atomic_load(&mt_active) && getpid() == g.pid && !atomic_load(&g.shut);
}

/* The last flush of a process that will not reach exit (signals.c,
 * exec.c); dying: from a signal handler.  -1, or the mark for
 * mt_tracker_unend() (a failed exec). */
int64_t mt_tracker_end(const char *ended_by, int dying)
{
	if (!mt_tracker_owner() || atomic_exchange(&g.shut, 1))
		return -1;
	if (dying)
		atomic_store(&mt_active, 0);
	return mt_writer_finish(ended_by, dying);
}

void mt_tracker_unend(int64_t mark)
{
	mt_writer_unfinish(mark);
	atomic_store(&g.shut, 0);
}

void mt_tracker_shutdown(void)
{
	if (!atomic_load(&mt_active) || getpid() != g.pid ||
	    atomic_exchange(&g.shut, 1))
		return;
	atomic_store(&mt_active, 0);
	mt_writer_stop();
}

__attribute__((constructor)) static void memtide_start(void)
{
	mt_in_hook = 1;
	mt_resolve();
	mt_tracker_init();
	mt_in_hook = 0;
}

__attribute__((destructor)) static void memtide_stop(void)
{
	mt_in_hook = 1;
	mt_tracker_shutdown();
}
