/*
 * overflow.c - a program that overflows its stack after OV_N mallocs of
 * OV_SIZE bytes in before_overflow().  "handled": its SIGSEGV handler
 * runs on an alternate stack (SA_ONSTACK, as Rust's runtime and Python's
 * faulthandler do), says so and exits OV_STATUS; "default": it dies by
 * SIGSEGV, the kernel having no stack to run a handler on.  It waits
 * OV_WAIT_MS between the mallocs and the overflow.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OV_N 30
#define OV_SIZE 2222
#define OV_STATUS 7
#define OV_WAIT_MS 500

static void *keep[OV_N];

static void on_segv(int sig)
{
	static const char msg[] = "stack overflow caught\n";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(OV_STATUS);
}

__attribute__((noinline)) void before_overflow(void)
{
	for (int i = 0; i < OV_N; i++)
		keep[i] = malloc(OV_SIZE); /* @site:before_overflow */
}

__attribute__((noinline)) static int deeper(int n)
{
	volatile char buf[1024];

	buf[0] = (char)n;
	return deeper(n + 1) + buf[0];
}

int main(int argc, char **argv)
{
	struct timespec wait = { 0, OV_WAIT_MS * 1000000L };

	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "handled")) {
		static char alt[1 << 16];
		stack_t ss = { .ss_sp = alt, .ss_size = sizeof(alt) };
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_segv;
		sa.sa_flags = SA_ONSTACK;
		if (sigaltstack(&ss, NULL) || sigaction(SIGSEGV, &sa, NULL))
			return 2;
	}
	before_overflow();
	nanosleep(&wait, NULL);
	return deeper(0);
}
