/*
 * sample_sites.c - a native program for the sampling tests: many big
 * blocks at one site and a great many small ones at another, whose
 * figures are known exactly, so that a sampled capture's estimates can be
 * checked against them.
 *
 *   big_blocks     N_BIG mallocs of BIG_SIZE, kept
 *   small_blocks   N_SMALL mallocs of SMALL_SIZE, kept
 *   (the heap peaks here: N_BIG * BIG_SIZE + N_SMALL * SMALL_SIZE)
 *   every small block is freed, then every big block but the last N_LEAK
 *   (with the argument "all": every big block too)
 *
 * The big blocks are not written to (glibc maps them: they cost no RSS).
 */
#include <stdlib.h>
#include <string.h>

#define N_BIG 1000
#define BIG_SIZE 1000000
#define N_SMALL 1000000
#define SMALL_SIZE 100
#define N_LEAK 100

#define NOINLINE __attribute__((noinline))

static void *big[N_BIG];
static void *small[N_SMALL];	/* static: no allocation of its own */

static NOINLINE void big_blocks(void)
{
	for (int i = 0; i < N_BIG; i++)
		big[i] = malloc(BIG_SIZE);	/* @site:big */
}

static NOINLINE void small_blocks(void)
{
	for (int i = 0; i < N_SMALL; i++)
		small[i] = malloc(SMALL_SIZE);	/* @site:small */
}

int main(int argc, char **argv)
{
	int keep = argc > 1 && !strcmp(argv[1], "all") ? 0 : N_LEAK;

	big_blocks();
	small_blocks();
	for (int i = 0; i < N_SMALL; i++)
		free(small[i]);
	for (int i = 0; i < N_BIG - keep; i++)
		free(big[i]);
	return 0;
}
