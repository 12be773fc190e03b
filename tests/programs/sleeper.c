/*
 * sleeper.c - makes EARLY_N mallocs of EARLY_SIZE bytes in early_alloc()
 * (kept), prints "ready <pid>" and then, forever, one malloc of LATE_SIZE
 * bytes in late_alloc() every TICK_MS milliseconds. The test kills it.
 * With an argument MS it instead exits normally after about MS ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define EARLY_N 100
#define EARLY_SIZE 10000
#define LATE_SIZE 1000
#define TICK_MS 50

#define NOINLINE __attribute__((noinline))

static void *early[EARLY_N];
static void *volatile sink;

NOINLINE void early_alloc(void)
{
	int i;

	for (i = 0; i < EARLY_N; i++)
		early[i] = malloc(EARLY_SIZE); /* @site:early_alloc */
}

NOINLINE void late_alloc(void)
{
	sink = malloc(LATE_SIZE); /* @site:late_alloc */
}

int main(int argc, char **argv)
{
	struct timespec ts = { 0, TICK_MS * 1000000L };
	long ticks = argc > 1 ? atol(argv[1]) / TICK_MS : -1;

	early_alloc();
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (ticks < 0 || ticks-- > 0) {
		nanosleep(&ts, NULL);
		late_alloc();
	}
	return 0;
}
