/*
 * report_peak.c - a native program with a known peak, for the reports
 * (tree, summary, flamegraph, table, transform).
 *
 * main -> outer -> f1 makes F1_N mallocs of F1_SIZE and outer -> f2 makes
 * F2_N mallocs of F2_SIZE; all of them are live together (held for
 * HOLD_MS), which is the peak of the heap.  Then everything is freed, and
 * a later, smaller phase (later -> small_phase) allocates SMALL_N blocks of
 * SMALL_SIZE, holds them HOLD_MS and frees them.  Nothing is leaked.
 *
 * The program prints nothing, so libc allocates no stdio buffer.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define F1_N 10
#define F1_SIZE 1048576
#define F2_N 5
#define F2_SIZE 2097152
#define SMALL_N 4
#define SMALL_SIZE 262144
#define HOLD_MS 30

#define NOINLINE __attribute__((noinline))

static void *f1_blocks[F1_N];
static void *f2_blocks[F2_N];
static void *small_blocks[SMALL_N];

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

NOINLINE void f1(void)
{
	int i;

	for (i = 0; i < F1_N; i++)
		f1_blocks[i] = malloc(F1_SIZE); /* @site:f1 */
}

NOINLINE void f2(void)
{
	int i;

	for (i = 0; i < F2_N; i++)
		f2_blocks[i] = malloc(F2_SIZE); /* @site:f2 */
}

NOINLINE void outer(void)
{
	f1(); /* @site:outer_f1 */
	f2(); /* @site:outer_f2 */
	sleep_ms(HOLD_MS);
}

NOINLINE void release(void)
{
	int i;

	for (i = 0; i < F1_N; i++)
		free(f1_blocks[i]);
	for (i = 0; i < F2_N; i++)
		free(f2_blocks[i]);
}

NOINLINE void small_phase(void)
{
	int i;

	for (i = 0; i < SMALL_N; i++) {
		small_blocks[i] = malloc(SMALL_SIZE); /* @site:small */
		memset(small_blocks[i], 1, SMALL_SIZE);
	}
	sleep_ms(HOLD_MS);
	for (i = 0; i < SMALL_N; i++)
		free(small_blocks[i]);
}

NOINLINE void later(void)
{
	small_phase(); /* @site:later_small */
}

int main(void)
{
	outer(); /* @site:main_outer */
	release();
	sleep_ms(HOLD_MS);
	later(); /* @site:main_later */
	return 0;
}
