/*
 * thread_churn.c - LONG_THREADS threads each make PER_LONG malloc/free
 * pairs of LONG_SIZE bytes in long_work() while the main thread starts
 * N_WAVES waves of WAVE_THREADS short-lived threads, each making
 * PER_THREAD malloc/free pairs of OBJ_SIZE bytes in churn_work() before it
 * exits (1,280 threads, 3.5 M mallocs).  Every block is freed.
 */
#include <pthread.h>
#include <stdlib.h>

#define LONG_THREADS 64
#define PER_LONG 20000
#define LONG_SIZE 24
#define N_WAVES 20
#define WAVE_THREADS 64
#define PER_THREAD 2734
#define OBJ_SIZE 48

__attribute__((noinline)) static void long_work(void)
{
	for (int i = 0; i < PER_LONG; i++) {
		void *volatile p = malloc(LONG_SIZE); /* @site:long_work */

		free(p);
	}
}

__attribute__((noinline)) static void churn_work(void)
{
	for (int i = 0; i < PER_THREAD; i++) {
		void *volatile p = malloc(OBJ_SIZE); /* @site:churn_work */

		free(p);
	}
}

static void *long_worker(void *arg)
{
	(void)arg;
	long_work();
	return NULL;
}

static void *worker(void *arg)
{
	(void)arg;
	churn_work();
	return NULL;
}

int main(void)
{
	pthread_t lt[LONG_THREADS], t[WAVE_THREADS];

	for (int i = 0; i < LONG_THREADS; i++)
		if (pthread_create(&lt[i], NULL, long_worker, NULL))
			return 1;
	for (int w = 0; w < N_WAVES; w++) {
		for (int i = 0; i < WAVE_THREADS; i++)
			if (pthread_create(&t[i], NULL, worker, NULL))
				return 1;
		for (int i = 0; i < WAVE_THREADS; i++)
			pthread_join(t[i], NULL);
	}
	for (int i = 0; i < LONG_THREADS; i++)
		pthread_join(lt[i], NULL);
	return 0;
}
