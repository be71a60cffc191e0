/*
 * money.h — exact money. Prices are integer pico-USD per token; a record's
 * cost is pico × tokens, rounded half-up once to integer nano-USD. Sums are
 * integer sums of nano-USD. Decimals appear only in output.
 */
#ifndef TG_MONEY_H
#define TG_MONEY_H

#include <stdint.h>
#include <stddef.h>

typedef int64_t tg_nano_usd;
typedef int64_t tg_pico_usd;

#define TG_NANO_PER_USD 1000000000LL

/* pico-USD per token × tokens → nano-USD, rounded half-up.
 * Returns 0 on success, -1 on overflow. */
int tg_cost_nano(tg_pico_usd pico_per_token, uint64_t tokens, tg_nano_usd *out);

/* "12.345678901" style decimal → nano-USD (at most 9 decimals; a '-' sign
 * allowed). Returns 0 or -1 on a malformed or out-of-range text. */
int tg_usd_parse(const char *text, tg_nano_usd *out);

/* A double USD-per-token price as read from JSON → pico-USD per token,
 * rounded to nearest. -1 if negative, not finite or out of range. */
int tg_price_from_double(double usd_per_token, tg_pico_usd *out);

/* nano-USD → "1.234567890" with `decimals` digits (0..9), rounded
 * half away from zero. Returns snprintf's result. */
int tg_usd_format(char *buf, size_t size, tg_nano_usd v, int decimals);

#endif
