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
 * Frees: only a free of a recorded block may reach the capture.  A
 * counting filter of 2^16 one-byte buckets, indexed by the address, holds
 * the number of recorded blocks in each bucket that the writer still
 * holds as live: a hook that records a block adds one, the writer takes
 * one away when it meets the block's free (writer.c), and a free whose
 * bucket holds zero is not recorded.  A bucket that reaches 255 stays
 * there.  A bucket is thus never below the blocks live in it, so no free
 * of a recorded block is lost; a free that shares a bucket with a
 * recorded block is recorded and then dropped by the writer, which does
 * not know its address (one in a hundred frees for a heap of 600 blocks
 * recorded, 300 MiB at 512 KiB).  The filter is read by every free: at
 * 64 KiB it stays in the core's cache, where 2^20 two-byte buckets (2 MiB)
 * made the load a cache miss, 5% of native_churn's time under sampling
 * (perf; 1.9% at 2^17 one-byte buckets, under 1% at 2^16).
 * Mappings (mmap, munmap, mremap) are always recorded.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracker.h"

uint64_t mt_sample_rate;
_Atomic uint8_t *mt_sample_filter;
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

void mt_sample_note(const void *addr)
{
	_Atomic uint8_t *b = &mt_sample_filter[mt_sample_bucket((uintptr_t)addr)];
	uint8_t v = atomic_load_explicit(b, memory_order_relaxed);

	while (v < 255 && !atomic_compare_exchange_weak_explicit(b, &v, v + 1,
			memory_order_relaxed, memory_order_relaxed))
		;
}

void mt_sample_forget(uint64_t addr)
{
	_Atomic uint8_t *b;
	uint8_t v;

	if (!mt_sample_rate)
		return;
	b = &mt_sample_filter[mt_sample_bucket(addr)];
	v = atomic_load_explicit(b, memory_order_relaxed);
	while (v && v < 255 && !atomic_compare_exchange_weak_explicit(b, &v, v - 1,
			memory_order_relaxed, memory_order_relaxed))
		;	/* 255: saturated, kept */
}

/*
 * A session starts sampling every rate bytes (0: every allocation is
 * recorded), before its first event.  seed_text: MEMTIDE_SAMPLE_SEED.
 */
int mt_sample_setup(uint64_t rate, const char *seed_text)
{
	size_t n = MT_SAMPLE_BUCKETS * sizeof(*mt_sample_filter);

	mt_sample_rate = 0;
	if (!rate)
		return 0;
	if (!mt_sample_filter) {
		mt_sample_filter = mt_raw_alloc(n);
		if (!mt_sample_filter)
			return -1;
	} else {
		memset((void *)mt_sample_filter, 0, n);
	}
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
