/*
 * gpus_text.h — the per-device GPU slots of each process in a STATUS or
 * TOP document (status.h: processes[].gpus) made short for the text
 * views: the array becomes one string, "gpu0 held 12.50s* busy 3.20s
 * peak 8GiB; gpu1 …" (* : held now), "-" without devices. The JSON
 * formats print the daemon's document unchanged.
 */
#ifndef TG_CLI_GPUS_TEXT_H
#define TG_CLI_GPUS_TEXT_H

#include <jansson.h>

void gpus_text(json_t *doc);

#endif
