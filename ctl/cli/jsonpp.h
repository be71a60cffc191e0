/*
 * jsonpp.h — pretty-print JSON text without re-encoding it: tokens (and so
 * every number, e.g. a cost, and every string) come out byte for byte as
 * the daemon wrote them; only whitespace changes. The text must already be
 * valid JSON (check with jansson first).
 */
#ifndef TG_CLI_JSONPP_H
#define TG_CLI_JSONPP_H

#include <stddef.h>
#include <stdio.h>

/* Indent by two spaces per level; ends with a newline. 0 or -1 (I/O). */
int jsonpp_write(FILE *f, const char *text, size_t len);

#endif
