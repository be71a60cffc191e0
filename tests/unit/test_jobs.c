/*
 * test_jobs — freezing, thawing and terminating jobs (ctl/daemon/jobs.c):
 * a cgroup frozen through cgroup.freeze and a process through SIGSTOP, each
 * verified by its child's counter stopping and running again; frozen.json
 * and the thaw by the next jobs_init (and a reused pid left alone); a
 * corrupt state file set aside with one line; SIGTERM then SIGKILL after
 * the grace period, with thaw first; the refusals (the daemon itself,
 * paths that are not cgroups).
 *
 * The cgroup cases need root and a writable cgroup v2 hierarchy (CI has
 * both); elsewhere they skip, and the run prints one line saying why.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jobs.h"
#include "log.h"

#define NSEC 1000000000LL
#define MAX_KIDS 4

enum on_term { TERM_IGNORE, TERM_EXIT3 };

struct kid {
	pid_t pid;
	volatile unsigned long *shm;    /* [0] counter, [1] ready */
};

struct fix {
	char dir[64];                   /* state dir */
	char cg[PATH_MAX + 64];         /* our test cgroup, "" if none */
	char sub[PATH_MAX + 72];        /* cg/sub when a test nests one */
	struct jobs J;
	struct kid kids[MAX_KIDS];
	int nkids;
	int nfds;                       /* open at setup: jobs leaks none */
};

static char cg_skip[PATH_MAX + 128];      /* why cgroup cases skip; "" = they run */
static int cg_seq;

static void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int
write_str(const char *path, const char *s)
{
	int fd, rc;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return -1;
	rc = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
	close(fd);
	return rc;
}

static char *
read_str(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n >= 0 ? buf : NULL;
}

static char
proc_state(pid_t pid)
{
	char path[64], buf[1024], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_str(path, buf, sizeof(buf)) == NULL ||
	    (p = strrchr(buf, ')')) == NULL)
		return '?';
	return p[2];
}

static unsigned long long
start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	assert_non_null(read_str(path, buf, sizeof(buf)));
	assert_non_null(p = strrchr(buf, ')'));
	for (i = 2; i < 22; i++)
		assert_non_null(p = strchr(p + 1, ' '));
	return strtoull(p + 1, NULL, 10);
}

/* Poll (up to 2 s) until /proc/PID/stat's state is, or is not, c. */
static int
wait_state(pid_t pid, char c, int is)
{
	int i;

	for (i = 0; i < 400; i++, msleep(5))
		if ((proc_state(pid) == c) == is)
			return 1;
	return 0;
}

/* Poll (up to 2 s) for "frozen N" in cgroup.events. */
static int
wait_frozen(const char *cg, int n)
{
	char path[PATH_MAX + 16], buf[256], want[16];
	int i;

	snprintf(path, sizeof(path), "%s/cgroup.events", cg);
	snprintf(want, sizeof(want), "frozen %d\n", n);
	for (i = 0; i < 400; i++, msleep(5))
		if (read_str(path, buf, sizeof(buf)) && strstr(buf, want))
			return 1;
	return 0;
}

static void
kid_run(struct kid *k, const char *cg, enum on_term on_term)
{
	char path[PATH_MAX + 16];

	/* a test that fails midway must not leave kids spinning */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() == 1)
		_exit(98);
	if (cg != NULL) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
		if (write_str(path, "0") == -1)
			_exit(99);
	}
	signal(SIGTERM, on_term == TERM_IGNORE ? SIG_IGN : SIG_DFL);
	k->shm[1] = 1;
	for (;;) {
		if (on_term == TERM_EXIT3) {
			sigset_t set;

			sigemptyset(&set);
			sigaddset(&set, SIGTERM);
			if (sigpending(&set) == 0 && sigismember(&set, SIGTERM))
				_exit(3);
		}
		k->shm[0]++;
		msleep(1);
	}
}

/* A child counting in shared memory, in cgroup cg when not NULL. */
static struct kid *
spawn(struct fix *f, const char *cg, enum on_term on_term)
{
	struct kid *k = &f->kids[f->nkids];
	sigset_t set, old;
	int i;

	assert_true(f->nkids < MAX_KIDS);
	k->shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(k->shm != MAP_FAILED);
	/* EXIT3 kids block SIGTERM and poll for it: exit status 3 then says
	 * the signal arrived (and, for a frozen kid, that it ran again) */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(on_term == TERM_EXIT3 ? SIG_BLOCK : SIG_SETMASK,
	    on_term == TERM_EXIT3 ? &set : NULL, &old);
	k->pid = fork();
	assert_true(k->pid >= 0);
	if (k->pid == 0)
		kid_run(k, cg, on_term);
	sigprocmask(SIG_SETMASK, &old, NULL);
	f->nkids++;
	for (i = 0; i < 400 && k->shm[1] == 0; i++)
		msleep(5);
	assert_int_equal(k->shm[1], 1);
	return k;
}

/* The counter moves within 1 s. */
static int
counting(const struct kid *k)
{
	unsigned long c = k->shm[0];
	int i;

	for (i = 0; i < 200; i++, msleep(5))
		if (k->shm[0] != c)
			return 1;
	return 0;
}

/* The counter stays put for 60 ms. */
static int
still(const struct kid *k)
{
	unsigned long c = k->shm[0];

	msleep(60);
	return k->shm[0] == c;
}

/* Wait (up to 2 s) for the kid to end; its wait status, or -1. */
static int
reap(struct kid *k)
{
	int i, st;

	for (i = 0; i < 400; i++, msleep(5))
		if (waitpid(k->pid, &st, WNOHANG) == k->pid) {
			k->pid = 0;
			return st;
		}
	return -1;
}

static int
alive(const struct kid *k)
{
	int st;

	return waitpid(k->pid, &st, WNOHANG) == 0;
}

static void
state_file(struct fix *f, char *buf, size_t size)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/frozen.json", f->dir);
	assert_non_null(read_str(path, buf, size));
}

static void
assert_state(struct fix *f, const char *want)
{
	char buf[8192];

	state_file(f, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static struct job_target
cg_target(const char *cg)
{
	struct job_target t = { .pid = 0, .pidfd = -1 };

	assert_true(strlen(cg) < sizeof(t.cgroup));
	memcpy(t.cgroup, cg, strlen(cg) + 1);
	return t;
}

static struct job_target
pid_target(pid_t pid, int pidfd)
{
	struct job_target t = { .cgroup = "", .pid = pid, .pidfd = pidfd };

	return t;
}

/* stderr of fn(arg) while it runs, into buf. */
static void
capture_stderr(void (*fn)(void *), void *arg, char *buf, size_t size)
{
	char path[] = "/tmp/tg-test-jobs-err-XXXXXX";
	int fd, saved;

	assert_true((fd = mkstemp(path)) >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	assert_non_null(read_str(path, buf, size));
	unlink(path);
}

static int
count_fds(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	f->nfds = count_fds();
	snprintf(f->dir, sizeof(f->dir), "/tmp/tg-test-jobs-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(jobs_init(&f->J, f->dir), 0);
	if (cg_skip[0] == '\0') {
		snprintf(f->cg, sizeof(f->cg), "%s/tg-test-jobs-%d-%d",
		    f->J.self_cgroup, (int)getpid(), ++cg_seq);
		assert_int_equal(mkdir(f->cg, 0755), 0);
	}
	*state = f;
	return 0;
}

static void
drop_cgroup(const char *cg)
{
	char path[PATH_MAX + 16];

	if (cg[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/cgroup.kill", cg);
	write_str(path, "1");
	rmdir(cg);
}

static int
teardown(void **state)
{
	struct fix *f = *state;
	char path[128];
	int i;

	jobs_thaw_all(&f->J);
	for (i = 0; i < f->nkids; i++) {
		if (f->kids[i].pid > 0) {
			kill(f->kids[i].pid, SIGKILL);
			waitpid(f->kids[i].pid, NULL, 0);
		}
		munmap((void *)f->kids[i].shm, 4096);
	}
	drop_cgroup(f->sub);
	drop_cgroup(f->cg);
	snprintf(path, sizeof(path), "%s/frozen.json", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/frozen.json.bad", f->dir);
	unlink(path);
	assert_int_equal(rmdir(f->dir), 0);
	assert_int_equal(count_fds(), f->nfds);
	free(f);
	return 0;
}

#define NEED_CGROUP() do { if (cg_skip[0] != '\0') skip(); } while (0)

static void
test_cgroup_freeze_thaw(void **state)
{
	struct fix *f = *state;
	struct job_target t, t2;
	struct kid *k;
	char want[sizeof(f->cg) + 64];

	NEED_CGROUP();
	k = spawn(f, f->cg, TERM_IGNORE);
	assert_true(counting(k));
	t = cg_target(f->cg);
	assert_int_equal(jobs_freeze(&f->J, &t), 0);
	assert_true(wait_frozen(f->cg, 1));
	assert_true(still(k));
	assert_int_equal(jobs_is_frozen(&f->J, &t), 1);
	/* the same cgroup spelled with extra slashes */
	snprintf(want, sizeof(want), "/%s//", f->cg);
	t2 = cg_target(want);
	assert_int_equal(jobs_is_frozen(&f->J, &t2), 1);
	assert_int_equal(jobs_freeze(&f->J, &t2), 0);   /* no-op */
	snprintf(want, sizeof(want),
	    "{\"version\":1,\"frozen\":[{\"cgroup\":\"%s\"}]}\n", f->cg);
	assert_state(f, want);

	assert_int_equal(jobs_thaw(&f->J, &t), 0);
	assert_true(wait_frozen(f->cg, 0));
	assert_true(counting(k));
	assert_int_equal(jobs_is_frozen(&f->J, &t), 0);
	assert_int_equal(jobs_thaw(&f->J, &t), 0);      /* no-op */
	assert_state(f, "{\"version\":1,\"frozen\":[]}\n");
}

static void
test_pid_stop_cont(void **state)
{
	struct fix *f = *state;
	struct kid *k = spawn(f, NULL, TERM_IGNORE);
	int pidfd = (int)syscall(SYS_pidfd_open, k->pid, 0);
	struct job_target t = pid_target(k->pid, pidfd);
	char want[256];

	assert_true(pidfd >= 0);
	assert_int_equal(jobs_freeze(&f->J, &t), 0);
	assert_true(wait_state(k->pid, 'T', 1));
	assert_true(still(k));
	assert_int_equal(jobs_is_frozen(&f->J, &t), 1);
	snprintf(want, sizeof(want), "{\"version\":1,\"frozen\":[{\"pid\":%d,"
	    "\"start_time\":%llu}]}\n", (int)k->pid, start_time(k->pid));
	assert_state(f, want);
	assert_int_equal(jobs_thaw(&f->J, &t), 0);
	assert_true(wait_state(k->pid, 'T', 0));
	assert_true(counting(k));
	assert_int_equal(jobs_is_frozen(&f->J, &t), 0);
	close(pidfd);

	/* no pidfd from the caller: jobs opens its own */
	t = pid_target(k->pid, -1);
	assert_int_equal(jobs_freeze(&f->J, &t), 0);
	assert_true(wait_state(k->pid, 'T', 1));
	assert_int_equal(jobs_thaw(&f->J, &t), 0);
	assert_true(wait_state(k->pid, 'T', 0));
	assert_true(counting(k));
}

static void
test_pidfd_of_another_process(void **state)
{
	struct fix *f = *state;
	struct kid *a = spawn(f, NULL, TERM_IGNORE);
	struct kid *b = spawn(f, NULL, TERM_IGNORE);
	int pidfd = (int)syscall(SYS_pidfd_open, a->pid, 0);
	struct job_target t = pid_target(b->pid, pidfd);

	assert_int_equal(jobs_freeze(&f->J, &t), -1);
	assert_int_equal(errno, EINVAL);
	assert_true(counting(a));
	assert_true(counting(b));
	close(pidfd);
}

static void
test_refuses_self_and_non_cgroups(void **state)
{
	struct fix *f = *state;
	struct job_target t = pid_target(getpid(), -1);
	char mnt[PATH_MAX], path[PATH_MAX + 80], *p;

	assert_int_equal(jobs_freeze(&f->J, &t), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(jobs_terminate(&f->J, &t, 0, 0), -1);
	assert_int_equal(errno, EPERM);
	t = pid_target(0, -1);
	assert_int_equal(jobs_freeze(&f->J, &t), -1);
	assert_int_equal(errno, EINVAL);

	NEED_CGROUP();
	/* the daemon's own cgroup, and the root that holds it */
	t = cg_target(f->J.self_cgroup);
	assert_int_equal(jobs_freeze(&f->J, &t), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(jobs_terminate(&f->J, &t, 5, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(jobs_run_cgroup("/", "x", mnt, sizeof(mnt)), 0);
	assert_non_null(p = strrchr(mnt, '/'));
	*p = '\0';
	t = cg_target(mnt);
	assert_int_equal(jobs_freeze(&f->J, &t), -1);
	assert_int_equal(errno, EPERM);

	t = cg_target("relative/path");
	assert_int_equal(jobs_freeze(&f->J, &t), -1);
	assert_int_equal(errno, EINVAL);
	t = cg_target("/tmp");
	assert_int_equal(jobs_freeze(&f->J, &t), -1);
	assert_int_equal(errno, EINVAL);
	snprintf(path, sizeof(path), "%s/../x", f->cg);
	t = cg_target(path);
	assert_int_equal(jobs_freeze(&f->J, &t), -1);
	assert_int_equal(errno, EINVAL);
	snprintf(path, sizeof(path), "%s/none", f->cg);
	t = cg_target(path);
	assert_int_equal(jobs_freeze(&f->J, &t), -1);
	assert_int_equal(errno, ESRCH);
	assert_state(f, "{\"version\":1,\"frozen\":[]}\n");
}

static void
test_restart_thaws(void **state)
{
	struct fix *f = *state;
	struct kid *kc, *kp;
	struct job_target tc, tp;
	struct jobs J2;

	NEED_CGROUP();
	kc = spawn(f, f->cg, TERM_IGNORE);
	kp = spawn(f, NULL, TERM_IGNORE);
	tc = cg_target(f->cg);
	tp = pid_target(kp->pid, -1);
	assert_int_equal(jobs_freeze(&f->J, &tc), 0);
	assert_int_equal(jobs_freeze(&f->J, &tp), 0);
	assert_true(wait_frozen(f->cg, 1));
	assert_true(wait_state(kp->pid, 'T', 1));

	/* the daemon died without thawing; the next one starts */
	assert_int_equal(jobs_init(&J2, f->dir), 0);
	assert_true(wait_frozen(f->cg, 0));
	assert_true(wait_state(kp->pid, 'T', 0));
	assert_true(counting(kc));
	assert_true(counting(kp));
	assert_int_equal(jobs_is_frozen(&J2, &tc), 0);
	assert_state(f, "{\"version\":1,\"frozen\":[]}\n");
	jobs_thaw_all(&J2);
}

static void
test_restart_leaves_reused_pid(void **state)
{
	struct fix *f = *state;
	struct kid *reused = spawn(f, NULL, TERM_IGNORE);
	struct kid *same = spawn(f, NULL, TERM_IGNORE);
	char path[128], doc[512];
	struct jobs J2;

	kill(reused->pid, SIGSTOP);
	kill(same->pid, SIGSTOP);
	assert_true(wait_state(reused->pid, 'T', 1));
	assert_true(wait_state(same->pid, 'T', 1));
	/* "reused": the recorded start time is another process's */
	snprintf(doc, sizeof(doc), "{\"version\":1,\"frozen\":["
	    "{\"pid\":%d,\"start_time\":%llu},{\"pid\":%d,\"start_time\":%llu}]}",
	    (int)reused->pid, start_time(reused->pid) + 1,
	    (int)same->pid, start_time(same->pid));
	snprintf(path, sizeof(path), "%s/frozen.json", f->dir);
	assert_int_equal(write_str(path, doc), 0);

	assert_int_equal(jobs_init(&J2, f->dir), 0);
	assert_true(wait_state(same->pid, 'T', 0));
	msleep(20);
	assert_int_equal(proc_state(reused->pid), 'T');
	jobs_thaw_all(&J2);
}

struct init_arg {
	struct jobs *J;
	const char *dir;
	int rc;
};

static void
call_init(void *p)
{
	struct init_arg *a = p;

	a->rc = jobs_init(a->J, a->dir);
}

static void
corrupt_case(struct fix *f, const char *doc, const char *why)
{
	char path[128], bad[160], err[1024], want[1024], buf[512];
	struct jobs J2;
	struct init_arg a = { &J2, f->dir, -2 };

	snprintf(path, sizeof(path), "%s/frozen.json", f->dir);
	snprintf(bad, sizeof(bad), "%s.bad", path);
	assert_int_equal(write_str(path, doc), 0);
	capture_stderr(call_init, &a, err, sizeof(err));
	assert_int_equal(a.rc, 0);
	snprintf(want, sizeof(want), "test_jobs: jobs_state_load: %s: %s; "
	    "ignored, renamed to %s\n", path, why, bad);
	assert_string_equal(err, want);
	assert_string_equal(read_str(bad, buf, sizeof(buf)), doc);
	assert_state(f, "{\"version\":1,\"frozen\":[]}\n");
	jobs_thaw_all(&J2);
}

static void
test_corrupt_state_set_aside(void **state)
{
	struct fix *f = *state;

	corrupt_case(f, "{\"version\":1,\"frozen\":[{\"pid\":\"7\"}]}",
	    "frozen[0]: expected {\"cgroup\":PATH} or "
	    "{\"pid\":N,\"start_time\":N}");
	corrupt_case(f, "{\"version\":2,\"frozen\":[]}",
	    "expected {\"version\":1,...}");
	corrupt_case(f, "{\"version\":1,\"frozen\":[", "line 1: "
	    "']' expected near end of file");
}

static void
test_terminate_grace0_cgroup(void **state)
{
	struct fix *f = *state;
	struct kid *k;
	struct job_target t;
	int st;

	NEED_CGROUP();
	k = spawn(f, f->cg, TERM_IGNORE);
	t = cg_target(f->cg);
	assert_int_equal(jobs_terminate(&f->J, &t, 0, 5 * NSEC), 0);
	st = reap(k);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	assert_int_equal(jobs_next_due(&f->J), 0);
}

static void
test_terminate_grace_cgroup(void **state)
{
	struct fix *f = *state;
	const int64_t now = 1000 * NSEC;
	struct job_target t;
	struct kid *k;
	int st;

	NEED_CGROUP();
	k = spawn(f, f->cg, TERM_IGNORE);
	t = cg_target(f->cg);
	assert_int_equal(jobs_terminate(&f->J, &t, 2, now), 0);
	assert_int_equal(jobs_next_due(&f->J), now + 2 * NSEC);
	/* again while pending: nothing moves */
	assert_int_equal(jobs_terminate(&f->J, &t, 2, now + NSEC), 0);
	assert_int_equal(jobs_next_due(&f->J), now + 2 * NSEC);
	jobs_tick(&f->J, now + 2 * NSEC - 1);
	assert_true(counting(k));
	assert_true(alive(k));
	jobs_tick(&f->J, now + 2 * NSEC);
	st = reap(k);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	assert_int_equal(jobs_next_due(&f->J), 0);
}

static void
call_tick(void *p)
{
	struct fix *f = p;

	jobs_tick(&f->J, 2000 * NSEC);
}

/* Regression: SIGTERM to a frozen job stayed pending; it must be thawed
 * first. A nested cgroup's members get it too. */
static void
test_terminate_frozen_cgroup(void **state)
{
	struct fix *f = *state;
	struct job_target t;
	struct kid *k, *nested;
	char err[512];
	int st;

	NEED_CGROUP();
	snprintf(f->sub, sizeof(f->sub), "%s/sub", f->cg);
	assert_int_equal(mkdir(f->sub, 0755), 0);
	k = spawn(f, f->cg, TERM_EXIT3);
	nested = spawn(f, f->sub, TERM_EXIT3);
	t = cg_target(f->cg);
	assert_int_equal(jobs_freeze(&f->J, &t), 0);
	assert_true(wait_frozen(f->cg, 1));
	assert_int_equal(jobs_terminate(&f->J, &t, 30, 1000 * NSEC), 0);
	assert_int_equal(jobs_is_frozen(&f->J, &t), 0);
	assert_state(f, "{\"version\":1,\"frozen\":[]}\n");
	st = reap(k);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);
	st = reap(nested);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);
	/* due, but the cgroup is empty: dropped without a word */
	capture_stderr(call_tick, f, err, sizeof(err));
	assert_string_equal(err, "");
	assert_int_equal(jobs_next_due(&f->J), 0);
}

static void
test_terminate_pid(void **state)
{
	struct fix *f = *state;
	struct kid *stubborn = spawn(f, NULL, TERM_IGNORE);
	struct kid *frozen = spawn(f, NULL, TERM_EXIT3);
	struct job_target ts = pid_target(stubborn->pid, -1);
	struct job_target tf = pid_target(frozen->pid, -1);
	int st;

	assert_int_equal(jobs_freeze(&f->J, &tf), 0);
	assert_true(wait_state(frozen->pid, 'T', 1));
	assert_int_equal(jobs_terminate(&f->J, &tf, 1, 0), 0);
	st = reap(frozen);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);

	assert_int_equal(jobs_terminate(&f->J, &ts, 1, 0), 0);
	jobs_tick(&f->J, NSEC - 1);
	assert_true(counting(stubborn));
	jobs_tick(&f->J, NSEC);
	st = reap(stubborn);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	assert_int_equal(jobs_next_due(&f->J), 0);
}

static void
test_run_cgroup_name(void **state)
{
	char buf[PATH_MAX], mnt[PATH_MAX], want[PATH_MAX + 64], *p;

	(void)state;
	if (jobs_run_cgroup("/", "x", mnt, sizeof(mnt)) == -1 &&
	    errno == EOPNOTSUPP)
		skip();         /* no cgroup v2 mount */
	assert_int_equal(jobs_run_cgroup("/", "x", mnt, sizeof(mnt)), 0);
	assert_non_null(p = strrchr(mnt, '/'));
	assert_string_equal(p, "/tollgate-run-x");
	*p = '\0';
	assert_int_equal(jobs_run_cgroup("/a/b", "0f3e", buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "%s/a/b/tollgate-run-0f3e", mnt);
	assert_string_equal(buf, want);
	assert_int_equal(jobs_run_cgroup("0::/a/b", "0f3e", buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, want);
	assert_int_equal(jobs_run_cgroup("a/b", "0f3e", buf, sizeof(buf)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(jobs_run_cgroup("/a", "../x", buf, sizeof(buf)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(jobs_run_cgroup("/a", "", buf, sizeof(buf)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(jobs_run_cgroup("/a/b", "0f3e", buf, strlen(want)),
	    -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

/* Can this run make a cgroup under its own? If not, say why once. */
static void
probe_cgroup(void)
{
	char dir[] = "/tmp/tg-test-jobs-XXXXXX", cg[PATH_MAX + 64];
	struct jobs J;

	if (geteuid() != 0) {
		snprintf(cg_skip, sizeof(cg_skip), "not root");
		return;
	}
	if (mkdtemp(dir) == NULL || jobs_init(&J, dir) == -1) {
		snprintf(cg_skip, sizeof(cg_skip), "no state dir");
		return;
	}
	jobs_thaw_all(&J);
	unlink(strcat(strcpy(cg, dir), "/frozen.json"));
	rmdir(dir);
	if (J.self_cgroup[0] == '\0') {
		snprintf(cg_skip, sizeof(cg_skip), "no cgroup v2 mount");
		return;
	}
	snprintf(cg, sizeof(cg), "%s/tg-test-jobs-probe-%d", J.self_cgroup,
	    (int)getpid());
	if (mkdir(cg, 0755) == -1) {
		snprintf(cg_skip, sizeof(cg_skip), "cannot create %s: %s", cg,
		    strerror(errno));
		return;
	}
	rmdir(cg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cgroup_freeze_thaw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pid_stop_cont, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pidfd_of_another_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_self_and_non_cgroups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_thaws, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_leaves_reused_pid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_state_set_aside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminate_grace0_cgroup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminate_grace_cgroup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminate_frozen_cgroup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminate_pid, setup, teardown),
		cmocka_unit_test(test_run_cgroup_name),
	};

	log_init("test_jobs", 0);
	probe_cgroup();
	if (cg_skip[0] != '\0')
		printf("test_jobs: cgroup cases skipped: %s\n", cg_skip);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
