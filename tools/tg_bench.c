/*
 * tg_bench — load generator for `make bench`. N client threads, one
 * connection each, send ADMITs (or RECORDs) to a daemon and time every
 * round trip. Mode "echo" runs the same loop
 * against a built-in single-threaded epoll echo server on the same kind of
 * socket: the transport's own cost, the baseline the daemon is read against.
 *
 *   tg_bench --mode admit|record|echo --socket PATH --clients N
 *            --seconds S [--settlers K] [--rate R]
 * --rate paces the clients (open loop) to R requests/s in all; each round
 * trip is then timed from its scheduled start, so a stall counts against
 * every request it delayed (no coordinated omission).
 * --settlers adds K threads that send RECORDs (settles, each acknowledged
 * after COMMIT) all the while; they are not counted in the figures. Each
 * admission's reservation is given back with an unwaited RELEASE.
 * --fsync-load FILE adds a thread that appends to FILE and fdatasyncs it in
 * a loop, as the ledger's writer does: the baseline for admissions measured
 * while settles commit (on some VMs a flush stalls every vCPU).
 * Prints one line: mode clients ops ops/s p50_us p99_us.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

#define MAX_CLIENTS 256
#define MAX_SAMPLES (1 << 20)

struct opts {
	const char *mode, *socket;
	int clients, seconds, settlers;
	double rate; /* total admissions/s offered; 0 = closed loop */
	const char *fsync_file;
};

struct client {
	pthread_t th;
	int id;
	const struct opts *o;
	int settler; /* sends RECORDs, not counted */
	uint64_t ops;
	uint32_t *lat_ns; /* sampled round trips */
	size_t nlat;
};

static atomic_int stop_flag;

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static int
dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

/* Send one message without waiting for its reply. */
static int
post(int fd, uint16_t type, const void *payload, uint32_t len, uint32_t seq)
{
	char pkt[sizeof(struct tg_hdr) + sizeof(struct tg_record)];

	tg_hdr_init((struct tg_hdr *)pkt, type, len, seq);
	memcpy(pkt + sizeof(struct tg_hdr), payload, len);
	return send(fd, pkt, sizeof(struct tg_hdr) + len, 0) < 0 ? -1 : 0;
}

/* Send one message, wait for its reply; closes any fds passed along. */
static int
call(int fd, uint16_t type, const void *payload, uint32_t len, uint32_t seq,
    char *reply, size_t rsize)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { reply, rsize };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;

	if (post(fd, type, payload, len, seq) < 0)
		return -1;
	do { /* skip the replies of earlier posts */
		mh.msg_controllen = sizeof(cbuf);
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < (ssize_t)sizeof(struct tg_hdr))
			return -1;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			int *fds = (int *)CMSG_DATA(c);
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++)
				close(fds[i]);
		}
	} while (((struct tg_hdr *)reply)->seq != seq);
	return 0;
}

static void
pace_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000u, .tv_nsec = t % 1000000000u };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void
fill_record(struct tg_record *r, int client, uint64_t n, uint64_t admit_id)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->id, &client, sizeof(client));
	r->id[4] = 0xbe;
	memcpy(r->id + 8, &n, sizeof(n));
	r->admit_id = admit_id;
	r->event_time_ns = (int64_t)time(NULL) * 1000000000;
	r->http_status = 200;
	r->input_tokens = 100;
	r->output_tokens = 20;
	tg_strlcpy(r->provider, "openai", sizeof(r->provider));
	tg_strlcpy(r->model, "gpt-4o-mini", sizeof(r->model));
	tg_strlcpy(r->endpoint, "/v1/chat/completions", sizeof(r->endpoint));
	tg_strlcpy(r->decision, "allow", sizeof(r->decision));
}

static void *
client_main(void *arg)
{
	struct client *c = arg;
	const struct opts *o = c->o;
	char reply[TG_MSG_MAX];
	struct tg_register reg = { .mode = TG_MODE_ENFORCE };
	struct tg_admit a = { .est_input_tokens = 100, .max_output_tokens = 50 };
	struct tg_record rec;
	uint32_t seq = 1;
	uint64_t salt = (uint64_t)getpid() << 32 | (uint64_t)time(NULL);
	int fd = dial(o->socket);
	int is_echo = strcmp(o->mode, "echo") == 0;
	int records_only = c->settler || strcmp(o->mode, "record") == 0;

	tg_strlcpy(reg.tags, "team=bench", sizeof(reg.tags));
	tg_strlcpy(a.provider, "openai", sizeof(a.provider));
	tg_strlcpy(a.model, "gpt-4o-mini", sizeof(a.model));
	if (!is_echo && call(fd, TG_MSG_REGISTER, &reg, sizeof(reg), seq++, reply,
	    sizeof(reply)) < 0) {
		fprintf(stderr, "tg_bench: register failed\n");
		exit(1);
	}
	uint64_t interval = o->rate > 0 ? (uint64_t)(1e9 * o->clients / o->rate) : 0;
	uint64_t next = now_ns() + interval * c->id / o->clients;

	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
		uint64_t t0, n = c->ops + 1;
		int rc;

		if (interval && !c->settler) {
			pace_until(next);
			t0 = next;
			next += interval;
		} else
			t0 = now_ns();

		if (records_only) {
			fill_record(&rec, c->id, n ^ salt, 0);
			rc = call(fd, TG_MSG_RECORD, &rec, sizeof(rec), seq++,
			    reply, sizeof(reply));
		} else {
			a.admit_id = n;
			rc = call(fd, TG_MSG_ADMIT, &a, sizeof(a), seq++, reply,
			    sizeof(reply));
		}
		if (rc < 0) {
			fprintf(stderr, "tg_bench: connection lost\n");
			exit(1);
		}
		if (c->nlat < MAX_SAMPLES / MAX_CLIENTS * 4)
			c->lat_ns[c->nlat++] = (uint32_t)(now_ns() - t0);
		c->ops++;
		if (!is_echo && !records_only) {
			/* give the reservation back, unwaited, as a settle would;
			 * the next call skips its OK */
			struct tg_release rel = { .admit_id = n };
			post(fd, TG_MSG_RELEASE, &rel, sizeof(rel), seq++);
		}
	}
	close(fd);
	return NULL;
}

/* The baseline: the same socket type and loop shape, no tollgate logic. */
static void *
echo_server(void *arg)
{
	int lfd = *(int *)arg, ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd }, evs[64];
	char buf[TG_MSG_MAX];

	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
				struct epoll_event ce = { .events = EPOLLIN, .data.fd = c };
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
				continue;
			}
			ssize_t r = recv(fd, buf, sizeof(buf), 0);
			if (r <= 0) {
				close(fd);
				continue;
			}
			struct tg_hdr *h = (struct tg_hdr *)buf;
			h->type = TG_MSG_VERDICT;
			h->len = sizeof(struct tg_verdict);
			send(fd, buf, sizeof(*h) + sizeof(struct tg_verdict), 0);
		}
	}
	return NULL;
}

static void *
fsync_loop(void *arg)
{
	const char *path = arg;
	char block[1024] = { 0 };
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		perror(path);
		exit(1);
	}
	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
		if (write(fd, block, sizeof(block)) < 0 || fdatasync(fd) < 0)
			break;
	}
	close(fd);
	unlink(path);
	return NULL;
}

static const char *
start_echo(void)
{
	static char path[108];
	static int lfd;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pthread_t th;

	snprintf(path, sizeof(path), "/tmp/tg_bench_echo.%d.sock", getpid());
	unlink(path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 512) < 0) {
		perror("tg_bench: echo server");
		exit(1);
	}
	pthread_create(&th, NULL, echo_server, &lfd);
	return path;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void
usage(void)
{
	fprintf(stderr, "usage: tg_bench --mode admit|record|echo --socket PATH "
	    "--clients N --seconds S [--settle-every K]\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	struct opts o = { .mode = "admit", .clients = 1, .seconds = 2 };
	static struct client cl[MAX_CLIENTS];
	pthread_t fsync_th;
	int nthreads;
	uint32_t *all;
	size_t nall = 0;
	uint64_t ops = 0, t0, t1;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--mode")) o.mode = argv[i + 1];
		else if (!strcmp(argv[i], "--socket")) o.socket = argv[i + 1];
		else if (!strcmp(argv[i], "--clients")) o.clients = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds")) o.seconds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--settlers")) o.settlers = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--rate")) o.rate = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--fsync-load")) o.fsync_file = argv[i + 1];
		else usage();
	}
	if (o.clients < 1 || o.clients + o.settlers > MAX_CLIENTS || o.seconds < 1)
		usage();
	if (!strcmp(o.mode, "echo"))
		o.socket = start_echo();
	if (!o.socket)
		usage();
	if (o.fsync_file)
		pthread_create(&fsync_th, NULL, fsync_loop, (void *)o.fsync_file);
	t0 = now_ns();
	nthreads = o.clients + o.settlers;
	for (int i = 0; i < nthreads; i++) {
		cl[i] = (struct client){ .id = i + 1, .o = &o,
			.settler = i >= o.clients };
		cl[i].lat_ns = calloc(MAX_SAMPLES / MAX_CLIENTS * 4, sizeof(uint32_t));
		pthread_create(&cl[i].th, NULL, client_main, &cl[i]);
	}
	sleep(o.seconds);
	atomic_store(&stop_flag, 1);
	t1 = now_ns(); /* the window; calls in flight finish after it */
	for (int i = 0; i < nthreads; i++)
		pthread_join(cl[i].th, NULL);
	if (o.fsync_file)
		pthread_join(fsync_th, NULL);
	all = calloc((size_t)o.clients * (MAX_SAMPLES / MAX_CLIENTS * 4), sizeof(uint32_t));
	for (int i = 0; i < o.clients; i++) {
		ops += cl[i].ops;
		memcpy(all + nall, cl[i].lat_ns, cl[i].nlat * sizeof(uint32_t));
		nall += cl[i].nlat;
	}
	qsort(all, nall, sizeof(uint32_t), cmp_u32);
	printf("%-7s %3d clients %6s  %9llu ops  %9.0f ops/s  p50 %6.1f us  p99 %6.1f us\n",
	    o.fsync_file ? "echo+fs" : o.mode, o.clients, o.rate > 0 ? "paced" : "", (unsigned long long)ops,
	    ops / ((t1 - t0) / 1e9), nall ? all[nall / 2] / 1e3 : 0.0,
	    nall ? all[nall * 99 / 100] / 1e3 : 0.0);
	if (!strcmp(o.mode, "echo"))
		unlink(o.socket);
	return 0;
}
