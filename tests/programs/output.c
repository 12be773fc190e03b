/*
 * output.c - writes known bytes to stdout and stderr, echoes its arguments
 * and its standard input, allocates a little, and exits with status 3.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINES 5000

int main(int argc, char **argv)
{
	char buf[4096];
	size_t n;
	char *p;
	int i;

	for (i = 1; i < argc; i++)
		printf("arg[%d]=%s\n", i, argv[i]);
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		fwrite(buf, 1, n, stdout);
	for (i = 0; i < LINES; i++) {
		p = malloc(64);
		snprintf(p, 64, "line %d of stdout\n", i);
		fputs(p, stdout);
		free(p);
		if (i % 1000 == 0)
			fprintf(stderr, "progress %d on stderr\n", i);
	}
	fputs("last line without newline", stdout);
	fprintf(stderr, "failing with 3\n");
	return 3;
}
