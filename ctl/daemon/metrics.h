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
 *
 * Series are capped (default 1000): a record that would open one more is
 * left out of the per-series counters and counted as dropped (it is still
 * in the ledger). Counts follow committed, new records only.
 */
#ifndef TGD_METRICS_H
#define TGD_METRICS_H

#include <stddef.h>

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
