/* run_tags.c — the --tags grammar of `tollctl run` (see run.h). */
#include "run.h"

#include <string.h>

#define TAG_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
	"0123456789_.:/-@+"

/* One "K=V" of length n; 0 or -1. */
static int
pair_valid(const char *p, size_t n)
{
	const char *eq = memchr(p, '=', n);
	size_t k, v;

	if (eq == NULL)
		return -1;
	k = (size_t)(eq - p);
	v = n - k - 1;
	if (k == 0 || v == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (i != k && strchr(TAG_CHARS, p[i]) == NULL)
			return -1;
	return 0;
}

int
run_tags_valid(const char *tags)
{
	const char *p = tags, *comma;
	size_t n;

	if (*tags == '\0')
		return -1;
	for (;;) {
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		if (pair_valid(p, n) < 0)
			return -1;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}
