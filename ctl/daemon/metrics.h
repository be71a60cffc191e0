/*
 * metrics.h — Prometheus text exposition on a loopback port
 * (libmicrohttpd, its own thread; never on the admission path).
 *
 * Per series (one label set; labels from an allow-list, default
 * team,purpose,model,provider — model/provider from the record, the others
 * from its tags): tollgate_requests_total, tollgate_refused_requests_total,
 * tollgate_tokens_total{type=input|output|cached|cache_write|reasoning},
 * tollgate_cost_usd_total, tollgate_gpu_busy_seconds_total,
 * tollgate_gpu_launches_total. Health: tollgate_records_written_total,
 * tollgate_spool_replays_total, tollgate_rejected_messages_total,
 * tollgate_unpriced_records_total, tollgate_ledger_errors_total,
 * tollgate_registered_processes, tollgate_metric_series_dropped_total.
 * Idle GPU holders (idle.c, metrics_set_idle):
 * tollgate_gpu_idle_seconds{pid,exe,tags} (per holder not excluded:
 * seconds since its last launch or GPU ioctl), tollgate_gpu_idle_processes
 * (holders idle now) and tollgate_gpu_idle_terminations_total.
 * Audit mode (unmetered.c, metrics_set_unmetered):
 * tollgate_unmetered_connections_total{server} (TLS it cannot decrypt).
 *
 * Series are capped (default 1000): a record that would open one more is
 * left out of the per-series counters and counted as dropped (it is still
 * in the ledger). Counts follow committed, new records only.
 */
#ifndef TGD_METRICS_H
#define TGD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

#define METRICS_DEFAULT_LABELS "team,purpose,model,provider"
#define METRICS_DEFAULT_CAP 1000
#define METRICS_DEFAULT_HTTP "127.0.0.1:9464"

struct metrics;

/* labels: comma-separated names (valid Prometheus label names). */
struct metrics *metrics_new(const char *labels, size_t cap,
    struct tgd_health *health, char *err, size_t errlen);
void metrics_free(struct metrics *m);
void metrics_add(struct metrics *m, const struct ledger_entry *e);
/* One GPU holder for tollgate_gpu_idle_seconds. */
struct metrics_idle_row {
	int pid;
	uint64_t idle_seconds;
	char exe[256];
	char tags[256];
};
/* Replace the idle series (at most the series cap of rows are kept);
 * idle_now and terminations are the two other gauges' values. */
void metrics_set_idle(struct metrics *m, const struct metrics_idle_row *rows,
    size_t n, uint64_t idle_now, uint64_t terminations);
/* Audit mode's TLS connections it cannot decrypt, by server name
 * (unmetered.c): tollgate_unmetered_connections_total{server}. */
struct metrics_unmetered_row {
	char server[256];
	uint64_t n;
};
/* Replace those series (at most the series cap of rows are kept). */
void metrics_set_unmetered(struct metrics *m,
    const struct metrics_unmetered_row *rows, size_t n);
/* The exposition text (malloc'd). */
char *metrics_render(struct metrics *m);

/* Parse "ADDR:PORT" ([v6]:PORT too); only loopback addresses. Starts the
 * HTTP thread. 0, or -1 with err filled. */
int metrics_listen(struct metrics *m, const char *addrport, char *err,
    size_t errlen);
/* Only the address check of metrics_listen: 0, or -1 with err filled. */
int metrics_check_addr(const char *addrport, char *err, size_t errlen);
/* "127.0.0.1:9464" with the port actually bound ("" when not listening). */
const char *metrics_address(const struct metrics *m);

#endif
