/*
 * proc.c - processes as /proc describes them (see proc.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

unsigned long long mt_proc_start_ticks(long pid)
{
	char path[64], buf[1024], *p;
	size_t n;
	FILE *f;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (!(f = fopen(path, "re")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after the command's closing parenthesis: state is field 3, start time 22 */
	if (!(p = strrchr(buf, ')')) || (p[1] && p[2] == 'Z'))
		return 0;
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}
