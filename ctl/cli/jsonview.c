/* jsonview.c — see jsonview.h. */
#include "jsonview.h"

#include <stdlib.h>
#include <string.h>

#define VIEW_CELL 80
#define VIEW_COLS 24

void
jsonview_scalar(char *buf, size_t size, json_t *v)
{
	char *s;

	if (json_is_string(v))
		snprintf(buf, size, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, size, "%.6g", json_real_value(v));
	else if (json_is_true(v) || json_is_false(v))
		snprintf(buf, size, "%s", json_is_true(v) ? "yes" : "no");
	else if (v == NULL || json_is_null(v))
		snprintf(buf, size, "-");
	else {
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		snprintf(buf, size, "%s", s ? s : "?");
		free(s);
	}
}

static int
is_table(json_t *v)
{
	return json_is_array(v) && json_array_size(v) > 0 &&
	    json_is_object(json_array_get(v, 0));
}

/* Column names: keys of all objects, first appearance order. */
static size_t
columns(json_t *arr, const char **cols)
{
	size_t n = 0, i, j;
	const char *k;
	json_t *o, *v;

	json_array_foreach(arr, i, o) {
		json_object_foreach(o, k, v) {
			for (j = 0; j < n && strcmp(cols[j], k) != 0; j++)
				;
			if (j == n && n < VIEW_COLS)
				cols[n++] = k;
		}
	}
	return n;
}

static void
write_table(FILE *f, const char *title, json_t *arr)
{
	const char *cols[VIEW_COLS];
	size_t nc = columns(arr, cols), nr = json_array_size(arr), r, c;
	char (*cell)[VIEW_CELL] = calloc((nr + 1) * nc, VIEW_CELL);
	int w[VIEW_COLS] = { 0 };

	if (cell == NULL)
		return;
	for (c = 0; c < nc; c++)
		snprintf(cell[c], VIEW_CELL, "%s", cols[c]);
	for (r = 0; r < nr; r++)
		for (c = 0; c < nc; c++)
			jsonview_scalar(cell[(r + 1) * nc + c], VIEW_CELL,
			    json_object_get(json_array_get(arr, r), cols[c]));
	for (r = 0; r <= nr; r++)
		for (c = 0; c < nc; c++)
			if ((int)strlen(cell[r * nc + c]) > w[c])
				w[c] = (int)strlen(cell[r * nc + c]);
	fprintf(f, "\n%s:\n", title);
	for (r = 0; r <= nr; r++) {
		for (c = 0; c < nc; c++)
			fprintf(f, "  %-*s", w[c], cell[r * nc + c]);
		fputc('\n', f);
	}
	free(cell);
}

static void
write_scalars(FILE *f, const char *prefix, json_t *obj)
{
	char buf[VIEW_CELL * 4], name[128];
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", k);
		if (json_is_object(v) && json_object_size(v) > 0)
			write_scalars(f, name, v);
		else if (is_table(v))
			continue;
		else if (json_is_array(v) && json_array_size(v) == 0)
			fprintf(f, "%s: (none)\n", name);
		else {
			jsonview_scalar(buf, sizeof(buf), v);
			fprintf(f, "%s: %s\n", name, buf);
		}
	}
}

static void
write_tables(FILE *f, json_t *obj)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		if (is_table(v))
			write_table(f, k, v);
		else if (json_is_object(v))
			write_tables(f, v);
	}
}

int
jsonview_write(FILE *f, json_t *doc)
{
	if (!json_is_object(doc))
		return -1;
	write_scalars(f, "", doc);
	write_tables(f, doc);
	return ferror(f) ? -1 : 0;
}
