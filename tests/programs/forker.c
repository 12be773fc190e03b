/*
 * forker.c - forks once. The child makes CHILD_N mallocs of CHILD_SIZE
 * bytes in child_alloc() (kept) and leaves with _exit(0), as fork children
 * usually do. The parent waits for it, then makes PARENT_N mallocs of
 * PARENT_SIZE bytes in parent_alloc() (freed) and prints the child's pid.
 * No allocation of either function happens before the fork.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define PARENT_N 1000
#define PARENT_SIZE 64
#define CHILD_N 2000
#define CHILD_SIZE 128

#define NOINLINE __attribute__((noinline))

static void *parent_blocks[PARENT_N];
static void *child_blocks[CHILD_N];

NOINLINE void child_alloc(void)
{
	int i;

	for (i = 0; i < CHILD_N; i++)
		child_blocks[i] = malloc(CHILD_SIZE); /* @site:child_alloc */
}

NOINLINE void parent_alloc(void)
{
	int i;

	for (i = 0; i < PARENT_N; i++)
		parent_blocks[i] = malloc(PARENT_SIZE); /* @site:parent_alloc */
	for (i = 0; i < PARENT_N; i++)
		free(parent_blocks[i]);
}

int main(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 2;
	if (pid == 0) {
		child_alloc();
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return 4;
	parent_alloc();
	printf("child %d\n", (int)pid);
	return 0;
}
