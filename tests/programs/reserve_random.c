/*
 * reserve_random.c - random protections over a reservation, checked
 * against a model of its pages: RESERVE_PAGES pages are mapped PROT_NONE,
 * then STEPS random operations on random runs of them: mprotect read-write
 * or PROT_NONE, mmap MAP_FIXED read-write or PROT_NONE, and now and then
 * munmap.  Each page
 * is unmapped, reserved or accessible; the heap memtide must report is the
 * accessible pages.  A run with an unmapped page is left alone: another
 * thread (memtide's writer) may have mapped something there since.  Prints "PEAK FINAL" in bytes: the model's high-water
 * mark and what is accessible at the end (left mapped).
 *   reserve_random SEED
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define RESERVE_PAGES 64
#define STEPS 400

enum { UNMAPPED, RESERVED, ACCESSIBLE };

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char state[RESERVE_PAGES];
	size_t now = 0, peak = 0;
	char *base;

	rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)atoll(argc > 1 ? argv[1] : "1");
	base = mmap(NULL, RESERVE_PAGES * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return 2;
	for (int i = 0; i < RESERVE_PAGES; i++)
		state[i] = RESERVED;
	for (int s = 0; s < STEPS; s++) {
		int first = (int)(next() % RESERVE_PAGES);
		int n = 1 + (int)(next() % (RESERVE_PAGES - first < 8 ? RESERVE_PAGES - first : 8));
		int op = (int)(next() % 9) / 2, to, mapped = 1;	/* munmap 1 in 9 */
		char *p = base + (size_t)first * page;

		for (int i = first; i < first + n; i++)
			mapped &= state[i] != UNMAPPED;
		if (!mapped)
			continue;
		switch (op) {
		case 0:
		case 1:
			if (mprotect(p, n * page, op ? PROT_NONE : PROT_READ | PROT_WRITE) != 0)
				return 3;
			to = op ? RESERVED : ACCESSIBLE;
			break;
		case 2:
		case 3:
			if (mmap(p, n * page, op == 3 ? PROT_NONE : PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
				return 5;
			to = op == 3 ? RESERVED : ACCESSIBLE;
			break;
		default:
			if (munmap(p, n * page) != 0)
				return 6;
			to = UNMAPPED;
			break;
		}
		for (int i = first; i < first + n; i++) {
			now -= state[i] == ACCESSIBLE ? page : 0;
			state[i] = (unsigned char)to;
			now += to == ACCESSIBLE ? page : 0;
		}
		if (now > peak)
			peak = now;
	}
	{	/* no stdio buffer: the heap holds only the pages */
		char line[64];
		int len = snprintf(line, sizeof(line), "%zu %zu\n", peak, now);

		if (write(1, line, (size_t)len) != len)
			return 7;
	}
	return 0;
}
