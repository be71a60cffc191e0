/*
 * run_child.c — CMD's life under `tollctl run`.
 *
 * Process group: with a controlling terminal CMD stays in tollctl's process
 * group, so it is part of the same foreground job (it reads the terminal,
 * and Ctrl-C / Ctrl-Z reach it directly). Without one (CI, cron, nohup
 * after setsid) CMD gets a process group of its own, so that a signal sent
 * to tollctl's whole group reaches CMD once, through us, not twice.
 *
 * Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH
 * sent to tollctl are forwarded: to CMD when it shares our group, to CMD's
 * group when it has its own. When it shares our group, a signal the kernel
 * generated (si_code SI_KERNEL: Ctrl-C, Ctrl-\, a window resize, a hangup
 * from the terminal) already went to the whole group, CMD included, and is
 * not forwarded. A signal arriving while no CMD runs is remembered
 * (pending_sig): before CMD starts it cancels the run, after CMD exited it
 * cuts the wait for its leftovers short. Signals the caller ignored
 * (nohup, `&` in a script) stay ignored, in tollctl and in CMD.
 *
 * Stops: when CMD stops (SIGTSTP, SIGSTOP, SIGTTIN...), tollctl stops too,
 * so the shell sees the job stopped; when tollctl is continued it
 * continues CMD.
 *
 * Children: tollctl is a child subreaper (PR_SET_CHILD_SUBREAPER), so
 * processes CMD leaves behind become our children. After CMD exits we wait
 * for every remaining descendant, because they may still be reporting
 * usage; after linger_s seconds (--linger) they get SIGTERM, 2 s later
 * SIGKILL, repeated until none is left (grandchildren re-parented to us
 * meanwhile get it too; cgroup.kill when CMD has its own cgroup). The
 * private daemon is our child too, and is left out of all this.
 */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REAP_POLL_MS 20
#define TERM_GRACE_MS 2000
#define KILL_WAIT_MS 5000

static const int fwd_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
	SIGUSR2, SIGWINCH };
#define NFWD (sizeof(fwd_sigs) / sizeof(fwd_sigs[0]))

static volatile pid_t fwd_pid;          /* CMD while it is unreaped */
static volatile sig_atomic_t own_group; /* CMD leads a process group */
static volatile sig_atomic_t pending_sig; /* arrived when there was none */
static sigset_t ignored;                /* by the caller: left ignored */
static struct sigaction pipe_old;       /* SIGPIPE as the caller had it */
static int cmd_term_sig;                /* the signal that killed CMD */

static void
on_signal(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	pid_t p = fwd_pid;

	(void)uc;
	if (p <= 0) {
		if (sig != SIGWINCH)
			pending_sig = sig;
	} else if (own_group)
		kill(-p, sig);
	else if (si == NULL || si->si_code != SI_KERNEL)
		kill(p, sig);
	/* else: the terminal sent it to our group, CMD included */
	errno = saved;
}

void
child_signals_init(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&ignored);
	for (size_t i = 0; i < NFWD; i++) {
		if (sigaction(fwd_sigs[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN) {
			sigaddset(&ignored, fwd_sigs[i]);
			continue;
		}
		sigaction(fwd_sigs[i], &sa, NULL);
	}
	/* A closed stderr must not kill us before the exit status is
	 * decided; CMD gets the caller's disposition back. */
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	sigaction(SIGPIPE, &sa, &pipe_old);
}

int
child_signal_pending(void)
{
	return pending_sig;
}

int
child_term_signal(void)
{
	return cmd_term_sig;
}

void
child_die_like(int sig)
{
	struct rlimit no_core = { 0, 0 };
	sigset_t one;

	if (sigismember(&ignored, sig))
		return;
	fflush(NULL);
	/* the caller wants to see the signal, not a core file of ours */
	setrlimit(RLIMIT_CORE, &no_core);
	signal(sig, SIG_DFL);
	sigemptyset(&one);
	sigaddset(&one, sig);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	raise(sig);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
shell_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st)) {
		cmd_term_sig = WTERMSIG(st);
		return 128 + WTERMSIG(st);
	}
	return 1;
}

/* 1 when we have a controlling terminal. */
static int
have_ctty(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* LD_PRELOAD=<ours>[:<existing>] */
static void
set_preload(const char *ours)
{
	const char *old = getenv("LD_PRELOAD");
	char *v;

	if (ours == NULL)
		return;
	if (old == NULL || *old == '\0') {
		setenv("LD_PRELOAD", ours, 1);
		return;
	}
	if (asprintf(&v, "%s:%s", ours, old) >= 0)
		setenv("LD_PRELOAD", v, 1);
}

/* In the child, between fork and exec: tollctl is single-threaded, so
 * setenv is safe here. */
static void
child_exec(char **cmd, const struct child_env *env, struct run_cgroup *cg,
    const sigset_t *mask, int errfd)
{
	int e;

	/* Handlers do not survive exec anyway; ignored signals do, and
	 * stay so (nohup). SIGPIPE: the caller's. */
	for (size_t i = 0; i < NFWD; i++)
		if (!sigismember(&ignored, fwd_sigs[i]))
			signal(fwd_sigs[i], SIG_DFL);
	sigaction(SIGPIPE, &pipe_old, NULL);
	if (own_group)
		setpgid(0, 0);
	sigprocmask(SIG_SETMASK, mask, NULL);
	/* On failure CMD simply runs in our cgroup. */
	if (cg->procs_fd >= 0 && write(cg->procs_fd, "0", 1) < 0)
		errno = 0;
	setenv("TOLLGATE_RUN", env->token, 1);
	setenv("TOLLGATE_SOCKET", env->socket, 1);
	if (env->tags)
		setenv("TOLLGATE_TAGS", env->tags, 1);
	set_preload(env->preload);
	execvp(cmd[0], cmd);
	e = errno;
	/* nothing to do if the parent went away */
	(void)!write(errfd, &e, sizeof(e));
	_exit(e == ENOENT ? 127 : 126);
}

/* Fork and exec CMD with the forwarded signals blocked across the fork,
 * so none is lost or sent to a half-made child. A signal that came while
 * no CMD ran (after run_cmd looked) is sent to it at once. pid or -1. */
static pid_t
spawn(char **cmd, const struct child_env *env, struct run_cgroup *cg)
{
	sigset_t block, old;
	int p[2], e = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("tollctl run: pipe");
		return -1;
	}
	own_group = !have_ctty();
	sigemptyset(&block);
	for (size_t i = 0; i < NFWD; i++)
		sigaddset(&block, fwd_sigs[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	if ((pid = fork()) == 0) {
		close(p[0]);
		child_exec(cmd, env, cg, &old, p[1]);
	}
	if (pid > 0) {
		/* both sides, so a signal never finds the group unmade */
		if (own_group)
			setpgid(pid, pid);
		fwd_pid = pid;
		if (pending_sig) {
			kill(own_group ? -pid : pid, pending_sig);
			pending_sig = 0;
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	if (pid < 0)
		perror("tollctl run: fork");
	else if (read(p[0], &e, sizeof(e)) == sizeof(e))
		fprintf(stderr, "tollctl run: %s: %s\n", cmd[0], strerror(e));
	close(p[0]);
	return pid;
}

#define KIDS_MAX 4096

static pid_t keep_pid;       /* the private daemon: not CMD's */
static int keep_gone;        /* it exited and was reaped here */

/* Reap whatever has exited, without blocking. */
static void
reap_exited(void)
{
	int st;
	pid_t w;

	while ((w = waitpid(-1, &st, WNOHANG)) > 0)
		if (w == keep_pid)
			keep_gone = 1;
}

/* Signal every child but the daemon (the descendants CMD left behind are
 * our children, or below them); returns how many there were. */
static size_t
signal_children(int sig)
{
	static pid_t kids[KIDS_MAX];
	size_t n = kids_list(kids, KIDS_MAX), left = 0;

	for (size_t i = 0; i < n; i++) {
		if (kids[i] == keep_pid && !keep_gone)
			continue;
		left++;
		if (sig)
			kill(kids[i], sig);
	}
	return left;
}

/* Reap until none of CMD's is left (1) or the deadline (0). */
static int
reap_until(int64_t deadline_ms)
{
	for (;;) {
		reap_exited();
		if (signal_children(0) == 0)
			return 1;
		if (mono_ms() >= deadline_ms || pending_sig)
			return 0;
		sleep_ms(REAP_POLL_MS);
	}
}

/* SIGKILL everything of CMD's on every pass: a grandchild that is
 * re-parented to us when its parent dies gets it on the next pass. */
static int
kill_until(struct run_cgroup *cg, int64_t deadline_ms)
{
	for (;;) {
		reap_exited();
		cgroup_kill(cg);
		if (signal_children(SIGKILL) == 0)
			return 1;
		if (mono_ms() >= deadline_ms)
			return 0;
		sleep_ms(REAP_POLL_MS);
	}
}

static void
terminate_rest(struct run_cgroup *cg, int linger_s)
{
	fprintf(stderr, "tollctl run: processes of the command still running "
	    "%s; terminating them\n", pending_sig ? "after a signal" :
	    linger_s == 0 ? "(--linger 0)" : "after the linger time");
	pending_sig = 0; /* another one skips the grace period */
	signal_children(SIGTERM);
	if (reap_until(mono_ms() + TERM_GRACE_MS))
		return;
	if (!kill_until(cg, mono_ms() + KILL_WAIT_MS))
		fprintf(stderr, "tollctl run: some processes of the command did "
		    "not exit\n");
}

/* After CMD: wait for what it left behind, bounded by linger_s. */
static void
wait_descendants(struct run_cgroup *cg, int linger_s)
{
	int64_t t0 = mono_ms();

	if (reap_until(t0 + (linger_s > 0 ? 1000 : 0)))
		return;
	if (!pending_sig && linger_s > 0)
		fprintf(stderr, "tollctl run: the command exited; waiting up to "
		    "%d s for the processes it started (they may still report "
		    "usage)\n", linger_s);
	if (!pending_sig && linger_s > 0 &&
	    reap_until(t0 + (int64_t)linger_s * 1000))
		return;
	terminate_rest(cg, linger_s);
}

/* 1 while pid is stopped (state T or t in /proc/PID/stat). */
static int
is_stopped(pid_t pid)
{
	char path[64], buf[512], *rp;
	int stopped = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) &&
	    (rp[1] == ' ') && (rp[2] == 'T' || rp[2] == 't'))
		stopped = 1;
	fclose(f);
	return stopped;
}

/* CMD stopped: stop ourselves, so the shell sees the job stopped; once we
 * are continued, continue CMD. SIGSTOP, not SIGTSTP: the kernel drops a
 * SIGTSTP in an orphaned process group (setsid, CI), and CMD would be
 * continued behind its back. A terminal's Ctrl-Z stopped us both already,
 * and the shell's SIGCONT continued us both: then CMD runs again by the
 * time we see its stop, and there is nothing to do. */
static void
follow_stop(pid_t pid)
{
	if (!is_stopped(pid))
		return;
	raise(SIGSTOP);
	kill(own_group ? -pid : pid, SIGCONT);
}

int
child_run(char **cmd, const struct child_env *env, struct run_cgroup *cg,
    int linger_s, pid_t keep, int *keep_reaped)
{
	siginfo_t si, si2;
	int st, status = 1;
	pid_t pid;

	keep_pid = keep;
	keep_gone = 0;
	cmd_term_sig = 0;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		perror("tollctl run: PR_SET_CHILD_SUBREAPER");
	if ((pid = spawn(cmd, env, cg)) < 0)
		return 1;
	for (;;) {
		/* Look before reaping: once CMD is reaped its pid may be reused,
		 * so the forwarder must forget it first. */
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | WNOWAIT) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (si.si_code == CLD_STOPPED || si.si_code == CLD_TRAPPED) {
			/* consume the stop (WNOWAIT left it) */
			waitid(P_PID, (id_t)si.si_pid, &si2, WSTOPPED | WNOHANG);
			if (si.si_pid == pid)
				follow_stop(pid);
			continue;
		}
		if (si.si_pid == pid)
			fwd_pid = 0;
		if (si.si_pid == keep)
			keep_gone = 1;
		if (waitpid(si.si_pid, &st, 0) == pid) {
			status = shell_status(st);
			break;
		}
	}
	wait_descendants(cg, linger_s);
	*keep_reaped = keep_gone;
	return status;
}
