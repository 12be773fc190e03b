/*
 * attach.c - the entry points `memtide attach` and `memtide detach` call
 * through gdb in a program that is already running, after gdb has
 * dlopen()ed libmemtide.so into it.  Tracking uses the in-process hook
 * path of memtide.Tracker (GOT slots, session.c and got.c), never
 * LD_PRELOAD; the capture says it was attached (META attached), since
 * the blocks allocated before are unknown to it.  Runs in the profiled
 * process, called on a thread that gdb stopped outside the allocator and
 * the loader (see src/cli/inject.c); the other threads run meanwhile.
 */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

#include "tracker.h"

#define EXPORT __attribute__((visibility("default")))

static int attached;		/* the running session is attach's */

/* Another copy of libmemtide.so (a Tracker's, another build's) tracking? */
static int other_copy(struct dl_phdr_info *info, size_t size, void *arg)
{
	int *active_copy = arg;
	const char *base = strrchr(info->dlpi_name, '/');
	int (*active)(void);
	void *h;

	(void)size;
	base = base ? base + 1 : info->dlpi_name;
	if (info->dlpi_addr == mt_self_base || strncmp(base, "libmemtide", 10))
		return 0;
	h = mt_real.dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return 0;
	*(void **)&active = dlsym(h, "memtide_tracker_active");
	if (active && active())
		*active_copy = 1;
	mt_real.dlclose(h);
	return *active_copy;
}

/*
 * Starts tracking into path (absolute), with native stacks when native or
 * when the process is not Python, sampling every sample_rate bytes unless
 * 0; pydir holds the Python helpers.
 * Returns 0, or -1 with a one-line reason in err.
 */
EXPORT int memtide_attach_start(const char *path, int native, const char *pydir,
				uint64_t sample_rate, char *err, size_t errlen)
{
	int other = 0;

	mt_resolve();
	if (!mt_self_base) {	/* session_setup sets it; other_copy needs it now */
		Dl_info di;

		if (dladdr((void *)memtide_attach_start, &di))
			mt_self_base = (uintptr_t)di.dli_fbase;
	}
	if (atomic_load(&mt_active)) {
		snprintf(err, errlen, "it is already being profiled by memtide (%s)",
			 attached ? "memtide attach" : "memtide run or a Tracker");
		return -1;
	}
	dl_iterate_phdr(other_copy, &other);
	if (other) {
		snprintf(err, errlen, "it is already being profiled by memtide "
			 "(a Tracker, or another memtide's attach)");
		return -1;
	}
	mt_py = NULL;
	if (mt_load_python_helper(pydir, err, errlen) < 0)
		return -1;
	/* threading is not patched in a program that did not ask for memtide */
	mt_pynames_done = 1;
	if (mt_tracker_start(path, native || !mt_py, 0, 1, sample_rate, NULL, err, errlen) < 0)
		return -1;
	attached = 1;
	return 0;
}

/* 1 while a session that memtide_attach_start began is recording. */
EXPORT int memtide_attach_active(void)
{
	return attached && atomic_load(&mt_active);
}

/* The capture file of the attached session. */
EXPORT const char *memtide_attach_output(void)
{
	return mt_tracker_output();
}

/*
 * Ends the attached session: the GOT slots are put back (and their pages
 * protected as before), then the writer writes the rest and END.  The
 * library stays loaded, with no hook in use: a thread may still be on its
 * way out of one.  Returns 0, or -1 when attach did not start what runs.
 */
EXPORT int memtide_attach_stop(void)
{
	if (!memtide_attach_active())
		return -1;
	mt_in_hook++;
	mt_got_remove();
	mt_tracker_shutdown();
	attached = 0;
	mt_in_hook--;
	return 0;
}
