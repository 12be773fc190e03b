/*
 * diff_sites.c - two runs to compare with `memtide diff`: `diff_sites base`
 * and `diff_sites new`.  grow() allocates GROW_BASE bytes in the base run
 * and GROW_BY more in the new one; steady() makes the same two blocks in
 * both; only_new() runs in the new run only, only_base() in the base run
 * only.  Everything is live at once (the peak), then freed but
 * steady()'s second block, a leak of STEADY_B bytes in both runs.
 * Nothing else allocates: no stdio.
 */
#include <stdlib.h>
#include <string.h>

#define GROW_BASE 5000000
#define GROW_BY 10000000
#define STEADY_A 3000000
#define STEADY_B 1000000
#define NEW_SIZE 2000000
#define GONE_SIZE 4000000

#define NOINLINE __attribute__((noinline))

static void *kept[4];

NOINLINE void *grow(size_t n)
{
	return malloc(n); /* @site:grow */
}

NOINLINE void steady(void **a, void **b)
{
	*a = malloc(STEADY_A); /* @site:steady_a */
	*b = malloc(STEADY_B); /* @site:steady_b */
}

NOINLINE void *only_new(void)
{
	return malloc(NEW_SIZE); /* @site:only_new */
}

NOINLINE void *only_base(void)
{
	return malloc(GONE_SIZE); /* @site:only_base */
}

int main(int argc, char **argv)
{
	int is_new = argc > 1 && !strcmp(argv[1], "new");

	kept[0] = grow(is_new ? GROW_BASE + GROW_BY : GROW_BASE);
	steady(&kept[1], &kept[2]);
	kept[3] = is_new ? only_new() : only_base();
	free(kept[0]);
	free(kept[1]);
	free(kept[3]);
	return 0;	/* kept[2], STEADY_B bytes, is never freed */
}
