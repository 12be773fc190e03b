/*
 * dlopen_main.c - loads the libraries named on the command line with dlopen
 * after the program has started, calls their allocating function and their
 * freeing function, and unloads them with dlclose before exiting.
 *   dlopen_main LIB FN_ALLOC FN_FREE [LIB FN_ALLOC FN_FREE ...]
 */
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv)
{
	struct timespec ts = { 0, 20000000L };
	int i;

	nanosleep(&ts, NULL);
	for (i = 1; i + 2 < argc; i += 3) {
		void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
		void (*fa)(void), (*ff)(void);

		if (!h) {
			fprintf(stderr, "dlopen: %s\n", dlerror());
			return 2;
		}
		fa = (void (*)(void))dlsym(h, argv[i + 1]);
		ff = (void (*)(void))dlsym(h, argv[i + 2]);
		if (!fa || !ff) {
			fprintf(stderr, "dlsym: %s\n", dlerror());
			return 2;
		}
		fa();
		ff();
		dlclose(h);
	}
	return 0;
}
