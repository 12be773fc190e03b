/*
 * hiding.c - the frames reports hide by default (see hiding.h).
 */
#include <string.h>

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
