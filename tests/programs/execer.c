/*
 * execer.c - allocates, then becomes another program: "true" execs
 * /bin/true with execl(); "fail" first tries an exec that fails (no such
 * file), allocates again and exits normally.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXEC_N 40
#define EXEC_SIZE 3000
#define AFTER_N 7
#define AFTER_SIZE 5000

static void *blocks[EXEC_N + AFTER_N];

__attribute__((noinline)) void exec_alloc(void)
{
	for (int i = 0; i < EXEC_N; i++)
		blocks[i] = malloc(EXEC_SIZE); /* @site:exec_alloc */
}

__attribute__((noinline)) void after_alloc(void)
{
	for (int i = 0; i < AFTER_N; i++)
		blocks[EXEC_N + i] = malloc(AFTER_SIZE); /* @site:after_alloc */
}

int main(int argc, char **argv)
{
	exec_alloc();
	if (argc > 1 && !strcmp(argv[1], "fail")) {
		execl("/nonexistent/program", "program", (char *)NULL);
		after_alloc();
		printf("exec failed, went on\n");
		return 0;
	}
	execl("/bin/true", "true", (char *)NULL);
	return 1;
}
