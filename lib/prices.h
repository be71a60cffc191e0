/*
 * prices.h — the price table (policies/prices.json, overridden by
 * /etc/tollgate/prices.json). File format, version 1:
 *   {"schema_version": 1, "source": "...", "as_of": "YYYY-MM-DD",
 *    "models": {"gpt-4o": {"provider": "openai",
 *                          "input_usd_per_mtok": 2.5,
 *                          "output_usd_per_mtok": 10,
 *                          "cached_input_usd_per_mtok": 1.25,   (optional)
 *                          "cache_write_usd_per_mtok": 3.75,    (optional)
 *                          "max_output_tokens": 16384}, ...},
 *    "gpus": {"H100": {"usd_per_hour": 2.5,
 *                      "spot_usd_per_hour": 1.1},           (optional)
 *             ...},
 *    "gpu_pricing": "on_demand" | "spot"}                     (optional)
 * A merged file's gpus entry replaces the whole entry (both prices);
 * gpu_pricing is the last file's that sets it, else on_demand.
 * Lookup: exact "provider/model", then exact model, then the model without
 * a trailing date snapshot ("-2024-08-06", "-20241022").
 */
#ifndef TG_PRICES_H
#define TG_PRICES_H

#include <stddef.h>
#include <stdint.h>

#include "money.h"
#include "proto.h"

struct tg_price {
	tg_pico_usd input;        /* per uncached input token */
	tg_pico_usd output;
	tg_pico_usd cached_input; /* = input when the table has none */
	tg_pico_usd cache_write;  /* = input when the table has none */
	uint64_t max_output_tokens;
};

struct tg_prices;

/* Which hourly price a GPU record is billed at (the host's setting). */
enum tg_gpu_pricing { TG_GPU_ON_DEMAND = 0, TG_GPU_SPOT = 1 };

/* Load a table; errors name the file, the JSON path and what was expected.
 * Returns NULL on error with err filled. */
struct tg_prices *tg_prices_load(const char *path, char *err, size_t errlen);
/* Entries of `path` replace or add to t's. 0 or -1 with err filled. */
int tg_prices_merge(struct tg_prices *t, const char *path, char *err, size_t errlen);
void tg_prices_free(struct tg_prices *t);
size_t tg_prices_count(const struct tg_prices *t);

const struct tg_price *tg_prices_find(const struct tg_prices *t,
    const char *provider, const char *model);
/* GPU hourly price of the table key gpu ("H100") in pico-USD per hour
 * (usd_per_hour × 10^12, exact), or NULL. With gpu_pricing "spot" it is
 * spot_usd_per_hour × 10^12 for a GPU that has one, else the on-demand
 * price. */
const tg_pico_usd *tg_prices_gpu_hourly(const struct tg_prices *t,
    const char *gpu);
enum tg_gpu_pricing tg_prices_gpu_pricing(const struct tg_prices *t);
/* The i-th GPU key of the table (sorted), NULL past the last; *has_spot
 * (when not NULL) says whether it has a spot price. */
const char *tg_prices_gpu_at(const struct tg_prices *t, size_t i,
    int *has_spot);
/* The table's GPU key a device name names ("NVIDIA H100 80GB HBM3" →
 * "H100", "NVIDIA A100-SXM4-80GB" → "A100"): a key found in the name as a
 * whole token (no letter or digit right before or after it; ASCII case
 * ignored), the longest when several are; NULL when none. The pointer
 * lives as long as the table. */
const char *tg_prices_gpu_key(const struct tg_prices *t, const char *device);

/* Cost of an LLM record: uncached input, cached, cache writes and output
 * each × their price, summed in pico-USD, rounded once to nano-USD.
 * 0 or -1 (overflow, or cached + cache_write > input). */
int tg_record_cost(const struct tg_price *p, const struct tg_record *r,
    tg_nano_usd *out);

/* Worst-case cost for an admission (input est × input price + max output ×
 * output price), nano-USD rounded up. */
tg_nano_usd tg_reserve_cost(const struct tg_price *p, uint64_t input,
    uint64_t max_output);

#endif
