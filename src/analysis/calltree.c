/*
 * calltree.c - building call trees (see calltree.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calltree.h"
#include "../format/xalloc.h"

const struct mt_usage *mt_view_values(const struct mt_replay *r, enum mt_view v)
{
	return v == MT_VIEW_LEAKS ? r->leaked : v == MT_VIEW_TEMPORARY ? r->temporary : r->peak;
}

static uint64_t frame_hash(const struct mt_dframe *f)
{
	return mt_hash_str(mt_hash_str(MT_HASH_INIT ^ f->line ^ (uint64_t)f->native << 40,
				       f->function), f->file);
}

static int frame_eq(const struct mt_dframe *a, const struct mt_dframe *b)
{
	return a->line == b->line && a->native == b->native &&
	       !strcmp(a->function, b->function) && !strcmp(a->file, b->file);
}

static void rehash_frames(struct mt_calltree *t)
{
	uint32_t mask = t->frame_mask ? t->frame_mask * 2 + 1 : 1023;

	free(t->frame_index);
	t->frame_index = mt_xcalloc((size_t)mask + 1, sizeof(uint32_t));
	t->frame_mask = mask;
	for (uint32_t k = 1; k < t->nframes; k++) {
		uint32_t i = (uint32_t)frame_hash(&t->frames[k]) & mask;

		while (t->frame_index[i])
			i = (i + 1) & mask;
		t->frame_index[i] = k;
	}
}

uint32_t mt_calltree_frame(struct mt_calltree *t, const struct mt_dframe *f)
{
	uint32_t i;

	if (!t->nframes)
		t->nframes = 1;
	if (t->nframes * 2 >= t->frame_mask)
		rehash_frames(t);
	i = (uint32_t)frame_hash(f) & t->frame_mask;
	while (t->frame_index[i]) {
		if (frame_eq(&t->frames[t->frame_index[i]], f))
			return t->frame_index[i];
		i = (i + 1) & t->frame_mask;
	}
	if (t->nframes >= t->cap_frames) {
		t->cap_frames = t->cap_frames ? t->cap_frames * 2 : 1024;
		t->frames = mt_xrealloc(t->frames, t->cap_frames * sizeof(*t->frames));
	}
	t->frames[t->nframes] = *f;
	t->frame_index[i] = t->nframes;
	return t->nframes++;
}

static uint32_t child_hash(uint32_t parent, uint32_t frame)
{
	return (uint32_t)((((uint64_t)parent << 32) | frame) * 0x9E3779B97F4A7C15ull >> 32);
}

static void rehash_children(struct mt_calltree *t)
{
	uint32_t mask = t->child_mask ? t->child_mask * 2 + 1 : 4095;

	free(t->child_index);
	t->child_index = mt_xcalloc((size_t)mask + 1, sizeof(uint32_t));
	t->child_mask = mask;
	for (uint32_t k = 2; k < t->nnodes; k++) {
		uint32_t i = child_hash(t->nodes[k].parent, t->nodes[k].frame) & mask;

		while (t->child_index[i])
			i = (i + 1) & mask;
		t->child_index[i] = k;
	}
}

static uint32_t child_of(struct mt_calltree *t, uint32_t parent, uint32_t frame)
{
	uint32_t i;

	if (t->nnodes * 2 >= t->child_mask)
		rehash_children(t);
	i = child_hash(parent, frame) & t->child_mask;
	while (t->child_index[i]) {
		struct mt_tnode *c = &t->nodes[t->child_index[i]];

		if (c->parent == parent && c->frame == frame)
			return t->child_index[i];
		i = (i + 1) & t->child_mask;
	}
	if (t->nnodes == t->cap_nodes) {
		t->cap_nodes *= 2;
		t->nodes = mt_xrealloc(t->nodes, t->cap_nodes * sizeof(*t->nodes));
	}
	t->nodes[t->nnodes] = (struct mt_tnode){ frame, parent, 0, t->nodes[parent].child, 0, 0 };
	t->nodes[parent].child = t->nnodes;
	t->child_index[i] = t->nnodes;
	return t->nnodes++;
}

static void init(struct mt_calltree *t)
{
	if (t->nodes)
		return;
	t->cap_nodes = 1024;
	t->nodes = mt_xrealloc(NULL, t->cap_nodes * sizeof(*t->nodes));
	memset(t->nodes, 0, 2 * sizeof(*t->nodes));
	t->nnodes = 2;
}

/* Adds one stack (display frames, outermost first) with its value. */
static void add_stack(struct mt_calltree *t, const struct mt_dframe *f, int n,
		      int show_hidden, uint64_t bytes, uint64_t count)
{
	uint32_t node = 1;

	init(t);
	t->nodes[1].bytes += bytes;
	t->nodes[1].count += count;
	t->total_bytes += bytes;
	t->total_count += count;
	for (int i = 0; i < n; i++) {
		if (f[i].hidden && !show_hidden)
			continue;
		node = child_of(t, node, mt_calltree_frame(t, &f[i]));
		t->nodes[node].bytes += bytes;
		t->nodes[node].count += count;
	}
}

struct ranked {
	uint32_t key;
	uint64_t bytes;
};

static int by_bytes_desc(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : (x->key > y->key) - (x->key < y->key);
}

static int child_cmp(const void *a, const void *b, void *arg)
{
	const struct mt_tnode *nodes = arg;
	const struct mt_tnode *x = &nodes[*(const uint32_t *)a], *y = &nodes[*(const uint32_t *)b];

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

/* Sorts every node's children by bytes, biggest first. */
static void sort_children(struct mt_calltree *t)
{
	uint32_t *kids = NULL;
	size_t cap = 0;

	for (uint32_t p = 1; p < t->nnodes; p++) {
		size_t n = 0;

		for (uint32_t c = t->nodes[p].child; c; c = t->nodes[c].next) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				kids = mt_xrealloc(kids, cap * sizeof(*kids));
			}
			kids[n++] = c;
		}
		if (n < 2)
			continue;
		qsort_r(kids, n, sizeof(*kids), child_cmp, t->nodes);
		t->nodes[p].child = kids[0];
		for (size_t i = 0; i < n; i++)
			t->nodes[kids[i]].next = i + 1 < n ? kids[i + 1] : 0;
	}
	free(kids);
}

void mt_calltree_build(struct mt_calltree *t, const struct mt_replay *r,
		       struct mt_symbols *syms, const struct mt_calltree_opts *o)
{
	const struct mt_usage *v = mt_view_values(r, o->view);
	struct ranked *keys = mt_xrealloc(NULL, (r->nkeys ? r->nkeys : 1) * sizeof(*keys));
	struct mt_dframe *f = mt_xrealloc(NULL, MT_MAX_FRAMES * sizeof(*f));
	uint32_t n = 0;

	memset(t, 0, sizeof(*t));
	init(t);
	for (uint32_t k = 0; k < r->nkeys; k++)
		if (v[k].count || v[k].bytes)
			keys[n++] = (struct ranked){ k, v[k].bytes };
	if (o->biggest && o->biggest < n) {
		qsort(keys, n, sizeof(*keys), by_bytes_desc);
		n = o->biggest;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = keys[i].key;
		int nf = mt_stack_frames(&r->c, syms, r->keys[k].stack, f, MT_MAX_FRAMES);

		add_stack(t, f, nf, o->show_hidden, v[k].bytes, v[k].count);
	}
	free(keys);
	free(f);
	sort_children(t);
}

void mt_calltree_graft(struct mt_calltree *dst, const struct mt_dframe *under,
		       const struct mt_calltree *src)
{
	uint32_t *map = mt_xcalloc(src->nnodes ? src->nnodes : 1, sizeof(uint32_t));

	init(dst);
	if (src->nnodes < 2) {
		free(map);
		return;
	}
	dst->total_bytes += src->total_bytes;
	dst->total_count += src->total_count;
	dst->nodes[1].bytes += src->nodes[1].bytes;
	dst->nodes[1].count += src->nodes[1].count;
	map[1] = 1;
	if (under) {
		map[1] = child_of(dst, 1, mt_calltree_frame(dst, under));
		dst->nodes[map[1]].bytes += src->nodes[1].bytes;
		dst->nodes[map[1]].count += src->nodes[1].count;
	}
	/* a node comes after its parent: child_of appends */
	for (uint32_t k = 2; k < src->nnodes; k++) {
		const struct mt_tnode *n = &src->nodes[k];

		map[k] = child_of(dst, map[n->parent], mt_calltree_frame(dst, &src->frames[n->frame]));
		dst->nodes[map[k]].bytes += n->bytes;
		dst->nodes[map[k]].count += n->count;
	}
	free(map);
	sort_children(dst);
}

void mt_calltree_release(struct mt_calltree *t)
{
	free(t->nodes);
	free(t->frames);
	free(t->frame_index);
	free(t->child_index);
	memset(t, 0, sizeof(*t));
}
