/*
 * report_churn.c - enough allocation events to fill more than one capture chunk
 * quickly (about 2.5 bytes of raw events per malloc/free, chunks of at most
 * 4 MiB raw), for the tests that cut a capture at a chunk boundary.
 *
 * keep() makes KEEP_N mallocs of KEEP_SIZE (kept to the end, then freed);
 * then churn() makes ROUNDS x ROUND_N malloc/free pairs, alternately of
 * CHURN_SIZE * 2 in churn_b() and of CHURN_SIZE in churn_a().
 * With an argument N, N rounds instead of ROUNDS.
 */
#include <stdlib.h>

#define KEEP_N 100
#define KEEP_SIZE 10000
#define ROUNDS 1500
#define ROUND_N 1000
#define CHURN_SIZE 32

#define NOINLINE __attribute__((noinline))

static void *kept[KEEP_N];
static void *volatile sink;

NOINLINE void keep(void)
{
	int i;

	for (i = 0; i < KEEP_N; i++)
		kept[i] = malloc(KEEP_SIZE); /* @site:keep */
}

NOINLINE void churn_a(void)
{
	void *p = malloc(CHURN_SIZE); /* @site:churn_a */

	sink = p;
	free(p);
}

NOINLINE void churn_b(void)
{
	void *p = malloc(CHURN_SIZE * 2); /* @site:churn_b */

	sink = p;
	free(p);
}

NOINLINE void churn(long rounds)
{
	long r;
	int i;

	for (r = 0; r < rounds; r++)
		for (i = 0; i < ROUND_N; i++) {
			if (i & 1)
				churn_a();
			else
				churn_b();
		}
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : ROUNDS;
	int i;

	keep();
	churn(rounds);
	for (i = 0; i < KEEP_N; i++)
		free(kept[i]);
	return 0;
}
