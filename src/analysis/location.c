/*
 * location.c - the allocation site of a stack (see location.h).
 */
#include <string.h>

#include "memtide/format.h"
#include "hiding.h"
#include "location.h"

static int allocator_frame(const struct mt_frame_info *f)
{
	const char *base = strrchr(f->module, '/');

	base = base ? base + 1 : f->module;
	if (!strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5) ||
	    !strncmp(base, "ld-linux", 8) || !strncmp(base, "libmemtide", 10))
		return 1;
	/* operator new and new[] in all their overloads, and the standard
	 * library's containers and allocators that call them */
	return !strncmp(f->function, "operator new", 12) ||
	       !strncmp(f->file, "/usr/include/c++/", 17) ||
	       !strncmp(f->function, "std::", 5) || !strncmp(f->function, "__gnu_cxx::", 11);
}

void mt_locate(const struct mt_capture *c, struct mt_symbols *syms,
	       uint32_t stack, int show_all, struct mt_location *out)
{
	uint32_t n, first_native = 0;
	int python = 0;

	out->function = c->python ? MT_NO_PYTHON_FRAME : "<unknown>";
	out->file = c->python ? "" : "<unknown>";
	out->line = 0;
	/* the innermost Python frame shown (stacks where none is are
	 * MT_NO_PYTHON_FRAME, as in the call trees) */
	for (n = stack; n && n < c->nnodes; n = c->nodes[n].parent) {
		const struct mt_node *node = &c->nodes[n];

		if (node->kind == MT_NODE_PYTHON) {
			if (node->value && node->value < c->npyframes) {
				const struct mt_pyframe *f = &c->pyframes[node->value];
				const char *file = mt_capture_string(c, f->file);

				python = 1;
				if (show_all || !mt_hidden_python(file)) {
					out->function = mt_capture_string(c, f->name);
					out->file = file;
					out->line = f->line;
					return;
				}
			}
			continue;
		}
		if (!first_native)
			first_native = n;
	}
	if (python)
		return;
	for (n = first_native; n && syms; n = c->nodes[n].parent) {
		struct mt_frame_info f[16];
		int k = mt_symbols_lookup(syms, c->nodes[n].value, c->nodes[n].gen, f, 16);

		for (int i = 0; i < k; i++) {
			if (allocator_frame(&f[i]))
				continue;
			out->function = f[i].function;
			out->file = f[i].file;
			out->line = f[i].line;
			return;
		}
	}
}
