/*
 * tg_rawclient — speaks the tollgate protocol directly, for end-to-end
 * tests of tollgated: good requests, bad packets, version mismatch, memfd
 * sealing, budgets. One connection; commands come one per line on stdin,
 * each reply is printed as one line (JSON replies: the document).
 *
 *   tg_rawclient SOCKET < script
 *
 * Commands:
 *   register TAGS|- RUN|- [MODE]   REGISTER; checks the pages (see below)
 *   admit ADMIT_ID PROVIDER MODEL EST_INPUT MAX_OUTPUT
 *   record N ADMIT_ID PROVIDER MODEL INPUT OUTPUT [FLAGS [PID EXE RUN]]
 *                                  id = N in the first 8 bytes; "-" = ""
 *   release ADMIT_ID
 *   status | top                   print the JSON document
 *   report BY|- RUN|-
 *   run-begin TOKEN BUDGET_NANO TAGS|-
 *   run-end TOKEN
 *   garbage N | truncated | oversize | version V | type T | shortpayload
 *   unterminated                   bad packets; each expects a FAIL
 *   fork-hold                      a child inherits the socket and sleeps
 *                                  (prints "child PID")
 *   hold                           print "holding" and sleep until killed
 *   sleep MS
 * The pages of the last REGISTER stay mapped (counters read-write,
 * verdict read-only), as the shim maps them:
 *   gpu SLOT ORDINAL BUSY_NS HELD_NS SINCE_MS MEM PEAK NAME...
 *                                  fill counters slot SLOT as the shim
 *                                  does (name and ordinal, then used = 1
 *                                  with release); SINCE_MS: a hold in
 *                                  progress that began SINCE_MS ago on
 *                                  CLOCK_MONOTONIC (negative: in the
 *                                  future), 0: none. Prints "gpu SLOT set"
 *   launches N                     the process's gpu_launches = N
 *   verdict                        print the verdict page: "page verdict=V
 *                                  arg=A cap=C rule=R cap_rule=R2 flags=F
 *                                  seq=S" ("-" for an empty rule)
 *   futex-wait MS                  print "waiting verdict=V", FUTEX_WAIT on
 *                                  the verdict word (shared, as the shim)
 *                                  for at most MS, then "woke verdict=V
 *                                  after=N ms at=T" (a FUTEX_WAKE; T:
 *                                  CLOCK_MONOTONIC ms), "timeout verdict=V
 *                                  after=N ms at=T", or "changed
 *                                  verdict=V" (it had changed already)
 * Page checks after REGISTER print: "verdict-page version=2 rw-map=EPERM
 * ro-map=ok" and "counters-page version=2 rw-map=ok shrink=EPERM" (the
 * write test uses the counters page's pad, so no GPU use is reported).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/page.h"
#include "../../lib/proto.h"
#include "../../lib/proto.c"

static int fd;
static uint32_t seq;
static char rbuf[TG_MSG_MAX + 16] __attribute__((aligned(16)));
static int rfds[2];
static int nrfds;

static void
dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(path);
		exit(2);
	}
}

static void
send_raw(const void *p, size_t n)
{
	if (send(fd, p, n, MSG_NOSIGNAL) != (ssize_t)n) {
		perror("send");
		exit(2);
	}
}

static void
send_msg(uint16_t type, const void *payload, uint32_t len)
{
	static char pkt[TG_MSG_MAX];

	tg_hdr_init((struct tg_hdr *)pkt, type, len, ++seq);
	memcpy(pkt + sizeof(struct tg_hdr), payload, len);
	send_raw(pkt, sizeof(struct tg_hdr) + len);
}

/* One packet; returns its length. Fds passed along land in rfds. */
static ssize_t
recv_pkt(void)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { rbuf, sizeof(rbuf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

	nrfds = 0;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		int *fds = (int *)CMSG_DATA(c);
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < k; i++) {
			if (nrfds < 2)
				rfds[nrfds++] = fds[i];
			else
				close(fds[i]);
		}
	}
	if (n <= 0) {
		printf("closed\n");
		exit(3);
	}
	return n;
}

static const struct tg_hdr *
hdr(void)
{
	return (const struct tg_hdr *)rbuf;
}

static const void *
body(void)
{
	return rbuf + sizeof(struct tg_hdr);
}

/* Prints a reply that is not the expected type; returns 1 if it was. */
static int
expect(uint16_t type)
{
	if (hdr()->type == type)
		return 1;
	if (hdr()->type == TG_MSG_FAIL) {
		const struct tg_fail *f = body();
		printf("fail code=%u seq=%u text=%s\n", f->code, hdr()->seq,
		    f->text);
	} else {
		printf("unexpected type=%u\n", hdr()->type);
	}
	return 0;
}

static void
print_json(void)
{
	for (;;) {
		ssize_t n = recv_pkt();
		struct tg_json_head jh;

		if (!expect(TG_MSG_JSON))
			return;
		memcpy(&jh, body(), sizeof(jh));
		fwrite((const char *)body() + sizeof(jh), 1,
		    (size_t)n - sizeof(struct tg_hdr) - sizeof(jh), stdout);
		if (!(jh.flags & TG_JSON_MORE))
			break;
	}
	printf("\n");
}

static const char *
dash(const char *s)
{
	return (s == NULL || strcmp(s, "-") == 0) ? "" : s;
}

static struct tg_verdict_page *vpage;   /* of the last REGISTER */
static struct tg_counters_page *cpage;

static void
check_pages(void)
{
	struct tg_verdict_page *v;
	struct tg_counters_page *c;
	void *w;

	if (nrfds != 2) {
		printf("pages: got %d fds\n", nrfds);
		return;
	}
	w = mmap(NULL, TG_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	    rfds[0], 0);
	v = mmap(NULL, TG_PAGE_SIZE, PROT_READ, MAP_SHARED, rfds[0], 0);
	printf("verdict-page version=%u rw-map=%s ro-map=%s\n",
	    v == MAP_FAILED ? 0 : v->version,
	    w != MAP_FAILED ? "ok" : errno == EPERM ? "EPERM" : strerror(errno),
	    v == MAP_FAILED ? "failed" : "ok");
	c = mmap(NULL, TG_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	    rfds[1], 0);
	if (c != MAP_FAILED) {
		__atomic_store_n(&c->pad, 7, __ATOMIC_RELAXED);
		__atomic_store_n(&c->pad, 0, __ATOMIC_RELAXED);
	}
	printf("counters-page version=%u rw-map=%s shrink=%s\n",
	    c == MAP_FAILED ? 0 : c->version, c == MAP_FAILED ? "failed" : "ok",
	    ftruncate(rfds[1], 0) == -1 && errno == EPERM ? "EPERM" : "allowed");
	if (w != MAP_FAILED)
		munmap(w, TG_PAGE_SIZE);
	vpage = v == MAP_FAILED ? NULL : v;
	cpage = c == MAP_FAILED ? NULL : c;
	close(rfds[0]);
	close(rfds[1]);
}

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* gpu SLOT ORDINAL BUSY_NS HELD_NS SINCE_MS MEM PEAK NAME... */
static void
cmd_gpu(char **a)
{
	int slot = atoi(a[1]);
	long long since_ms = strtoll(a[5], NULL, 10);
	struct tg_page_gpu *g;
	char name[96] = "";

	if (cpage == NULL || slot < 0 || slot >= TG_PAGE_GPUS) {
		printf("gpu: no counters page or bad slot\n");
		return;
	}
	g = &cpage->gpu[slot];
	for (int i = 8; a[i]; i++)
		snprintf(name + strlen(name), sizeof(name) - strlen(name),
		    "%s%s", i > 8 ? " " : "", a[i]);
	memcpy(g->name, name, sizeof(g->name));
	__atomic_store_n(&g->ordinal, atoi(a[2]), __ATOMIC_RELAXED);
	__atomic_store_n(&g->busy_ns, strtoull(a[3], NULL, 10),
	    __ATOMIC_RELAXED);
	__atomic_store_n(&g->held_ns, strtoull(a[4], NULL, 10),
	    __ATOMIC_RELAXED);
	__atomic_store_n(&g->held_since_ns, since_ms == 0 ? 0 :
	    mono_ns() - since_ms * 1000000LL, __ATOMIC_RELAXED);
	__atomic_store_n(&g->mem_bytes, strtoull(a[6], NULL, 10),
	    __ATOMIC_RELAXED);
	__atomic_store_n(&g->mem_peak_bytes, strtoull(a[7], NULL, 10),
	    __ATOMIC_RELAXED);
	__atomic_store_n(&g->used, 1, __ATOMIC_RELEASE);
	printf("gpu %d set\n", slot);
}

static void
cmd_verdict(void)
{
	const struct tg_verdict_page *v = vpage;

	if (v == NULL) {
		printf("verdict: no verdict page\n");
		return;
	}
	printf("page verdict=%u arg=%u cap=%" PRIu64 " rule=%.63s "
	    "cap_rule=%.63s flags=%u seq=%" PRIu64 "\n",
	    __atomic_load_n(&v->verdict, __ATOMIC_ACQUIRE), v->arg,
	    v->gpu_mem_cap, v->rule[0] ? v->rule : "-",
	    v->cap_rule[0] ? v->cap_rule : "-", v->flags, v->seq);
}

/* As a paused launch does: wait while the word is what it read. */
static void
cmd_futex_wait(long ms)
{
	uint32_t *w = vpage ? &vpage->verdict : NULL;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	uint32_t was;
	int64_t t0;
	long rc;

	if (w == NULL) {
		printf("futex-wait: no verdict page\n");
		return;
	}
	was = __atomic_load_n(w, __ATOMIC_ACQUIRE);
	printf("waiting verdict=%u\n", was);
	fflush(stdout);
	t0 = mono_ns();
	rc = syscall(SYS_futex, w, FUTEX_WAIT, was, &ts, NULL, 0);
	if (rc == -1 && errno == EAGAIN)
		printf("changed verdict=%u\n", __atomic_load_n(w,
		    __ATOMIC_ACQUIRE));
	else if (rc == -1 && errno != ETIMEDOUT)
		printf("futex-wait: %s\n", strerror(errno));
	else
		printf("%s verdict=%u after=%lld ms at=%lld\n", rc == -1 ?
		    "timeout" : "woke", __atomic_load_n(w, __ATOMIC_ACQUIRE),
		    (long long)((mono_ns() - t0) / 1000000),
		    (long long)(mono_ns() / 1000000));
}

static void
cmd_register(char **a)
{
	struct tg_register r = { 0 };
	const struct tg_registered *g;

	tg_strlcpy(r.tags, dash(a[1]), sizeof(r.tags));
	tg_strlcpy(r.run, dash(a[2]), sizeof(r.run));
	r.mode = a[3] && strcmp(a[3], "observe") == 0 ? TG_MODE_OBSERVE :
	    TG_MODE_ENFORCE;
	r.covers = TG_COVERS_LIBSSL;
	send_msg(TG_MSG_REGISTER, &r, sizeof(r));
	recv_pkt();
	if (!expect(TG_MSG_REGISTERED))
		return;
	g = body();
	printf("registered daemon_version=%u page_version=%u id=%" PRIu64
	    " fds=%d\n", g->daemon_version, g->page_version, g->process_id,
	    nrfds);
	check_pages();
}

static void
cmd_admit(char **a)
{
	struct tg_admit ad = { 0 };
	const struct tg_verdict *v;
	static const char *dn[] = { "allow", "delay", "deny" };

	ad.admit_id = strtoull(a[1], NULL, 10);
	tg_strlcpy(ad.provider, dash(a[2]), sizeof(ad.provider));
	tg_strlcpy(ad.model, dash(a[3]), sizeof(ad.model));
	tg_strlcpy(ad.endpoint, "/v1/chat/completions", sizeof(ad.endpoint));
	ad.est_input_tokens = strtoull(a[4], NULL, 10);
	ad.max_output_tokens = strtoull(a[5], NULL, 10);
	send_msg(TG_MSG_ADMIT, &ad, sizeof(ad));
	recv_pkt();
	if (!expect(TG_MSG_VERDICT))
		return;
	v = body();
	printf("verdict admit_id=%" PRIu64 " decision=%s reserved=%" PRId64
	    " rule=%s reason=%s\n", v->admit_id,
	    v->decision <= TG_DENY ? dn[v->decision] : "?",
	    v->reserved_nano_usd, v->rule, v->reason);
}

static void
cmd_record(char **a)
{
	struct tg_record r = { 0 };
	uint64_t n = strtoull(a[1], NULL, 10);
	const struct tg_ack *k;

	memcpy(r.id, &n, sizeof(n));
	memcpy(r.id + 8, "rawclien", 8);
	r.admit_id = strtoull(a[2], NULL, 10);
	r.event_time_ns = 1700000000000000000LL + (int64_t)n;
	r.kind = strcmp(a[3], "gpu") == 0 ? TG_KIND_GPU : TG_KIND_LLM;
	tg_strlcpy(r.provider, dash(a[3]), sizeof(r.provider));
	tg_strlcpy(r.model, dash(a[4]), sizeof(r.model));
	tg_strlcpy(r.endpoint, "/v1/chat/completions", sizeof(r.endpoint));
	tg_strlcpy(r.decision, "allow", sizeof(r.decision));
	r.http_status = 200;
	r.input_tokens = strtoull(a[5], NULL, 10);
	r.output_tokens = strtoull(a[6], NULL, 10);
	if (a[7])
		r.flags = (uint32_t)strtoul(a[7], NULL, 0);
	if (a[8] && a[9] && a[10]) {
		r.pid = atoi(a[8]);
		tg_strlcpy(r.exe, dash(a[9]), sizeof(r.exe));
		tg_strlcpy(r.run, dash(a[10]), sizeof(r.run));
	}
	send_msg(TG_MSG_RECORD, &r, sizeof(r));
	recv_pkt();
	if (!expect(TG_MSG_ACK))
		return;
	k = body();
	printf("ack id=%" PRIu64 " inserted=%u\n", n, k->inserted);
}

static void
cmd_simple(uint16_t type, const void *p, uint32_t len)
{
	send_msg(type, p, len);
	if (type == TG_MSG_RUN_BEGIN || type == TG_MSG_RELEASE) {
		recv_pkt();
		if (expect(TG_MSG_OK))
			printf("ok\n");
		return;
	}
	print_json();
}

static void
expect_fail(void)
{
	recv_pkt();
	if (hdr()->type != TG_MSG_FAIL)
		printf("unexpected type=%u\n", hdr()->type);
	else
		expect(TG_MSG_OK); /* prints the FAIL line */
}

/* Each sends one bad packet and prints the FAIL it gets. */
static int
cmd_bad(char **a)
{
	static char pkt[TG_MSG_MAX + 4096];
	struct tg_hdr *h = (struct tg_hdr *)pkt;
	struct tg_admit ad = { 0 };

	memset(pkt, 0, sizeof(pkt));
	tg_hdr_init(h, TG_MSG_ADMIT, sizeof(ad), ++seq);
	memcpy(pkt + sizeof(*h), &ad, sizeof(ad));
	if (strcmp(a[0], "garbage") == 0) {
		size_t n = strtoul(a[1], NULL, 10);
		for (size_t i = 0; i < n; i++)
			pkt[i] = (char)(0xa5 ^ i * 7);
		send_raw(pkt, n);
	} else if (strcmp(a[0], "truncated") == 0) {
		send_raw(pkt, sizeof(*h) - 4);
	} else if (strcmp(a[0], "oversize") == 0) {
		h->len = TG_MSG_MAX + 100 - sizeof(*h);
		send_raw(pkt, TG_MSG_MAX + 100);
	} else if (strcmp(a[0], "version") == 0) {
		h->version = (uint16_t)atoi(a[1]);
		send_raw(pkt, sizeof(*h) + sizeof(ad));
	} else if (strcmp(a[0], "type") == 0) {
		h->type = (uint16_t)atoi(a[1]);
		send_raw(pkt, sizeof(*h) + sizeof(ad));
	} else if (strcmp(a[0], "shortpayload") == 0) {
		h->len = sizeof(ad) - 8;
		send_raw(pkt, sizeof(*h) + sizeof(ad) - 8);
	} else if (strcmp(a[0], "unterminated") == 0) {
		memset(pkt + sizeof(*h) + offsetof(struct tg_admit, model), 'x',
		    sizeof(ad.model));
		send_raw(pkt, sizeof(*h) + sizeof(ad));
	} else {
		return 0;
	}
	expect_fail();
	return 1;
}

static void
cmd_fork_hold(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		for (;;)
			pause();
	}
	printf("child %d\n", (int)pid);
}

static void
run_line(char **a)
{
	if (strcmp(a[0], "register") == 0) {
		cmd_register(a);
	} else if (strcmp(a[0], "admit") == 0 && a[5]) {
		cmd_admit(a);
	} else if (strcmp(a[0], "record") == 0 && a[6]) {
		cmd_record(a);
	} else if (strcmp(a[0], "release") == 0 && a[1]) {
		struct tg_release r = { strtoull(a[1], NULL, 10) };
		cmd_simple(TG_MSG_RELEASE, &r, sizeof(r));
	} else if (strcmp(a[0], "status") == 0) {
		cmd_simple(TG_MSG_STATUS, NULL, 0);
	} else if (strcmp(a[0], "top") == 0) {
		cmd_simple(TG_MSG_TOP, NULL, 0);
	} else if (strcmp(a[0], "report") == 0 && a[2]) {
		struct tg_report_req q = { 0 };
		tg_strlcpy(q.by, dash(a[1]), sizeof(q.by));
		tg_strlcpy(q.run, dash(a[2]), sizeof(q.run));
		cmd_simple(TG_MSG_REPORT, &q, sizeof(q));
	} else if (strcmp(a[0], "run-begin") == 0 && a[3]) {
		struct tg_run_begin b = { strtoll(a[2], NULL, 10), "", "" };
		tg_strlcpy(b.run, a[1], sizeof(b.run));
		tg_strlcpy(b.tags, dash(a[3]), sizeof(b.tags));
		cmd_simple(TG_MSG_RUN_BEGIN, &b, sizeof(b));
	} else if (strcmp(a[0], "run-end") == 0 && a[1]) {
		struct tg_run_end e = { "" };
		tg_strlcpy(e.run, a[1], sizeof(e.run));
		cmd_simple(TG_MSG_RUN_END, &e, sizeof(e));
	} else if (strcmp(a[0], "gpu") == 0 && a[7]) {
		cmd_gpu(a);
	} else if (strcmp(a[0], "launches") == 0 && a[1]) {
		if (cpage)
			__atomic_store_n(&cpage->gpu_launches,
			    strtoull(a[1], NULL, 10), __ATOMIC_RELAXED);
		printf("launches %s\n", cpage ? a[1] : "(no page)");
	} else if (strcmp(a[0], "verdict") == 0) {
		cmd_verdict();
	} else if (strcmp(a[0], "futex-wait") == 0 && a[1]) {
		cmd_futex_wait(atol(a[1]));
	} else if (strcmp(a[0], "sleep") == 0 && a[1]) {
		usleep((useconds_t)atol(a[1]) * 1000);
		printf("slept\n");
	} else if (strcmp(a[0], "fork-hold") == 0) {
		cmd_fork_hold();
	} else if (strcmp(a[0], "hold") == 0) {
		printf("holding\n");
		fflush(stdout);
		for (;;)
			pause();
	} else if (!cmd_bad(a)) {
		fprintf(stderr, "tg_rawclient: bad command: %s\n", a[0]);
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	char line[1024];

	if (argc != 2) {
		fprintf(stderr, "usage: tg_rawclient SOCKET < script\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	dial(argv[1]);
	while (fgets(line, sizeof(line), stdin)) {
		char *a[24] = { 0 }, *save = NULL;
		int n = 0;

		for (char *t = strtok_r(line, " \t\n", &save); t && n < 23;
		    t = strtok_r(NULL, " \t\n", &save))
			a[n++] = t;
		if (n == 0 || a[0][0] == '#')
			continue;
		run_line(a);
	}
	return 0;
}
