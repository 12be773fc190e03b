/*
 * sample.c - byte sampling of heap allocations (`memtide run
 * --sample-rate BYTES`, Tracker(sample_rate=...)), in the profiled
 * process.
 *
 * As in tcmalloc and jemalloc's heap profiler, the bytes a thread
 * allocates are cut by a Poisson process of one point per `rate` bytes on
 * average: each thread counts down the bytes to its next point, drawn
 * from an exponential distribution of mean `rate`, and an allocation that
 * reaches it is recorded.  Since the exponential distribution has no
 * memory, an allocation of n bytes is recorded with probability
 * 1 - exp(-n/rate), whatever came before, and independently of the
 * others; readers weigh each recorded block by the inverse of that
 * (reader.c).  The hot path is a subtraction and a compare on a
 * thread-local counter; the draw (a per-thread PRNG and a logarithm
 * computed here, without libm) runs once per recorded block.
 *
 * Frees: only a free of a recorded block may reach the capture.  The
 * hooks keep the addresses of the recorded blocks still live in a set
 * (open addressing, 2^14 slots, at most 16 probes, lock-free), and a
 * counting filter of 2^16 one-byte buckets, indexed by the address, in
 * front of it: the number of the set's blocks in each bucket.  A free
 * whose bucket holds zero goes straight to the allocator, without a
 * look at the set; one whose address the set holds is taken out of it
 * (and its bucket) and recorded, in the hook, so the bucket is clear
 * again for the blocks the allocator puts at that address next.  (The
 * writer used to clear it when it met the free, 10 ms or more later: in
 * the meantime every free at the reused address was recorded and then
 * dropped: 5.2 of the 7.8 ns a small malloc/free pair cost over the
 * allocator.)  A block the set has no room for makes its bucket 255, for
 * good: every free in it is recorded, and the writer drops those it does
 * not know.  The filter is read by every free: at 64 KiB it stays in the
 * core's cache, where 2^20 two-byte buckets (2 MiB) made the load a cache
 * miss, 5% of native_churn's time under sampling (perf; 1.9% at 2^17
 * one-byte buckets, under 1% at 2^16).
 * Mappings (mmap, munmap, mremap) are always recorded.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracker.h"

uint64_t mt_sample_rate;
_Atomic uint8_t mt_sample_filter[MT_SAMPLE_BUCKETS];	/* zero pages until used */
__thread int64_t mt_sample_left MT_TLS;

static __thread uint64_t rng MT_TLS;	/* 0: the thread draws its seed first */
static uint64_t seed;			/* MEMTIDE_SAMPLE_SEED, or 0 */
static atomic_uint_fast64_t seeded;	/* threads seeded so far */

static uint64_t mix(uint64_t x)	/* splitmix64's finalizer */
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* xorshift64*: the per-thread generator; never 0 once seeded. */
static uint64_t next(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

/*
 * The natural logarithm of x in (0, 1]: x = m 2^e with m in [sqrt(1/2),
 * sqrt(2)), then ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172,
 * whose series to s^19 is within 1e-16 of it.
 */
static double ln(double x)
{
	union { double d; uint64_t u; } v = { x };
	int e = (int)((v.u >> 52) & 0x7ff) - 1023;
	double s, s2, sum = 0;

	v.u = (v.u & 0x000fffffffffffffull) | 0x3ff0000000000000ull;	/* m in [1, 2) */
	if (v.d > 1.4142135623730951) {
		v.d /= 2;
		e++;
	}
	s = (v.d - 1) / (v.d + 1);
	s2 = s * s;
	for (int k = 19; k >= 1; k -= 2)
		sum = sum * s2 + 1.0 / k;
	return 2 * s * sum + e * 0.6931471805599453;
}

/* Bytes to the next sampled one: exponential, of mean mt_sample_rate. */
static int64_t draw(void)
{
	/* u in (0, 1], 53 bits */
	double u = (double)((next() >> 11) + 1) * (1.0 / 9007199254740992.0);
	double d = -ln(u) * (double)mt_sample_rate;

	return d < 1 ? 1 : d > 9e18 ? INT64_MAX : (int64_t)d;
}

/* Each thread's generator: from the seed and the thread's rank, or from
 * the clock, the thread id and the process id. */
static void seed_thread(void)
{
	uint64_t n = atomic_fetch_add(&seeded, 1);

	if (seed)
		rng = mix(seed + 0x9e3779b97f4a7c15ull * (n + 1));
	else
		rng = mix(mt_now_ns() ^ ((uint64_t)syscall(SYS_gettid) << 32) ^
			  (uint64_t)getpid() ^ (uintptr_t)&rng);
	if (!rng)
		rng = 1;
}

int mt_sample_hit(size_t size)
{
	if (MT_UNLIKELY(!rng)) {	/* the thread's first allocation */
		seed_thread();
		mt_sample_left = draw() - (int64_t)size;
		if (mt_sample_left > 0)
			return 0;
	}
	mt_sample_left = draw();
	return 1;
}

#define SET_SLOTS (1u << 14)
#define SET_PROBES 16
#define GONE ((uintptr_t)1)	/* a slot whose block was freed */
#define STICKY 255		/* a bucket whose frees are all recorded */

static _Atomic uintptr_t *set;	/* the recorded blocks that are live */

static size_t set_slot(uintptr_t addr)
{
	return (size_t)(mix(addr) & (SET_SLOTS - 1));
}

static int set_add(uintptr_t addr)
{
	size_t i = set_slot(addr);

	for (int k = 0; k < SET_PROBES; k++, i = (i + 1) & (SET_SLOTS - 1)) {
		uintptr_t v = atomic_load_explicit(&set[i], memory_order_relaxed);

		while (v <= GONE)
			if (atomic_compare_exchange_weak_explicit(&set[i], &v, addr,
					memory_order_release, memory_order_relaxed))
				return 1;
	}
	return 0;
}

/* Takes addr out of the set; 0 when it was not there.  A block is in the
 * set before any thread can free it, so an empty slot ends the search. */
static int set_take(uintptr_t addr)
{
	size_t i = set_slot(addr);

	for (int k = 0; k < SET_PROBES; k++, i = (i + 1) & (SET_SLOTS - 1)) {
		uintptr_t v = atomic_load_explicit(&set[i], memory_order_acquire);

		if (!v)
			return 0;
		if (v == addr)
			return atomic_compare_exchange_strong_explicit(&set[i], &v, GONE,
					memory_order_relaxed, memory_order_relaxed);
	}
	return 0;
}

/* A recorded block: its free will be. */
void mt_sample_note(const void *addr)
{
	_Atomic uint8_t *b = &mt_sample_filter[mt_sample_bucket((uintptr_t)addr)];
	uint8_t v = atomic_load_explicit(b, memory_order_relaxed);

	if (!set_add((uintptr_t)addr)) {
		atomic_store_explicit(b, STICKY, memory_order_relaxed);
		return;
	}
	while (v < STICKY && !atomic_compare_exchange_weak_explicit(b, &v,
			v + 1 < STICKY ? v + 1 : STICKY, memory_order_relaxed, memory_order_relaxed))
		;
}

/* The free of addr, whose bucket is not empty: whether it is recorded. */
int mt_sample_release(const void *addr)
{
	_Atomic uint8_t *b = &mt_sample_filter[mt_sample_bucket((uintptr_t)addr)];
	uint8_t v;

	if (!set_take((uintptr_t)addr))
		return atomic_load_explicit(b, memory_order_relaxed) == STICKY;
	v = atomic_load_explicit(b, memory_order_relaxed);
	while (v && v < STICKY && !atomic_compare_exchange_weak_explicit(b, &v, v - 1,
			memory_order_relaxed, memory_order_relaxed))
		;
	return 1;
}

/*
 * A session starts sampling every rate bytes (0: every allocation is
 * recorded), before its first event.  seed_text: MEMTIDE_SAMPLE_SEED.
 */
int mt_sample_setup(uint64_t rate, const char *seed_text)
{
	mt_sample_rate = 0;
	if (!rate)
		return 0;
	if (!set && !(set = mt_raw_alloc(SET_SLOTS * sizeof(*set))))
		return -1;
	memset((void *)set, 0, SET_SLOTS * sizeof(*set));
	memset((void *)mt_sample_filter, 0, sizeof(mt_sample_filter));
	seed = seed_text && *seed_text ? mix(strtoull(seed_text, NULL, 0) + 1) : 0;
	atomic_store(&seeded, 0);
	rng = 0;		/* the calling thread starts again from the seed */
	mt_sample_rate = rate;
	return 0;
}

/* A forked child that goes on tracking draws from a generator of its own. */
void mt_sample_after_fork_child(void)
{
	if (!mt_sample_rate)
		return;
	seed = seed ? mix(seed ^ (uint64_t)getpid()) : 0;
	rng = 0;
}
