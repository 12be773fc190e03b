/*
 * rust_names.c - functions that carry the symbol names rustc gives them, as
 * a Rust extension's would: make_vecs() under a v0 name (_R...), V0_N
 * mallocs of V0_SIZE bytes; make_legs() under a legacy name
 * (_ZN...17h<hash>E, with LLVM's ".llvm." suffix), LEGACY_N mallocs of
 * LEGACY_SIZE bytes.  Reports must name them sample::make_vecs and
 * sample::make_legs.  make_grown() (sample::make_grown) allocates through
 * grow_buffer(), named as Rust's alloc::raw_vec::finish_grow, GROWN_N
 * mallocs of GROWN_SIZE bytes: their site is make_grown, as a C++
 * program's is the caller of std::vector's code.
 */
#include <stdlib.h>

#define V0_N 11
#define V0_SIZE 2345
#define LEGACY_N 13
#define LEGACY_SIZE 3456
#define GROWN_N 17
#define GROWN_SIZE 4567

static void *keep[V0_N + LEGACY_N + GROWN_N];

__attribute__((noinline)) void make_vecs(void) __asm__("_RNvCs1234_6sample9make_vecs");
__attribute__((noinline)) void make_legs(void)
	__asm__("_ZN6sample9make_legs17h0123456789abcdefE.llvm.12345");

__attribute__((noinline)) void *grow_buffer(void)
	__asm__("_RNvNtCs5678_5alloc7raw_vec11finish_grow");
__attribute__((noinline)) void make_grown(void) __asm__("_RNvCs1234_6sample10make_grown");

void *grow_buffer(void)
{
	return malloc(GROWN_SIZE);
}

void make_grown(void)
{
	for (int i = 0; i < GROWN_N; i++)
		keep[V0_N + LEGACY_N + i] = grow_buffer();
}

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
	make_grown();
	for (int i = 0; i < V0_N + LEGACY_N + GROWN_N; i++)
		free(keep[i]);
	return 0;
}
