/*
 * rename_other.c - a thread named by another thread after it started
 * allocating: the worker makes one block (so memtide knows it by then),
 * waits while main calls pthread_setname_np on it, then makes RN_AFTER_N
 * blocks of RN_AFTER_SIZE bytes in after_rename(), held to the end.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#define RN_FIRST_SIZE 777
#define RN_AFTER_N 40
#define RN_AFTER_SIZE 3000
#define RN_NAME "renamed-late"

static pthread_barrier_t started, named;
static void *first, *keep[RN_AFTER_N];

__attribute__((noinline)) void before_rename(void)
{
	first = malloc(RN_FIRST_SIZE); /* @site:before_rename */
}

__attribute__((noinline)) void after_rename(void)
{
	for (int i = 0; i < RN_AFTER_N; i++)
		keep[i] = malloc(RN_AFTER_SIZE); /* @site:after_rename */
}

static void *worker(void *arg)
{
	(void)arg;
	before_rename();
	pthread_barrier_wait(&started);
	pthread_barrier_wait(&named);
	after_rename();
	return NULL;
}

int main(void)
{
	pthread_t t;

	pthread_barrier_init(&started, NULL, 2);
	pthread_barrier_init(&named, NULL, 2);
	if (pthread_create(&t, NULL, worker, NULL) != 0)
		return 1;
	pthread_barrier_wait(&started);
	if (pthread_setname_np(t, RN_NAME) != 0)
		return 1;
	pthread_barrier_wait(&named);
	pthread_join(t, NULL);
	return 0;
}
