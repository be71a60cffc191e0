/*
 * budget_clients — N threads, each with its own connection and
 * registration in one run, race admissions against the run's budget:
 * ADMIT (est input E, max output M) and, when allowed, RECORD the "actual"
 * usage: input in [0, 2E] and output in [0, M], so some requests cost more
 * than their reservation. For tests/e2e/daemon_budget32.sh.
 *
 *   budget_clients SOCKET RUN THREADS REQUESTS SEED PROVIDER MODEL E M
 * Prints: "allowed=A denied=D reserved=R acked=K" (R: each reservation).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../lib/proto.h"
#include "../../lib/proto.c"

struct cfg {
	const char *socket, *run, *provider, *model;
	int requests;
	uint64_t seed, e, m;
};

struct worker {
	pthread_t th;
	int id;
	const struct cfg *cfg;
	uint64_t allowed, denied, acked;
	int64_t reserved;
	int failed;
};

static int
dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return fd;
}

/* Send, then wait for the reply of this seq; fds passed along are closed. */
static int
call(int fd, uint16_t type, const void *p, uint32_t len, uint32_t seq,
    char *reply)
{
	char pkt[sizeof(struct tg_hdr) + sizeof(struct tg_record)];
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { reply, TG_MSG_MAX };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;

	tg_hdr_init((struct tg_hdr *)pkt, type, len, seq);
	memcpy(pkt + sizeof(struct tg_hdr), p, len);
	if (send(fd, pkt, sizeof(struct tg_hdr) + len, MSG_NOSIGNAL) < 0)
		return -1;
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		int *fds = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
			close(fds[i]);
	}
	if (n < (ssize_t)sizeof(struct tg_hdr) ||
	    ((struct tg_hdr *)reply)->seq != seq)
		return -1;
	return ((struct tg_hdr *)reply)->type;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int
one_request(struct worker *w, int fd, uint32_t *seq, uint64_t *rs, int i,
    char *reply)
{
	const struct cfg *c = w->cfg;
	struct tg_admit a = { 0 };
	struct tg_record r = { 0 };
	struct tg_verdict v;
	uint64_t id = (uint64_t)w->id << 32 | (uint64_t)i;

	a.admit_id = (uint64_t)i + 1;
	a.est_input_tokens = c->e;
	a.max_output_tokens = c->m;
	tg_strlcpy(a.provider, c->provider, sizeof(a.provider));
	tg_strlcpy(a.model, c->model, sizeof(a.model));
	if (call(fd, TG_MSG_ADMIT, &a, sizeof(a), ++*seq, reply) != TG_MSG_VERDICT)
		return -1;
	memcpy(&v, reply + sizeof(struct tg_hdr), sizeof(v));
	if (v.decision == TG_DENY) {
		w->denied++;
		return 0;
	}
	w->allowed++;
	w->reserved = v.reserved_nano_usd;
	memcpy(r.id, &c->seed, 8);
	memcpy(r.id + 8, &id, 8);
	r.admit_id = a.admit_id;
	r.event_time_ns = 1700000000000000000LL + (int64_t)id;
	r.http_status = 200;
	r.input_tokens = rnd(rs) % (2 * c->e + 1);
	r.output_tokens = rnd(rs) % (c->m + 1);
	tg_strlcpy(r.provider, c->provider, sizeof(r.provider));
	tg_strlcpy(r.model, c->model, sizeof(r.model));
	tg_strlcpy(r.decision, "allow", sizeof(r.decision));
	if (call(fd, TG_MSG_RECORD, &r, sizeof(r), ++*seq, reply) != TG_MSG_ACK)
		return -1;
	w->acked++;
	return 0;
}

static void *
worker_main(void *arg)
{
	static __thread char reply[TG_MSG_MAX];
	struct worker *w = arg;
	struct tg_register reg = { .mode = TG_MODE_ENFORCE };
	uint64_t rs = w->cfg->seed * 2654435761u + (uint64_t)w->id + 1;
	uint32_t seq = 0;
	int fd = dial(w->cfg->socket);

	if (fd < 0) {
		w->failed = 1;
		return NULL;
	}
	tg_strlcpy(reg.run, w->cfg->run, sizeof(reg.run));
	tg_strlcpy(reg.tags, "team=budget", sizeof(reg.tags));
	if (call(fd, TG_MSG_REGISTER, &reg, sizeof(reg), ++seq, reply) !=
	    TG_MSG_REGISTERED) {
		w->failed = 1;
		close(fd);
		return NULL;
	}
	for (int i = 0; i < w->cfg->requests && !w->failed; i++)
		if (one_request(w, fd, &seq, &rs, i, reply) == -1)
			w->failed = 1;
	close(fd);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct cfg c;
	struct worker *w;
	uint64_t allowed = 0, denied = 0, acked = 0;
	int64_t reserved = 0;
	int n, failed = 0;

	if (argc != 10) {
		fprintf(stderr, "usage: budget_clients SOCKET RUN THREADS REQUESTS "
		    "SEED PROVIDER MODEL EST_INPUT MAX_OUTPUT\n");
		return 2;
	}
	c = (struct cfg){ argv[1], argv[2], argv[6], argv[7], atoi(argv[4]),
		strtoull(argv[5], NULL, 10), strtoull(argv[8], NULL, 10),
		strtoull(argv[9], NULL, 10) };
	n = atoi(argv[3]);
	if (n < 1 || n > 1024 || c.requests < 1)
		return 2;
	w = calloc((size_t)n, sizeof(*w));
	for (int i = 0; i < n; i++) {
		w[i] = (struct worker){ .id = i + 1, .cfg = &c };
		pthread_create(&w[i].th, NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].th, NULL);
		allowed += w[i].allowed;
		denied += w[i].denied;
		acked += w[i].acked;
		failed |= w[i].failed;
		if (w[i].reserved)
			reserved = w[i].reserved;
	}
	printf("allowed=%" PRIu64 " denied=%" PRIu64 " reserved=%" PRId64
	    " acked=%" PRIu64 "\n", allowed, denied, reserved, acked);
	if (failed)
		fprintf(stderr, "budget_clients: a client lost its connection\n");
	return failed ? 1 : 0;
}
