/*
 * hiding.c - the frames reports hide by default (see hiding.h).
 */
#include <stdlib.h>
#include <string.h>

#include "memtide/format.h"

#include "hiding.h"

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

int mt_hidden_python(const char *file)
{
	size_t len = strlen(file);

	return !strncmp(file, "<frozen importlib", 17) || strstr(file, "importlib/_bootstrap") ||
	       !strcmp(file, "<frozen zipimport>") ||
	       !strcmp(file, "<frozen runpy>") || (len >= 9 && !strcmp(file + len - 9, "/runpy.py")) ||
	       strstr(file, "/memtide/__init__.py") || strstr(file, "/memtide/_");
}

/* The C start-up below main and a thread's start, in every program. */
static const char *const below_main[] = {
	"_start", "__libc_start_main", "__libc_start_call_main", "__libc_start_main_impl",
	"clone", "clone3", "start_thread", NULL
};

/* The interpreter's way from main to the code it runs (CPython 3.9-3.13). */
static const char *const interpreter_entry[] = {
	"main", "Py_BytesMain", "Py_Main", "Py_RunMain", "pymain_main", "pymain_run_python",
	"pythread_wrapper", "thread_run", NULL
};

static int listed(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(name, *list))
			return 1;
	return 0;
}

int mt_hidden_native(const struct mt_frame_info *f)
{
	return !strncmp(base_name(f->module), "libmemtide", 10) || listed(f->function, below_main);
}

int mt_interpreter_frame(const struct mt_frame_info *f)
{
	const char *b = base_name(f->module);

	if (strncmp(b, "python", 6) && strncmp(b, "libpython", 9))
		return 0;
	return 1 | (listed(f->function, interpreter_entry) ? 2 : 0);
}

int mt_hide_finish(const struct mt_capture *c, struct mt_dframe *f, const uint8_t *interp,
		   int n, int max)
{
	int first = n, shown = 0;

	for (int i = 0; i < n; i++)
		if (!f[i].native && !f[i].hidden) {
			first = i;
			break;
		}
	/* the interpreter's frames outside the first Python frame shown: all
	 * of them where one is shown, its entry path by name where none is */
	for (int i = 0; i < first; i++)
		if (f[i].native && (interp[i] & (first < n ? 1 : 2)))
			f[i].hidden = 1;
	if (first == n && c->python && n < max) {
		memmove(f + 1, f, (size_t)n * sizeof(*f));
		f[0] = (struct mt_dframe){ MT_NO_PYTHON_FRAME, "", 0, 0, 0 };
		return n + 1;
	}
	for (int i = 0; i < n; i++)
		shown += !f[i].hidden;
	if (!shown)	/* hiding never empties a stack */
		for (int i = 0; i < n; i++)
			f[i].hidden = 0;
	return n;
}

/* pymalloc's arena for the capture's Python ("3.11.2 (main, ...)") on a
 * 64-bit machine: 1 MiB from 3.10 on, 256 KiB before. */
static uint64_t arena_size(const char *python)
{
	char *end;
	long major = strtol(python, &end, 10), minor = *end == '.' ? strtol(end + 1, NULL, 10) : 0;

	return major > 3 || (major == 3 && minor >= 10) ? 1u << 20 : 256u << 10;
}

/*
 * Whether key k's leaked blocks are the interpreter's arenas: mappings of
 * exactly the arena size, made (where the capture has native frames) by
 * the interpreter itself, outside libc and memtide.
 */
static int interpreter_arena(const struct mt_replay *r, struct mt_symbols *syms, uint32_t k,
			     uint64_t arena)
{
	const struct mt_capture *c = &r->c;
	const struct mt_usage *u = &r->leaked[k];

	if (r->keys[k].kind != MT_EV_MMAP || !u->count || u->bytes / u->count != arena ||
	    u->bytes % u->count)
		return 0;
	/* walking from the leaf, the first native node is the innermost */
	for (uint32_t n = r->keys[k].stack; n && n < c->nnodes; n = c->nodes[n].parent) {
		struct mt_frame_info f[MT_MAX_INLINE];
		const char *b;
		int m;

		if (c->nodes[n].kind != MT_NODE_NATIVE)
			continue;
		m = mt_symbols_lookup(syms, c->nodes[n].value, c->nodes[n].gen, f, MT_MAX_INLINE);
		b = base_name(f[m - 1].module);
		if (!strncmp(b, "libmemtide", 10) || !strncmp(b, "libc.so", 7) || !strncmp(b, "libc-", 5))
			continue;
		return mt_interpreter_frame(&f[m - 1]) != 0;
	}
	return 1;
}

void mt_hide_interpreter_arenas(struct mt_replay *r, struct mt_usage *hidden)
{
	struct mt_symbols *syms;
	uint64_t arena;

	memset(hidden, 0, sizeof(*hidden));
	if (!r->c.python)
		return;
	arena = arena_size(r->c.python);
	syms = mt_symbols_new(&r->c);
	for (uint32_t k = 0; k < r->nkeys && syms; k++) {
		if (!interpreter_arena(r, syms, k, arena))
			continue;
		hidden->bytes += r->leaked[k].bytes;
		hidden->count += r->leaked[k].count;
		r->leaked_bytes -= r->leaked[k].bytes;
		r->leaked_count -= r->leaked[k].count;
		r->leaked[k] = (struct mt_usage){ 0, 0 };
	}
	mt_symbols_free(syms);
}
