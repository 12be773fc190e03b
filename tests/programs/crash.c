/*
 * crash.c - allocates, then dies: "segv" writes through a null pointer,
 * "abort" calls abort(). Prints a line to stdout first (flushed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRASH_N 50
#define CRASH_SIZE 2000

static void *blocks[CRASH_N];

__attribute__((noinline)) void crash_alloc(void)
{
	int i;

	for (i = 0; i < CRASH_N; i++)
		blocks[i] = malloc(CRASH_SIZE); /* @site:crash_alloc */
}

int main(int argc, char **argv)
{
	crash_alloc();
	printf("about to crash\n");
	fflush(stdout);
	if (argc > 1 && strcmp(argv[1], "abort") == 0)
		abort();
	*(volatile int *)0 = 1;
	return 0;
}
