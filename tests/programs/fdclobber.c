/*
 * fdclobber.c - a program that treats every descriptor as its own:
 * "dup2" dup2()s its output file over every descriptor from 3 to 1023,
 * "close" closes every descriptor above 2 (close_range, then a loop of
 * close()).  Either way it allocates before and after, then writes
 * FD_LINES lines to the file named by its second argument and checks
 * what is in it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FD_BEFORE_N 30
#define FD_BEFORE_SIZE 1500
#define FD_AFTER_N 20
#define FD_AFTER_SIZE 2500
#define FD_LINES 1000

static void *keep[FD_BEFORE_N + FD_AFTER_N];

__attribute__((noinline)) void before_alloc(void)
{
	for (int i = 0; i < FD_BEFORE_N; i++)
		keep[i] = malloc(FD_BEFORE_SIZE); /* @site:before_alloc */
}

__attribute__((noinline)) void after_alloc(void)
{
	for (int i = 0; i < FD_AFTER_N; i++) {
		keep[FD_BEFORE_N + i] = malloc(FD_AFTER_SIZE); /* @site:after_alloc */
		usleep(2000);	/* the writer runs rounds meanwhile */
	}
}

int main(int argc, char **argv)
{
	char line[64];
	int fd;

	if (argc < 3)
		return 2;
	before_alloc();
	usleep(50000);
	if (!strcmp(argv[1], "dup2")) {
		fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		for (int i = 3; i < 1024; i++)
			if (i != fd)
				dup2(fd, i);
	} else {
		close_range(3, ~0u, 0);
		for (int i = 3; i < 65536; i++)
			close(i);
		fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	}
	after_alloc();
	for (int i = 0; i < FD_LINES; i++) {
		int n = snprintf(line, sizeof(line), "line %d\n", i);

		if (write(fd, line, (size_t)n) != n)
			return 3;
	}
	printf("wrote %d lines\n", FD_LINES);
	return 0;
}
