/*
 * idle_json.c — the IDLE document (idle.h): every GPU holder, how long it
 * held the GPU and has been idle, and what its idleness costs an hour at
 * the host GPU's price.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "idle.h"

#define NS 1000000000LL
#define NVIDIA_GPUS_DIR "/proc/driver/nvidia/gpus"

static const char *const stage_names[] = { "active", "idle", "grace",
    "sigterm", "sigkill" };

/* "Model:   NVIDIA H100 80GB HBM3" of the driver's first GPU. */
static int
driver_gpu_name(char *buf, size_t len)
{
	char path[512], line[256];
	struct dirent *e;
	int found = 0;
	DIR *dir;
	FILE *f;

	if ((dir = opendir(NVIDIA_GPUS_DIR)) == NULL)
		return 0;
	while (!found && (e = readdir(dir)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), NVIDIA_GPUS_DIR "/%s/information",
		    e->d_name);
		if ((f = fopen(path, "re")) == NULL)
			continue;
		while (!found && fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "Model:", 6) == 0) {
				char *s = line + 6;
				s += strspn(s, " \t");
				s[strcspn(s, "\n")] = '\0';
				tg_strlcpy(buf, s, len);
				found = buf[0] != '\0';
			}
		fclose(f);
	}
	closedir(dir);
	return found;
}

/* The table's GPU key of this host: the driver's GPU name, else a name a
 * registered process's shim wrote on its counters page. */
static const char *
host_gpu_key(struct tgd *d)
{
	char name[128];
	const char *key;

	if (d->prices == NULL)
		return NULL;
	if (driver_gpu_name(name, sizeof(name)) &&
	    (key = tg_prices_gpu_key(d->prices, name)) != NULL)
		return key;
	for (struct proc *p = d->procs_all; p; p = p->all_next)
		for (int i = 0; p->cpage && i < TG_PAGE_GPUS; i++) {
			if (__atomic_load_n(&p->cpage->gpu[i].used,
			    __ATOMIC_ACQUIRE) != 1)
				continue;
			gpu_slot_name(&p->cpage->gpu[i], name, sizeof(name));
			if ((key = tg_prices_gpu_key(d->prices, name)) != NULL)
				return key;
		}
	return NULL;
}

static void
fmt_utc(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / NS);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* What the JSON shows at once; the tick acts on it within a second. */
static const char *
holder_state(const struct idle_holder *h, int idle)
{
	if (h->excluded)
		return "excluded";
	if (!idle)
		return "active";
	return h->stage == IDLE_ACTIVE ? "idle" : stage_names[h->stage];
}

static json_t *
holder_json(const struct idle_holder *h, int64_t after_ns, int64_t now,
    tg_nano_usd per_hour)
{
	int64_t idle_ns = now - h->last_ns;
	int idle = idle_ns >= after_ns;
	tg_nano_usd wasted = idle && !h->excluded ? per_hour : 0;
	char since[32], usd[48];

	fmt_utc(h->since_real_ns, since, sizeof(since));
	policy_fmt_usd(wasted, usd, sizeof(usd));
	return json_pack("{s:i, s:s, s:I, s:s, s:b, s:s, s:I, s:I, s:b, s:b, "
	    "s:I, s:s, s:I, s:s}",
	    "pid", (int)h->pid,
	    "exe", h->exe,
	    "uid", (json_int_t)(h->uid == (uid_t)-1 ? -1 : (json_int_t)h->uid),
	    "tags", h->tags,
	    "registered", h->registered,
	    "held_since", since,
	    "held_s", (json_int_t)((now - h->since_ns) / NS),
	    "idle_s", (json_int_t)(idle_ns / NS),
	    "idle", idle,
	    "excluded", h->excluded,
	    "activity", (json_int_t)h->activity,
	    "state", holder_state(h, idle),
	    "wasted_nano_usd_per_hour", (json_int_t)wasted,
	    "wasted_usd_per_hour", usd);
}

static int
by_idle(const void *a, const void *b)
{
	const struct idle_holder *x = *(const struct idle_holder *const *)a;
	const struct idle_holder *y = *(const struct idle_holder *const *)b;

	if (x->last_ns != y->last_ns)
		return x->last_ns < y->last_ns ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

json_t *
idle_json(struct tgd *d, uid_t uid, int64_t now)
{
	struct policy_idle pi;
	const struct idle_holder **v;
	const tg_pico_usd *hourly = NULL;
	const char *key = host_gpu_key(d);
	tg_nano_usd per_hour = 0;
	json_t *arr = json_array();
	size_t n, k = 0;
	struct idle_holder *h = idle_holders(&n);

	idle_settings(d, &pi);
	if (key != NULL && (hourly = tg_prices_gpu_hourly(d->prices, key)))
		per_hour = *hourly / 1000;
	if ((v = calloc(n ? n : 1, sizeof(*v))) == NULL) {
		json_decref(arr);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (uid == 0 || h[i].uid == uid)
			v[k++] = &h[i];
	qsort(v, k, sizeof(*v), by_idle);
	for (size_t i = 0; i < k; i++)
		json_array_append_new(arr, holder_json(v[i],
		    (int64_t)pi.after_seconds * NS, now, per_hour));
	free(v);
	return json_pack("{s:i, s:I, s:s, s:I, s:I, s:s, s:s?, s:o, s:o}",
	    "schema_version", IDLE_SCHEMA_VERSION,
	    "idle_after_s", (json_int_t)pi.after_seconds,
	    "action", pi.action == POLICY_IDLE_TERMINATE ? "terminate" :
	    "notify",
	    "grace_s", (json_int_t)pi.grace_seconds,
	    "terminations", (json_int_t)idle_terminations(),
	    "nvml", idle_nvml_state(),
	    "gpu", key,
	    "gpu_nano_usd_per_hour", hourly ? json_integer((json_int_t)per_hour)
	    : json_null(),
	    "processes", arr);
}
