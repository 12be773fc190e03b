/*
 * tui_hold.c - for the live terminal UI: thirty(), twenty() and ten()
 * each hold one malloc of THIRTY, TWENTY and TEN bytes (touched), called
 * from main; then the program sleeps until the file named by its argument
 * exists (at most MAX_WAIT_MS), frees them and exits with EXIT_CODE.  It
 * prints nothing: under `memtide run --live` its stdin is /dev/null.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TEN 10485760
#define TWENTY 20971520
#define THIRTY 31457280
#define EXIT_CODE 5
#define TICK_MS 20
#define MAX_WAIT_MS 60000

#define NOINLINE __attribute__((noinline))

NOINLINE static void *ten(void)
{
	return memset(malloc(TEN), 1, TEN); /* @site:ten */
}

NOINLINE static void *twenty(void)
{
	return memset(malloc(TWENTY), 1, TWENTY); /* @site:twenty */
}

NOINLINE static void *thirty(void)
{
	return memset(malloc(THIRTY), 1, THIRTY); /* @site:thirty */
}

int main(int argc, char **argv)
{
	void *a = ten(), *b = twenty(), *c = thirty(); /* @site:main */
	struct timespec tick = { 0, TICK_MS * 1000000L };

	for (int ms = 0; argc > 1 && ms < MAX_WAIT_MS && access(argv[1], F_OK); ms += TICK_MS)
		nanosleep(&tick, NULL);
	free(a);
	free(b);
	free(c);
	return EXIT_CODE;
}
