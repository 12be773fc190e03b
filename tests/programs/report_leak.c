/*
 * report_leak.c - leaks exactly LEAK_N blocks of LEAK_SIZE from leak_it()
 * and frees everything else.
 *
 * tidy() makes TIDY_N mallocs of TIDY_SIZE and frees them all; it runs
 * before and after leak_it(), whose blocks are never freed.
 *
 * The program prints nothing, so libc allocates no stdio buffer.
 */
#include <stdlib.h>

#define LEAK_N 7
#define LEAK_SIZE 1000
#define TIDY_N 20
#define TIDY_SIZE 500

#define NOINLINE __attribute__((noinline))

static void *volatile sink;

NOINLINE void leak_it(void)
{
	int i;

	for (i = 0; i < LEAK_N; i++)
		sink = malloc(LEAK_SIZE); /* @site:leak_it */
}

NOINLINE void tidy(void)
{
	void *p[TIDY_N];
	int i;

	for (i = 0; i < TIDY_N; i++)
		p[i] = malloc(TIDY_SIZE); /* @site:tidy */
	for (i = 0; i < TIDY_N; i++)
		free(p[i]);
}

int main(void)
{
	tidy();
	leak_it();
	tidy();
	sink = NULL;
	return 0;
}
