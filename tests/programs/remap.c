/*
 * remap.c - one anonymous mmap of MAP_FIRST bytes in map_first(), grown
 * with mremap to MAP_GROWN bytes in remap_grow() (may move), touched, then
 * unmapped. mremap counts as one allocation of its new size, after the
 * release of the old mapping, so the heap peaks at MAP_GROWN.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MAP_FIRST 1048576
#define MAP_GROWN 4194304

#define NOINLINE __attribute__((noinline))

NOINLINE char *map_first(void)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	char *p = mmap(NULL, MAP_FIRST, PROT_READ | PROT_WRITE, flags, -1, 0); /* @site:map_first */

	if (p == MAP_FAILED)
		abort();
	memset(p, 1, MAP_FIRST);
	return p;
}

NOINLINE char *remap_grow(char *p)
{
	p = mremap(p, MAP_FIRST, MAP_GROWN, MREMAP_MAYMOVE); /* @site:remap_grow */
	if (p == MAP_FAILED)
		abort();
	memset(p, 2, MAP_GROWN);
	return p;
}

int main(void)
{
	char *p = remap_grow(map_first());

	munmap(p, MAP_GROWN);
	return 0;
}
