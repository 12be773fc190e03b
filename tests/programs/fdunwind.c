/*
 * fdunwind.c - a program that closes every descriptor above 2, opens its
 * file (first argument) read-write at 3 and dup2()s it over 4 to
 * FD_LAST, then allocates in a new thread, whose stack no unwinder has
 * seen yet.  Exits 3 when anything read from or wrote into the file
 * meanwhile (its offset or size moved), 0 after saying so otherwise.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define FD_LAST 63
#define THREAD_N 25
#define THREAD_SIZE 3000

static void *keep[THREAD_N];

__attribute__((noinline)) void thread_alloc(void)
{
	for (int i = 0; i < THREAD_N; i++)
		keep[i] = malloc(THREAD_SIZE); /* @site:thread_alloc */
}

static void *run(void *arg)
{
	(void)arg;
	thread_alloc();
	return NULL;
}

int main(int argc, char **argv)
{
	struct stat sb;
	pthread_t t;
	int fd;

	if (argc < 2)
		return 2;
	close_range(3, ~0u, 0);
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd != 3 || write(fd, "data", 4) != 4 || lseek(fd, 0, SEEK_SET) != 0)
		return 2;
	for (int i = 4; i <= FD_LAST; i++)
		dup2(fd, i);
	if (pthread_create(&t, NULL, run, NULL) || pthread_join(t, NULL))
		return 2;
	if (lseek(fd, 0, SEEK_CUR) != 0 || fstat(fd, &sb) || sb.st_size != 4)
		return 3;
	printf("file untouched\n");
	return 0;
}
