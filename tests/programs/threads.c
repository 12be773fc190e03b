/*
 * threads.c - N_THREADS threads each make PER_THREAD mallocs of OBJ_SIZE
 * bytes in thread_work(); all threads hold their blocks until every thread
 * has made them (a barrier), then free them. The heap therefore peaks at
 * N_THREADS * PER_THREAD * OBJ_SIZE bytes (plus what pthread itself keeps).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define N_THREADS 4
#define PER_THREAD 500
#define OBJ_SIZE 100

#define NOINLINE __attribute__((noinline))

static void *slots[N_THREADS][PER_THREAD];
static pthread_barrier_t barrier;

NOINLINE void thread_work(void **s)
{
	int i;

	for (i = 0; i < PER_THREAD; i++)
		s[i] = malloc(OBJ_SIZE); /* @site:thread_work */
}

NOINLINE void thread_free(void **s)
{
	int i;

	for (i = 0; i < PER_THREAD; i++)
		free(s[i]);
}

static void *worker(void *arg)
{
	void **s = arg;

	thread_work(s);
	pthread_barrier_wait(&barrier);
	thread_free(s);
	return NULL;
}

int main(void)
{
	pthread_t t[N_THREADS];
	char name[16];
	int i;

	pthread_barrier_init(&barrier, NULL, N_THREADS);
	for (i = 0; i < N_THREADS; i++) {
		if (pthread_create(&t[i], NULL, worker, slots[i]) != 0)
			abort();
		snprintf(name, sizeof(name), "worker-%d", i);
		pthread_setname_np(t[i], name);
	}
	for (i = 0; i < N_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&barrier);
	return 0;
}
