/*
 * shim_fakedaemon — a tiny stand-in for tollgated that the shim tests use
 * to make the daemon misbehave on purpose (tollgated is always correct).
 *
 *   shim_fakedaemon SOCKET OUTFILE [MODE]
 * MODE: ok (default) | slow (replies after 300 ms: past the shim's
 * deadline) | badversion (answers every REGISTER with FAIL BAD_VERSION) |
 * stale (sends a junk reply with a wrong seq, then the right one).
 * Every RECORD whose id is new appends "HEXID ENDPOINT\n" to OUTFILE, then
 * is ACKed (a repeated id is ACKed with inserted=0 and not appended). In
 * every mode a RECORD whose endpoint starts with "refuse" is answered
 * FAIL BAD_FIELD (as tollgated refuses a record it finds invalid) and
 * appends "REFUSED ENDPOINT\n" each time it arrives; one whose endpoint
 * starts with "busy" is answered FAIL INTERNAL (a refusal for now) and
 * appends "BUSY ENDPOINT\n"; a repeated id appends "REPEAT HEXID\n".
 * Exits on SIGTERM. Libc only; wire structs come from lib/proto.h.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/page.h"
#include "../../lib/proto.h"

#define MAXC 512
#define MAXIDS 200000

static struct pollfd pf[MAXC + 1];
static int npf = 1;
static unsigned char (*ids)[16];
static int nids;
static FILE *out;
static const char *mode = "ok";

static void
reply(int fd, uint16_t type, uint32_t seq, const void *p, uint32_t len,
    int *fds, int nfds)
{
	char buf[1024];
	struct tg_hdr *h = (struct tg_hdr *)buf;
	struct iovec iov = { buf, sizeof(*h) + len };
	union { struct cmsghdr c; char b[CMSG_SPACE(2 * sizeof(int))]; } cb;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	h->magic = TG_PROTO_MAGIC;
	h->version = TG_PROTO_VERSION;
	h->type = type;
	h->len = len;
	h->seq = seq;
	memcpy(buf + sizeof(*h), p, len);
	if (nfds) {
		m.msg_control = cb.b;
		m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cb.c.cmsg_level = SOL_SOCKET;
		cb.c.cmsg_type = SCM_RIGHTS;
		cb.c.cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(&cb.c), fds, nfds * sizeof(int));
	}
	if (strcmp(mode, "stale") == 0 && type != TG_MSG_REGISTERED) {
		struct tg_hdr junk = *h;
		junk.seq = seq + 1000;
		junk.type = TG_MSG_OK;
		junk.len = 0;
		send(fd, &junk, sizeof(junk), MSG_NOSIGNAL);
	}
	sendmsg(fd, &m, MSG_NOSIGNAL);
}

static void
do_register(int fd, uint32_t seq)
{
	struct tg_registered r = { TG_PROTO_VERSION, TG_PAGE_VERSION, 0, 7 };
	struct tg_fail f = { TG_ERR_BAD_VERSION, "fake: bad version" };
	int fds[2];

	if (strcmp(mode, "badversion") == 0) {
		reply(fd, TG_MSG_FAIL, seq, &f, sizeof(f), NULL, 0);
		return;
	}
	for (int i = 0; i < 2; i++) {
		fds[i] = memfd_create("tg", MFD_CLOEXEC);
		ftruncate(fds[i], TG_PAGE_SIZE);
		struct tg_verdict_page *p = mmap(NULL, TG_PAGE_SIZE,
		    PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		p->version = TG_PAGE_VERSION;
		munmap(p, TG_PAGE_SIZE);
	}
	reply(fd, TG_MSG_REGISTERED, seq, &r, sizeof(r), fds, 2);
	close(fds[0]);
	close(fds[1]);
}

static void
do_record(int fd, uint32_t seq, const struct tg_record *rec)
{
	struct tg_ack a;
	int i;

	if (strncmp(rec->endpoint, "refuse", 6) == 0 ||
	    strncmp(rec->endpoint, "busy", 4) == 0) {
		struct tg_fail f = { rec->endpoint[0] == 'r' ? TG_ERR_BAD_FIELD :
		    TG_ERR_INTERNAL, "fake: refused" };

		fprintf(out, "%s %.40s\n", rec->endpoint[0] == 'r' ?
		    "REFUSED" : "BUSY", rec->endpoint);
		fflush(out);
		reply(fd, TG_MSG_FAIL, seq, &f, sizeof(f), NULL, 0);
		return;
	}
	memcpy(a.id, rec->id, 16);
	a.pad = 0;
	for (i = 0; i < nids && memcmp(ids[i], rec->id, 16); i++)
		;
	a.inserted = i == nids;
	if (a.inserted && nids < MAXIDS) {
		memcpy(ids[nids++], rec->id, 16);
		for (int k = 0; k < 16; k++)
			fprintf(out, "%02x", rec->id[k]);
		fprintf(out, " %s %d\n", rec->endpoint,
		    (rec->flags & TG_REC_REPLAYED) ? 1 : 0);
		fflush(out);
	} else {
		fprintf(out, "REPEAT ");
		for (int k = 0; k < 16; k++)
			fprintf(out, "%02x", rec->id[k]);
		fprintf(out, "\n");
		fflush(out);
	}
	reply(fd, TG_MSG_ACK, seq, &a, sizeof(a), NULL, 0);
}

static void
serve(int fd)
{
	char buf[TG_MSG_MAX];
	struct tg_hdr h;
	struct tg_verdict v = { 0 };
	ssize_t n = recv(fd, buf, sizeof(buf), 0);

	if (n >= (ssize_t)sizeof(h))
		memcpy(&h, buf, sizeof(h));
	if (n < (ssize_t)sizeof(h) || h.magic != TG_PROTO_MAGIC ||
	    h.len != n - sizeof(h)) {
		close(fd);
		for (int i = 1; i < npf; i++)
			if (pf[i].fd == fd)
				pf[i] = pf[--npf];
		return;
	}
	if (strcmp(mode, "slow") == 0 && h.type != TG_MSG_REGISTER)
		nanosleep(&(struct timespec){ 0, 300000000 }, NULL);
	if (h.type == TG_MSG_REGISTER)
		do_register(fd, h.seq);
	else if (h.type == TG_MSG_RECORD)
		do_record(fd, h.seq, (struct tg_record *)(buf + sizeof(h)));
	else if (h.type == TG_MSG_ADMIT) {
		memcpy(&v.admit_id, buf + sizeof(h), 8);
		strcpy(v.rule, "fake");
		reply(fd, TG_MSG_VERDICT, h.seq, &v, sizeof(v), NULL, 0);
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ls;

	if (argc < 3)
		return 2;
	if (argc > 3)
		mode = argv[3];
	ids = calloc(MAXIDS, 16);
	out = fopen(argv[2], "a");
	signal(SIGPIPE, SIG_IGN);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	unlink(argv[1]);
	ls = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (!out || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(ls, 128) < 0) {
		perror("shim_fakedaemon");
		return 1;
	}
	pf[0].fd = ls;
	pf[0].events = POLLIN;
	for (;;) {
		if (poll(pf, npf, -1) < 0)
			continue;
		for (int i = npf - 1; i >= 1; i--)
			if (pf[i].revents)
				serve(pf[i].fd);
		if ((pf[0].revents & POLLIN) && npf <= MAXC) {
			pf[npf].fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
			pf[npf].events = POLLIN;
			if (pf[npf].fd >= 0)
				npf++;
		}
	}
}
