/*
 * alloc_known.c - a native program whose allocations are known exactly.
 *
 * Every allocation site carries an "@site:" marker that the tests look up to
 * learn its line, and every size is a #define that the tests read back, so
 * the expected numbers are computed from this file and nothing else.
 *
 * Order of events (everything is freed before the next step, except that
 * the blocks of make_blocks() are still live while the big mapping exists):
 *   make_zeroed      N_ZEROED callocs of ZEROED_SIZE, freed
 *   grow             one malloc of GROW_START, N_GROW reallocs growing by
 *                    GROW_STEP, one reallocarray(RA_NMEMB, RA_SIZE), freed
 *   aligned_allocs   posix_memalign, aligned_alloc, memalign, valloc,
 *                    pvalloc, each once, freed
 *   make_blocks      N_BLOCKS mallocs of BLOCK_SIZE, kept
 *   map_big          one anonymous mmap of MAP_SIZE, touched, kept
 *                    MAP_HOLD_MS, unmapped
 *   free_blocks      the blocks are freed
 * so the heap peaks at N_BLOCKS * BLOCK_SIZE + MAP_SIZE.
 *
 * The program prints nothing, so libc allocates no stdio buffer.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define N_BLOCKS 1000
#define BLOCK_SIZE 4096
#define N_ZEROED 10
#define ZEROED_SIZE 1000
#define GROW_START 1000
#define N_GROW 5
#define GROW_STEP 1000
#define RA_NMEMB 2
#define RA_SIZE 4000
#define ALIGNMENT 64
#define PM_SIZE 256
#define AA_SIZE 512
#define MA_SIZE 768
#define VA_SIZE 1024
#define PV_SIZE 4096
#define MAP_SIZE 33554432
#define MAP_HOLD_MS 150

#define NOINLINE __attribute__((noinline))

static void *blocks[N_BLOCKS];
static void *volatile sink;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

NOINLINE void make_zeroed(void)
{
	void *z[N_ZEROED];
	int i;

	for (i = 0; i < N_ZEROED; i++)
		z[i] = calloc(1, ZEROED_SIZE); /* @site:make_zeroed */
	for (i = 0; i < N_ZEROED; i++)
		free(z[i]);
}

NOINLINE void grow(void)
{
	char *p = malloc(GROW_START); /* @site:grow_malloc */
	int i;

	for (i = 1; i <= N_GROW; i++) {
		p = realloc(p, GROW_START + i * GROW_STEP); /* @site:grow_realloc */
		p[0] = (char)i;
	}
	p = reallocarray(p, RA_NMEMB, RA_SIZE); /* @site:grow_reallocarray */
	sink = p;
	free(p);
}

NOINLINE void aligned_allocs(void)
{
	void *a = NULL, *b, *c, *d, *e;

	if (posix_memalign(&a, ALIGNMENT, PM_SIZE) != 0) /* @site:posix_memalign */
		abort();
	b = aligned_alloc(ALIGNMENT, AA_SIZE); /* @site:aligned_alloc */
	c = memalign(ALIGNMENT, MA_SIZE); /* @site:memalign */
	d = valloc(VA_SIZE); /* @site:valloc */
	e = pvalloc(PV_SIZE); /* @site:pvalloc */
	if (!b || !c || !d || !e)
		abort();
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
}

NOINLINE void make_blocks(void)
{
	int i;

	for (i = 0; i < N_BLOCKS; i++)
		blocks[i] = malloc(BLOCK_SIZE); /* @site:make_blocks */
}

NOINLINE void free_blocks(void)
{
	int i;

	for (i = 0; i < N_BLOCKS; i++)
		free(blocks[i]);
}

NOINLINE void map_big(void)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	char *p = mmap(NULL, MAP_SIZE, PROT_READ | PROT_WRITE, flags, -1, 0); /* @site:map_big */

	if (p == MAP_FAILED)
		abort();
	memset(p, 1, MAP_SIZE);
	sleep_ms(MAP_HOLD_MS);
	munmap(p, MAP_SIZE);
}

int main(void)
{
	make_zeroed();
	grow();
	aligned_allocs();
	make_blocks();
	map_big();
	free_blocks();
	return 0;
}
