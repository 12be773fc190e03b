/*
 * unwind.c - native stacks for the tracker, with libunwind's local
 * unwinder and its per-thread cache of unwind info (the fast path that
 * unw_backtrace takes).  Runs in the profiled process, inside the hooks.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "tracker.h"

void mt_unwind_init(void)
{
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

/* Return addresses of the calling thread, innermost first. */
int mt_unwind(uint64_t *ips, int max)
{
	void *buf[256];
	int n;

	if (max > 256)
		max = 256;
	n = unw_backtrace(buf, max);
	for (int i = 0; i < n; i++)
		ips[i] = (uint64_t)(uintptr_t)buf[i];
	return n < 0 ? 0 : n;
}
