/*
 * tls_post.c — one HTTPS POST through whichever libssl this object is
 * linked against, for tests/e2e/shim_tls.sh (built there with cc; not by
 * the Makefile: it needs libssl). With -DTLS_EX it writes and reads with
 * SSL_write_ex / SSL_read_ex, as CPython does; else SSL_write / SSL_read,
 * as curl does.
 *   int tls_post(port, cafile, path, body): the HTTP status, or -1.
 * The response is read by its Content-Length (the fake provider answers
 * a request without Accept-Encoding that way).
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

static int
tcp(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

static int
put(SSL *s, const char *b, size_t n)
{
#ifdef TLS_EX
	size_t w;

	return SSL_write_ex(s, b, n, &w) == 1 && w == n;
#else
	return SSL_write(s, b, (int)n) == (int)n;
#endif
}

static long
get(SSL *s, char *b, size_t n)
{
#ifdef TLS_EX
	size_t r;

	return SSL_read_ex(s, b, n, &r) == 1 ? (long)r : -1;
#else
	return SSL_read(s, b, (int)n);
#endif
}

/* The response's status once its head and Content-Length bytes are in. */
static int
response(SSL *s)
{
	char b[65536], *end, *cl;
	size_t n = 0;
	long r;

	for (;;) {
		b[n] = '\0';
		if ((end = strstr(b, "\r\n\r\n")) != NULL &&
		    (cl = strcasestr(b, "\r\ncontent-length:")) != NULL &&
		    cl < end && n >= (size_t)(end + 4 - b) +
		    strtoul(cl + 17, NULL, 10))
			return atoi(b + 9);
		if (n + 1 >= sizeof(b) || (r = get(s, b + n, sizeof(b) - 1 - n)) <= 0)
			return -1;
		n += (size_t)r;
	}
}

int
tls_post(int port, const char *ca, const char *path, const char *body)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *s = NULL;
	char req[4096];
	int fd = -1, status = -1, n;

	if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		goto out;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((fd = tcp(port)) < 0 || (s = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(s, fd) != 1 ||
	    SSL_set_tlsext_host_name(s, "localhost") != 1 ||
	    SSL_set1_host(s, "localhost") != 1 || SSL_connect(s) != 1)
		goto out;
	n = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: localhost"
	    "\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n"
	    "%s", path, strlen(body), body);
	if (put(s, req, (size_t)n))
		status = response(s);
	SSL_shutdown(s);
out:
	SSL_free(s);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return status;
}
