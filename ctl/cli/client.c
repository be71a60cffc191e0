/* client.c — see client.h. */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "proto.h"

int
client_try(struct client *c, const char *path)
{
	struct sockaddr_un sun;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	tg_strlcpy(c->path, path, sizeof(c->path));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	tg_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int saved = errno;
		close(c->fd);
		c->fd = -1;
		errno = saved;
		return -1;
	}
	return 0;
}

int
client_open(struct client *c, const char *path)
{
	if (client_try(c, path) == 0)
		return CLI_EXIT_OK;
	if (errno == ENOENT || errno == ECONNREFUSED || errno == ENOTDIR)
		fprintf(stderr, "tollctl: no daemon on %s (start tollgated, or set "
		    "TOLLGATE_SOCKET)\n", path);
	else
		fprintf(stderr, "tollctl: cannot reach the daemon on %s: %s\n",
		    path, strerror(errno));
	return CLI_EXIT_NODAEMON;
}

void
client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* One request; fd >= 0 rides along (SCM_RIGHTS). */
static int
send_req(struct client *c, uint16_t type, const void *p, size_t n, int fd)
{
	char pkt[TG_MSG_MAX], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { pkt, 0 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	struct tg_hdr h;

	if (n > sizeof(pkt) - sizeof(h))
		return -1;
	tg_hdr_init(&h, type, (uint32_t)n, ++c->seq);
	memcpy(pkt, &h, sizeof(h));
	if (n)
		memcpy(pkt + sizeof(h), p, n);
	iov.iov_len = sizeof(h) + n;
	if (fd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	if (sendmsg(c->fd, &mh, MSG_NOSIGNAL) < 0) {
		fprintf(stderr, "tollctl: sending to %s: %s\n", c->path,
		    strerror(errno));
		return CLI_EXIT_NODAEMON;
	}
	return 0;
}

/* One packet into buf; returns its size, or -1 after printing why. */
static ssize_t
recv_pkt(struct client *c, void *buf, size_t size)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	ssize_t n;
	int r;

	while ((r = poll(&pfd, 1, CLIENT_TIMEOUT_MS)) < 0 && errno == EINTR)
		;
	if (r == 0) {
		fprintf(stderr, "tollctl: the daemon on %s did not answer within "
		    "%d s\n", c->path, CLIENT_TIMEOUT_MS / 1000);
		return -1;
	}
	while ((n = recv(c->fd, buf, size, MSG_TRUNC)) < 0 && errno == EINTR)
		;
	if (n <= 0) {
		fprintf(stderr, "tollctl: the daemon on %s closed the connection%s%s\n",
		    c->path, n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		return -1;
	}
	if ((size_t)n > size) {
		fprintf(stderr, "tollctl: oversized reply from the daemon (%zd bytes)\n", n);
		return -1;
	}
	return n;
}

static int
version_mismatch(struct client *c, unsigned theirs)
{
	fprintf(stderr, "tollctl: the daemon on %s speaks protocol version %u, "
	    "this tollctl speaks %d (use matching tollctl and tollgated)\n",
	    c->path, theirs, TG_PROTO_VERSION);
	return CLI_EXIT_VERSION;
}

static int
fail_reply(struct client *c, const struct tg_fail *f)
{
	if (f->code == TG_ERR_BAD_VERSION) {
		fprintf(stderr, "tollctl: the daemon on %s does not accept protocol "
		    "version %d: %s (use matching tollctl and tollgated)\n",
		    c->path, TG_PROTO_VERSION, f->text);
		return CLI_EXIT_VERSION;
	}
	fprintf(stderr, "tollctl: the daemon refused the request: %s\n", f->text);
	return CLI_EXIT_ERR;
}

int
client_check_reply(struct client *c, const void *pkt, size_t n, uint16_t *type)
{
	struct tg_hdr h;
	const char *why;
	int err;

	if (n < sizeof(h) || (memcpy(&h, pkt, sizeof(h)), h.magic != TG_PROTO_MAGIC)) {
		fprintf(stderr, "tollctl: %s is not a tollgate daemon (bad reply)\n",
		    c->path);
		return CLI_EXIT_ERR;
	}
	c->daemon_version = h.version;
	if (h.version != TG_PROTO_VERSION)
		return version_mismatch(c, h.version);
	if ((err = tg_msg_check(pkt, n, &why)) != 0) {
		fprintf(stderr, "tollctl: bad reply from the daemon: %s\n", why);
		return CLI_EXIT_ERR;
	}
	if (h.seq != c->seq) {
		fprintf(stderr, "tollctl: reply out of sequence from the daemon\n");
		return CLI_EXIT_ERR;
	}
	if (h.type == TG_MSG_FAIL) {
		struct tg_fail f;
		memcpy(&f, (const char *)pkt + sizeof(h), sizeof(f));
		return fail_reply(c, &f);
	}
	*type = h.type;
	return 0;
}

int
client_call_ok(struct client *c, uint16_t type, const void *p, size_t n)
{
	return client_call_ok_fd(c, type, p, n, -1);
}

int
client_call_ok_fd(struct client *c, uint16_t type, const void *p, size_t n,
    int fd)
{
	static char pkt[TG_MSG_MAX];
	uint16_t t;
	ssize_t got;
	int rc;

	if ((rc = send_req(c, type, p, n, fd)) != 0)
		return rc;
	if ((got = recv_pkt(c, pkt, sizeof(pkt))) < 0)
		return CLI_EXIT_ERR;
	if ((rc = client_check_reply(c, pkt, (size_t)got, &t)) != 0)
		return rc;
	if (t != TG_MSG_OK) {
		fprintf(stderr, "tollctl: unexpected reply type %u from the daemon\n", t);
		return CLI_EXIT_ERR;
	}
	return CLI_EXIT_OK;
}

/* Append one JSON packet's text; sets *more. 0 or -1. */
static int
append_json(const char *pkt, size_t n, char **text, size_t *len, int *more)
{
	struct tg_json_head jh;
	size_t off = sizeof(struct tg_hdr) + sizeof(jh), add = n - off;
	char *t;

	memcpy(&jh, pkt + sizeof(struct tg_hdr), sizeof(jh));
	*more = (jh.flags & TG_JSON_MORE) != 0;
	if (*len + add > CLIENT_JSON_MAX) {
		fprintf(stderr, "tollctl: the daemon's reply is larger than %u MiB\n",
		    CLIENT_JSON_MAX >> 20);
		return -1;
	}
	if ((t = realloc(*text, *len + add + 1)) == NULL) {
		fprintf(stderr, "tollctl: out of memory\n");
		return -1;
	}
	memcpy(t + *len, pkt + off, add);
	*len += add;
	t[*len] = '\0';
	*text = t;
	return 0;
}

int
client_call_json(struct client *c, uint16_t type, const void *p, size_t n,
    char **text, size_t *len)
{
	return client_call_json_fd(c, type, p, n, -1, text, len);
}

int
client_call_json_fd(struct client *c, uint16_t type, const void *p, size_t n,
    int fd, char **text, size_t *len)
{
	static char pkt[TG_MSG_MAX];
	uint16_t t;
	ssize_t got;
	int rc, more = 1;

	*text = NULL;
	*len = 0;
	if ((rc = send_req(c, type, p, n, fd)) != 0)
		return rc;
	while (more) {
		if ((got = recv_pkt(c, pkt, sizeof(pkt))) < 0)
			goto fail;
		if ((rc = client_check_reply(c, pkt, (size_t)got, &t)) != 0)
			goto out;
		if (t != TG_MSG_JSON) {
			fprintf(stderr, "tollctl: unexpected reply type %u from the "
			    "daemon\n", t);
			goto fail;
		}
		if (append_json(pkt, (size_t)got, text, len, &more) < 0)
			goto fail;
	}
	return CLI_EXIT_OK;
fail:
	rc = CLI_EXIT_ERR;
out:
	free(*text);
	*text = NULL;
	*len = 0;
	return rc;
}
