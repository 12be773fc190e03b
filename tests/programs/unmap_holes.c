/*
 * unmap_holes.c - mappings cut in pieces by munmap.  map_holed() maps
 * MAP_PAGES pages; "hole" punches HOLE_PAGES pages out of the middle then
 * unmaps the two pieces; "hole-keep" punches the hole and keeps the
 * pieces.  "remap-hole" first grows the mapping with mremap in
 * remap_grown() to GROWN_PAGES pages, then punches the hole and unmaps
 * the rest; "remap-hole-keep" keeps the pieces.  Each mapping stays one
 * allocation until its last piece is gone.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAP_PAGES 8
#define GROWN_PAGES 16
#define HOLE_PAGES 2
#define HOLE_AT 3	/* pages before the hole */

#define NOINLINE __attribute__((noinline))

NOINLINE char *map_holed(size_t page)
{
	int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;
	char *p = mmap(NULL, MAP_PAGES * page, prot, flags, -1, 0); /* @site:map_holed */

	if (p == MAP_FAILED)
		abort();
	memset(p, 1, MAP_PAGES * page);
	return p;
}

NOINLINE char *remap_grown(char *p, size_t page)
{
	p = mremap(p, MAP_PAGES * page, GROWN_PAGES * page, MREMAP_MAYMOVE); /* @site:remap_grown */
	if (p == MAP_FAILED)
		abort();
	return p;
}

int main(int argc, char **argv)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const char *mode = argc > 1 ? argv[1] : "hole";
	size_t pages = MAP_PAGES;
	char *p = map_holed(page);

	if (!strncmp(mode, "remap-", 6)) {
		p = remap_grown(p, page);
		pages = GROWN_PAGES;
	}
	if (munmap(p + HOLE_AT * page, HOLE_PAGES * page))
		abort();
	if (strstr(mode, "keep"))
		return 0;
	if (munmap(p, HOLE_AT * page) ||
	    munmap(p + (HOLE_AT + HOLE_PAGES) * page, (pages - HOLE_AT - HOLE_PAGES) * page))
		abort();
	return 0;
}
