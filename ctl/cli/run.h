/*
 * run.h — `tollctl run`, the CI/CD budget gate, in four parts:
 *   cmd_run.c      options, then the sequence below
 *   run_daemon.c   a private tollgated when no daemon is reachable
 *   run_cgroup.c   CMD's own cgroup v2 where we may create one
 *   run_child.c    start CMD, forward signals, reap CMD and its descendants
 *   run_summary.c  RUN_END's document: stderr summary, --summary-json,
 *                  the exit status
 */
#ifndef TG_CLI_RUN_H
#define TG_CLI_RUN_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define RUN_TOKEN_LEN 32        /* hex chars */
#define RUN_DAEMON_WAIT_MS 5000 /* a private daemon must accept by then */
#define RUN_LINGER_S 30         /* default wait for descendants after CMD */

struct run_opts {
	char tags[256];
	int64_t budget_nano;    /* < 0: none */
	const char *policy;
	const char *summary_json;
	int budget_exit;
	int linger_s;
	char **cmd;
};

/* K=V[,K=V...]: keys and values [A-Za-z0-9_.:/-]; 0 or -1. */
int run_tags_valid(const char *tags);

/* --- run_daemon.c ------------------------------------------------------ */
struct pdaemon {
	int pidfd;              /* -1: none, or a kernel without pidfds */
	pid_t pid;              /* our child; 0: none started */
	int reaped;             /* 1: its exit was collected (child_run) */
	int keep_log;           /* pdaemon_stop leaves dir and log in place */
	char dir[PATH_MAX];     /* mkdtemp: socket + log */
	char sock[108];
	char log[PATH_MAX];
};

/* Directory of the running executable (/proc/self/exe). 0 or -1. */
int run_exe_dir(char *buf, size_t size);
/* Start `tollgated --socket DIR/tollgate.sock --state-dir STATE --http off
 * [--policy FILE]` and wait until it accepts. 0, or -1 after printing why
 * (with the daemon's log). */
int pdaemon_start(struct pdaemon *d, const char *state_dir, const char *policy);
/* 1 while the daemon runs (reaps it once it has exited). */
int pdaemon_running(struct pdaemon *d);
/* Wait up to ms for the daemon to exit (reaped); 1 when it did. A daemon
 * killed with eBPF probes attached takes a while: the kernel detaches
 * them before the process is gone. */
int pdaemon_wait_gone(struct pdaemon *d, int ms);
/* SIGTERM, wait (bounded), SIGKILL, reap; remove the temporary
 * directory. The daemon also gets SIGTERM if tollctl dies first
 * (PR_SET_PDEATHSIG). */
void pdaemon_stop(struct pdaemon *d);

/* --- run_cgroup.c ------------------------------------------------------ */
struct run_cgroup {
	char path[PATH_MAX];
	int procs_fd;           /* cgroup.procs, open for the child; -1: none */
};

/* The cgroup2 mount point from /proc/mounts text; 0 or -1. */
int cgroup_mount_parse(const char *mounts, char *buf, size_t size);
/* Our cgroup ("0::/path" line) from /proc/self/cgroup text; 0 or -1. */
int cgroup_self_parse(const char *text, char *buf, size_t size);
/* Create <mount><ours>/tollgate-run-<token>; -1 (silently) when we may not.*/
int cgroup_create(struct run_cgroup *cg, const char *token);
/* cgroup.kill: SIGKILL everything in it. 0 or -1. */
int cgroup_kill(const struct run_cgroup *cg);
void cgroup_remove(struct run_cgroup *cg);

/* --- run_child.c ------------------------------------------------------- */
struct child_env {
	const char *token;
	const char *socket;
	const char *tags;       /* NULL: leave TOLLGATE_TAGS alone */
	const char *preload;    /* libtollgate.so path, or NULL */
};

/* Catch the forwarded signals now (before any child exists), so an early
 * SIGTERM still ends the run cleanly. */
void child_signals_init(void);
/* A forwarded signal that arrived before CMD started, or 0. */
int child_signal_pending(void);
/* The signal that killed CMD in the last child_run, or 0. */
int child_term_signal(void);
/* Die of sig (default action, no core file), unless the caller had it
 * ignored: then return. For a shell loop to stop on Ctrl-C. */
void child_die_like(int sig);
/* Start CMD (in cg when cg->procs_fd >= 0), forward signals, wait for it
 * and then for every remaining descendant (up to linger_s; then they are
 * terminated). keep (the private daemon, or 0) is a child too but not
 * CMD's: it is neither waited for nor signalled; *keep_reaped is set when
 * it exited meanwhile (and was reaped here). Returns CMD's exit status as a
 * shell reports it (128+N for signal N, 127 not found, 126 not
 * executable). */
int child_run(char **cmd, const struct child_env *env, struct run_cgroup *cg,
    int linger_s, pid_t keep, int *keep_reaped);

/* --- run_kids.c -------------------------------------------------------- */
/* Up to max pids of our live (or not yet reaped) children; the count. */
size_t kids_list(pid_t *out, size_t max);

/* --- run_summary.c ----------------------------------------------------- */
struct run_result {
	int64_t budget_nano;    /* < 0: none */
	int64_t spent_nano;
	uint64_t refused;
	int exceeded;
};

/* Read the "run" object of the RUN_END document (or derive it from the
 * totals when the daemon sent none). 0 or -1. */
int run_result_get(json_t *doc, int64_t budget_nano, struct run_result *r);
/* Print the human summary (stderr). */
void run_summary_print(FILE *f, json_t *doc, const struct run_result *r,
    int cmd_status, int budget_exit);
/* --summary-json's file, opened before CMD runs. */
struct summary_out {
	const char *path;
	int fd;                 /* -1: closed */
	int created;            /* we made it: removed when abandoned */
};

/* Open or create path for writing (not truncated yet). 0, or -1 after
 * printing why. */
int summary_open(struct summary_out *o, const char *path);
/* Close it unwritten; a file we created is removed. */
void summary_abandon(struct summary_out *o);
/* Write the summary document (pretty, with the "run" object) and close.
 * 0 or -1 after printing why. */
int run_summary_write(struct summary_out *o, json_t *doc, const char *token,
    const struct run_result *r);
/* The exit status: budget_exit when exceeded, else cmd_status. */
int run_exit_status(const struct run_result *r, int cmd_status,
    int budget_exit);

#endif
