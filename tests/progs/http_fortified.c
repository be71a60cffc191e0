/*
 * http_fortified — one plain-HTTP chat completion read the way a program
 * built with _FORTIFY_SOURCE reads: with a fixed buffer, glibc turns
 * read/recv/recvfrom into __read_chk/__recv_chk/__recvfrom_chk, which the
 * shim must hook too. Prints the response's status line.
 *   http_fortified PORT read|recv|recvfrom
 * CHUNK (default 4096, at most 4096: past it glibc aborts the program,
 * as fortification is meant to): the length each read asks for.
 */
#undef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 2
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char body[] = "{\"model\":\"gpt-4o\",\"messages\":"
    "[{\"role\":\"user\",\"content\":\"fortified\"}]}";

static ssize_t
get(int fd, char *b, size_t n, const char *how)
{
	char one[4096];
	ssize_t r;

	/* a buffer whose size the compiler knows and a length it does not:
	 * the _chk variants */
	size_t want = (size_t)atoi(getenv("CHUNK") ? getenv("CHUNK") : "4096");
	if (strcmp(how, "recv") == 0)
		r = recv(fd, one, want, 0);
	else if (strcmp(how, "recvfrom") == 0)
		r = recvfrom(fd, one, want, 0, NULL, NULL);
	else
		r = read(fd, one, want);
	if (r > 0)
		memcpy(b, one, (size_t)r < n ? (size_t)r : n);
	return r;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char req[512], head[64] = "";
	size_t got = 0;
	ssize_t r;
	int fd;

	if (argc != 3)
		return 2;
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 1;
	snprintf(req, sizeof(req), "POST /v1/chat/completions HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
	    "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
	    strlen(body), body);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		return 1;
	while ((r = get(fd, head + got, sizeof(head) - 1 - got, argv[2])) > 0)
		got += (size_t)r < sizeof(head) - 1 - got ? (size_t)r :
		    sizeof(head) - 1 - got;
	close(fd);
	printf("%.*s\n", (int)strcspn(head, "\r"), head);
	return 0;
}
