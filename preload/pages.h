/*
 * pages.h — the per-process pages (lib/page.h) at addresses that never
 * change once the first registration mapped them.
 *
 * The CUDA hooks read the verdict word and write counters without any
 * lock, from any thread, at any time; a registration that ends (the
 * daemon died, a fork child) must not leave them a dangling pointer. So
 * the pages live at two fixed addresses for the life of the process: a
 * registration maps its memfds there (MAP_FIXED), and when it ends the
 * same addresses get anonymous zero pages in place — a verdict of zeros
 * is TG_RUN with no cap, and counters written there go nowhere.
 */
#ifndef SHIM_PAGES_H
#define SHIM_PAGES_H

#include <stdint.h>

#include "page.h"

/* Map a registration's memfds at the fixed addresses. 0, or -1 (the
 * fds are not pages of our layout: a short file, another version) with
 * *why set; the pages are then zeros again. The fds are not closed. */
int shim_pages_attach(int verdict_fd, int counters_fd, const char **why);

/* Zero pages in place of the registration's (no lock needed: a fork
 * child calls it first thing). */
void shim_pages_detach(void);

/* The fixed addresses, or NULL before the first attach. */
const struct tg_verdict_page *shim_pages_verdict(void);
struct tg_counters_page *shim_pages_counters(void);

/* Bumped by every successful attach: a new registration, whose daemon
 * has counted nothing of ours yet. */
uint64_t shim_pages_generation(void);

/* 1 while a registration's pages are mapped (not zeros). */
int shim_pages_attached(void);

#endif
