/*
 * rust_names.c - functions that carry the symbol names rustc gives them, as
 * a Rust extension's would: make_vecs() under a v0 name (_R...), V0_N
 * mallocs of V0_SIZE bytes; make_legs() under a legacy name
 * (_ZN...17h<hash>E, with LLVM's ".llvm." suffix), LEGACY_N mallocs of
 * LEGACY_SIZE bytes.  Reports must name them sample::make_vecs and
 * sample::make_legs.
 */
#include <stdlib.h>

#define V0_N 11
#define V0_SIZE 2345
#define LEGACY_N 13
#define LEGACY_SIZE 3456

static void *keep[V0_N + LEGACY_N];

__attribute__((noinline)) void make_vecs(void) __asm__("_RNvCs1234_6sample9make_vecs");
__attribute__((noinline)) void make_legs(void)
	__asm__("_ZN6sample9make_legs17h0123456789abcdefE.llvm.12345");

void make_vecs(void)
{
	for (int i = 0; i < V0_N; i++)
		keep[i] = malloc(V0_SIZE);
}

void make_legs(void)
{
	for (int i = 0; i < LEGACY_N; i++)
		keep[V0_N + i] = malloc(LEGACY_SIZE);
}

int main(void)
{
	make_vecs();
	make_legs();
	for (int i = 0; i < V0_N + LEGACY_N; i++)
		free(keep[i]);
	return 0;
}
