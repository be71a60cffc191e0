/*
 * shim_threads64 — 64 threads, each 10 x (tollgate_admit + tollgate_usage)
 * at once: 640 records with the shim and a daemon. Prints the same line
 * with or without the shim; exits 0.
 */
#include <pthread.h>
#include <stdio.h>

#include "shim_report.h"

#define THREADS 64
#define CALLS 10

static pthread_barrier_t go;

static void *
worker(void *arg)
{
	pthread_barrier_wait(&go); /* all 64 start together */
	for (int i = 0; i < CALLS; i++)
		shim_report("threads64", shim_admit("threads64"));
	return arg;
}

int
main(void)
{
	pthread_t t[THREADS];
	int n = 0;

	pthread_barrier_init(&go, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		n += pthread_create(&t[i], NULL, worker, NULL) == 0;
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("threads %d calls %d\n", n, n * CALLS);
	return n != THREADS;
}
