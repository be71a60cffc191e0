/*
 * cuda_verdict.c — what a launch does when the verdict word is not
 * TG_RUN (issue 5, "Enforcement").
 *
 *   TG_PAUSE     the launch blocks in FUTEX_WAIT on the word (a shared
 *                futex: the daemon wakes it when the word changes) and
 *                looks again at least every PAUSE_POLL_NS; a daemon that
 *                died while we were paused lifts the pause (fail open:
 *                nobody is left to lift it), with one line.
 *   TG_THROTTLE  launches are spaced 1/arg s apart, process-wide (a
 *                GCRA: one atomic "next allowed time"), sleeping the
 *                difference; the clock is read only here.
 *   TG_DENY_ALL  the launch answers CUDA_ERROR_NOT_PERMITTED and never
 *                reaches the driver; one line names the rule, once per
 *                verdict change.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "client_int.h"
#include "instance.h"
#include "cushim.h"
#include "real.h"
#include "say.h"
#include "shim.h"

#define PAUSE_POLL_NS 50000000LL  /* 50 ms */
#define DAEMON_CHECK_NS 1000000000LL

static _Atomic int64_t next_launch_ns; /* TG_THROTTLE's GCRA */
static _Atomic uint64_t said_seq = UINT64_MAX;

uint64_t
cu_verdict_mem_cap(void)
{
	const struct tg_verdict_page *v =
	    atomic_load_explicit(&cu_vpage, memory_order_acquire);

	return v ? __atomic_load_n(&v->gpu_mem_cap, __ATOMIC_RELAXED) : 0;
}

static void
sleep_ns(int64_t ns)
{
	struct timespec ts = { ns / 1000000000LL, ns % 1000000000LL };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Once per verdict change: the rule's name. */
static void
say_once(const struct tg_verdict_page *v, const char *what)
{
	uint64_t seq = __atomic_load_n(&v->seq, __ATOMIC_ACQUIRE);
	char rule[sizeof(v->rule)];

	if (atomic_exchange(&said_seq, seq) == seq)
		return;
	for (size_t i = 0; i < sizeof(rule); i++)
		rule[i] = __atomic_load_n(&v->rule[i], __ATOMIC_RELAXED);
	rule[sizeof(rule) - 1] = '\0';
	shim_say("GPU launches %s by rule %s", what, rule[0] ? rule : "-");
}

/* 1 when the daemon's end of our connection hung up. */
static int
daemon_gone(void)
{
	struct pollfd p = { .fd = shim_conn_fd_hint(), .events = 0 };

	return p.fd >= 0 && shim_real.poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLHUP | POLLERR));
}

/* End a registration whose daemon went away: its pages turn to zeros in
 * place (pages.h) and a later ensure registers anew. 1 when it did. */
int
cu_drop_if_daemon_gone(void)
{
	const struct tg_verdict_page *v =
	    atomic_load_explicit(&cu_vpage, memory_order_acquire);
	int paused;

	if (!daemon_gone())
		return 0;
	paused = v && __atomic_load_n(&v->verdict, __ATOMIC_ACQUIRE) ==
	    TG_PAUSE;
	if (shim_conn_lock(shim_instance_sync(),
	    shim_now_mono() + PAUSE_POLL_NS) == 0) {
		shim_conn_drop(SHIM_RETRY_NS);
		shim_conn_unlock();
	}
	if (paused)
		shim_say("tollgated went away while GPU launches were paused: "
		    "going on");
	return 1;
}

/* Wait while the word says TG_PAUSE. 0: it changed; -1: given up. */
static int
pause_wait(const struct tg_verdict_page *v)
{
	int64_t start = shim_now_mono(), last_check = start;
	struct timespec ts = { 0, PAUSE_POLL_NS };

	say_once(v, "paused");
	while (__atomic_load_n(&v->verdict, __ATOMIC_ACQUIRE) == TG_PAUSE) {
		syscall(SYS_futex, &v->verdict, FUTEX_WAIT, TG_PAUSE, &ts,
		    NULL, 0);
		if (shim_now_mono() - last_check < DAEMON_CHECK_NS)
			continue;
		last_check = shim_now_mono();
		/* Nobody is left to lift it: the registration ends (its
		 * pages turn to zeros: TG_RUN) and the GPU thread registers
		 * anew when a daemon is back. */
		if (cu_drop_if_daemon_gone()) {
			cu_acct_blocked(CU_BLOCKED_PAUSE,
			    (uint64_t)(shim_now_mono() - start));
			return -1;
		}
	}
	cu_acct_blocked(CU_BLOCKED_PAUSE, (uint64_t)(shim_now_mono() - start));
	return 0;
}

static void
throttle_wait(uint32_t per_sec)
{
	int64_t gap = 1000000000LL / (per_sec ? per_sec : 1);
	int64_t now = shim_now_mono(), next, at;

	next = atomic_load(&next_launch_ns);
	do {
		at = next > now ? next : now;
	} while (!atomic_compare_exchange_weak(&next_launch_ns, &next,
	    at + gap));
	if (at > now) {
		sleep_ns(at - now);
		cu_acct_blocked(CU_BLOCKED_THROTTLE, (uint64_t)(at - now));
	}
}

CUresult
cu_verdict_gate(void)
{
	const struct tg_verdict_page *v =
	    atomic_load_explicit(&cu_vpage, memory_order_acquire);

	for (int rounds = 0; v != NULL && rounds < 4; rounds++) {
		uint32_t word = __atomic_load_n(&v->verdict, __ATOMIC_ACQUIRE);

		switch (word) {
		case TG_PAUSE:
			if (pause_wait(v) == -1)
				return CUDA_SUCCESS;
			continue; /* whatever it says now */
		case TG_THROTTLE:
			throttle_wait(__atomic_load_n(&v->arg,
			    __ATOMIC_RELAXED));
			return CUDA_SUCCESS;
		case TG_DENY_ALL:
			say_once(v, "refused");
			return CUDA_ERROR_NOT_PERMITTED;
		default:
			return CUDA_SUCCESS;
		}
	}
	return CUDA_SUCCESS;
}
