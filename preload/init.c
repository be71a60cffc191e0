/* init.c — initialise the shim once; see shim.h. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "config.h"
#include "fork.h"
#include "instance.h"
#include "real.h"
#include "say.h"
#include "shim.h"
#include "spool.h"

__thread int shim_inside __attribute__((tls_model("initial-exec")));

enum { INIT_NONE, INIT_RUNNING, INIT_DONE };

static pthread_once_t init_once_ctl = PTHREAD_ONCE_INIT;
static _Atomic int init_state;

/* secure_getenv: in a setuid program the environment is the caller's. */
static const char *
env_get(const char *name)
{
	return secure_getenv(name);
}

static void
init_once(void)
{
	/* Marked before anything runs: a call that re-enters us from here
	 * (dlsym, getenv, stat…) sees shim_inside and passes straight on. */
	shim_inside++;
	atomic_store(&init_state, INIT_RUNNING);
	shim_say_init();
	shim_real_init();
	shim_config_load(&shim_cfg, env_get);
	shim_instance_init();
	shim_fork_init();
	atomic_store_explicit(&init_state, INIT_DONE, memory_order_release);
	shim_inside--;
}

int
shim_ready(void)
{
	if (atomic_load_explicit(&init_state, memory_order_acquire) == INIT_DONE)
		return 1;
	if (shim_inside)
		return 0;
	pthread_once(&init_once_ctl, init_once);
	return atomic_load(&init_state) == INIT_DONE;
}

/* Init at load time, while the process is still single-threaded in most
 * hosts; nothing here talks to the daemon (registration is lazy). */
__attribute__((constructor)) static void
shim_ctor(void)
{
	shim_ready();
}

__attribute__((destructor)) static void
shim_dtor(void)
{
	if (atomic_load(&init_state) == INIT_DONE)
		shim_spool_exit();
}

int64_t
shim_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
shim_now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
