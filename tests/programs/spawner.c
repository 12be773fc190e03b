/*
 * spawner.c - starts itself again as "leaf" in one of five ways: "fork"
 * (fork, then execv in the child), "spawn" (posix_spawn), "self" (execv
 * in place, same pid), "system" or "popen" (through /bin/sh, which execs
 * it).  The leaf allocates LEAF_N blocks, says its pid and whether its
 * environment holds memtide's variables, and exits; the starting process
 * allocates PARENT_N blocks, waits for it, and says its pid and how many
 * of memtide's variables its own environment holds.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PARENT_N 12
#define PARENT_SIZE 7000
#define LEAF_N 25
#define LEAF_SIZE 9000

extern char **environ;
static void *keep[PARENT_N + LEAF_N];

__attribute__((noinline)) static void parent_alloc(void)
{
	for (int i = 0; i < PARENT_N; i++)
		keep[i] = malloc(PARENT_SIZE); /* @site:parent_alloc */
}

__attribute__((noinline)) static void leaf_alloc(void)
{
	for (int i = 0; i < LEAF_N; i++)
		keep[PARENT_N + i] = malloc(LEAF_SIZE); /* @site:leaf_alloc */
}

static int leaf(void)
{
	const char *pre = getenv("LD_PRELOAD");
	int ours = 0;

	leaf_alloc();
	for (char **e = environ; *e; e++)
		ours += !strncmp(*e, "MEMTIDE_", 8);
	printf("leaf %d preload %s memtide %d\n", (int)getpid(), pre ? pre : "-", ours);
	return 0;
}

int main(int argc, char **argv)
{
	char *leaf_argv[] = { argv[0], "leaf", NULL };
	pid_t pid;
	int st;

	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "leaf"))
		return leaf();
	parent_alloc();
	fflush(stdout);
	if (!strcmp(argv[1], "self")) {
		execv("/proc/self/exe", leaf_argv);
		return 1;
	}
	if (!strcmp(argv[1], "system") || !strcmp(argv[1], "popen")) {
		char cmd[4200], line[256];
		FILE *f;

		snprintf(cmd, sizeof(cmd), "exec '%s' leaf", argv[0]);
		if (!strcmp(argv[1], "system")) {
			st = system(cmd);
		} else {
			if (!(f = popen(cmd, "r")))
				return 1;
			while (fgets(line, sizeof(line), f))
				fputs(line, stdout);
			st = pclose(f);
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			return 1;
		pid = 0;
		for (char **e = environ; *e; e++)
			pid += !strncmp(*e, "MEMTIDE_", 8) || !strncmp(*e, "LD_PRELOAD=", 11);
		printf("parent %d env %d\n", (int)getpid(), (int)pid);
		return 0;
	}
	if (!strcmp(argv[1], "spawn")) {
		if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, leaf_argv, environ))
			return 1;
	} else if ((pid = fork()) == 0) {
		execv("/proc/self/exe", leaf_argv);
		_exit(1);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return 1;
	printf("parent %d\n", (int)getpid());
	return 0;
}
