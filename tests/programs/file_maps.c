/*
 * file_maps.c - file-backed mappings beside a known heap: maps a
 * FILE_SIZE file (kept to the end) and a FILE2_SIZE one (unmapped before
 * the end), one anonymous mapping of ANON_SIZE (kept), KEEP_N mallocs of
 * KEEP_SIZE (kept) and TEMP_N of TEMP_SIZE (freed), all live together at
 * the heap's peak.  The files are made in the working directory.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define FILE_SIZE 67108864
#define FILE2_SIZE 4194304
#define ANON_SIZE 262144
#define KEEP_N 5
#define KEEP_SIZE 1000
#define TEMP_N 3
#define TEMP_SIZE 200000

#define NOINLINE __attribute__((noinline))

static void *volatile sink;

NOINLINE void *map_file(const char *name, size_t size)
{
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
	void *p;

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		exit(1);
	p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0); /* @site:map_file */
	close(fd);
	if (p == MAP_FAILED)
		exit(1);
	return p;
}

NOINLINE void anon_map(void)
{
	sink = mmap(NULL, ANON_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* @site:anon_map */
}

NOINLINE void keep(void)
{
	for (int i = 0; i < KEEP_N; i++)
		sink = malloc(KEEP_SIZE); /* @site:keep */
}

NOINLINE void temps(void)
{
	void *p[TEMP_N];

	for (int i = 0; i < TEMP_N; i++)
		p[i] = malloc(TEMP_SIZE); /* @site:temps */
	for (int i = 0; i < TEMP_N; i++)
		free(p[i]);
}

int main(void)
{
	void *big = map_file("mapped.bin", FILE_SIZE);
	void *small = map_file("mapped2.bin", FILE2_SIZE);

	anon_map();
	keep();
	temps();
	munmap(small, FILE2_SIZE);
	sink = big;
	return 0;
}
