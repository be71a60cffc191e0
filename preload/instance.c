/* instance.c — fork detection and record ids; see instance.h. */
#include "instance.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "shim.h"

struct wof {
	uint64_t registered; /* 0 in a fork child: wiped by the kernel */
};

static pthread_mutex_t inst_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wof *inst_wof;   /* NULL when WIPEONFORK is not available */
static pid_t inst_pid;         /* fallback detection without the page */
static uint64_t inst_gen;
static uint8_t inst_prefix[8];
static _Atomic uint64_t inst_counter;

void
shim_instance_init(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return;
	if (madvise(p, 4096, MADV_WIPEONFORK) < 0) {
		munmap(p, 4096); /* old kernel: compare pids instead */
		return;
	}
	inst_wof = p;
}

/* getrandom may block only before the pool is seeded at boot: ask without
 * blocking and mix in the clock and pid when it cannot answer. */
static void
new_prefix(void)
{
	uint64_t x;

	if (getrandom(inst_prefix, sizeof(inst_prefix), GRND_NONBLOCK) ==
	    (ssize_t)sizeof(inst_prefix))
		return;
	x = (uint64_t)shim_now_real() ^ ((uint64_t)getpid() << 40) ^
	    (uint64_t)shim_now_mono() * 0x9e3779b97f4a7c15ull;
	memcpy(inst_prefix, &x, sizeof(x));
}

static int
is_new_process(void)
{
	if (inst_wof)
		return inst_wof->registered == 0;
	return inst_pid != getpid();
}

uint64_t
shim_instance_sync(void)
{
	uint64_t gen;

	pthread_mutex_lock(&inst_lock);
	if (inst_gen == 0 || is_new_process()) {
		new_prefix();
		atomic_store(&inst_counter, 0);
		inst_gen++;
		if (inst_wof)
			inst_wof->registered = 1;
		else
			inst_pid = getpid();
	}
	gen = inst_gen;
	pthread_mutex_unlock(&inst_lock);
	return gen;
}

void
shim_instance_new_id(uint8_t id[16])
{
	uint64_t n = atomic_fetch_add(&inst_counter, 1) + 1;

	pthread_mutex_lock(&inst_lock);
	memcpy(id, inst_prefix, 8);
	pthread_mutex_unlock(&inst_lock);
	for (int i = 15; i >= 8; i--, n >>= 8)
		id[i] = (uint8_t)n;
}

uint64_t
shim_instance_new_admit_id(void)
{
	return atomic_fetch_add(&inst_counter, 1) + 1;
}

void
shim_instance_prefix_hex(char out[17])
{
	static const char hex[] = "0123456789abcdef";

	pthread_mutex_lock(&inst_lock);
	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[inst_prefix[i] >> 4];
		out[2 * i + 1] = hex[inst_prefix[i] & 15];
	}
	pthread_mutex_unlock(&inst_lock);
	out[16] = '\0';
}

void
shim_instance_lock(void)
{
	pthread_mutex_lock(&inst_lock);
}

void
shim_instance_unlock(void)
{
	pthread_mutex_unlock(&inst_lock);
}

void
shim_instance_child(void)
{
	pthread_mutex_init(&inst_lock, NULL);
}
