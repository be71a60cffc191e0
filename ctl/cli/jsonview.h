/*
 * jsonview.h — a JSON document as plain text for people (`status`, `top`):
 * scalars as "key: value" (nested objects as "key.sub: value"), arrays of
 * objects as aligned tables whose columns are the objects' keys in order
 * of first appearance. It knows no field names, so the daemon can add
 * fields without a tollctl change.
 */
#ifndef TG_CLI_JSONVIEW_H
#define TG_CLI_JSONVIEW_H

#include <stdio.h>

#include <jansson.h>

int jsonview_write(FILE *f, json_t *doc);

/* One value as a short text: strings raw, reals %.6g, null "-", nested
 * values as compact JSON. */
void jsonview_scalar(char *buf, size_t size, json_t *v);

#endif
