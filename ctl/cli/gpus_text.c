/* gpus_text.c — see gpus_text.h. */
#include "gpus_text.h"

#include <stdio.h>
#include <string.h>

#include "policy.h"

static double
secs(json_t *g, const char *key)
{
	return (double)json_integer_value(json_object_get(g, key)) / 1e9;
}

static void
slot_text(json_t *g, char *buf, size_t len)
{
	char peak[32];

	policy_fmt_bytes((uint64_t)json_integer_value(json_object_get(g,
	    "mem_peak_bytes")), peak, sizeof(peak));
	snprintf(buf, len, "gpu%d held %.2fs%s busy %.2fs peak %s",
	    (int)json_integer_value(json_object_get(g, "ordinal")),
	    secs(g, "held_ns"), json_is_true(json_object_get(g, "held_now")) ?
	    "*" : "", secs(g, "busy_ns"), peak);
}

static void
proc_gpus(json_t *p)
{
	json_t *a = json_object_get(p, "gpus"), *g;
	char out[512] = "", one[128];
	size_t i;

	if (!json_is_array(a))
		return;
	json_array_foreach(a, i, g) {
		slot_text(g, one, sizeof(one));
		if (i > 0)
			strncat(out, "; ", sizeof(out) - strlen(out) - 1);
		strncat(out, one, sizeof(out) - strlen(out) - 1);
	}
	json_object_set_new(p, "gpus", json_string(out[0] ? out : "-"));
}

void
gpus_text(json_t *doc)
{
	json_t *procs = json_object_get(doc, "processes"), *p;
	size_t i;

	json_array_foreach(procs, i, p)
		proc_gpus(p);
}
