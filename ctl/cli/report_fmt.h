/*
 * report_fmt.h — a report document (DESIGN.md "JSON outputs") as a table
 * or CSV. Costs are taken from the integer cost_nano_usd when the document
 * has it (exact), else from cost_usd.
 *
 * table: key, requests, input, output, cached, cost $, $/1k tok, GPU s;
 *        a total line, then "untagged: N%" (share of cost without tags).
 *        $/1k tok = cost × 1000 / (input + output), "-" without tokens.
 * csv:   a header, then one line per row: the grouping key, the
 *        DESIGN.md metrics under their JSON names (cost_usd with 9
 *        decimals, exact), and cost_nano_usd last.
 */
#ifndef TG_CLI_REPORT_FMT_H
#define TG_CLI_REPORT_FMT_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* The grouping key's column name for --by ("model", "provider", NAME for
 * "tag:NAME"), and a row's value of it ("(none)" when absent). */
const char *report_key_name(const char *by);
const char *report_row_key(json_t *row, const char *by);

/* Integer field (a real is rounded); 0 when absent. */
uint64_t report_u64(json_t *o, const char *key);
/* Cost in nano-USD of a row or the totals. */
int64_t report_cost_nano(json_t *o);

int report_write_table(FILE *f, json_t *doc, const char *by);
int report_write_csv(FILE *f, json_t *doc, const char *by);

#endif
