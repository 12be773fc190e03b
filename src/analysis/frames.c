/*
 * frames.c - display frames of a stack (see frames.h).
 *
 * Merging: the capture keeps a stack's native frames (outermost first) and
 * then its Python frames.  Each C-level call of the evaluation loop runs
 * one "entry" Python frame and the Python frames it calls inline (3.11+);
 * so walking the native frames from the outside, each evaluation-loop
 * frame is replaced by the next entry Python frame and the non-entry ones
 * after it.
 */
#include <string.h>

#include "memtide/format.h"
#include "frames.h"
#include "hiding.h"

static int is_eval_frame(const char *f)
{
	return !strcmp(f, "_PyEval_EvalFrameDefault") || !strcmp(f, "_PyEval_EvalFrame") ||
	       !strcmp(f, "PyEval_EvalFrameEx") || !strcmp(f, "_PyEval_Vector");
}

/* The Python frame of node k, or NULL when it names none the capture has. */
static const struct mt_pyframe *pyframe(const struct mt_capture *c, uint32_t k)
{
	uint64_t id = c->nodes[k].value;

	return id && id < c->npyframes ? &c->pyframes[id] : NULL;
}

int mt_stack_frames(const struct mt_capture *c, struct mt_symbols *syms,
		    uint32_t stack, struct mt_dframe *out, int max)
{
	uint32_t py[MT_MAX_FRAMES], nat[MT_MAX_FRAMES];
	uint8_t interp[MT_MAX_FRAMES];
	int npy = 0, nnat = 0, n = 0, p = 0;

	/* innermost first along parent links; reversed below */
	for (uint32_t k = stack; k && k < c->nnodes; k = c->nodes[k].parent) {
		if (c->nodes[k].kind == MT_NODE_PYTHON) {
			if (npy < MT_MAX_FRAMES)
				py[npy++] = k;
		} else if (nnat < MT_MAX_FRAMES) {
			nat[nnat++] = k;
		}
	}

#define PUSH_PY(idx)								\
	do {									\
		const struct mt_pyframe *f_ = pyframe(c, py[idx]);		\
		if (n < max && f_) {						\
			out[n].function = mt_capture_string(c, f_->name);	\
			out[n].file = mt_capture_string(c, f_->file);		\
			out[n].line = f_->line;					\
			out[n].native = 0;					\
			out[n].hidden = (uint8_t)mt_hidden_python(out[n].file); \
			interp[n] = 0;						\
			n++;							\
		}								\
	} while (0)

	p = npy - 1;		/* the outermost Python frame */
	for (int i = nnat - 1; i >= 0 && syms; i--) {
		struct mt_frame_info f[MT_MAX_INLINE];
		int k = mt_symbols_lookup(syms, c->nodes[nat[i]].value, c->nodes[nat[i]].gen, f, MT_MAX_INLINE);

		if (k > 0 && p >= 0 && is_eval_frame(f[k - 1].function)) {
			/* this evaluation call's Python frames */
			PUSH_PY(p);
			p--;
			while (p >= 0) {
				const struct mt_pyframe *pf = pyframe(c, py[p]);

				if (pf && pf->flags & MT_PYFRAME_ENTRY)
					break;
				PUSH_PY(p);
				p--;
			}
			continue;
		}
		for (int j = k - 1; j >= 0 && n < max; j--) {	/* real function, then inlined */
			out[n].function = f[j].function;
			out[n].file = f[j].file;
			out[n].line = f[j].line;
			out[n].native = 1;
			out[n].hidden = (uint8_t)mt_hidden_native(&f[j]);
			interp[n] = (uint8_t)mt_interpreter_frame(&f[j]);
			n++;
		}
	}
	for (; p >= 0; p--)	/* Python frames no native frame placed */
		PUSH_PY(p);
#undef PUSH_PY
	return mt_hide_finish(c, out, interp, n, max);
}
