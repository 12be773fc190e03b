/*
 * unwind.c - set-up of native stacks: libunwind's local unwinder with a
 * per-thread cache of unwind info, the fast path of unw_backtrace, which
 * the hooks call in their own frame (hooks.c), and its memory reads
 * checked without a descriptor.  Runs in the profiled process.
 */
#define UNW_LOCAL_ONLY
#include <errno.h>
#include <libunwind.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tracker.h"

/*
 * When libunwind steps through a frame it has no cached unwind info for,
 * it checks each word it reads by writing it to a pipe of its own, whose
 * two numbers it keeps from its first use (the lowest free then) and only
 * opens again after a read() from them fails.  A program that closes every
 * descriptor and opens files gets those numbers: the next check reads a
 * byte of the program's file and writes one into the other, or, the file
 * being write-only, closes it (libunwind issue 291).  The hooks unwind in
 * the program's threads, so the local address space reads memory through
 * check_mem instead: a word is read where its page was seen readable by
 * this thread, else by process_vm_readv() of our own memory, which fails
 * with EFAULT where a read would fault.  Where that system call is refused
 * (seccomp), libunwind's own check goes on.
 */
#define GOOD_PAGES 8

static int (*lib_access_mem)(unw_addr_space_t, unw_word_t, unw_word_t *, int, void *);
static int no_vm_readv;
static uintptr_t page_mask;
static __thread uintptr_t good[GOOD_PAGES] MT_TLS;	/* pages read here; 0: none */
static __thread unsigned recent MT_TLS, next_good MT_TLS;

/* Most reads (two a stack, of the context's registers) are on one page. */
static inline int seen(uintptr_t page)
{
	if (good[recent] == page)
		return 1;
	for (unsigned i = 0; i < GOOD_PAGES; i++) {
		if (good[i] == page) {
			recent = i;
			return 1;
		}
	}
	return 0;
}

static void note_good(uintptr_t page)
{
	if (!seen(page)) {
		recent = next_good++ % GOOD_PAGES;
		good[recent] = page;
	}
}

static __attribute__((noinline)) int check_mem_slow(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write,
			  void *arg)
{
	uintptr_t first = addr & page_mask, last = (addr + sizeof(*val) - 1) & page_mask;
	struct iovec here = { val, sizeof(*val) }, there = { (void *)addr, sizeof(*val) };
	int err = errno;
	ssize_t n;

	if (write || no_vm_readv)
		return lib_access_mem(as, addr, val, write, arg);
	if (first && seen(first) && seen(last)) {
		memcpy(val, (const void *)addr, sizeof(*val));
		return 0;
	}
	n = process_vm_readv(getpid(), &here, 1, &there, 1, 0);
	if (n == (ssize_t)sizeof(*val)) {
		note_good(last);
		note_good(first);
		return 0;
	}
	if (n < 0 && errno != EFAULT) {
		no_vm_readv = errno == ENOSYS || errno == EPERM;
		errno = err;
		return lib_access_mem(as, addr, val, write, arg);
	}
	errno = err;
	return -1;	/* unreadable, as libunwind says it */
}

static int check_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write,
		     void *arg)
{
	uintptr_t page = addr & page_mask;

	if (MT_LIKELY(!write && page && page == ((addr + sizeof(*val) - 1) & page_mask) &&
		      seen(page))) {
		memcpy(val, (const void *)addr, sizeof(*val));	/* a code address: unaligned */
		return 0;
	}
	return check_mem_slow(as, addr, val, write, arg);
}

void mt_unwind_init(void)
{
	unw_accessors_t *a;
	unw_context_t uc;
	unw_cursor_t c;

	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	/* the local library sets its accessors up on its first cursor */
	if (unw_getcontext(&uc) == 0)
		unw_init_local(&c, &uc);
	a = unw_get_accessors(unw_local_addr_space);
	if (!a || !a->access_mem || a->access_mem == check_mem)
		return;
	page_mask = ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
	lib_access_mem = a->access_mem;
	__atomic_store_n(&a->access_mem, check_mem, __ATOMIC_RELEASE);
}
