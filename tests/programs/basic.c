/*
 * basic.c - prints "pid <pid>" and a line on stderr, makes BASIC_N mallocs
 * of BASIC_SIZE bytes in basic_alloc() (freed), and, when given
 * "--marker PATH", creates PATH (so a test can tell whether it ran).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BASIC_N 10
#define BASIC_SIZE 1000

__attribute__((noinline)) void basic_alloc(void)
{
	void *p[BASIC_N];
	int i;

	for (i = 0; i < BASIC_N; i++)
		p[i] = malloc(BASIC_SIZE); /* @site:basic_alloc */
	for (i = 0; i < BASIC_N; i++)
		free(p[i]);
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--marker") == 0) {
		FILE *f = fopen(argv[2], "w");

		if (!f)
			return 5;
		fclose(f);
	}
	basic_alloc();
	printf("pid %d\n", (int)getpid());
	fprintf(stderr, "basic on stderr\n");
	return 0;
}
