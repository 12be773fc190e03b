/*
 * unwind.c - set-up of native stacks: libunwind's local unwinder with a
 * per-thread cache of unwind info, the fast path of unw_backtrace, which
 * the hooks call in their own frame (hooks.c).  Runs in the profiled
 * process.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "tracker.h"

void mt_unwind_init(void)
{
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}
