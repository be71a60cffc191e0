/* gpu_settle.c — see gpu_settle.h. Main thread only. */
#include "gpu_settle.h"

#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define ORDINAL_MAX 65535

/* Fields, for the once-per-field log line (bit slot * 8 + field). */
enum { F_BUSY, F_HELD, F_SINCE, F_PEAK, F_ORDINAL, F_LAUNCHES };
static const char *const field_names[] = { "busy_ns", "held_ns",
    "held_since_ns", "mem_peak_bytes", "ordinal", "gpu_launches" };

/* One slot as read now; *_ok = 0: out of range, left out. */
struct slot_now {
	int used;
	char name[sizeof(((struct tg_page_gpu *)0)->name)];
	char endpoint[16];
	uint64_t busy, held, peak;
	int busy_ok, held_ok, peak_ok;
};

static uint64_t
ld64(const uint64_t *f)
{
	return __atomic_load_n(f, __ATOMIC_RELAXED);
}

/* Returns 0 (the value is left out), after one log line per process,
 * slot and field; slot -1: a field of the whole process. */
static int
bad(struct proc *p, int slot, int field, uint64_t v, int sign)
{
	uint64_t bit = 1ULL << (slot < 0 ? 63 : slot * 8 + field);
	char where[32] = "", val[24];

	if (p->gpu.warned & bit)
		return 0;
	p->gpu.warned |= bit;
	if (slot >= 0)
		snprintf(where, sizeof(where), "gpu[%d].", slot);
	if (sign)
		snprintf(val, sizeof(val), "%lld", (long long)v);
	else
		snprintf(val, sizeof(val), "%llu", (unsigned long long)v);
	log_warnx("gpu_settle: pid %d: counters page %s%s = %s out of range; "
	    "left out of its record", (int)p->peer->pid, where,
	    field_names[field], val);
	return 0;
}

/* Closed holds plus the one in progress, up to now. held_since_ns is read
 * before and after held_ns: a hold closed in between (held_ns grown,
 * held_since_ns back to 0) is read again rather than counted twice. A
 * hold that keeps changing counts its closed part; the next settle
 * catches up. */
static int
slot_held(struct proc *p, int i, const struct tg_page_gpu *g, int64_t now,
    uint64_t *out)
{
	int64_t s1 = 0, s2;
	uint64_t h = 0;

	for (int k = 0; k < 4; k++) {
		s1 = __atomic_load_n(&g->held_since_ns, __ATOMIC_ACQUIRE);
		h = ld64(&g->held_ns);
		s2 = __atomic_load_n(&g->held_since_ns, __ATOMIC_ACQUIRE);
		if (s1 == s2)
			break;
		s1 = 0;
	}
	if (h > TGD_GPU_NS_MAX)
		return bad(p, i, F_HELD, h, 0);
	*out = h;
	if (s1 == 0)
		return 1;
	if (s1 < 0 || s1 > now || (uint64_t)(now - s1) > TGD_GPU_NS_MAX - h) {
		bad(p, i, F_SINCE, (uint64_t)s1, 1);
		return 1;               /* the closed holds still count */
	}
	*out = h + (uint64_t)(now - s1);
	return 1;
}

void
gpu_slot_name(const struct tg_page_gpu *g, char *buf, size_t len)
{
	size_t n = len < sizeof(g->name) ? len : sizeof(g->name);

	for (size_t i = 0; i < n; i++)
		buf[i] = __atomic_load_n(&g->name[i], __ATOMIC_RELAXED);
	buf[n - 1] = '\0';
	/* printable ASCII only: the name reaches JSON (UTF-8) and tables */
	for (char *c = buf; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	if (buf[0] == '\0')
		tg_strlcpy(buf, "unknown", len);
}

static void
slot_read(struct proc *p, int i, int64_t now, struct slot_now *s)
{
	const struct tg_page_gpu *g = &p->cpage->gpu[i];
	int32_t ord;

	memset(s, 0, sizeof(*s));
	if (__atomic_load_n(&g->used, __ATOMIC_ACQUIRE) != 1)
		return;
	s->used = 1;
	gpu_slot_name(g, s->name, sizeof(s->name));
	ord = __atomic_load_n(&g->ordinal, __ATOMIC_RELAXED);
	if (ord >= 0 && ord <= ORDINAL_MAX)
		snprintf(s->endpoint, sizeof(s->endpoint), "gpu%d", (int)ord);
	else if (!bad(p, i, F_ORDINAL, (uint64_t)(int64_t)ord, 1))
		tg_strlcpy(s->endpoint, "gpu", sizeof(s->endpoint));
	s->busy = ld64(&g->busy_ns);
	s->busy_ok = s->busy <= TGD_GPU_NS_MAX || bad(p, i, F_BUSY,
	    s->busy, 0);
	s->held_ok = slot_held(p, i, g, now, &s->held);
	s->peak = ld64(&g->mem_peak_bytes);
	s->peak_ok = s->peak <= TGD_GPU_BYTES_MAX || bad(p, i, F_PEAK,
	    s->peak, 0);
}

/* What grew since *seen (which keeps the highest value seen). */
static uint64_t
grow(uint64_t *seen, uint64_t now, int ok)
{
	uint64_t d;

	if (!ok || now <= *seen)
		return 0;
	d = now - *seen;
	*seen = now;
	return d;
}

/* The process's launches since its last record; 0 when out of range. */
static uint64_t
launches_grown(struct proc *p)
{
	uint64_t now = ld64(&p->cpage->gpu_launches);

	if (now > p->gpu.launches && now - p->gpu.launches > TGD_TOKENS_MAX)
		return bad(p, -1, F_LAUNCHES, now, 0);
	return grow(&p->gpu.launches, now, 1);
}

static void
slot_record(struct tgd *d, struct proc *p, int i, const struct slot_now *s,
    uint64_t *launches)
{
	struct gpu_slot_seen *seen = &p->gpu.slot[i];
	struct tg_record r;
	const char *model;
	int peak_grew = s->peak_ok && s->peak > seen->peak;

	memset(&r, 0, sizeof(r));
	r.gpu_busy_ns = grow(&seen->busy_ns, s->busy, s->busy_ok);
	r.gpu_held_ns = grow(&seen->held_ns, s->held, s->held_ok);
	if (peak_grew)
		seen->peak = s->peak;
	r.gpu_launches = *launches;
	*launches = 0;
	if (!r.gpu_busy_ns && !r.gpu_held_ns && !r.gpu_launches && !peak_grew)
		return;
	r.gpu_mem_peak_bytes = seen->peak;
	model = d->prices ? tg_prices_gpu_key(d->prices, s->name) : NULL;
	tg_strlcpy(r.model, model ? model : s->name, sizeof(r.model));
	tg_strlcpy(r.endpoint, s->endpoint, sizeof(r.endpoint));
	record_gpu(d, p, &r);
}

void
gpu_settle_proc(struct tgd *d, struct proc *p, int final)
{
	struct slot_now s[TG_PAGE_GPUS];
	int64_t now = tgd_mono_ns();
	uint64_t launches;
	int used = 0;

	if (p->cpage == NULL || p->gpu.final)
		return;
	p->gpu.final = final;
	for (int i = 0; i < TG_PAGE_GPUS; i++) {
		slot_read(p, i, now, &s[i]);
		used += s[i].used;
	}
	launches = launches_grown(p);
	for (int i = 0; i < TG_PAGE_GPUS; i++)
		if (s[i].used)          /* the launches go on the lowest */
			slot_record(d, p, i, &s[i], &launches);
	if (launches > 0 && used == 0) {
		/* launches with no device named (the shim ran out of
		 * slots or never learned the name): not lost */
		struct slot_now none = { .used = 1, .name = "unknown",
			.endpoint = "gpu" };
		slot_record(d, p, 0, &none, &launches);
	}
}

void
gpu_settle_all(struct tgd *d, int final)
{
	for (struct proc *p = d->procs_all; p; p = p->all_next)
		gpu_settle_proc(d, p, final);
}

int
gpu_timer_init(struct tgd *d)
{
	struct itimerspec its = { { d->gpu_interval, 0 },
		{ d->gpu_interval, 0 } };

	d->gtimerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC);
	if (d->gtimerfd == -1)
		return -1;
	return timerfd_settime(d->gtimerfd, 0, &its, NULL);
}

void
gpu_timer(struct tgd *d)
{
	uint64_t ticks;

	if (read(d->gtimerfd, &ticks, sizeof(ticks)) > 0)
		gpu_settle_all(d, 0);
}
