/*
 * ledger.h — the SQLite ledger (schema version LEDGER_SCHEMA_VERSION).
 *
 * WAL, synchronous=FULL. Records are unique by id: inserting an id twice
 * changes nothing and reports inserted = 0. Every record also lands in an
 * hourly rollup (same transaction), and ledger_retain() deletes raw records
 * older than the retention, so a year stays queryable through rollups.
 * Reports: ledger_report() builds the DESIGN.md JSON document.
 *
 * The ledger is used by one thread per struct ledger (the writer thread owns
 * one; the main thread opens another for reports).
 */
#ifndef TG_LEDGER_H
#define TG_LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "money.h"
#include "proto.h"

#define LEDGER_SCHEMA_VERSION 2
#define LEDGER_JSON_SCHEMA_VERSION 1

/* A record as the daemon stores it: the wire record plus what the daemon
 * knows from the kernel and the price table. */
struct ledger_entry {
	struct tg_record rec; /* tags/exe/run here are the resolved ones */
	int32_t pid;
	uint32_t uid;
	char cgroup[256];
	tg_nano_usd cost_nano_usd;
	int unpriced; /* 1: the model has no price; cost is 0 and flagged */
};

struct ledger;

/* Open (create, migrate) the ledger file. NULL on error, err filled. */
struct ledger *ledger_open(const char *path, char *err, size_t errlen);
void ledger_close(struct ledger *lg);

/* Insert n entries in ONE transaction (BEGIN IMMEDIATE … COMMIT).
 * inserted[i] = 1 if entry i was new. Returns 0 after COMMIT, -1 on error
 * (nothing of the batch is committed then). */
int ledger_insert(struct ledger *lg, const struct ledger_entry *e, size_t n,
    int *inserted);

/* Delete raw records with event time < before_ns (their rollups stay). */
int ledger_retain(struct ledger *lg, int64_t before_ns);

struct ledger_query {
	int64_t since_ns;  /* inclusive */
	int64_t until_ns;  /* exclusive */
	const char *by;    /* "model" | "provider" | "tag:NAME" | "" */
	const char *run;   /* NULL or "" = all runs */
	int has_uid;       /* 1: only rows of uid (non-root callers) */
	uint32_t uid;
};

/* The report document:
 * {"schema_version":1,"totals":{…},"rows":[{…}],"untagged_cost_share":x}
 * Full hours inside [since, until) come from rollups, the rest from raw
 * records. NULL on error with err filled. */
json_t *ledger_report(struct ledger *lg, const struct ledger_query *q,
    char *err, size_t errlen);

/* The raw records the daemon's policy counters start from (rules.c):
 * ledger_scan() calls fn for each record with event time >= since_ns that
 * was not refused, in event time order; the strings are valid during the
 * call only. fn returns 0 to go on, anything else stops the scan and is
 * returned. 0 after the last record, -1 on error with err filled. */
struct ledger_scan_row {
	int64_t event_time_ns;
	uint32_t uid;
	uint32_t kind;                  /* enum tg_kind */
	const char *exe, *tags, *provider, *model;      /* "" when none */
	int64_t input_tokens, output_tokens;
	tg_nano_usd cost_nano_usd;
};
int ledger_scan(struct ledger *lg, int64_t since_ns,
    int (*fn)(void *arg, const struct ledger_scan_row *), void *arg,
    char *err, size_t errlen);

/* For tests and `tollctl status`. */
int ledger_pragma_int(struct ledger *lg, const char *pragma, int64_t *out);
int64_t ledger_count(struct ledger *lg);

/* The writer thread: group commit. Submissions are queued without blocking
 * (-1 when the queue is full); the thread commits batches and then signals
 * done_fd (an eventfd) so the main thread can collect completions and send
 * ACKs — an ACK never precedes its COMMIT. */
struct ledger_done {
	uint64_t cookie;  /* the submitter's */
	int inserted;     /* 0: duplicate id */
	int ok;           /* 0: the batch failed; nothing was committed */
};

struct ledger_writer;
struct ledger_writer *ledger_writer_start(struct ledger *lg, char *err,
    size_t errlen);
int ledger_writer_fd(struct ledger_writer *w); /* readable when done items wait */
int ledger_writer_submit(struct ledger_writer *w, const struct ledger_entry *e,
    uint64_t cookie);
size_t ledger_writer_take(struct ledger_writer *w, struct ledger_done *out,
    size_t max);
/* Flush everything queued, stop the thread (does not close the ledger). */
void ledger_writer_stop(struct ledger_writer *w);
uint64_t ledger_writer_commits(struct ledger_writer *w);

#endif
