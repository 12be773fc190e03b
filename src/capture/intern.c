/*
 * intern.c - stacks to node ids inside libmemtide.so: the global tables
 * of strings, Python frames and call-tree nodes (behind mt_meta_lock,
 * each new entry appended to the meta log), and the capture of a stack
 * (native return addresses, then Python frames from the helper) through
 * the calling thread's own cache, so that the tables are reached only the
 * first time a thread meets a call site.
 */

#include <string.h>

#include "memtide/format.h"
#include "pyhelper.h"
#include "tracker.h"


/*
 * Deeper Python stacks keep their innermost frames.  The hooks run on the
 * program's own stacks, which may be small (threading.stack_size(32768)):
 * a capture uses about 5 KiB of stack.
 */
#define MAX_PYTHON 192
#define MAX_DEPTH (MT_MAX_NATIVE + MAX_PYTHON)
/*
 * Per-thread (parent, frame) -> node cache, direct-mapped: 384 KiB of a
 * thread's record, touched as it fills.  At 2,048 slots py_mixed_bart
 * --native missed it often enough that the global table (under
 * mt_meta_lock) took 3 % of the run; 16,384 cut that by 60 %.
 */
#define CACHE_SLOTS 16384
#define PREFETCH 64		/* slots fetched ahead at most */
#define NATIVE_BIT (1ull << 63)	/* in key.b: the key is an instruction pointer */

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
	size_t n = t->slots ? (t->mask + 1) * 2 : 1024;	/* every page is touched */
	struct table nt = { mt_raw_alloc(n * sizeof(struct tslot)), n - 1, t->used };

	if (!nt.slots)
		return -1;
	for (size_t i = 0; t->slots && i <= t->mask; i++)
		if (t->slots[i].val)
			*table_find(&nt, t->slots[i].k1, t->slots[i].k2) = t->slots[i];
	mt_raw_free(t->slots, t->slots ? (t->mask + 1) * sizeof(struct tslot) : 0);
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

uint64_t mt_str_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
	return h;
}

/* The caller holds mt_meta_lock. */
uint32_t mt_intern_string(const char *s)
{
	size_t n = strlen(s);
	int fresh;
	uint32_t id = table_get(&strings, mt_str_hash(s, n), n, &next_string, &fresh);

	if (fresh)
		mt_meta_record(MT_REC_STRING, 0, NULL, s, NULL);
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

		mt_py->describe(k, name, sizeof(name), file, sizeof(file), &line);
		v[0] = mt_intern_string(name);
		v[1] = mt_intern_string(file);
		v[2] = line > 0 ? (uint64_t)line : 0;
		v[3] = k->b & 1 ? MT_PYFRAME_ENTRY : 0;
		mt_meta_record(MT_REC_PYFRAME, 4, v, NULL, NULL);
	}
	return id;
}

/* Node for frame key (a, b) under parent; takes mt_meta_lock. */
static uint32_t intern_node(uint32_t parent, uint64_t a, uint64_t b)
{
	uint64_t v[4];
	uint32_t id;
	int fresh;

	pthread_mutex_lock(&mt_meta_lock);
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
		mt_meta_record(MT_REC_NODE, v[1] ? 4 : 3, v, NULL, NULL);
	pthread_mutex_unlock(&mt_meta_lock);
	return id;
}

/* ---- stacks -------------------------------------------------------- */

struct mt_stackcache {
	int depth;
	struct mt_pykey last[MAX_DEPTH];	/* previous stack, outermost first */
	uint32_t last_node[MAX_DEPTH];
	uint64_t last_hash[MAX_DEPTH];		/* its paths' hashes (path_hash) */
	struct cslot {
		uint64_t a, b;
		uint32_t parent, node;
	} slot[CACHE_SLOTS];
};

const size_t mt_stackcache_size = sizeof(struct mt_stackcache);

/*
 * The cache is indexed by a hash of the path from the root (which the
 * parent node stands for), not of the parent's id: every slot a stack
 * needs is known before the first is looked up, so all are fetched from
 * memory at once.  Looked up one after the other, each slot waited for
 * the last: 61% of mt_capture_stack's time in py_mixed_bart --native,
 * where a new native frame makes every Python frame after it new too.
 */
static uint64_t path_hash(uint64_t parent_path, const struct mt_pykey *k)
{
	return mix(parent_path ^ k->a, k->b);
}

static uint32_t cached_node(struct mt_stackcache *sc, uint32_t parent,
			    const struct mt_pykey *k, uint64_t path)
{
	struct cslot *s = &sc->slot[path & (CACHE_SLOTS - 1)];

	if (s->node && s->parent == parent && s->a == k->a && s->b == k->b)
		return s->node;
	s->node = intern_node(parent, k->a, k->b);
	s->parent = parent;
	s->a = k->a;
	s->b = k->b;
	return s->node;
}

uint32_t mt_capture_stack(struct mt_thread *t, void **ips, int k)
{
	struct mt_stackcache *sc = t->sc;
	struct mt_pykey keys[MAX_DEPTH];
	int n = 0, same = 0;
	uint32_t node = 0;
	uint64_t path;

	if (k > 0) {
		uint64_t gen = atomic_load_explicit(&mt_module_gen, memory_order_relaxed);
		int skip = 0;

		while (skip < k && (uintptr_t)ips[skip] >= mt_self_lo && (uintptr_t)ips[skip] < mt_self_hi)
			skip++;
		if (k - skip > MT_MAX_NATIVE)
			k = skip + MT_MAX_NATIVE;
		for (int i = k - 1; i >= skip; i--) {
			keys[n].a = (uint64_t)(uintptr_t)ips[i];
			keys[n++].b = NATIVE_BIT | gen;
		}
	}
	if (mt_py) {
		/* innermost first into place, then turned outermost first */
		int k = mt_py->walk(keys + n, MAX_PYTHON);

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
	path = same ? sc->last_hash[same - 1] : 0;
	for (int i = same; i < n; i++) {
		sc->last_hash[i] = path = path_hash(path, &keys[i]);
		if (i - same < PREFETCH)
			__builtin_prefetch(&sc->slot[path & (CACHE_SLOTS - 1)]);
	}
	for (int i = same; i < n; i++) {
		node = cached_node(sc, node, &keys[i], sc->last_hash[i]);
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
