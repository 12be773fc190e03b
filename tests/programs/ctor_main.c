/*
 * ctor_main.c - linked with ctor_lib.c (libctor.so): frees N_FREED of the
 * blocks the library's constructor allocated and allocates nothing itself.
 */
#include <stdlib.h>

#define N_FREED 4

extern void *ctor_blocks[];

int main(void)
{
	for (int i = 0; i < N_FREED; i++)
		free(ctor_blocks[i]);
	return 0;
}
