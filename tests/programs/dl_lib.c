/*
 * dl_lib.c - a shared library that the test loads at run time with dlopen.
 * lib_alloc() makes LIB_N mallocs of LIB_SIZE bytes; lib_free() frees them.
 * Built twice by the tests: with debug info (libdbg.so) and without
 * (libnodebug.so, where NODEBUG renames the functions).
 */
#include <stdlib.h>

#define LIB_N 300
#define LIB_SIZE 512
#define NODEBUG_N 7
#define NODEBUG_SIZE 333

#ifdef NODEBUG
#define ALLOC_FN nodebug_alloc
#define FREE_FN nodebug_free
#define COUNT NODEBUG_N
#define SIZE NODEBUG_SIZE
#else
#define ALLOC_FN lib_alloc
#define FREE_FN lib_free
#define COUNT LIB_N
#define SIZE LIB_SIZE
#endif

static void *lib_blocks[COUNT];

__attribute__((noinline)) void ALLOC_FN(void)
{
	int i;

	for (i = 0; i < COUNT; i++)
		lib_blocks[i] = malloc(SIZE); /* @site:lib_alloc */
}

__attribute__((noinline)) void FREE_FN(void)
{
	int i;

	for (i = 0; i < COUNT; i++)
		free(lib_blocks[i]);
}
