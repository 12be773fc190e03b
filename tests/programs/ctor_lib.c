/*
 * ctor_lib.c - a shared library whose constructor makes N_BLOCKS mallocs of
 * BLOCK_SIZE bytes in ctor_alloc(): it is initialized before a preloaded
 * libmemtide.so, so these are allocations made before memtide's own
 * constructor runs.  ctor_main.c frees N_FREED of them.
 */
#include <stdlib.h>
#include <string.h>

#define N_BLOCKS 10
#define BLOCK_SIZE 1048576

void *ctor_blocks[N_BLOCKS];

__attribute__((noinline)) void ctor_alloc(void)
{
	for (int i = 0; i < N_BLOCKS; i++) {
		ctor_blocks[i] = malloc(BLOCK_SIZE); /* @site:ctor_alloc */
		memset(ctor_blocks[i], 1, BLOCK_SIZE);
	}
}

__attribute__((constructor)) static void ctor(void)
{
	ctor_alloc();
}
