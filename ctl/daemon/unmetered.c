/*
 * unmetered.c — audit mode's count of TLS connections it cannot decrypt
 * (see unmetered.h): the ClientHello's server name, from the first write
 * bpf/tlsconn saw on a new TCP connection. Whether the process's TLS is
 * decrypted is decided in the kernel at that write (it created an SSL in
 * a file tlsaudit probes): a short-lived client is gone before this runs.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/types.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"

#include "tlsconn.h"
#include "unmetered.h"

struct um_name {
	char name[UM_NAME_MAX];
	uint64_t n;
};

/* UM_MAX_NAMES names, then "other" */
static struct {
	struct um_name tab[UM_MAX_NAMES + 1];
	size_t n;
} um;

static unsigned
rd16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* A host name as SNI carries it (RFC 6066: ASCII, no trailing dot). */
static int
copy_name(const uint8_t *p, size_t len, char *name, size_t size)
{
	if (len == 0 || len >= size || len > 253)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isalnum(p[i]) && p[i] != '.' && p[i] != '-' && p[i] != '_')
			return -1;
		name[i] = (char)tolower(p[i]);
	}
	name[len] = '\0';
	return 1;
}

/* The server_name extension's body p[0..len): its host_name entry. */
static int
sni_ext(const uint8_t *p, size_t len, char *name, size_t size)
{
	size_t i = 2, end;

	if (len < 2 || (end = 2 + rd16(p)) > len)
		return -1;
	while (i + 3 <= end) {
		unsigned type = p[i], l = rd16(p + i + 1);

		i += 3;
		if (i + l > end)
			return -1;
		if (type == 0)
			return copy_name(p + i, l, name, size);
		i += l;
	}
	return 0;
}

int
unmetered_sni(const uint8_t *p, size_t n, char *name, size_t size)
{
	size_t i, end, xend;
	int cut;

	/* record: handshake (22), TLS 1.x, length */
	if (n < 5 || p[0] != 0x16 || p[1] != 3 || p[2] > 4)
		return -1;
	end = 5 + rd16(p + 3);
	cut = end > n;
	if (cut)
		end = n;
	/* handshake: client_hello (1), 24-bit length */
	if (end < 9 || p[5] != 1)
		return -1;
	i = 9 + ((size_t)p[6] << 16 | (size_t)p[7] << 8 | p[8]);
	if (i < end)
		end = i; /* a second handshake message in the record */
	else if (i > end)
		cut = 1;
	i = 9 + 2 + 32;                         /* version, random */
	if (i + 1 > end)
		return -1;
	i += 1 + p[i];                          /* session id */
	if (i + 2 > end)
		return -1;
	i += 2 + rd16(p + i);                   /* cipher suites */
	if (i + 1 > end)
		return -1;
	i += 1 + p[i];                          /* compression methods */
	if (i == end && !cut)
		return 0;                       /* no extensions */
	if (i + 2 > end)
		return -1;
	xend = i + 2 + rd16(p + i);
	i += 2;
	if (xend > end) {
		xend = end;
		cut = 1;
	}
	while (i + 4 <= xend) {
		unsigned type = rd16(p + i), len = rd16(p + i + 2);

		i += 4;
		if (i + len > xend)
			return -1;
		if (type == 0)
			return sni_ext(p + i, len, name, size);
		i += len;
	}
	return cut ? -1 : 0;
}

static void
publish(struct tgd *d)
{
	struct metrics_unmetered_row rows[UM_MAX_NAMES + 1];

	if (d->metrics == NULL)
		return;
	for (size_t i = 0; i < um.n; i++) {
		snprintf(rows[i].server, sizeof(rows[i].server), "%s",
		    um.tab[i].name);
		rows[i].n = um.tab[i].n;
	}
	metrics_set_unmetered(d->metrics, rows, um.n);
}

static void
count(struct tgd *d, const char *name)
{
	size_t i;

	for (i = 0; i < um.n; i++)
		if (strcmp(um.tab[i].name, name) == 0)
			break;
	if (i == um.n) {
		if (um.n >= UM_MAX_NAMES)
			name = "other";
		for (i = 0; i < um.n; i++)
			if (strcmp(um.tab[i].name, name) == 0)
				break;
		if (i == um.n) {
			snprintf(um.tab[i].name, sizeof(um.tab[i].name), "%s",
			    name);
			um.tab[i].n = 0;
			um.n++;
		}
	}
	um.tab[i].n++;
	publish(d);
}

void
unmetered_event(struct tgd *d, const struct tc_event *e)
{
	char name[UM_NAME_MAX], path[64], exe[256], comm[sizeof(e->comm) + 1];
	ssize_t n;
	int r;

	if (e->openssl)
		return; /* tlsaudit decrypts it */
	r = unmetered_sni(e->data, e->len > TC_CAP ? TC_CAP : e->len, name,
	    sizeof(name));
	if (r < 0)
		return; /* not TLS, or not a ClientHello we can read */
	if (r == 0)
		snprintf(name, sizeof(name), "(no sni)");
	memcpy(comm, e->comm, sizeof(e->comm));
	comm[sizeof(e->comm)] = '\0';
	snprintf(path, sizeof(path), "/proc/%u/exe", e->pid);
	if ((n = readlink(path, exe, sizeof(exe) - 1)) > 0)
		exe[n] = '\0';
	else
		snprintf(exe, sizeof(exe), "?");
	log_debug("unmetered: pid %u (%s, %s): TLS to %s that audit cannot "
	    "decrypt", e->pid, comm, exe, name);
	count(d, name);
}

json_t *
unmetered_json(void)
{
	json_t *o = json_object();

	for (size_t i = 0; i < um.n; i++)
		json_object_set_new(o, um.tab[i].name,
		    json_integer((json_int_t)um.tab[i].n));
	return o;
}
