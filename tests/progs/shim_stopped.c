/*
 * shim_stopped — the shim against a daemon that stops answering (SIGSTOP),
 * for tests/e2e/shim_stopped.sh.
 *
 *   shim_stopped DAEMON_PID N
 * 1. One usage record ("stopped/0") with the daemon running (registers).
 * 2. SIGSTOP the daemon; N usage records ("stopped/1".."stopped/N"): all
 *    must be spooled. Prints "stopped: acked A spooled S lost L".
 * 3. tollgate_flush_spool() with the daemon still stopped, while another
 *    thread forks once the flush has begun. Prints "flush while stopped
 *    R; fork returned first Y": the flush gives up (-1) and fork does not
 *    wait for it (Y = 1: the fork returned before the flush did).
 * 4. SIGCONT the daemon; flush until a flush returns 0. Prints
 *    "flushed F".
 * Exits 0, 1 on a usage error, 2 without the shim.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shim_report.h"

static _Atomic int flushing, flush_done, fork_first;

static void *
forker(void *arg)
{
	pid_t pid;

	while (!atomic_load(&flushing))
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
	if ((pid = fork()) == 0)
		_exit(0);
	atomic_store(&fork_first, !atomic_load(&flush_done));
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return NULL;
}

static void
flush_racing_fork(int (*flush)(void))
{
	pthread_t t;
	int r;

	pthread_create(&t, NULL, forker, NULL);
	atomic_store(&flushing, 1);
	r = flush();
	atomic_store(&flush_done, 1);
	pthread_join(t, NULL);
	printf("flush while stopped %d; fork returned first %d\n", r,
	    atomic_load(&fork_first));
}

int
main(int argc, char **argv)
{
	int (*flush)(void) = (int (*)(void))dlsym(RTLD_DEFAULT,
	    "tollgate_flush_spool");
	int n, rc[3] = { 0 }, sum = 0, f;
	pid_t d;
	char ep[32];

	if (argc != 3 || (d = atoi(argv[1])) <= 0 || (n = atoi(argv[2])) <= 0)
		return 1;
	if (flush == NULL)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	shim_report("stopped/0", 0);
	kill(d, SIGSTOP);
	for (int i = 1; i <= n; i++) {
		snprintf(ep, sizeof(ep), "stopped/%d", i);
		rc[shim_report(ep, 0) + 1]++;
	}
	printf("stopped: acked %d spooled %d lost %d\n", rc[1], rc[2], rc[0]);
	flush_racing_fork(flush);
	kill(d, SIGCONT);
	while ((f = flush()) > 0)
		sum += f;
	printf("flushed %d\n", sum);
	return 0;
}
