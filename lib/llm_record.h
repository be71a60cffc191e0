/*
 * llm_record.h — what a finished LLM exchange (llm.h) puts in a ledger
 * record, the same for the shim's meter (preload/meter.c) and audit mode
 * (ctl/daemon/audit.c).
 *
 * The provider by name ("openai", "azure", "anthropic", "gemini",
 * "ollama", "openai-compatible"); the model the response names, else the
 * request's; the endpoint (path without query) and HTTP status. Token
 * counts are the provider's. A count the response did not give (a stream
 * without include_usage, a cut stream) is estimated and the record flagged
 * estimated: input from the request body's text (est_input_tokens), output
 * as the decoded response bytes / 4. An error status (>= 400) without
 * usage bills nothing: zero tokens, not estimated (providers do not bill a
 * refused or failed request). Parts stay within their whole (cached and
 * cache-write within input, reasoning within output): the cost needs it.
 */
#ifndef TG_LLM_RECORD_H
#define TG_LLM_RECORD_H

#include "llm.h"
#include "proto.h"

/* The provider's name in the ledger; "" for LLM_UNKNOWN. */
const char *llm_provider_name(enum llm_provider p);

/* Set rec's status, tokens (flags |= TG_REC_ESTIMATED where estimated),
 * provider, model and endpoint from x; nothing else of rec changes. */
void llm_record_usage(struct tg_record *rec, const struct llm_exchange *x);

#endif
