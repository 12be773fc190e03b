/*
 * plot_phases.c - three pipeline steps with known heap, for `memtide
 * plot`: "load" keeps LOAD_MIB MiB, "transform" adds a temporary of
 * TRANSFORM_MIB MiB, "save" frees everything; each holds for HOLD_MS.
 * Sizes are multiplied by the first argument (default 1), so the peak is
 * (LOAD_MIB + TRANSFORM_MIB) MiB times it, in "transform".  Steps are
 * marked with memtide_step() (found with dlsym in the preloaded tracker).
 * Nothing else allocates: no stdio.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOAD_MIB 8
#define TRANSFORM_MIB 16
#define HOLD_MS 150

static void hold(void)
{
	struct timespec ts = { 0, HOLD_MS * 1000000L };

	nanosleep(&ts, NULL);
}

/* A block of mib MiB, written so that it is resident (RSS) too. */
static char *block(size_t mib)
{
	char *p = malloc(mib << 20);

	if (p)
		memset(p, 1, mib << 20);
	return p;
}

int main(int argc, char **argv)
{
	int (*step)(const char *) = (int (*)(const char *))dlsym(RTLD_DEFAULT, "memtide_step");
	size_t k = argc > 1 ? (size_t)atoi(argv[1]) : 1;
	char *load, *tmp;

	if (!step || k < 1)
		return 2;
	step("load");
	load = block(LOAD_MIB * k);
	if (!load)
		return 3;
	hold();
	step("transform");
	tmp = block(TRANSFORM_MIB * k);
	if (!tmp)
		return 3;
	hold();
	free(tmp);
	step("save");
	free(load);
	hold();
	step(NULL);
	return 0;
}
