/*
 * sock_bench.c — what the shim's libc hooks add to a socket call that is
 * not an LLM request: ns per write+read round on a loopback TCP
 * connection (a candidate the hooks classify once, then pass through)
 * and on a pipe (never watched). tools/bench runs it with and without
 * LD_PRELOAD=libtollgate.so, interleaved; the difference is the cost.
 *
 *   sock_bench [ROUNDS]     prints "tcp N ns/round  pipe N ns/round"
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double
rounds(int wfd, int rfd, long n)
{
	char b[64] = "ping: not an HTTP request, 64 bytes of it .........";
	double t0 = now_ns();

	for (long i = 0; i < n; i++)
		if (write(wfd, b, sizeof(b)) != sizeof(b) ||
		    read(rfd, b, sizeof(b)) != sizeof(b))
			exit(1);
	return (now_ns() - t0) / n;
}

int
main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l, c, s, p[2], one = 1;

	if ((l = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0 ||
	    (c = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (s = accept(l, NULL, NULL)) < 0 || pipe(p) < 0) {
		perror("sock_bench");
		return 1;
	}
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rounds(c, s, n / 10);   /* warm up */
	printf("tcp %7.1f ns/round  pipe %7.1f ns/round\n", rounds(c, s, n),
	    rounds(p[1], p[0], n));
	return 0;
}
