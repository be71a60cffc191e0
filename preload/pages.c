/* pages.c — the pages at fixed addresses; see pages.h. */
#include "pages.h"

#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/stat.h>

static void *_Atomic base;      /* two pages: verdict, counters */
static _Atomic uint64_t generation;
static _Atomic int attached;

static void *
reserve(void)
{
	void *b = atomic_load_explicit(&base, memory_order_acquire), *none;

	if (b)
		return b;
	b = mmap(NULL, 2 * TG_PAGE_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		return NULL;
	mprotect(b, TG_PAGE_SIZE, PROT_READ);
	none = NULL;
	if (!atomic_compare_exchange_strong(&base, &none, b)) {
		munmap(b, 2 * TG_PAGE_SIZE);
		b = none;
	}
	return b;
}

static int
map_at(void *at, int fd, int prot)
{
	struct stat st;

	if (fstat(fd, &st) == -1 || st.st_size < TG_PAGE_SIZE)
		return -1;
	return mmap(at, TG_PAGE_SIZE, prot, MAP_SHARED | MAP_FIXED, fd, 0) ==
	    MAP_FAILED ? -1 : 0;
}

void
shim_pages_detach(void)
{
	char *b = atomic_load_explicit(&base, memory_order_acquire);

	if (b == NULL)
		return;
	atomic_store(&attached, 0);
	mmap(b, TG_PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
	    MAP_FIXED, -1, 0);
	mmap(b + TG_PAGE_SIZE, TG_PAGE_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

int
shim_pages_attach(int verdict_fd, int counters_fd, const char **why)
{
	char *b = reserve();
	const struct tg_verdict_page *v = (const void *)b;

	*why = "registration came without its pages";
	if (b == NULL || map_at(b, verdict_fd, PROT_READ) == -1 ||
	    map_at(b + TG_PAGE_SIZE, counters_fd,
	    PROT_READ | PROT_WRITE) == -1) {
		shim_pages_detach();
		return -1;
	}
	if (v->version != TG_PAGE_VERSION) {
		*why = "the daemon's page layout is another version";
		shim_pages_detach();
		return -1;
	}
	atomic_fetch_add_explicit(&generation, 1, memory_order_release);
	atomic_store(&attached, 1);
	return 0;
}

const struct tg_verdict_page *
shim_pages_verdict(void)
{
	return atomic_load_explicit(&base, memory_order_acquire);
}

struct tg_counters_page *
shim_pages_counters(void)
{
	char *b = atomic_load_explicit(&base, memory_order_acquire);

	return b ? (struct tg_counters_page *)(b + TG_PAGE_SIZE) : NULL;
}

uint64_t
shim_pages_generation(void)
{
	return atomic_load_explicit(&generation, memory_order_acquire);
}

int
shim_pages_attached(void)
{
	return atomic_load(&attached);
}
