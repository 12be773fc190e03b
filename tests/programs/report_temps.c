/*
 * report_temps.c - temporary allocations counted exactly.
 *
 *   report_temps loop    temp_loop(): TEMP_N times malloc(TEMP_SIZE) then
 *                        free, nothing else allocating in between
 *   report_temps pairs   pairs(): PAIRS_N times a = malloc(PAIR_A_SIZE);
 *                        b = malloc(PAIR_B_SIZE); free(a); free(b)
 *
 * With the default threshold (freed before the thread allocates again)
 * every block of temp_loop is temporary, and of pairs() only the b's (an
 * a is freed after b was allocated); with a threshold of 2 or more both.
 *
 * The program prints nothing, so libc allocates no stdio buffer.
 */
#include <stdlib.h>
#include <string.h>

#define TEMP_N 1000
#define TEMP_SIZE 64
#define PAIRS_N 500
#define PAIR_A_SIZE 48
#define PAIR_B_SIZE 80

#define NOINLINE __attribute__((noinline))

static void *volatile sink;

NOINLINE void temp_loop(void)
{
	int i;

	for (i = 0; i < TEMP_N; i++) {
		char *p = malloc(TEMP_SIZE); /* @site:temp_loop */

		p[0] = (char)i;
		sink = p;
		free(p);
	}
}

NOINLINE void pairs(void)
{
	int i;

	for (i = 0; i < PAIRS_N; i++) {
		char *a = malloc(PAIR_A_SIZE); /* @site:pair_a */
		char *b = malloc(PAIR_B_SIZE); /* @site:pair_b */

		sink = a;
		sink = b;
		free(a);
		free(b);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "pairs") == 0)
		pairs();
	else
		temp_loop();
	return 0;
}
