/*
 * step_zero.c - marks a pipeline step with memtide_step() (found with
 * dlsym in the preloaded tracker), makes N_ZERO malloc(0) calls in
 * make_zeros(), then marks a second step and frees them all.  Every
 * block is 0 bytes, so the first step allocates N_ZERO blocks of 0 B.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

#define N_ZERO 5000

#define NOINLINE __attribute__((noinline))

static void *blocks[N_ZERO];

NOINLINE void make_zeros(void)
{
	for (int i = 0; i < N_ZERO; i++)
		blocks[i] = malloc(0); /* @site:make_zeros */
}

int main(void)
{
	int (*step)(const char *) = (int (*)(const char *))dlsym(RTLD_DEFAULT, "memtide_step");

	if (!step)
		return 2;
	step("zeros");
	make_zeros();
	step("release");
	for (int i = 0; i < N_ZERO; i++)
		free(blocks[i]);
	step(NULL);
	return 0;
}
