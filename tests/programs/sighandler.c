/*
 * sighandler.c - a program with signal handlers of its own, which must
 * run as without memtide: a SIGTERM handler installed with sigaction()
 * (queried back), a SIGUSR1 handler installed with signal(), SIGHUP
 * ignored.  It raises each, allocates between them, and exits normally.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIG_N 25
#define SIG_SIZE 4000

static volatile sig_atomic_t got_term, got_usr1;
static void *keep[2 * SIG_N];

static void on_term(int sig, siginfo_t *info, void *uc)
{
	(void)uc;
	got_term = sig == SIGTERM && info->si_signo == SIGTERM;
}

static void on_usr1(int sig)
{
	got_usr1 = sig;
}

__attribute__((noinline)) void handled_alloc(int from)
{
	for (int i = 0; i < SIG_N; i++)
		keep[from + i] = malloc(SIG_SIZE); /* @site:handled_alloc */
}

int main(void)
{
	struct sigaction sa, back;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_term;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGTERM, NULL, &back);
	printf("query: %s\n", back.sa_sigaction == on_term ? "own handler" : "other");
	signal(SIGUSR1, on_usr1);
	printf("signal() returned: %s\n", signal(SIGUSR1, on_usr1) == on_usr1 ? "own handler" : "other");
	signal(SIGHUP, SIG_IGN);

	handled_alloc(0);
	raise(SIGTERM);
	raise(SIGUSR1);
	raise(SIGHUP);
	handled_alloc(SIG_N);
	printf("term %d usr1 %d\n", (int)got_term, (int)got_usr1);
	return 0;
}
