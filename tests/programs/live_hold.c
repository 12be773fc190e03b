/*
 * live_hold.c - for the live view: holds HOLD_A, HOLD_B and HOLD_C bytes
 * from one malloc each in hold_a(), hold_b() and hold_c() (touched, so
 * they count in RSS), prints "ready" and waits for input on stdin; then
 * frees them and exits with EXIT_CODE.  With an argument it exits with
 * EXIT_CODE at once, holding them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HOLD_A 10485760
#define HOLD_B 20971520
#define HOLD_C 31457280
#define EXIT_CODE 3

#define NOINLINE __attribute__((noinline))

NOINLINE static void *hold_a(void)
{
	return memset(malloc(HOLD_A), 1, HOLD_A); /* @site:hold_a */
}

NOINLINE static void *hold_b(void)
{
	return memset(malloc(HOLD_B), 1, HOLD_B); /* @site:hold_b */
}

NOINLINE static void *hold_c(void)
{
	return memset(malloc(HOLD_C), 1, HOLD_C); /* @site:hold_c */
}

int main(int argc, char **argv)
{
	void *a = hold_a(), *b = hold_b(), *c = hold_c(); /* @site:main */
	char line[16];

	if (argc > 1)
		return EXIT_CODE;
	printf("ready\n");
	fflush(stdout);
	if (read(0, line, sizeof(line)) < 0)	/* no stdio buffer: nothing changes */
		line[0] = 0;
	free(a);
	free(b);
	free(c);
	return EXIT_CODE;
}
