/*
 * census.c - memtide.census(): the live Python objects of the calling
 * interpreter, counted and sized by type (and by allocating site), part of
 * the per-version helper memtide._memtide.  Runs in the user's
 * interpreter, holding the GIL, outside the allocation hooks: it uses
 * plain malloc.
 *
 * The walk, in one pass over the collector's own generation lists (the
 * permanent one of gc.freeze() included): every object the garbage
 * collector tracks, plus every object reachable from them that it does
 * not track (ints, strs, floats, bytes, untracked tuples and dicts and
 * what those hold), found through tp_traverse and counted once thanks to
 * a bitmap of addresses.  Nothing but CPython's own C code runs during
 * the walk, and automatic collection is off, so the lists stay as they
 * are; the sizes that take other code (a __sizeof__ written in Python, an
 * extension's) are asked for afterwards, on references the walk took.
 * Another thread can only run during that second part, so its changes
 * make counts approximate, never a crash.  Dicts of instances, classes
 * and modules are counted as "dict of <owner's class>", as guppy does.
 *
 * Size is sys.getsizeof()'s figure: __sizeof__() plus the pre-header the
 * interpreter allocates before the object (the GC header; in 3.11+ the
 * managed dict pointers too), computed as the running version does.  A
 * __sizeof__ that raises or returns nonsense counts as object.__sizeof__
 * would (basic size plus items), and its exception is dropped.  Buffer
 * owners count their buffer when their __sizeof__ does: numpy arrays that
 * own their data (OWNDATA) report it, views do not, so an 80 MB array is
 * 80 MB once, however many views it has.
 *
 * By site, under a tracker that records Python's allocators, each
 * object's memory block (the object less its pre-header) is looked up in
 * the tracker's map of live blocks, which gives the stack that allocated
 * it; the stack's innermost Python frame, read from a copy of the
 * tracker's meta log, names the row "file:line (function)".
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define Py_BUILD_CORE 1
#undef _PyGC_FINALIZED
#include <internal/pycore_gc.h>	/* the collector's lists */

#include "census.h"
#include "../include/memtide/format.h"
#include "../src/format/varint.h"

/* How the size of a type's instances is found (decided once per type). */
enum {
	SZ_DEFAULT,	/* object.__sizeof__: basic size plus items */
	SZ_CMETHOD,	/* a core type's C method (core_type()): called directly */
	SZ_OTHER,	/* anything else (Python code...): asked after the walk */
};

/* One type met in the walk; the row tables point at these. */
struct ctype {
	PyTypeObject *tp;	/* a reference */
	PyObject *sizeof_fn;	/* a reference for SZ_CMETHOD / SZ_OTHER */
	int how;
};

/* A row being summed: a type (and a site when by site). */
struct crow {
	uint32_t type;		/* index in types, +1; 0: empty slot */
	uint32_t owner;		/* of a dict: its owner's type index; 0: none */
	uint32_t site;		/* stack node of the tracker; 0: unknown */
	uint64_t count, size;
};

struct census {
	/* untracked objects already counted: a bit per 16 bytes of address
	 * space, in bitmaps of a MiB each, found by the MiB's number */
	struct chunk {
		uintptr_t mib;	/* address >> CHUNK_SHIFT, + 1; 0: empty */
		uint64_t *bits;
	} *chunks, last_chunk;
	size_t chunk_mask, nchunks;
	/* the children of the object being traversed, not yet looked at */
	PyObject **kids;
	size_t nkids, cap_kids;
	/* types, by address; open addressing of indexes into types[] */
	struct ctype *types;
	size_t ntypes, cap_types;
	uint32_t *type_slots;
	size_t type_mask;
	uint32_t last_tp_index;
	PyTypeObject *last_tp;
	/* rows */
	struct crow *rows;
	size_t row_mask, nrows;
	/* untracked containers waiting for their traversal */
	PyObject **stack;
	size_t nstack, cap_stack;
	/* objects sized after the walk, each a reference */
	struct deferred {
		PyObject *obj;
		uint32_t type, owner, site;	/* its row's key */
	} *later;
	size_t nlater, cap_later;
	/* dicts met before their owner (instance, class, module), whose rows
	 * wait for the end of the walk; dict -> its owner's type index */
	struct owned {
		uintptr_t dict;	/* 0: empty */
		uint32_t owner;
	} *owners;
	size_t owner_mask, nowners;
	struct pending {
		uintptr_t dict;
		uint64_t size;
		uint32_t type, site;
	} *dicts;
	size_t ndicts, cap_dicts;
	PyObject *exclude;	/* a tuple of types left out, with what they hold */
	const struct mt_census_sites *sites;	/* NULL: by type only */
	int by_type;
	int failed;		/* out of memory */
};

static uint64_t mix_ptr(uintptr_t p)
{
	uint64_t x = (uint64_t)p >> 4;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	return x ^ (x >> 33);
}

/* Doubles an array of *cap elements of size bytes. */
static int grow(void **a, size_t *cap, size_t size)
{
	size_t n = *cap ? *cap * 2 : 256;
	void *v = realloc(*a, n * size);

	if (!v)
		return -1;
	*a = v;
	*cap = n;
	return 0;
}

/* ---- the set of untracked objects counted -------------------------- */

/*
 * Objects are at least 16 bytes long and start 8-byte aligned (16 for
 * the allocators'), so two never share a 16-byte grain.  The objects of
 * a heap sit in a few arenas: the bitmaps of their MiBs stay few and
 * close, where a hash set of addresses would miss the cache at every
 * lookup.
 */
#define CHUNK_SHIFT 20
#define GRAIN_SHIFT 4
#define CHUNK_WORDS ((1u << (CHUNK_SHIFT - GRAIN_SHIFT)) / 64)

static uint64_t *chunk_bits(struct census *c, uintptr_t mib)
{
	size_t i;

	if (c->last_chunk.mib == mib)
		return c->last_chunk.bits;
	if ((c->nchunks + 1) * 2 > c->chunk_mask + 1) {
		size_t n = c->chunks ? (c->chunk_mask + 1) * 2 : 256;
		struct chunk *v = calloc(n, sizeof(*v));

		if (!v)
			return NULL;
		for (size_t k = 0; c->chunks && k <= c->chunk_mask; k++) {
			if (!c->chunks[k].mib)
				continue;
			for (i = mix_ptr(c->chunks[k].mib << 4) & (n - 1); v[i].mib; i = (i + 1) & (n - 1))
				;
			v[i] = c->chunks[k];
		}
		free(c->chunks);
		c->chunks = v;
		c->chunk_mask = n - 1;
	}
	for (i = mix_ptr(mib << 4) & c->chunk_mask; c->chunks[i].mib; i = (i + 1) & c->chunk_mask)
		if (c->chunks[i].mib == mib)
			goto found;
	if (!(c->chunks[i].bits = calloc(CHUNK_WORDS, sizeof(uint64_t))))
		return NULL;
	c->chunks[i].mib = mib;
	c->nchunks++;
found:
	c->last_chunk = c->chunks[i];
	return c->last_chunk.bits;
}

/* 1 when p was not in the set (it is now), 0 when it was, -1: no memory. */
static int seen_add(struct census *c, uintptr_t p)
{
	uint64_t *bits = chunk_bits(c, (p >> CHUNK_SHIFT) + 1), bit;
	size_t grain = (p & ((1u << CHUNK_SHIFT) - 1)) >> GRAIN_SHIFT;

	if (!bits)
		return -1;
	bit = 1ull << (grain & 63);
	if (bits[grain / 64] & bit)
		return 0;
	bits[grain / 64] |= bit;
	return 1;
}

/* ---- types ------------------------------------------------------------ */

static PyObject *object_sizeof;	/* object.__sizeof__ */

/*
 * What the interpreter allocates before an object of type tp: the GC
 * header, and from 3.11 the managed dict (and weakref) pointers; the
 * internal _PyType_PreHeaderSize(), whose header cannot be mixed with the
 * public ones in 3.11.
 */
#if PY_VERSION_HEX >= 0x030C0000
#define MT_PREHEADER_FLAGS Py_TPFLAGS_PREHEADER
#elif PY_VERSION_HEX >= 0x030B0000
#define MT_PREHEADER_FLAGS Py_TPFLAGS_MANAGED_DICT
#else
#define MT_PREHEADER_FLAGS 0
#endif

static Py_ssize_t preheader_of_type(PyTypeObject *tp)
{
	return (PyType_IS_GC(tp) ? (Py_ssize_t)sizeof(PyGC_Head) : 0) +
	       ((tp->tp_flags & MT_PREHEADER_FLAGS) ? 2 * (Py_ssize_t)sizeof(PyObject *) : 0);
}

/* What sys.getsizeof adds to __sizeof__, as this version does. */
static Py_ssize_t preheader(PyObject *o)
{
#if PY_VERSION_HEX >= 0x030D0000
	if (Py_IS_TYPE(o, &PyType_Type) && !PyType_HasFeature((PyTypeObject *)o, Py_TPFLAGS_HEAPTYPE))
		return 0;	/* a static type */
#endif
#if PY_VERSION_HEX >= 0x030B0000
	return preheader_of_type(Py_TYPE(o));
#else
	return PyObject_IS_GC(o) ? (Py_ssize_t)sizeof(PyGC_Head) : 0;
#endif
}

/* Where the object's memory block starts. */
static uintptr_t block_of(PyObject *o)
{
	return (uintptr_t)o - (uintptr_t)preheader_of_type(Py_TYPE(o));
}

/* object.__sizeof__(o), which never fails. */
static Py_ssize_t default_sizeof(PyObject *o)
{
	PyTypeObject *tp = Py_TYPE(o);
	Py_ssize_t n = tp->tp_basicsize;

	if (tp->tp_itemsize > 0)
		n += ((PyVarObject *)o)->ob_size * tp->tp_itemsize;
	return n;
}

static PyObject *sizeof_name;	/* "__sizeof__" */

/*
 * The interpreter's own types whose __sizeof__ (C, without arguments) only
 * reads the object and returns an int: called during the walk.  Any other
 * __sizeof__ (an extension's, numpy's) might run code that changes the
 * collector's lists: called after it.
 */
static int core_type(PyTypeObject *tp)
{
	static PyTypeObject *const core[] = {
		&PyUnicode_Type, &PyLong_Type, &PyDict_Type, &PyList_Type, &PySet_Type,
		&PyFrozenSet_Type, &PyBytes_Type, &PyByteArray_Type, &PyType_Type, &PyCode_Type,
		&PyTuple_Type, &PyODict_Type,
	};

	for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++)
		if (tp == core[i])
			return 1;
	return 0;
}

static void lookup_sizeof(struct ctype *t)
{
	PyObject *fn = _PyType_Lookup(t->tp, sizeof_name);	/* borrowed; never raises */

	if (!fn || fn == object_sizeof) {
		t->how = SZ_DEFAULT;
		return;
	}
	if (Py_IS_TYPE(fn, &PyMethodDescr_Type) && core_type(PyDescr_TYPE(fn)) &&
	    (((PyMethodDescrObject *)fn)->d_method->ml_flags &
	     (METH_VARARGS | METH_KEYWORDS | METH_NOARGS | METH_O | METH_FASTCALL)) == METH_NOARGS)
		t->how = SZ_CMETHOD;
	else
		t->how = SZ_OTHER;
	Py_INCREF(fn);
	t->sizeof_fn = fn;
}

/* The index (+1) of o's type in c->types, added when new; 0: no memory. */
static uint32_t type_index(struct census *c, PyTypeObject *tp)
{
	size_t i;

	if (tp == c->last_tp)
		return c->last_tp_index;
	if ((c->ntypes + 1) * 2 > c->type_mask + 1) {
		size_t n = c->type_slots ? (c->type_mask + 1) * 2 : 1024;
		uint32_t *v = calloc(n, sizeof(*v));

		if (!v)
			return 0;
		for (size_t k = 0; k < c->ntypes; k++) {
			for (i = mix_ptr((uintptr_t)c->types[k].tp) & (n - 1); v[i]; i = (i + 1) & (n - 1))
				;
			v[i] = (uint32_t)k + 1;
		}
		free(c->type_slots);
		c->type_slots = v;
		c->type_mask = n - 1;
	}
	for (i = mix_ptr((uintptr_t)tp) & c->type_mask; c->type_slots[i]; i = (i + 1) & c->type_mask)
		if (c->types[c->type_slots[i] - 1].tp == tp)
			goto found;
	if (c->ntypes == c->cap_types && grow((void **)&c->types, &c->cap_types, sizeof(*c->types)) < 0)
		return 0;
	c->types[c->ntypes] = (struct ctype){ .tp = tp };
	lookup_sizeof(&c->types[c->ntypes]);
	Py_INCREF(tp);
	c->type_slots[i] = (uint32_t)++c->ntypes;
found:
	c->last_tp = tp;
	c->last_tp_index = c->type_slots[i];
	return c->last_tp_index;
}

/* ---- rows --------------------------------------------------------------- */

static uint64_t row_hash(uint32_t type, uint32_t owner, uint32_t site)
{
	return mix_ptr((uintptr_t)type << 32 | site) ^ (uint64_t)owner * 0x9E3779B97F4A7C15ull;
}

static struct crow *row_for(struct census *c, uint32_t type, uint32_t owner, uint32_t site)
{
	size_t i;
	uint64_t h;

	if ((c->nrows + 1) * 2 > c->row_mask + 1) {
		size_t n = c->rows ? (c->row_mask + 1) * 2 : 1024;
		struct crow *v = calloc(n, sizeof(*v));

		if (!v)
			return NULL;
		for (size_t k = 0; c->rows && k <= c->row_mask; k++) {
			struct crow *r = &c->rows[k];

			if (!r->type)
				continue;
			h = row_hash(r->type, r->owner, r->site);
			for (i = h & (n - 1); v[i].type; i = (i + 1) & (n - 1))
				;
			v[i] = *r;
		}
		free(c->rows);
		c->rows = v;
		c->row_mask = n - 1;
	}
	h = row_hash(type, owner, site);
	for (i = h & c->row_mask; c->rows[i].type; i = (i + 1) & c->row_mask)
		if (c->rows[i].type == type && c->rows[i].owner == owner && c->rows[i].site == site)
			return &c->rows[i];
	c->rows[i].type = type;
	c->rows[i].owner = owner;
	c->rows[i].site = site;
	c->nrows++;
	return &c->rows[i];
}

/* ---- counting one object ------------------------------------------------ */

static Py_ssize_t size_from(PyObject *res, PyObject *o)
{
	Py_ssize_t n = res ? PyLong_AsSsize_t(res) : -1;

	Py_XDECREF(res);
	if (n < 0) {	/* raised, not an int, or negative: counted as object.__sizeof__ */
		PyErr_Clear();
		n = default_sizeof(o);
	}
	return n;
}

/* The dict of an instance, a type or a module, without making one. */
static PyObject *dict_of(PyObject *o)
{
	PyTypeObject *tp = Py_TYPE(o);

#if PY_VERSION_HEX >= 0x030B0000
	if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
		/* the pointer before the GC header (3.12: or its values, tagged) */
		uintptr_t p = ((uintptr_t *)o)[-3];
#if PY_VERSION_HEX < 0x030D0000 && PY_VERSION_HEX >= 0x030C0000
		if (p & 1)
			return NULL;
#endif
		return (PyObject *)p;
	}
#endif
	if (tp->tp_dictoffset > 0)
		return *(PyObject **)((char *)o + tp->tp_dictoffset);
	if (tp->tp_dictoffset < 0) {
		PyObject **p = _PyObject_GetDictPtr(o);

		return p ? *p : NULL;
	}
	return NULL;
}

static int owner_put(struct census *c, PyObject *dict, uint32_t owner)
{
	size_t i;

	if ((c->nowners + 1) * 2 > c->owner_mask + 1) {
		size_t n = c->owners ? (c->owner_mask + 1) * 2 : 4096;
		struct owned *v = calloc(n, sizeof(*v));

		if (!v)
			return -1;
		for (size_t k = 0; c->owners && k <= c->owner_mask; k++) {
			if (!c->owners[k].dict)
				continue;
			for (i = mix_ptr(c->owners[k].dict) & (n - 1); v[i].dict; i = (i + 1) & (n - 1))
				;
			v[i] = c->owners[k];
		}
		free(c->owners);
		c->owners = v;
		c->owner_mask = n - 1;
	}
	for (i = mix_ptr((uintptr_t)dict) & c->owner_mask; c->owners[i].dict; i = (i + 1) & c->owner_mask)
		if (c->owners[i].dict == (uintptr_t)dict)
			return 0;
	c->owners[i] = (struct owned){ (uintptr_t)dict, owner };
	c->nowners++;
	return 0;
}

static uint32_t owner_of(const struct census *c, uintptr_t dict)
{
	for (size_t i = c->owners ? mix_ptr(dict) & c->owner_mask : 0; c->owners && c->owners[i].dict;
	     i = (i + 1) & c->owner_mask)
		if (c->owners[i].dict == dict)
			return c->owners[i].owner;
	return 0;
}

#define PENDING UINT32_MAX	/* owner of a dict met before its owner, if any */

/* Adds o to the row of its type ti (a dict: and of its owner's), and site. */
static void add(struct census *c, PyObject *o, uint32_t ti, uint32_t owner)
{
	struct ctype *t = &c->types[ti - 1];
	uint32_t site = c->sites ? c->sites->site_of(block_of(o)) : 0;
	struct crow *r;
	Py_ssize_t n;

	switch (t->how) {
	case SZ_DEFAULT:
		n = default_sizeof(o);
		break;
	case SZ_CMETHOD:
		n = size_from(((PyMethodDescrObject *)t->sizeof_fn)->d_method->ml_meth(o, NULL), o);
		break;
	default:
		/* by site alone, every type goes into the row of the first */
		r = row_for(c, c->by_type ? ti : 1, owner == PENDING ? 0 : owner, site);
		if (!r || (c->nlater == c->cap_later && grow((void **)&c->later, &c->cap_later,
							     sizeof(*c->later)) < 0)) {
			c->failed = 1;
			return;
		}
		r->count++;
		Py_INCREF(o);
		c->later[c->nlater++] = (struct deferred){ o, r->type, r->owner, r->site };
		return;
	}
	n += preheader(o);
	if (owner == PENDING) {
		if (c->ndicts == c->cap_dicts &&
		    grow((void **)&c->dicts, &c->cap_dicts, sizeof(*c->dicts)) < 0) {
			c->failed = 1;
			return;
		}
		c->dicts[c->ndicts++] = (struct pending){ (uintptr_t)o, (uint64_t)n, ti, site };
		return;
	}
	if (!(r = row_for(c, c->by_type ? ti : 1, owner, site))) {
		c->failed = 1;
		return;
	}
	r->count++;
	r->size += (uint64_t)n;
}

static void push(struct census *c, PyObject *o)
{
	if (c->nstack == c->cap_stack && grow((void **)&c->stack, &c->cap_stack, sizeof(*c->stack)) < 0)
		c->failed = 1;
	else
		c->stack[c->nstack++] = o;
}

static int is_tracked(PyObject *o);

/*
 * The dict d of an object of type owner: counted now as "dict of" it,
 * unless counted already (met before its owner: its row waits for the
 * end of the walk, see count_dicts).  An untracked dict is traversed
 * from here, since its owner's traversal passes it by as counted.
 */
static void owned_dict(struct census *c, PyObject *d, uint32_t owner)
{
	int fresh = seen_add(c, (uintptr_t)d);
	uint32_t ti;

	if (fresh < 0) {
		c->failed = 1;
	} else if (!fresh) {
		if (owner_put(c, d, owner) < 0)
			c->failed = 1;
	} else if (!(ti = type_index(c, Py_TYPE(d)))) {
		c->failed = 1;
	} else {
		add(c, d, ti, owner);
		if (!is_tracked(d))
			push(c, d);
	}
}

/*
 * Counts o; marked: it is in the set of objects counted already (an
 * untracked one), otherwise a dict is put there, as an owner's is.
 */
static void count(struct census *c, PyObject *o, int marked)
{
	uint32_t ti = type_index(c, Py_TYPE(o));
	PyObject *d;

	if (!ti) {
		c->failed = 1;
		return;
	}
	if (!c->by_type) {
		add(c, o, ti, 0);
		return;
	}
	if ((d = dict_of(o)) && Py_IS_TYPE(d, &PyDict_Type))
		owned_dict(c, d, ti);
	if (!Py_IS_TYPE(o, &PyDict_Type)) {
		add(c, o, ti, 0);
	} else if (marked) {
		add(c, o, ti, PENDING);
	} else {
		int fresh = seen_add(c, (uintptr_t)o);

		if (fresh > 0)
			add(c, o, ti, PENDING);
		c->failed |= fresh < 0;	/* 0: counted as its owner's */
	}
}

/* Dicts met before their owners go into rows "dict of <owner's type>",
 * or "dict" when they have none. */
static void count_dicts(struct census *c)
{
	for (size_t i = 0; i < c->ndicts; i++) {
		struct pending *d = &c->dicts[i];
		struct crow *r = row_for(c, d->type, owner_of(c, d->dict), d->site);

		if (!r) {
			c->failed = 1;
			return;
		}
		r->count++;
		r->size += d->size;
	}
}

static int excluded(struct census *c, PyObject *o)
{
	for (Py_ssize_t i = 0; c->exclude && i < PyTuple_GET_SIZE(c->exclude); i++)
		if (Py_TYPE(o) == (PyTypeObject *)PyTuple_GET_ITEM(c->exclude, i))
			return 1;
	return 0;
}

/*
 * Tracked: in the garbage collector's lists (its header's next link is
 * set), which the walk goes through; PyObject_GC_IsTracked() without its
 * call.
 */
static int is_tracked(PyObject *o)
{
	PyTypeObject *tp = Py_TYPE(o);

	return PyType_IS_GC(tp) && (!tp->tp_is_gc || tp->tp_is_gc(o)) &&
	       ((PyGC_Head *)o - 1)->_gc_next != 0;
}

/* tp_traverse's callback: the children are looked at once it returns. */
static int visit(PyObject *o, void *arg)
{
	struct census *c = arg;

	if (c->nkids == c->cap_kids && grow((void **)&c->kids, &c->cap_kids, sizeof(*c->kids)) < 0) {
		c->failed = 1;
		return -1;
	}
	c->kids[c->nkids++] = o;
	return 0;
}

/* Untracked objects are counted here, once; untracked containers (tuples,
 * dicts the collector stopped tracking) are traversed in turn. */
static void look_at_kid(struct census *c, PyObject *o)
{
	int fresh;

	if (!o || is_tracked(o))
		return;	/* tracked: the walk meets it in the collector's lists */
	fresh = seen_add(c, (uintptr_t)o);
	if (fresh <= 0) {
		c->failed |= fresh < 0;
		return;
	}
	if (excluded(c, o))
		return;
	count(c, o, 1);
	if (Py_TYPE(o)->tp_traverse && PyObject_IS_GC(o))
		push(c, o);
}

/* The children of o: all their headers asked for at once, then each. */
static void traverse(struct census *c, PyObject *o)
{
	c->nkids = 0;
	Py_TYPE(o)->tp_traverse(o, visit, c);
	for (size_t i = 0; i < c->nkids; i++)
		if (c->kids[i])
			__builtin_prefetch(c->kids[i]);
	for (size_t i = 0; i < c->nkids && !c->failed; i++)
		look_at_kid(c, c->kids[i]);
}

static void walk_one(struct census *c, PyObject *o)
{
	if (excluded(c, o))
		return;
	count(c, o, 0);
	if (Py_TYPE(o)->tp_traverse)
		traverse(c, o);
	while (c->nstack && !c->failed)
		traverse(c, c->stack[--c->nstack]);
}

/*
 * The collector's state: a new container joins the end of generation 0,
 * so its header's next link is that generation's list head, which sits in
 * the state (as its own generation0 field says).
 */
static struct _gc_runtime_state *gc_state(void)
{
	PyObject *probe = PyList_New(0);
	struct _gc_runtime_state *gs;
	PyGC_Head *head;

	if (!probe)
		return NULL;
	head = (PyGC_Head *)((PyGC_Head *)probe - 1)->_gc_next;
	Py_DECREF(probe);
	gs = (struct _gc_runtime_state *)((char *)head -
					  offsetof(struct _gc_runtime_state, generations));
	if (gs->generation0 != head) {
		PyErr_SetString(PyExc_RuntimeError, "census: the garbage collector's lists "
				"are not where this Python's headers say");
		return NULL;
	}
	return gs;
}

/* Every object of a generation, and what they hold that is not tracked. */
static void walk_generation(struct census *c, PyGC_Head *head)
{
	for (PyGC_Head *g = (PyGC_Head *)head->_gc_next; g != head && !c->failed;
	     g = (PyGC_Head *)g->_gc_next) {
		__builtin_prefetch((PyGC_Head *)g->_gc_next + 1);	/* bound by memory */
		walk_one(c, (PyObject *)(g + 1));
	}
}

/* ---- sites: stack nodes to lines ------------------------------------------ */

/* What the meta log says of stacks (docs/FORMAT.md), indexed by id. */
struct meta {
	uint8_t *log;
	const uint8_t **str;	/* STRING id -> its length's varint */
	uint32_t nstr;
	struct mframe { uint32_t name, file, line; } *frame;
	uint32_t nframe;
	struct mnode { uint32_t parent, frame; } *node;	/* frame 0: native */
	uint32_t nnode;
};

static int meta_str(const uint8_t **p, const uint8_t *end)
{
	uint64_t n;

	if (mt_get_varint(p, end, &n) < 0 || n > (uint64_t)(end - *p))
		return -1;
	*p += n;
	return 0;
}

static int meta_ints(const uint8_t **p, const uint8_t *end, uint64_t *v, int n)
{
	for (int i = 0; i < n; i++)
		if (mt_get_varint(p, end, &v[i]) < 0)
			return -1;
	return 0;
}

/* Room in an array of *cap elements for the one at index n. */
static int room(void **a, size_t *cap, size_t n, size_t size)
{
	return n < *cap ? 0 : grow(a, cap, size);
}

/* Reads the tracker's meta log; what it cannot read stays unknown. */
static void meta_read(struct meta *m, const struct mt_census_sites *sites)
{
	size_t n = sites->meta_copy(NULL, 0), got;
	const uint8_t *p, *end;
	size_t cs = 0, cf = 0, cn = 0;

	for (;;) {
		n += n / 4 + 4096;	/* it may grow meanwhile */
		free(m->log);
		if (!(m->log = malloc(n)))
			return;
		got = sites->meta_copy(m->log, n);
		if (got <= n)
			break;
		n = got;
	}
	m->nstr = m->nframe = m->nnode = 1;	/* ids start at 1 */
	for (p = m->log, end = m->log + got; p < end;) {
		int tag = *p++;
		uint64_t v[5];

		switch (tag) {
		case MT_REC_META:
			if (meta_str(&p, end) < 0 || meta_str(&p, end) < 0)
				return;
			break;
		case MT_REC_STRING:
			if (room((void **)&m->str, &cs, m->nstr, sizeof(*m->str)) < 0)
				return;
			m->str[m->nstr] = p;
			if (meta_str(&p, end) < 0)
				return;
			m->nstr++;
			break;
		case MT_REC_PYFRAME:
			if (meta_ints(&p, end, v, 4) < 0 ||
			    room((void **)&m->frame, &cf, m->nframe, sizeof(*m->frame)) < 0)
				return;
			m->frame[m->nframe++] = (struct mframe){ (uint32_t)v[0], (uint32_t)v[1],
								 (uint32_t)v[2] };
			break;
		case MT_REC_NODE:
			if (meta_ints(&p, end, v, 3) < 0 ||
			    (v[1] == MT_NODE_NATIVE && meta_ints(&p, end, v + 3, 1) < 0) ||
			    room((void **)&m->node, &cn, m->nnode, sizeof(*m->node)) < 0)
				return;
			m->node[m->nnode++] = (struct mnode){ (uint32_t)v[0], v[1] == MT_NODE_PYTHON ?
							      (uint32_t)v[2] : 0 };
			break;
		case MT_REC_MODULE:
			if (meta_ints(&p, end, v, 2) < 0 || meta_str(&p, end) < 0 ||
			    meta_str(&p, end) < 0 || meta_ints(&p, end, v + 2, 1) < 0)
				return;
			for (uint64_t i = 0; i < v[2]; i++)
				if (meta_ints(&p, end, v + 3, 2) < 0)
					return;
			break;
		case MT_REC_UNLOAD:
			if (meta_ints(&p, end, v, 2) < 0)
				return;
			break;
		case MT_REC_THREAD:
			if (meta_ints(&p, end, v, 2) < 0 || meta_str(&p, end) < 0)
				return;
			break;
		default:
			return;
		}
	}
}

static PyObject *meta_string(const struct meta *m, uint32_t id)
{
	const uint8_t *p;
	uint64_t n = 0;

	if (!id || id >= m->nstr)
		return PyUnicode_FromString("?");
	p = m->str[id];
	mt_get_varint(&p, p + 10, &n);
	return PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)n, "replace");
}

/* "file:line (function)" of the innermost Python frame of a stack. */
static PyObject *site_label(const struct meta *m, uint32_t node)
{
	PyObject *name, *file, *label;
	const struct mframe *f;

	while (node && node < m->nnode && !m->node[node].frame)
		node = m->node[node].parent;	/* native frames (--native) */
	if (!node)
		return PyUnicode_FromString("(no site recorded)");
	if (node >= m->nnode || m->node[node].frame >= m->nframe)
		return PyUnicode_FromFormat("(stack %u)", node);
	f = &m->frame[m->node[node].frame];
	name = meta_string(m, f->name);
	file = meta_string(m, f->file);
	label = name && file ? PyUnicode_FromFormat("%U:%u (%U)", file, f->line, name) : NULL;
	Py_XDECREF(name);
	Py_XDECREF(file);
	return label;
}

static void meta_release(struct meta *m)
{
	free(m->log);
	free(m->str);
	free(m->frame);
	free(m->node);
}

/* ---- the result ----------------------------------------------------------- */

/* "module.qualname" of a type; builtins without their module. */
static PyObject *type_name(PyTypeObject *tp)
{
	PyObject *mod, *qual;

	if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE))
		return PyUnicode_FromString(tp->tp_name);
	qual = ((PyHeapTypeObject *)tp)->ht_qualname;
	mod = tp->tp_dict ? PyDict_GetItemString(tp->tp_dict, "__module__") : NULL;
	if (!qual || !PyUnicode_Check(qual))
		return PyUnicode_FromString(tp->tp_name);
	if (mod && PyUnicode_Check(mod) && PyUnicode_CompareWithASCIIString(mod, "builtins"))
		return PyUnicode_FromFormat("%U.%U", mod, qual);
	Py_INCREF(qual);
	return qual;
}

static void census_release(struct census *c)
{
	for (size_t i = 0; i < c->nlater; i++)
		Py_DECREF(c->later[i].obj);
	for (size_t i = 0; i < c->ntypes; i++) {
		Py_XDECREF(c->types[i].sizeof_fn);
		Py_DECREF(c->types[i].tp);
	}
	for (size_t i = 0; c->chunks && i <= c->chunk_mask; i++)
		free(c->chunks[i].bits);
	free(c->chunks);
	free(c->kids);
	free(c->types);
	free(c->type_slots);
	free(c->rows);
	free(c->stack);
	free(c->later);
	free(c->owners);
	free(c->dicts);
}

/* The sizes that need Python code; other threads may run meanwhile. */
static void size_later(struct census *c)
{
	for (size_t i = 0; i < c->nlater; i++) {
		PyObject *o = c->later[i].obj, *fn, *res;
		struct crow *r = row_for(c, c->later[i].type, c->later[i].owner, c->later[i].site);
		uint32_t ti = type_index(c, Py_TYPE(o));
		descrgetfunc get;

		if (!r) {
			c->failed = 1;
			return;
		}
		fn = ti ? c->types[ti - 1].sizeof_fn : NULL;
		if (!fn) {	/* its class changed meanwhile, or no memory */
			PyErr_Clear();
			r->size += (uint64_t)(default_sizeof(o) + preheader(o));
			continue;
		}
		Py_INCREF(fn);
		get = Py_TYPE(fn)->tp_descr_get;
		if (get) {
			PyObject *bound = get(fn, o, (PyObject *)Py_TYPE(o));

			Py_DECREF(fn);
			fn = bound;
		}
		res = fn ? PyObject_CallNoArgs(fn) : NULL;
		Py_XDECREF(fn);
		r->size += (uint64_t)(size_from(res, o) + preheader(o));
	}
}

PyObject *mt_census_walk(PyObject *exclude, int by_type, const struct mt_census_sites *sites,
			 PyObject *make)
{
	struct census c = { .exclude = exclude, .by_type = by_type };
	struct meta m = { 0 };
	struct _gc_runtime_state *gs = NULL;
	PyObject *out = NULL, *res = NULL;
	int sites_on = 0, enabled = 0;	/* sites_on: begun, then guarded */

	if (!object_sizeof) {
		/* static types have no tp_dict of their own from 3.12 */
		if (!sizeof_name && !(sizeof_name = PyUnicode_InternFromString("__sizeof__")))
			return NULL;
		object_sizeof = _PyType_Lookup(&PyBaseObject_Type, sizeof_name);
		if (!object_sizeof)
			return PyErr_Format(PyExc_RuntimeError, "object.__sizeof__ not found");
		Py_INCREF(object_sizeof);
	}
	/*
	 * By site, the tracker records nothing of this thread from here to
	 * the end, make() included: the census's own objects, which the
	 * interpreter's free lists may hand to the program later, are no
	 * site of the program's.  The writer waits only for the walk.
	 */
	if (sites) {
		if (sites->begin() < 0) {
			PyErr_SetString(PyExc_RuntimeError, "census by site: the tracker is not "
					"recording (it stopped, or its capture failed)");
			return NULL;
		}
		sites_on = 1;
		c.sites = sites;
		meta_read(&m, sites);
	}
	/*
	 * No collection during the walk (gc.disable()): the lists stay as
	 * they are, since nothing else runs then (the only code called is
	 * CPython's own __sizeof__ of its core types, which allocates ints).
	 */
	if (!(gs = gc_state()))
		goto out;
	enabled = gs->enabled;
	gs->enabled = 0;
	for (int g = 0; g < NUM_GENERATIONS; g++)
		walk_generation(&c, &gs->generations[g].head);
	walk_generation(&c, &gs->permanent_generation.head);	/* gc.freeze()'s */
	if (sites_on) {
		sites->end();
		sites_on = sites->enter();	/* 0 if the tracker stopped meanwhile */
	}
	count_dicts(&c);
	if (PyErr_Occurred())
		PyErr_Clear();	/* from a C __sizeof__ that raised and was counted by default */
	if (c.failed) {
		PyErr_NoMemory();
		goto out;
	}
	size_later(&c);
	if (c.failed) {
		PyErr_NoMemory();
		goto out;
	}
	/* [(type name or None, site, count, size)] */
	if (!(out = PyList_New(0)))
		goto out;
	for (size_t i = 0; i <= c.row_mask && c.rows; i++) {
		struct crow *r = &c.rows[i];
		PyObject *name, *site, *row;

		if (!r->type)
			continue;
		if (c.by_type && r->owner) {
			PyObject *owner = type_name(c.types[r->owner - 1].tp);

			name = owner ? PyUnicode_FromFormat("dict of %U", owner) : NULL;
			Py_XDECREF(owner);
		} else if (c.by_type) {
			name = type_name(c.types[r->type - 1].tp);
		} else {
			name = Py_None;
			Py_INCREF(name);
		}
		if (sites) {
			site = site_label(&m, r->site);
		} else {
			site = Py_None;
			Py_INCREF(site);
		}
		if (name && site) {	/* N: Py_BuildValue takes them, even when it fails */
			row = Py_BuildValue("(NNKK)", name, site, (unsigned long long)r->count,
					    (unsigned long long)r->size);
		} else {
			Py_XDECREF(name);
			Py_XDECREF(site);
			row = NULL;
		}
		if (!row || PyList_Append(out, row) < 0) {
			Py_XDECREF(row);
			goto out;
		}
		Py_DECREF(row);
	}
	res = PyObject_CallOneArg(make, out);
out:
	Py_XDECREF(out);
	meta_release(&m);
	census_release(&c);
	if (gs)
		gs->enabled = enabled;
	if (sites_on)
		sites->leave();
	return res;
}
