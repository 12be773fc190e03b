/*
 * sigalloc.c - allocations made in signal handlers.  "timer": a timer
 * fires every TICK_US microseconds and its SIGPROF handler maps and unmaps a page (system calls, safe in a handler, unlike
 * malloc) while the main thread mallocs and frees in a loop, so most
 * handlers interrupt an allocation.  "raise": the handler runs RAISED
 * times from plain code, outside any allocation, then once more set with
 * SA_RESETHAND, and a SIGCHLD handler is set and taken away (as without
 * memtide: the dispositions read back, the default action).  "exit": as
 * "timer", but the handler's EXIT_AFTER-th run exits with _exit(EXIT_CODE).
 * Prints how many times the handler ran.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define LOOPS 300000
#define SIZE 1000
#define PAGE 4096
#define TICK_US 50
#define RAISED 20
#define EXIT_AFTER 300
#define EXIT_CODE 3

static volatile sig_atomic_t handled, exit_after;

static void say_handled(void)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "handled %d\n", (int)handled);

	if (write(1, buf, (size_t)n) < 0)
		_exit(1);
}

static void on_prof(int sig)
{
	void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* @site:handler_map */

	(void)sig;
	if (p != MAP_FAILED)
		munmap(p, PAGE);
	handled++;
	if (exit_after && handled == exit_after) {
		say_handled();
		_exit(EXIT_CODE);
	}
}

__attribute__((noinline)) void churn(void)
{
	for (int i = 0; i < LOOPS || exit_after; i++) {
		char *volatile p = malloc(SIZE); /* @site:churn */

		p[0] = (char)i;
		free(p);
	}
}

int main(int argc, char **argv)
{
	struct itimerspec on = { { 0, TICK_US * 1000 }, { 0, TICK_US * 1000 } }, off;
	struct sigevent ev;
	struct sigaction sa;
	timer_t timer;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_prof;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGPROF, &sa, NULL);
	if (argc > 1 && !strcmp(argv[1], "raise")) {
		struct sigaction back;

		for (int i = 0; i < RAISED; i++)
			raise(SIGPROF);
		sigaction(SIGPROF, NULL, &back);
		printf("query: %s\n", back.sa_handler == on_prof ? "own handler" : "other");
		sa.sa_flags = SA_RESETHAND;
		sigaction(SIGPROF, &sa, NULL);
		raise(SIGPROF);
		sigaction(SIGPROF, NULL, &back);
		printf("after reset: %s\n", back.sa_handler == SIG_DFL ? "default" : "other");
		sa.sa_flags = 0;
		sigaction(SIGCHLD, &sa, NULL);
		signal(SIGCHLD, SIG_DFL);
		raise(SIGCHLD);
	} else {
		exit_after = argc > 1 && !strcmp(argv[1], "exit") ? EXIT_AFTER : 0;
		memset(&ev, 0, sizeof(ev));
		ev.sigev_notify = SIGEV_SIGNAL;
		ev.sigev_signo = SIGPROF;
		if (timer_create(CLOCK_MONOTONIC, &ev, &timer) < 0) {
			perror("timer_create");
			return 1;
		}
		timer_settime(timer, 0, &on, NULL);
		churn();
		memset(&off, 0, sizeof(off));
		timer_settime(timer, 0, &off, NULL);
	}
	fflush(stdout);
	say_handled();
	return 0;
}
