/*
 * tls_noopenssl — a program without OpenSSL that looks SSL_write,
 * SSL_read_ex and SSL_free up by name (as programs probing for OpenSSL
 * do) and calls them. Under the shim it finds the hooks, which find no
 * real function for it: each call must fail as OpenSSL's would (-1, 0;
 * SSL_free does nothing) with one line on stderr, and never crash.
 * Prints "absent" without the shim, else the results.
 */
#include <dlfcn.h>
#include <stdio.h>

int
main(void)
{
	int (*w)(void *, const void *, int) = dlsym(RTLD_DEFAULT, "SSL_write");
	int (*rx)(void *, void *, size_t, size_t *) =
	    dlsym(RTLD_DEFAULT, "SSL_read_ex");
	void (*fr)(void *) = dlsym(RTLD_DEFAULT, "SSL_free");
	char b[8];
	size_t got = 7;
	int rw, rr;

	if (w == NULL || rx == NULL || fr == NULL) {
		puts("absent");
		return 0;
	}
	rw = w(b, "x", 1);
	rr = rx(b, b, sizeof(b), &got);
	fr(b);
	printf("SSL_write %d SSL_read_ex %d got %zu\n", rw, rr, got);
	return 0;
}
