/*
 * tlsconn.c — the loader of bpf/tlsconn.bpf.c (issue 6, audit mode): the
 * connect and write tracepoints, exec and exit, and a uprobe on SSL_new in
 * each file tlsaudit probes (tlsaudit_files: started after it). Each
 * connection's first bytes go to unmetered.c through the ring buffer,
 * polled from the daemon's epoll loop (probes_watch).
 *
 * Without tlsaudit's files (it found no libssl) no TLS is decrypted, and
 * every ClientHello counts as unmetered — which it is.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "daemon.h"
#include "log.h"
#include "probes.h"

#include "tlsconn.h"
#include "tlsconn.skel.h"
#include "unmetered.h"

#pragma weak probes_watch

#define TC_MAX_FILES 256
#define TC_NTP 7

static struct {
	struct tgd *d;
	struct tlsconn_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *tp[TC_NTP];
	struct bpf_link *ssl_new[TC_MAX_FILES];
	size_t nssl;
} tc;

static int
tc_event(void *ctx, void *data, size_t size)
{
	const struct tc_event *e = data;

	(void)ctx;
	if (size < TC_HDR || e->len > TC_CAP || e->len > size - TC_HDR)
		return 0;
	unmetered_event(tc.d, e);
	return 0;
}

static int
attach_tracepoints(void)
{
	struct bpf_program *progs[TC_NTP] = {
		tc.skel->progs.tc_connect, tc.skel->progs.tc_write,
		tc.skel->progs.tc_sendto, tc.skel->progs.tc_writev,
		tc.skel->progs.tc_sendmsg, tc.skel->progs.tc_exec,
		tc.skel->progs.tc_exit,
	};

	for (int i = 0; i < TC_NTP; i++) {
		if ((tc.tp[i] = bpf_program__attach(progs[i])) == NULL) {
			log_warnx("tlsconn: attaching %s: %s",
			    bpf_program__name(progs[i]), strerror(errno));
			return -1;
		}
	}
	return 0;
}

void
tlsconn_file_added(const char *path)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = "SSL_new");
	struct bpf_link *l;

	if (tc.skel == NULL || tc.nssl == TC_MAX_FILES)
		return;
	if ((l = bpf_program__attach_uprobe_opts(tc.skel->progs.tc_ssl_new,
	    -1, path, 0, &uo)) == NULL) {
		log_warnx("tlsconn: %s: no SSL_new probe: its TLS counts as "
		    "unmetered", path);
		return;
	}
	tc.ssl_new[tc.nssl++] = l;
}

static void
attach_ssl_new(void)
{
	const char *paths[TC_MAX_FILES];
	size_t n = tlsaudit_files(paths, TC_MAX_FILES);

	for (size_t i = 0; i < n; i++)
		tlsconn_file_added(paths[i]);
}

int
tlsconn_start(struct tgd *d)
{
	int err;

	if (tc.skel != NULL || !d->audit)
		return 0; /* audit mode only */
	tc.d = d;
	if (geteuid() != 0) {
		log_warnx("tlsconn: not root: unmetered TLS not counted");
		return -1;
	}
	if ((tc.skel = tlsconn_bpf__open()) == NULL) {
		log_warnx("tlsconn: opening the BPF object: %s",
		    strerror(errno));
		goto cleanup;
	}
	if ((err = tlsconn_bpf__load(tc.skel)) != 0) {
		log_warnx("tlsconn: BPF refused the TLS connection programs "
		    "(TLS that audit cannot decrypt is not counted): %s",
		    strerror(-err));
		goto cleanup;
	}
	tc.rb = ring_buffer__new(bpf_map__fd(tc.skel->maps.events), tc_event,
	    NULL, NULL);
	if (tc.rb == NULL) {
		log_warnx("tlsconn: ring buffer: %s", strerror(errno));
		goto cleanup;
	}
	/* SSL_new first: a process that creates an SSL from now on is known
	 * before its ClientHello can be seen */
	attach_ssl_new();
	if (attach_tracepoints() != 0)
		goto cleanup;
	if (probes_watch == NULL || probes_watch(d, tc.rb) != 0) {
		log_warnx("tlsconn: the ring buffer cannot be polled: "
		    "unmetered TLS not counted");
		goto cleanup;
	}
	log_info("tlsconn: counting TLS connections audit cannot decrypt "
	    "(SSL_new probed in %zu files)", tc.nssl);
	return 0;
cleanup:
	tlsconn_stop(d);
	return -1;
}

void
tlsconn_stop(struct tgd *d)
{
	(void)d;
	if (tc.rb)
		ring_buffer__consume(tc.rb);
	for (int i = 0; i < TC_NTP; i++) {
		bpf_link__destroy(tc.tp[i]);
		tc.tp[i] = NULL;
	}
	for (size_t i = 0; i < tc.nssl; i++)
		bpf_link__destroy(tc.ssl_new[i]);
	tc.nssl = 0;
	ring_buffer__free(tc.rb);
	tc.rb = NULL;
	tlsconn_bpf__destroy(tc.skel);
	tc.skel = NULL;
}
