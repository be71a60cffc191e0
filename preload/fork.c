/* fork.c — the shim's pthread_atfork handlers; see fork.h. */
#include "fork.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "cushim.h"
#include "config.h"
#include "instance.h"
#include "say.h"
#include "shim.h"
#include "settle.h"
#include "spool.h"

/* A fork from a signal handler that interrupted our own code: this thread
 * may already hold our locks; taking them again would deadlock. */
static __thread int fork_skipped __attribute__((tls_model("initial-exec")));

int
shim_fork_lock(pthread_mutex_t *m)
{
	int64_t dl = shim_now_mono() + shim_call_ns();
	struct timespec ts = { dl / 1000000000, dl % 1000000000 };

	return pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts) == 0;
}

void
shim_fork_fresh_lock(pthread_mutex_t *m)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	memcpy(m, &fresh, sizeof(fresh));
}

/* Lock order everywhere: connection, spool, instance. The instance lock
 * guards a few loads and stores only, never I/O: it is taken plainly. */
static void
prepare(void)
{
	fork_skipped = shim_inside != 0;
	if (fork_skipped)
		return;
	shim_inside++;
	shim_conn_atfork_prepare();
	shim_spool_atfork_prepare();
	shim_instance_lock();
}

static void
parent(void)
{
	if (fork_skipped)
		return;
	shim_instance_unlock();
	shim_spool_atfork_parent();
	shim_conn_atfork_parent();
	shim_inside--;
}

static void
child(void)
{
	shim_instance_child();
	shim_spool_atfork_child();
	shim_conn_atfork_child();
	shim_settle_atfork_child();
	if (cu_atfork_child) /* weak: unit tests link no CUDA part */
		cu_atfork_child();
	if (!fork_skipped)
		shim_inside--;
}

void
shim_fork_init(void)
{
	if (pthread_atfork(prepare, parent, child) != 0)
		shim_say("pthread_atfork failed; fork children rely on the "
		    "wipe-on-fork word alone");
}
