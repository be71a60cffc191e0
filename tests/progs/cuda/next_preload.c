/*
 * next_preload.so — a second preload library that does what many do
 * (libfaketime, proxychains): it hooks a libc function (getpid) and calls
 * the next definition through dlsym(RTLD_NEXT, ...), once from its
 * constructor and again in the hook. glibc decides what RTLD_NEXT means
 * from the caller's return address, so a dlsym override that does not
 * tail-call the real one makes glibc believe libtollgate.so asked: with
 * libtollgate.so loaded first, "the next getpid after it" is this
 * library's own, and the hook would call itself. This library notices
 * that instead of recursing (self_next counts it).
 *
 * The failed lookup of a name nobody defines keeps dlerror's text, which
 * names the object glibc believes asked: it must name this library.
 *
 * next_preload_report(buf, len) writes one line:
 *   calls=N self_next=N next_is_libc=0|1 ctor_err=TEXT hook_err=TEXT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef pid_t (*getpid_fn)(void);

static getpid_fn ctor_next, hook_next;
static int calls, self_next;
static char ctor_err[256], hook_err[256];

/* The next getpid, and dlerror's text for a name nobody has. */
static getpid_fn
look_next(char *err, size_t len)
{
	getpid_fn p = (getpid_fn)dlsym(RTLD_NEXT, "getpid");
	const char *e;

	dlerror();
	if (dlsym(RTLD_NEXT, "tg_no_such_symbol") != NULL)
		snprintf(err, len, "tg_no_such_symbol was found");
	else if ((e = dlerror()) != NULL)
		snprintf(err, len, "%s", e);
	else
		snprintf(err, len, "no dlerror text");
	return p;
}

__attribute__((constructor)) static void
init(void)
{
	ctor_next = look_next(ctor_err, sizeof(ctor_err));
}

pid_t
getpid(void)
{
	calls++;
	hook_next = look_next(hook_err, sizeof(hook_err));
	if (hook_next == NULL || hook_next == getpid) {
		self_next++; /* RTLD_NEXT was taken from the wrong caller */
		return (pid_t)syscall(SYS_getpid);
	}
	return hook_next();
}

int
next_preload_report(char *buf, size_t len)
{
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	void *real = libc ? dlsym(libc, "getpid") : NULL;

	return snprintf(buf, len, "calls=%d self_next=%d next_is_libc=%d "
	    "ctor_err=%s hook_err=%s", calls, self_next,
	    real != NULL && (void *)ctor_next == real &&
	    (void *)hook_next == real, ctor_err, hook_err);
}
