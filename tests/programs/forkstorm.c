/*
 * forkstorm.c - a fork storm under a thread that keeps allocating:
 * ROUNDS rounds of WIDTH children forked at once; every child makes
 * CHILD_N mallocs of CHILD_SIZE bytes in child_alloc() (kept), every
 * NEST-th child forks a grandchild that does the same, and children leave
 * by exit() and _exit() in turn.  Meanwhile a thread of the parent makes
 * and frees SPIN_SIZE-byte blocks in spin_alloc() until the storm is
 * over, then the parent makes PARENT_N mallocs of PARENT_SIZE in
 * parent_alloc() (freed).  Prints "pid P" for every process forked, then
 * "spins N", the number of spin_alloc() calls.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 8
#define WIDTH 6
#define NEST 3
#define CHILD_N 300
#define CHILD_SIZE 96
#define PARENT_N 500
#define PARENT_SIZE 48
#define SPIN_SIZE 200

#define NOINLINE __attribute__((noinline))

static atomic_int storm = 1;
void *volatile sink;	/* the compiler may not drop a block stored here */
void *keep[CHILD_N];

NOINLINE void child_alloc(void)
{
	for (int i = 0; i < CHILD_N; i++)
		keep[i] = malloc(CHILD_SIZE); /* @site:child_alloc */
}

NOINLINE void spin_alloc(void)
{
	sink = malloc(SPIN_SIZE); /* @site:spin_alloc */
	free(sink);
}

NOINLINE void parent_alloc(void)
{
	void *blocks[PARENT_N];

	for (int i = 0; i < PARENT_N; i++)
		sink = blocks[i] = malloc(PARENT_SIZE); /* @site:parent_alloc */
	for (int i = 0; i < PARENT_N; i++)
		free(blocks[i]);
}

static long spins;

static void *spinner(void *arg)
{
	(void)arg;
	while (atomic_load(&storm)) {
		spin_alloc();
		spins++;
	}
	return NULL;
}

/* A child's life: allocate, maybe fork a grandchild, leave. */
static void child(int k, int pipefd)
{
	char line[32];
	int len;

	child_alloc();
	sink = keep[CHILD_N - 1];
	if (k % NEST == 0) {
		pid_t g = fork();

		if (g == 0) {
			child_alloc();
			sink = keep[CHILD_N - 1];
			_exit(0);
		}
		len = snprintf(line, sizeof(line), "pid %d\n", (int)g);
		if (write(pipefd, line, (size_t)len) != len)
			_exit(3);
		waitpid(g, NULL, 0);
	}
	if (k % 2)
		exit(0);
	_exit(0);
}

int main(void)
{
	pthread_t th;
	int fds[2], status, bad = 0;
	char buf[4096];
	ssize_t n;

	if (pipe(fds) < 0 || pthread_create(&th, NULL, spinner, NULL))
		return 2;
	for (int r = 0; r < ROUNDS; r++) {
		pid_t pids[WIDTH];

		for (int w = 0; w < WIDTH; w++) {
			fflush(stdout);	/* exit() in a child flushes what it inherited */
			pids[w] = fork();
			if (pids[w] < 0)
				return 2;
			if (pids[w] == 0) {
				close(fds[0]);
				child(r * WIDTH + w, fds[1]);
			}
			printf("pid %d\n", (int)pids[w]);
		}
		for (int w = 0; w < WIDTH; w++)
			if (waitpid(pids[w], &status, 0) < 0 || !WIFEXITED(status) ||
			    WEXITSTATUS(status))
				bad++;
	}
	atomic_store(&storm, 0);
	pthread_join(th, NULL);
	close(fds[1]);
	while ((n = read(fds[0], buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	parent_alloc();
	printf("spins %ld\n", spins);
	return bad ? 1 : 0;
}
