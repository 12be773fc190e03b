/*
 * hooks.c - the allocator entry points libmemtide.so exports over libc's
 * when preloaded: malloc and friends, mmap/munmap/mremap/mprotect, and the
 * calls the tracker must hear of (dlopen/dlclose for the module maps,
 * thread naming, _exit for the last flush).  Runs in the profiled process.
 *
 * Each hook calls the real function (found with dlsym(RTLD_NEXT)) and
 * reports to the tracker.  A free is reported before the block is
 * released and an allocation after it is made, so when another thread is
 * handed the same address its allocation is ordered after the free.
 * While dlsym itself allocates, at start-up, requests are served from a
 * static buffer that is never given back.
 */

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "memtide/format.h"
#include "tracker.h"

#define EXPORT __attribute__((visibility("default")))

struct mt_real mt_real;

/* Start-up allocations, made while dlsym resolves the real functions. */
static _Alignas(64) uint8_t boot_buf[256 << 10];
static size_t boot_used;
static int resolving;

static inline int is_boot(const void *p)
{
	return (uintptr_t)p - (uintptr_t)boot_buf < sizeof(boot_buf);
}

static void *boot_alloc(size_t n, size_t align)
{
	size_t off = (boot_used + align - 1) & ~(align - 1);

	if (off + n > sizeof(boot_buf))
		return NULL;
	boot_used = off + n;
	return boot_buf + off;
}

#define RESOLVE(name) (*(void **)&mt_real.name = dlsym(RTLD_NEXT, #name))

void mt_resolve(void)
{
	if (resolving)
		return;
	resolving = 1;
	RESOLVE(malloc);
	RESOLVE(free);
	RESOLVE(calloc);
	RESOLVE(realloc);
	RESOLVE(reallocarray);
	RESOLVE(posix_memalign);
	RESOLVE(aligned_alloc);
	RESOLVE(memalign);
	RESOLVE(valloc);
	RESOLVE(pvalloc);
	RESOLVE(mmap);
	RESOLVE(munmap);
	RESOLVE(mremap);
	RESOLVE(mprotect);
	RESOLVE(dlopen);
	RESOLVE(dlclose);
	RESOLVE(pthread_setname_np);
	RESOLVE(prctl);
	*(void **)&mt_real.exit_ = dlsym(RTLD_NEXT, "_exit");
	resolving = 0;
}

#define ENSURE() do { if (MT_UNLIKELY(!mt_real.free)) mt_resolve(); } while (0)

/* Enter the tracker if tracking and not already inside it. */
static inline int enter(void)
{
	if (MT_LIKELY(atomic_load_explicit(&mt_active, memory_order_relaxed)) &&
	    !mt_in_hook) {
		mt_in_hook = 1;
		return 1;
	}
	/* the first hooked call starts tracking (see mt_tracker_early) */
	if (MT_UNLIKELY(!atomic_load_explicit(&mt_started, memory_order_relaxed)) &&
	    !mt_in_hook) {
		mt_tracker_early();
		if (atomic_load(&mt_active)) {
			mt_in_hook = 1;
			return 1;
		}
	}
	return 0;
}

static inline void leave(void)
{
	mt_in_hook = 0;
}


/*
 * Native stacks are unwound right here, in the hook's own frame, so that
 * libunwind steps through one frame of memtide's instead of the whole
 * recording path.  Not in a handler that interrupted memtide (maybe
 * inside libunwind): its events are only counted.  RECORD records the
 * block; RECORD_ALLOC first decides, under sampling (sample.c), whether
 * a heap block is to be.
 */
#define RECORD(kind, p, size)							\
	do {									\
		if (MT_UNLIKELY(mt_sample_rate) && !mt_event_is_mmap(kind))	\
			mt_sample_note(p);					\
		if (mt_native_stacks && !MT_SIG_COUNTING()) {			\
			void *ips_[MT_MAX_NATIVE + 4];				\
			int n_ = unw_backtrace(ips_, MT_MAX_NATIVE + 4);	\
			mt_record_alloc(kind, p, size, ips_, n_);		\
		} else {							\
			mt_record_alloc(kind, p, size, NULL, 0);		\
		}								\
	} while (0)
#define RECORD_ALLOC(kind, p, size)						\
	do {									\
		if (mt_event_is_mmap(kind) || mt_sample_take(size))		\
			RECORD(kind, p, size);					\
	} while (0)

/*
 * Under sampling, malloc, calloc, realloc and free decide first: a block
 * that is not sampled, or the free of one that was not, goes straight to
 * the allocator, without the guard (the hot path of a sampled capture).
 * Not inside memtide, whose own calls are never counted.
 *
 * The hot path is the whole hook: the exported function checks and
 * tail-calls the allocator, and the rest (the guard, the record, the
 * unwinding's 1 KiB of stack) is a function of its own, so the hot path
 * saves no register and moves no stack (a malloc/free pair of small
 * blocks: 2.6 ns more than the allocator's 14.4 ns, with sample.c's set).
 * SKIPS(size): a block that does not reach the next sample (the counter
 * is only moved then; a block that does reaches mt_sample_take() on the
 * slow path, which moves it).  The counter is never below 1 once the
 * thread has drawn, and 0 before, so the unsigned compare sends a
 * thread's first block to the slow path.
 */
#define UNSAMPLED(size) (MT_UNLIKELY(mt_sample_rate) && !mt_in_hook && !mt_sample_take(size))
#define SKIPS(size)								\
	(MT_LIKELY(mt_sample_rate) && !mt_in_hook &&				\
	 (uint64_t)mt_sample_left > (size) && (mt_sample_left -= (int64_t)(size), 1))
#define UNRECORDED(p)	/* under sampling: a free that is not to be recorded */	\
	(MT_LIKELY(mt_sample_rate) && !mt_sample_filter_at(p) && !is_boot(p))

/*
 * The allocator call of a hook that entered the tracker: meanwhile the
 * hook holds nothing of memtide's, so a signal handler that interrupts it
 * records its own events (see run_handler in signals.c).
 */
#define CALLING(stmt)							\
	do {								\
		mt_hook_calling = 1;					\
		atomic_signal_fence(memory_order_seq_cst);		\
		stmt;							\
		atomic_signal_fence(memory_order_seq_cst);		\
		mt_hook_calling = 0;					\
	} while (0)

/*
 * The guard is held across the real call too, so an allocator entry that
 * glibc implements with another one (reallocarray calls realloc) is
 * recorded once.
 */
#define ALLOC_HOOK_AS(record, kind, size, call)			\
	do {								\
		void *p_;						\
		if (!enter())						\
			return call;					\
		CALLING(p_ = call);					\
		if (p_)							\
			record(kind, p_, size);				\
		leave();						\
		return p_;						\
	} while (0)
#define ALLOC_HOOK(kind, size, call) ALLOC_HOOK_AS(RECORD_ALLOC, kind, size, call)

static __attribute__((noinline)) void *malloc_slow(size_t n)
{
	ENSURE();
	if (MT_UNLIKELY(!mt_real.malloc))
		return boot_alloc(n, 16);
	if (UNSAMPLED(n))
		return mt_real.malloc(n);
	ALLOC_HOOK_AS(RECORD, MT_EV_MALLOC, n, mt_real.malloc(n));
}

static void *hook_malloc(size_t n)
{
	if (SKIPS(n))
		return mt_real.malloc(n);
	return malloc_slow(n);
}

static __attribute__((noinline)) void free_slow(void *p)
{
	ENSURE();
	if (MT_UNLIKELY(!p || is_boot(p)))
		return;
	if (!mt_sample_free(p) || !enter()) {
		mt_real.free(p);
		return;
	}
	mt_record_free(MT_EV_FREE, p, 0);
	CALLING(mt_real.free(p));
	leave();
}

static void hook_free(void *p)
{
	if (UNRECORDED(p))
		mt_real.free(p);
	else
		free_slow(p);
}

static __attribute__((noinline)) void *calloc_slow(size_t n, size_t size, size_t total)
{
	ENSURE();
	if (MT_UNLIKELY(!mt_real.calloc))
		return boot_alloc(total, 16);	/* static memory is zeroed */
	if (UNSAMPLED(total))
		return mt_real.calloc(n, size);
	ALLOC_HOOK_AS(RECORD, MT_EV_CALLOC, total, mt_real.calloc(n, size));
}

static void *hook_calloc(size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (SKIPS(total))
		return mt_real.calloc(n, size);
	return calloc_slow(n, size, total);
}

static void *realloc_boot(void *p, size_t n)
{
	size_t room = (size_t)(boot_buf + sizeof(boot_buf) - (uint8_t *)p);
	void *q = hook_malloc(n);

	if (q)
		memcpy(q, p, n < room ? n : room);
	return q;
}

/*
 * realloc and reallocarray: the old block's free is recorded before the
 * call, so a thread handed that address afterwards is ordered after it.
 * A failed call leaves the old block in place: it is recorded again.
 */
static void *resize(unsigned kind, void *p, size_t total, size_t n, size_t size)
{
	int tracked = enter(), counting = tracked && MT_SIG_COUNTING();
	void *q;

	if (tracked && p && !counting && mt_sample_free(p))
		mt_record_free(MT_EV_FREE, p, 0);
	if (!tracked)
		q = kind == MT_EV_REALLOC ? mt_real.realloc(p, total) : mt_real.reallocarray(p, n, size);
	else
		CALLING(q = kind == MT_EV_REALLOC ? mt_real.realloc(p, total)
						  : mt_real.reallocarray(p, n, size));
	if (tracked) {
		/* only counted: a failed call changed nothing */
		if (counting && p && (q || !total) && mt_sample_free(p))
			mt_record_free(MT_EV_FREE, p, 0);
		if (q)
			RECORD_ALLOC(kind, q, total);
		else if (p && total && !counting)
			RECORD_ALLOC(kind, p, malloc_usable_size(p));
		leave();
	}
	return q;
}

static __attribute__((noinline)) void *realloc_slow(void *p, size_t n)
{
	ENSURE();
	if (MT_UNLIKELY(!mt_real.realloc))
		return boot_alloc(n, 16);
	if (MT_UNLIKELY(is_boot(p)))
		return realloc_boot(p, n);
	return resize(MT_EV_REALLOC, p, n, n, 1);
}

/* Under sampling, a block that was not recorded and whose new size does
 * not reach the next sample is resized straight away. */
static void *hook_realloc(void *p, size_t n)
{
	if (UNRECORDED(p) && SKIPS(n))
		return mt_real.realloc(p, n);
	return realloc_slow(p, n);
}

static void *hook_reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	ENSURE();
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (MT_UNLIKELY(is_boot(p)))
		return realloc_boot(p, total);
	return resize(MT_EV_REALLOCARRAY, p, total, n, size);
}

static __attribute__((noinline)) int posix_memalign_slow(void **out, size_t align, size_t n)
{
	int rc;

	ENSURE();
	if (MT_UNLIKELY(!mt_real.posix_memalign)) {
		if (!align || (align & (align - 1)) || align % sizeof(void *))
			return EINVAL;
		*out = boot_alloc(n, align < 16 ? 16 : align);
		return *out ? 0 : ENOMEM;
	}
	if (!enter())
		return mt_real.posix_memalign(out, align, n);
	CALLING(rc = mt_real.posix_memalign(out, align, n));
	if (rc == 0)
		RECORD_ALLOC(MT_EV_POSIX_MEMALIGN, *out, n);
	leave();
	return rc;
}

static int hook_posix_memalign(void **out, size_t align, size_t n)
{
	if (SKIPS(n))
		return mt_real.posix_memalign(out, align, n);
	return posix_memalign_slow(out, align, n);
}

static void *hook_aligned_alloc(size_t align, size_t n)
{
	ENSURE();
	if (MT_UNLIKELY(!mt_real.aligned_alloc))
		return boot_alloc(n, align < 16 ? 16 : align);
	if (SKIPS(n))
		return mt_real.aligned_alloc(align, n);
	ALLOC_HOOK(MT_EV_ALIGNED_ALLOC, n, mt_real.aligned_alloc(align, n));
}

static void *hook_memalign(size_t align, size_t n)
{
	ENSURE();
	if (MT_UNLIKELY(!mt_real.memalign))
		return boot_alloc(n, align < 16 ? 16 : align);
	if (SKIPS(n))
		return mt_real.memalign(align, n);
	ALLOC_HOOK(MT_EV_MEMALIGN, n, mt_real.memalign(align, n));
}

static void *hook_valloc(size_t n)
{
	ENSURE();
	ALLOC_HOOK(MT_EV_VALLOC, n, mt_real.valloc(n));
}

static void *hook_pvalloc(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t rounded = n ? (n + page - 1) & ~(page - 1) : page;

	ENSURE();
	ALLOC_HOOK(MT_EV_PVALLOC, rounded, mt_real.pvalloc(n));
}

static void *hook_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p;

	ENSURE();
	if (!enter())
		return mt_real.mmap(addr, len, prot, flags, fd, off);
	CALLING(p = mt_real.mmap(addr, len, prot, flags, fd, off));
	if (p != MAP_FAILED) {
		int file = fd >= 0 && !(flags & MAP_ANONYMOUS);

		if (!file && prot == PROT_NONE)		/* reserved, not memory */
			mt_record_free(MT_EV_RESERVE, p, len);
		else
			RECORD_ALLOC(file ? MT_EV_MMAP_FILE : MT_EV_MMAP, p, len);
	}
	leave();
	return p;
}

/*
 * Memory reserved PROT_NONE becomes memory where an mprotect makes it
 * accessible (the JVM's and V8's heaps grow so), and reserved again where
 * one makes it PROT_NONE; readers count only the reserved part of the
 * range as allocated (heap.c).
 */
static int hook_mprotect(void *addr, size_t len, int prot)
{
	int r;

	ENSURE();
	if (!enter())
		return mt_real.mprotect(addr, len, prot);
	CALLING(r = mt_real.mprotect(addr, len, prot));
	if (r == 0 && len) {
		if (prot == PROT_NONE)
			mt_record_free(MT_EV_DECOMMIT, addr, len);
		else
			RECORD_ALLOC(MT_EV_COMMIT, addr, len);
	}
	leave();
	return r;
}


static int hook_munmap(void *addr, size_t len)
{
	ENSURE();
	if (addr && enter()) {
		mt_record_free(MT_EV_MUNMAP, addr, len);
		leave();
	}
	return mt_real.munmap(addr, len);
}

static void *hook_mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL, *p;
	va_list ap;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	ENSURE();
	if (!enter())
		return mt_real.mremap(old, old_len, new_len, flags, new_addr);
	CALLING(p = mt_real.mremap(old, old_len, new_len, flags, new_addr));
	if (p != MAP_FAILED) {
		mt_record_free(MT_EV_MUNMAP, old, old_len);
		RECORD_ALLOC(MT_EV_MREMAP, p, new_len);
	}
	leave();
	return p;
}

static void *hook_dlopen(const char *file, int mode)
{
	void *h;

	ENSURE();
	h = mt_real.dlopen(file, mode);
	if (h && !MT_SIG_COUNTING() && enter()) {
		mt_modules_changed();
		mt_got_refresh();
		leave();
	}
	return h;
}

static int hook_dlclose(void *h)
{
	int rc;

	ENSURE();
	rc = mt_real.dlclose(h);
	if (rc == 0 && !MT_SIG_COUNTING() && enter()) {
		mt_modules_changed();
		leave();
	}
	return rc;
}

static int hook_pthread_setname_np(pthread_t t, const char *name)
{
	int rc;

	ENSURE();
	rc = mt_real.pthread_setname_np(t, name);
	if (rc == 0 && enter()) {
		if (pthread_equal(t, pthread_self()))
			mt_thread_set_name(name);
		else
			mt_thread_set_name_of(t, name);
		leave();
	}
	return rc;
}

static int hook_prctl(int op, ...)
{
	unsigned long a[4];
	va_list ap;
	int rc;

	va_start(ap, op);
	for (int i = 0; i < 4; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	ENSURE();
	rc = mt_real.prctl(op, a[0], a[1], a[2], a[3]);
	if (rc == 0 && op == PR_SET_NAME && a[0] && enter()) {
		char name[16];

		memcpy(name, (const char *)a[0], 15);
		name[15] = '\0';
		mt_thread_set_name(name);
		leave();
	}
	return rc;
}

/* os._exit() and friends skip destructors: write the capture out first. */
static void hook__exit(int status)
{
	ENSURE();
	mt_in_hook = 1;
	mt_tracker_shutdown();
	mt_real.exit_(status);
	__builtin_unreachable();
}

/*
 * The exported names.  They are aliases of the static hooks so that the
 * table below holds memtide's own functions even when libmemtide.so is
 * loaded without LD_PRELOAD (where &malloc would be libc's).
 */
#define ALIAS(type, name, args) EXPORT type name args __attribute__((alias("hook_" #name)))
ALIAS(void *, malloc, (size_t));
ALIAS(void, free, (void *));
ALIAS(void *, calloc, (size_t, size_t));
ALIAS(void *, realloc, (void *, size_t));
ALIAS(void *, reallocarray, (void *, size_t, size_t));
ALIAS(int, posix_memalign, (void **, size_t, size_t));
ALIAS(void *, aligned_alloc, (size_t, size_t));
ALIAS(void *, memalign, (size_t, size_t));
ALIAS(void *, valloc, (size_t));
ALIAS(void *, pvalloc, (size_t));
ALIAS(void *, mmap, (void *, size_t, int, int, int, off_t));
ALIAS(int, munmap, (void *, size_t));
ALIAS(void *, mremap, (void *, size_t, size_t, int, ...));
ALIAS(int, mprotect, (void *, size_t, int));
ALIAS(void *, dlopen, (const char *, int));
ALIAS(int, dlclose, (void *));
ALIAS(int, pthread_setname_np, (pthread_t, const char *));
ALIAS(int, prctl, (int, ...));
ALIAS(void, _exit, (int));
EXPORT void *mmap64(void *, size_t, int, int, int, off_t) __attribute__((alias("hook_mmap")));
EXPORT void _Exit(int) __attribute__((alias("hook__exit")));

const struct mt_hook mt_hooks[] = {
#define HOOK(name) { #name, (void *)hook_##name }
	HOOK(malloc), HOOK(free), HOOK(calloc), HOOK(realloc), HOOK(reallocarray),
	HOOK(posix_memalign), HOOK(aligned_alloc), HOOK(memalign), HOOK(valloc),
	HOOK(pvalloc), HOOK(mmap), { "mmap64", (void *)hook_mmap }, HOOK(munmap),
	HOOK(mremap), HOOK(mprotect), HOOK(dlopen), HOOK(dlclose), HOOK(pthread_setname_np),
	HOOK(prctl), HOOK(_exit), { "_Exit", (void *)hook__exit },
#undef HOOK
	{ NULL, NULL },
};
