/* A native program with known allocations: 1000 blocks of 4 KiB made in
 * make_blocks(), one 32 MiB anonymous mapping, everything freed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

__attribute__((noinline)) static void make_blocks(void **v, int n)
{
	for (int i = 0; i < n; i++)
		v[i] = malloc(4096);
}

int main(void)
{
	static void *v[1000];
	char *m;

	make_blocks(v, 1000);
	m = mmap(NULL, 32 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 1;
	memset(m, 1, 32 << 20);
	munmap(m, 32 << 20);
	for (int i = 0; i < 1000; i++)
		free(v[i]);
	puts("blocks done");
	return 0;
}
