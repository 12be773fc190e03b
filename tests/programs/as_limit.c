/*
 * as_limit.c - run under a limit of address space (RLIMIT_AS): makes
 * N_BLOCKS mallocs of BLOCK_SIZE bytes in grab(), touches them, keeps
 * them, and prints how many succeeded (with write: stdio would allocate).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_BLOCKS 296
#define BLOCK_SIZE 1000000

static void *blocks[N_BLOCKS];

__attribute__((noinline)) static int grab(void)
{
	int ok = 0;

	for (int i = 0; i < N_BLOCKS; i++) {
		blocks[i] = malloc(BLOCK_SIZE); /* @site:grab */
		if (blocks[i]) {
			memset(blocks[i], 1, BLOCK_SIZE);
			ok++;
		}
	}
	return ok;
}

int main(void)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", grab());

	return write(1, buf, (size_t)n) == n ? 0 : 1;
}
