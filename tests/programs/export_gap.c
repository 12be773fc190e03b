/*
 * export_gap.c - a shared library whose allocating function is static and
 * sits right after a small exported one, as in libraries that keep only
 * their exports (Debian's libsqlite3): once stripped, no symbol covers
 * gap_alloc's call to malloc, and the nearest export before it
 * (gap_export) is another function.  gap_run() makes GAP_N mallocs of
 * GAP_SIZE bytes; gap_free() frees them.  Built without reordering, so that
 * gap_export comes first.
 */
#include <stdlib.h>

#define GAP_N 23
#define GAP_SIZE 1717

static void *blocks[GAP_N];

__attribute__((noinline)) int gap_export(int x)
{
	return x * 3 + 1;
}

static __attribute__((noinline)) void gap_alloc(void)
{
	for (int i = 0; i < GAP_N; i++)
		blocks[i] = malloc(GAP_SIZE);
}

void gap_run(void)
{
	gap_alloc();
}

void gap_free(void)
{
	for (int i = 0; i < GAP_N; i++)
		free(blocks[i]);
}
