/*
 * slot_churn.c - allocations whose every figure is known, shaped for the
 * COLUMNS encoding (docs/FORMAT.md): 3,000 blocks live at once (slots
 * above 255) freed in a scrambled order, sizes from 1 byte to 200 KB
 * (sizes above 255), a malloc freed right away (a free of the last slot)
 * and a realloc per round, and LEAKS blocks left at the end.  Prints on
 * stderr (unbuffered: no allocation of its own) "allocations N bytes B
 * peak P leaked L leaked_bytes LB".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef LIVE			/* smaller for tests/fixtures/columns-v2.tide */
#define LIVE 3000
#define ROUNDS 20000
#endif
#define LEAKS 7

static void *blk[LIVE];
static size_t sz[LIVE];
static uint64_t state = 88172645463325252ull;
static long allocations;
static unsigned long long bytes, live, peak;

static uint64_t rnd(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

static size_t pick(void)
{
	uint64_t r = rnd();

	return r % 4 == 0 ? 256 + r / 4 % 200000 : 1 + r / 4 % 255;
}

static void got(size_t n)
{
	allocations++;
	bytes += n;
	live += n;
	if (live > peak)
		peak = live;
}

int main(void)
{
	for (int i = 0; i < LIVE; i++) {
		sz[i] = pick();
		blk[i] = malloc(sz[i]);
		got(sz[i]);
	}
	for (int r = 0; r < ROUNDS; r++) {
		unsigned k = (unsigned)(rnd() % LIVE);
		size_t n = pick(), m = pick();
		char *volatile t;	/* not elided by the compiler */

		free(blk[k]);
		live -= sz[k];
		sz[k] = n;
		blk[k] = malloc(n);
		got(n);
		t = malloc(m);		/* freed at once: its slot is the last one */
		got(m);
		t[0] = 1;
		free(t);
		live -= m;
		blk[k] = realloc(blk[k], n + 1000);
		live -= n;
		sz[k] = n + 1000;
		got(n + 1000);
	}
	unsigned long long leaked = 0;

	for (int i = 0; i < LIVE; i++) {
		if (i < LEAKS) {
			leaked += sz[i];
			continue;
		}
		free(blk[i]);
	}
	fprintf(stderr, "allocations %ld bytes %llu peak %llu leaked %d leaked_bytes %llu\n",
		allocations, bytes, peak, LEAKS, leaked);
	return 0;
}
