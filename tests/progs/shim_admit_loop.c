/*
 * shim_admit_loop — a long-lived process that asks the preloaded shim for
 * admission on command, so a test can stop or reload the daemon between
 * two admissions of the same process (tests/e2e/shim_policy.sh).
 *
 *   shim_admit_loop PROVIDER MODEL EST_INPUT MAX_OUTPUT
 * Reads one command per line on stdin and answers each with exactly one
 * line on stdout (flushed):
 *   admit  -> "admit decision=D rule=R from_daemon=F reason=TEXT"
 *   fork   -> a fork child admits once and prints the same line prefixed
 *             "child "; the parent waits for it
 *   strict -> from now on every system call but read, write, futex,
 *             clock_gettime, exit and rt_sigreturn is refused (seccomp;
 *             ENOSYS) and counted: "strict on", or "strict unsupported"
 *             where this program has no filter for the architecture
 *   count  -> "syscalls=N": the calls refused since strict
 *   quit   -> exits 0 (so does end of input)
 * anything else -> "unknown command". Exits 2 without the shim.
 */
#include <dlfcn.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../preload/tollgate.h"

typedef uint64_t (*admit_fn)(const char *, const char *, const char *,
    uint64_t, uint64_t, struct tollgate_verdict *);

static admit_fn admit;
static const char *provider, *model;
static uint64_t est_in, max_out;

static void
say(const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
}

static void
admit_once(const char *prefix)
{
	struct tollgate_verdict v;

	admit(provider, model, "/v1/chat/completions", est_in, max_out, &v);
	printf("%sadmit decision=%d rule=%s from_daemon=%d reason=%s\n",
	    prefix, v.decision, v.rule, v.from_daemon, v.reason);
	fflush(stdout);
}

static void
fork_once(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		admit_once("child ");
		_exit(0);
	}
	if (pid < 0) {
		say("fork failed");
		return;
	}
	waitpid(pid, NULL, 0);
}

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif

static volatile sig_atomic_t refused;

/* The kernel skips a trapped call (it returns -ENOSYS) and tells us. */
static void
on_sigsys(int sig)
{
	refused++;
}

#define ALLOW(nr) \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static const char *
strict(void)
{
#ifdef ARCH
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		ALLOW(__NR_read), ALLOW(__NR_write), ALLOW(__NR_futex),
		ALLOW(__NR_clock_gettime), ALLOW(__NR_exit),
		ALLOW(__NR_exit_group), ALLOW(__NR_rt_sigreturn),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	signal(SIGSYS, on_sigsys);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0)
		return "strict on";
#endif
	return "strict unsupported";
}

int
main(int argc, char **argv)
{
	char line[64];

	if (argc != 5) {
		fprintf(stderr, "usage: shim_admit_loop PROVIDER MODEL "
		    "EST_INPUT MAX_OUTPUT\n");
		return 1;
	}
	if ((admit = (admit_fn)dlsym(RTLD_DEFAULT, "tollgate_admit")) == NULL)
		return 2;
	provider = argv[1];
	model = argv[2];
	est_in = strtoull(argv[3], NULL, 10);
	max_out = strtoull(argv[4], NULL, 10);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "admit") == 0)
			admit_once("");
		else if (strcmp(line, "fork") == 0)
			fork_once();
		else if (strcmp(line, "strict") == 0)
			say(strict());
		else if (strcmp(line, "count") == 0) {
			printf("syscalls=%d\n", (int)refused);
			fflush(stdout);
		} else if (strcmp(line, "quit") == 0)
			break;
		else
			say("unknown command");
	}
	return 0;
}
