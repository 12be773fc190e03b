/*
 * location.c - the allocation site of a stack (see location.h).
 */
#include <string.h>

#include "memtide/format.h"
#include "hiding.h"
#include "location.h"

/* The allocator itself: libc, the loader, memtide. */
static int allocator_module(const struct mt_frame_info *f)
{
	const char *base = strrchr(f->module, '/');

	base = base ? base + 1 : f->module;
	return !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5) ||
	       !strncmp(base, "ld-linux", 8) || !strncmp(base, "libmemtide", 10);
}

/* Rust's allocation paths by name, where a frame has no line: __rust_alloc
 * and its kin, the standard library's Vec, String, Box and HashMap as
 * demangled ("<alloc::raw_vec::RawVecInner>::finish_grow"). */
static const char *const rust_runtime[] = {
	"__rust_", "__rdl_", "alloc::", "<alloc::", "core::", "<core::", "<std::",
	"hashbrown::", "<hashbrown::", NULL
};

/*
 * A language runtime's way to the allocator, which a location looks
 * through to the code that asked: C++'s operator new in all its overloads
 * and the standard library's containers that call it; Rust's standard
 * library (its sources, library/{alloc,core,std}/src, or its names).
 */
static int runtime_frame(const struct mt_frame_info *f)
{
	if (!strncmp(f->function, "operator new", 12) ||
	    !strncmp(f->file, "/usr/include/c++/", 17) ||
	    !strncmp(f->function, "std::", 5) || !strncmp(f->function, "__gnu_cxx::", 11))
		return 1;
	if (strstr(f->file, "library/alloc/src/") || strstr(f->file, "library/core/src/") ||
	    strstr(f->file, "library/std/src/"))
		return 1;
	for (const char *const *p = rust_runtime; *p; p++)
		if (!strncmp(f->function, *p, strlen(*p)))
			return 1;
	return 0;
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
	/* the first frame past the runtimes; else, when the stack is all
	 * runtime (a thread's start in std::thread), the first past the
	 * allocator */
	for (int pass = 0; pass < 2; pass++)
		for (n = first_native; n && syms; n = c->nodes[n].parent) {
			struct mt_frame_info f[MT_MAX_INLINE];
			int k = mt_symbols_lookup(syms, c->nodes[n].value, c->nodes[n].gen, f, MT_MAX_INLINE);

			for (int i = 0; i < k; i++) {
				if (allocator_module(&f[i]) || (!pass && runtime_frame(&f[i])))
					continue;
				out->function = f[i].function;
				out->file = f[i].file;
				out->line = f[i].line;
				return;
			}
		}
}
