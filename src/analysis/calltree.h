/*
 * calltree.h - the call tree of a view of a replay (live at the peak,
 * leaked, or temporary): nodes are display frames, values are the bytes
 * and allocations of the stacks under them.  tree, summary and the HTML
 * reports read it.
 */
#ifndef MT_CALLTREE_H
#define MT_CALLTREE_H

#include <stdint.h>

#include "frames.h"
#include "replay.h"

enum mt_view { MT_VIEW_PEAK, MT_VIEW_LEAKS, MT_VIEW_TEMPORARY };

struct mt_tnode {
	uint32_t frame;		/* index into frames; 0 for the root */
	uint32_t parent, child, next;	/* first child, next sibling; 0 = none */
	uint64_t bytes, count;
};

struct mt_calltree {
	struct mt_tnode *nodes;	/* nodes[0] unused, nodes[1] is the root */
	uint32_t nnodes;
	struct mt_dframe *frames;	/* distinct frames, frames[0] unused */
	uint32_t nframes;
	uint64_t total_bytes, total_count;
	/* private */
	uint32_t cap_nodes, cap_frames;
	uint32_t *frame_index, frame_mask;
	uint32_t *child_index, child_mask;
};

struct mt_calltree_opts {
	enum mt_view view;
	int show_hidden;	/* keep import machinery and memtide's frames */
	uint32_t biggest;	/* keep only the N biggest allocation sites; 0: all */
};

/* The values a view takes per key. */
const struct mt_usage *mt_view_values(const struct mt_replay *r, enum mt_view v);

void mt_calltree_build(struct mt_calltree *t, const struct mt_replay *r,
		       struct mt_symbols *syms, const struct mt_calltree_opts *o);
/* Index of a display frame in t->frames, added when new. */
uint32_t mt_calltree_frame(struct mt_calltree *t, const struct mt_dframe *f);
/*
 * Adds the nodes of src to dst with their values: under a child of dst's
 * root made of the frame `under`, or (NULL) merged from the root down.
 * The strings of src's frames must outlive dst.
 */
void mt_calltree_graft(struct mt_calltree *dst, const struct mt_dframe *under,
		       const struct mt_calltree *src);
void mt_calltree_release(struct mt_calltree *t);

#endif
