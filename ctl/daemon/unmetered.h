/*
 * unmetered.h — audit mode's count of the TLS it cannot decrypt (issue
 * 6): bpf/tlsconn hands over the first bytes of each TCP connection a
 * process opens; when they are a TLS ClientHello and the process's TLS is
 * not OpenSSL in a file tlsaudit probes (GnuTLS, Go, rustls), one
 * unmetered connection is counted for its server name (SNI). At most
 * UM_MAX_NAMES names; the rest count as "other"; a ClientHello without
 * SNI as "(no sni)". Shown by `tollctl status` (root) and as
 * tollgate_unmetered_connections_total{server}. Main thread only.
 */
#ifndef TGD_UNMETERED_H
#define TGD_UNMETERED_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define UM_MAX_NAMES 256
#define UM_NAME_MAX 256      /* a DNS name is 253 bytes at most */

struct tgd;
struct tc_event;

/* One event of tlsconn's ring buffer. */
void unmetered_event(struct tgd *d, const struct tc_event *e);

/* The server_name of the TLS ClientHello in p[0..n) (its first record,
 * possibly cut short), lower-cased, into name: 1 found, 0 a ClientHello
 * without one, -1 not a ClientHello (or malformed, or the name cut off). */
int unmetered_sni(const uint8_t *p, size_t n, char *name, size_t size);

/* {"SERVER": N, ...} in first-seen order (a new reference). */
json_t *unmetered_json(void);

/* tlsaudit.c: the paths of the files it attached probes to (at most max;
 * the count returned). tlsconn attaches its SSL_new probe to the same. */
size_t tlsaudit_files(const char **paths, size_t max);
/* tlsconn.c: tlsaudit probed path after start; SSL_new there too. */
void tlsconn_file_added(const char *path);

#endif
