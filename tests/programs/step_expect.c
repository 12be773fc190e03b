/*
 * step_expect.c - pipeline steps with estimates from C: memtide_step_expect()
 * (found with dlsym in the preloaded tracker) marks "fill" with an estimate
 * of FILL_EXPECT bytes and allocates FILL_SIZE in it, "spike" with
 * SPIKE_EXPECT and a temporary of SPIKE_SIZE, then memtide_step() marks
 * "plain" without an estimate.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

#define FILL_EXPECT 4000000
#define FILL_SIZE 6000000
#define SPIKE_EXPECT 1000000
#define SPIKE_SIZE 2000000
#define PLAIN_SIZE 100000

int main(void)
{
	int (*step)(const char *) = (int (*)(const char *))dlsym(RTLD_DEFAULT, "memtide_step");
	int (*step_expect)(const char *, uint64_t) =
		(int (*)(const char *, uint64_t))dlsym(RTLD_DEFAULT, "memtide_step_expect");
	void *fill, *spike, *plain;

	if (!step || !step_expect)
		return 2;
	if (step_expect("", 1) == 0)	/* an estimate needs a name */
		return 3;
	step_expect("fill", FILL_EXPECT);
	fill = malloc(FILL_SIZE);
	step_expect("spike", SPIKE_EXPECT);
	spike = malloc(SPIKE_SIZE);
	free(spike);
	step("plain");
	plain = malloc(PLAIN_SIZE);
	step(NULL);
	free(plain);
	free(fill);
	return 0;
}
