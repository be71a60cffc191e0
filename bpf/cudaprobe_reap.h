/*
 * cudaprobe_reap.h — bpf_link__destroy off the daemon's main thread
 * (bpf/cudaprobe_reap.c): closing a uprobe's perf event waits for an RCU
 * grace period in the kernel (0.4 s each, 10 per process, measured on a
 * loaded 6.18 host), so detached links go to a thread that only destroys
 * them.
 */
#ifndef TG_CUDAPROBE_REAP_H
#define TG_CUDAPROBE_REAP_H

struct bpf_link;

void cp_reaper_start(void);
/* Daemon exit: the queue is emptied, then the thread joined. */
void cp_reaper_stop(void);
/* Destroy l on the reaper; here, blocking, only when there is no reaper
 * or no memory to queue it. NULL is ignored. */
void cp_link_drop(struct bpf_link *l);

#endif
