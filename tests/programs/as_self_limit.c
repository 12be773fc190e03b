/*
 * as_self_limit.c - lowers its own RLIMIT_AS to what it uses plus
 * HEADROOM bytes, then makes N_ROUNDS malloc/free pairs of OBJ_SIZE bytes
 * (the heap stays small; a tracker recording them needs more address
 * space than is left) and prints how many mallocs succeeded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#define HEADROOM 200000
#define N_ROUNDS 100000
#define OBJ_SIZE 16

static long vm_size(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0;

	if (f) {
		if (fscanf(f, "%ld", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return pages * 4096;
}

int main(void)
{
	struct rlimit r;
	int ok = 0;

	r.rlim_cur = r.rlim_max = (rlim_t)(vm_size() + HEADROOM);
	setrlimit(RLIMIT_AS, &r);
	for (int i = 0; i < N_ROUNDS; i++) {
		void *p = malloc(OBJ_SIZE);

		ok += p != NULL;
		free(p);
	}
	printf("%d\n", ok);
	return 0;
}
