/*
 * reserve.c - memory reserved PROT_NONE and made accessible piece by
 * piece, as the JVM, V8 and CUDA do.  reserve() maps RESERVE_MB MiB
 * PROT_NONE (no memory yet); grow() makes CHUNKS chunks of CHUNK_MB MiB
 * read-write with mprotect; the first chunk is then made read-only (no
 * change), the last one PROT_NONE (given back), and regrow() makes the
 * last two read-write in one call (only the last is new memory); an mmap
 * MAP_FIXED PROT_NONE over the first chunk gives it back as the JVM does;
 * the reservation is unmapped at the end unless "keep".  Before that,
 * guard() puts a guard page in a heap block and jit() flips a mapped page
 * between writable and executable: neither changes the heap.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define RESERVE_MB 1024
#define CHUNK_MB 8
#define CHUNKS 3
#define GUARD_BLOCK 12288
#define JIT_PAGE 4096

#define MB (1ul << 20)
#define NOINLINE __attribute__((noinline))
#define RW (PROT_READ | PROT_WRITE)

static void check(int failed)
{
	if (failed)
		abort();
}

NOINLINE void guard(void)
{
	char *b = aligned_alloc(4096, GUARD_BLOCK); /* @site:guard */

	check(!b);
	check(mprotect(b, 4096, PROT_NONE) != 0);
	check(mprotect(b, 4096, RW) != 0);
	free(b);
}

NOINLINE void jit(void)
{
	char *p = mmap(NULL, JIT_PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* @site:jit */

	check(p == MAP_FAILED);
	check(mprotect(p, JIT_PAGE, PROT_READ | PROT_EXEC) != 0);
	check(mprotect(p, JIT_PAGE, RW) != 0);
	check(munmap(p, JIT_PAGE) != 0);
}

NOINLINE char *reserve(void)
{
	char *p = mmap(NULL, RESERVE_MB * MB, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	check(p == MAP_FAILED);
	return p;
}

NOINLINE void grow(char *base, int i)
{
	check(mprotect(base + i * CHUNK_MB * MB, CHUNK_MB * MB, RW) != 0); /* @site:grow */
	base[i * CHUNK_MB * MB] = 1;
}

NOINLINE void regrow(char *base)
{
	check(mprotect(base + CHUNK_MB * MB, 2 * CHUNK_MB * MB, RW) != 0); /* @site:regrow */
}

int main(int argc, char **argv)
{
	char *base;

	guard();
	jit();
	base = reserve();
	for (int i = 0; i < CHUNKS; i++)
		grow(base, i);
	check(mprotect(base, CHUNK_MB * MB, PROT_READ) != 0);
	check(mprotect(base + 2 * CHUNK_MB * MB, CHUNK_MB * MB, PROT_NONE) != 0);
	regrow(base);
	check(mmap(base, CHUNK_MB * MB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		   -1, 0) != base);
	if (argc > 1 && !strcmp(argv[1], "keep"))
		return 0;
	check(munmap(base, RESERVE_MB * MB) != 0);
	return 0;
}
