/*
 * inline_chain.c - an allocation two inlined calls deep, made inside a
 * block with a variable of its own (so the innermost scope at the call is
 * that block, not the inlined function): outer() calls middle(), inlined,
 * which calls inner_alloc(), inlined, whose loop body makes CHAIN_N
 * mallocs of CHAIN_SIZE bytes, kept.  Reports must show inner_alloc,
 * middle and outer, each at its own line.
 */
#include <stdlib.h>

#define CHAIN_N 5
#define CHAIN_SIZE 4321

static void *keep[CHAIN_N];

static inline __attribute__((always_inline)) void inner_alloc(int n)
{
	for (int i = 0; i < n; i++) {
		char tag = (char)i;

		keep[i] = malloc(CHAIN_SIZE + tag * 0); /* @site:inner_alloc */
	}
}

static inline __attribute__((always_inline)) void middle(int n)
{
	inner_alloc(n); /* @site:middle */
}

__attribute__((noinline)) void outer(void)
{
	middle(CHAIN_N); /* @site:outer */
}

int main(void)
{
	outer(); /* @site:main */
	return 0;
}
