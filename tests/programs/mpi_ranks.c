/*
 * mpi_ranks.c - an MPI program (built with mpicc by its test): rank R
 * allocates (R + 1) * RANK_N blocks of RANK_SIZE bytes, all ranks meet at
 * a barrier, and each says its rank and pid.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define RANK_N 30
#define RANK_SIZE 20000

static void *keep[64 * RANK_N];

__attribute__((noinline)) static void rank_alloc(int rank)
{
	for (int i = 0; i < (rank + 1) * RANK_N && i < 64 * RANK_N; i++)
		keep[i] = malloc(RANK_SIZE); /* @site:rank_alloc */
}

int main(int argc, char **argv)
{
	int rank;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	rank_alloc(rank);
	MPI_Barrier(MPI_COMM_WORLD);
	printf("rank %d pid %d\n", rank, (int)getpid());
	fflush(stdout);
	MPI_Finalize();
	return 0;
}
