/*
 * policy.h — the policy engine: a JSON policy file (policies/README.md)
 * parsed into a struct policy, and a pure evaluation of one admission.
 *
 * policy_load/policy_parse  read and validate a file; one error naming the
 *                           file, the JSON path and what was expected; no
 *                           partial policy.
 * policy_eval               input (tags, user, kind, model, request cost
 *                           and tokens, now) + usage-so-far per rule
 *                           (through a callback) → decision. No I/O, no
 *                           clock, no allocation; thread-safe on a const
 *                           policy. Most restrictive verdict wins
 *                           (deny > pause > delay > warn > allow; among
 *                           delays the longest); ties: first in file order.
 * policy_show / print       the normalised policy (print-back, re-parses to
 *                           the same text), and decisions as a line, text
 *                           or JSON.
 *
 * Time: windows and budget periods are calendar-aligned in the policy's
 * one IANA zone (lib/tzif.h for the DST rules); `now` is CLOCK_REALTIME ns.
 */
#ifndef TG_POLICY_H
#define TG_POLICY_H

#include <stdint.h>
#include <stdio.h>

#include "money.h"
#include "tzif.h"

#define POLICY_SCHEMA_VERSION 1
#define POLICY_MAX_FILE   (1024 * 1024)
#define POLICY_MAX_RULES  256
#define POLICY_MAX_SELS   8     /* selector keys per rule */
#define POLICY_MAX_PATS   8     /* globs per selector */
#define POLICY_MAX_KEYS   32    /* distinct tag keys in one policy */
#define POLICY_MAX_REQ    8     /* keys of one require_tags rule */
#define POLICY_MAX_TAGS   32    /* tags of one input (the rest ignored) */
#define POLICY_NAME_MAX   64
#define POLICY_REASON_MAX 192

enum policy_kind {
	POLICY_K_BUDGET, POLICY_K_TOKEN_QUOTA, POLICY_K_RATE, POLICY_K_PAUSE,
	POLICY_K_SANDBOX, POLICY_K_REQUIRE_TAGS, POLICY_K_GPU_LIMIT,
};

/* gpu_limit: a mem_cap is at most this many bytes (1024 TiB). */
#define POLICY_GPU_MEM_MAX (1ULL << 50)
#define POLICY_GPU_LPS_MAX 1000000000LL

enum policy_period { POLICY_DAY, POLICY_WEEK, POLICY_MONTH, POLICY_TOTAL };

/* In order of restrictiveness. */
enum policy_verdict {
	POLICY_ALLOW, POLICY_WARN, POLICY_DELAY, POLICY_PAUSE, POLICY_DENY,
};

/* What a rule does when it bites (which ones a kind accepts: README). */
enum policy_action {
	POLICY_A_DENY, POLICY_A_DELAY, POLICY_A_WAIT, POLICY_A_REPORT,
	POLICY_A_SHUTDOWN,
};

/* Fields a selector can look at besides tags. */
enum policy_field {
	POLICY_F_TAG, POLICY_F_USER, POLICY_F_MODEL, POLICY_F_PROVIDER,
	POLICY_F_EXE, POLICY_F_KIND,
};

enum policy_req_kind { POLICY_LLM, POLICY_GPU };
enum policy_mode { POLICY_MODE_ENFORCE, POLICY_MODE_OBSERVE, POLICY_MODE_OFF };

/* A glob, classified at parse time so most need no fnmatch(3). */
struct policy_pat {
	uint8_t how;            /* exact, prefix*, *, fnmatch */
	uint16_t len;           /* of text (exact) or of the prefix */
	char *text;
};

struct policy_sel {
	uint8_t field;          /* enum policy_field */
	uint8_t slot;           /* tag key slot (POLICY_F_TAG) */
	uint8_t npat;           /* any of the globs matches */
	struct policy_pat pat[POLICY_MAX_PATS];
};

/* Time of day window; from > to crosses midnight. The day set names the
 * day a window starts on. */
struct policy_window {
	uint16_t from, to;      /* minutes after local midnight */
	uint8_t days;           /* bit 0 = Monday … bit 6 = Sunday */
};

struct policy_rule {
	char name[POLICY_NAME_MAX];
	enum policy_kind kind;
	int fail_closed;
	int untagged;           /* -1 either, 1 only untagged, 0 only tagged */
	int nsel;
	struct policy_sel sel[POLICY_MAX_SELS];
	enum policy_action action;
	/* budget, sandbox */
	enum policy_period period;
	tg_nano_usd limit, soft;        /* 0: not set */
	uint32_t grace_seconds;
	/* token_quota, pause */
	int has_window;
	struct policy_window win;
	int64_t max_tokens;
	/* rate (0: not set) */
	int64_t rpm, tpm, concurrent;
	uint32_t delay_ms;
	int freeze;
	/* require_tags */
	int nreq;
	uint8_t req[POLICY_MAX_REQ];    /* tag key slots */
	/* gpu_limit (0: not set): device memory the process may hold, all
	 * its devices together; kernel launches per second */
	uint64_t mem_cap;
	int64_t launches_per_sec;
};

/* The "idle" section: GPU holders that make no launch and no GPU ioctl
 * (the daemon's ctl/daemon/idle.c acts on it; evaluation ignores it).
 * Filled with the defaults when the file has none; `set` says the file
 * had one (printed back only then). */
#define POLICY_IDLE_AFTER_DEFAULT 600   /* seconds */
#define POLICY_IDLE_AFTER_MAX 604800    /* a week */
#define POLICY_IDLE_GRACE_DEFAULT 60
#define POLICY_IDLE_GRACE_MAX 3600
#define POLICY_IDLE_MAX_TAGS 8          /* "KEY=GLOB" selectors */
#define POLICY_IDLE_MAX_EXCLUDE 16      /* extra exe basenames */

enum policy_idle_action { POLICY_IDLE_NOTIFY, POLICY_IDLE_TERMINATE };

struct policy_idle {
	int set;
	uint32_t after_seconds;
	enum policy_idle_action action;
	uint32_t grace_seconds;
	int ntags;
	char *tags[POLICY_IDLE_MAX_TAGS];       /* "team=batch", "team=ml-*" */
	int nexclude;
	char *exclude[POLICY_IDLE_MAX_EXCLUDE]; /* exe basenames */
};

struct policy {
	char *description;              /* NULL: none */
	int allow_mode_off;
	struct policy_idle idle;
	struct tg_tz tz;
	int nkeys;
	char *keys[POLICY_MAX_KEYS];    /* tag keys named by selectors */
	int nrules;
	struct policy_rule *rules;
};

/* ---- evaluation ---- */

struct policy_tag {
	const char *key, *value;
};

struct policy_input {
	const struct policy_tag *tags;
	int ntags;
	const char *user, *model, *provider, *exe;      /* NULL: unknown */
	enum policy_req_kind kind;
	enum policy_mode mode;
	int unreachable;        /* decide as the shim would with no daemon */
	tg_nano_usd cost;       /* the request's estimated cost */
	int64_t tokens;         /* the request's estimated tokens */
	int64_t now;            /* CLOCK_REALTIME ns */
};

/* Usage so far for one rule, filled by the caller: spent in the rule's
 * current period (budget, sandbox), tokens in the current window
 * (token_quota), requests and tokens in the last minute and requests in
 * flight (rate). */
struct policy_usage {
	tg_nano_usd spent;
	int64_t tokens, rpm, tpm, concurrent;
};

/* Called once per matching rule that counts something; [from, to) is the
 * period or window in ns (0, 0 for rate rules and "total" periods). */
typedef void (*policy_usage_fn)(void *arg, int rule, int64_t from,
    int64_t to, struct policy_usage *u);

/* Per matching rule: its own verdict and what is left. */
#define POLICY_HAS_USD    0x01
#define POLICY_HAS_TOKENS 0x02
#define POLICY_HAS_RPM    0x04
#define POLICY_HAS_TPM    0x08
#define POLICY_HAS_CONC   0x10
#define POLICY_IDLE       0x20  /* window rule outside its window */
#define POLICY_MISSING    0x40  /* require_tags: keys missing */
#define POLICY_HAS_GPU    0x80  /* gpu_limit: its limits (in the rule) */

struct policy_rule_state {
	int rule;
	enum policy_verdict verdict;
	uint32_t delay_ms;
	int64_t reset;          /* ns; 0 = never resets */
	unsigned flags;
	unsigned over;          /* POLICY_HAS_* limits that bit */
	tg_nano_usd usd_left;
	int64_t tokens_left, rpm_left, tpm_left, conc_left;
	uint8_t missing;        /* require_tags: bit i = req[i] missing */
};

#define POLICY_D_SHUTDOWN     0x01  /* sandbox spent: shut the job down */
#define POLICY_D_FREEZE       0x02  /* pause rule asks for a freeze */
#define POLICY_D_MODE_OFF     0x04  /* TOLLGATE_MODE=off honoured */
#define POLICY_D_MODE_REFUSED 0x08  /* TOLLGATE_MODE=off forbidden */
#define POLICY_D_UNREACHABLE  0x10  /* decided as fail mode */

struct policy_decision {
	enum policy_verdict verdict;
	uint32_t delay_ms;
	int rule;               /* deciding rule, -1 none */
	int64_t reset;          /* ns; 0 none */
	unsigned flags;
	uint32_t grace_seconds;
	char reason[POLICY_REASON_MAX];
	int lazy_reason;        /* in: 1 = leave reason empty; the caller
				 * asks policy_decision_reason() when it
				 * needs the text (saves ~0.5 µs) */
	struct policy_rule_state best;  /* the deciding rule's state */
	/* caller's array for per-rule states (may be NULL, cap 0) */
	struct policy_rule_state *states;
	int cap, nstates;
};

/* ---- API ---- */

/* Parse from a file / from text. `file` names the source in errors.
 * NULL with err "FILE: JSON.PATH: expected …". */
struct policy *policy_load(const char *file, char *err, size_t errlen);
struct policy *policy_parse(const char *file, const char *text, size_t len,
    char *err, size_t errlen);
void policy_free(struct policy *);

/* Index of the rule called name, or -1. */
int policy_rule_index(const struct policy *, const char *name);

/* Evaluate. d->states, cap and lazy_reason are kept; the rest is set. */
void policy_eval(const struct policy *, const struct policy_input *,
    policy_usage_fn, void *arg, struct policy_decision *d);

/* The current period [from, to) in ns of a period at now (to 0: total). */
void policy_period_bounds(const struct policy *, enum policy_period,
    int64_t now, int64_t *from, int64_t *to);

/* ---- for the daemon's per-rule counters (policy_match.c) ---- */

#define POLICY_SET_WORDS (POLICY_MAX_RULES / 64)

/* Bit i of set[] = rule i's selectors (and untagged) match the input.
 * Tags are mapped once for all rules; no allocation. */
void policy_match_set(const struct policy *, const struct policy_input *,
    uint64_t set[POLICY_SET_WORDS]);

/* 1 when some rule could delay or deny an LLM request of in's tags, user
 * and exe, whatever the request's model and provider (selectors on those
 * count as matching): a rule whose action is not "report", or one that
 * fails closed. 0: admission cannot refuse this process's requests. */
int policy_may_refuse_llm(const struct policy *, const struct policy_input *);

/* The span rule i counts usage in at time t: budget and sandbox → the
 * period holding t; token_quota → the window instance holding t (or the
 * calendar day without a window). Returns 1 with [from, to) in ns (0, 0
 * for a "total" period), or 0: the rule counts nothing at t (outside its
 * window; rate, pause and require_tags rules). The same bounds policy_eval
 * hands the usage callback at now = t. */
int policy_rule_span(const struct policy *, int rule, int64_t t,
    int64_t *from, int64_t *to);

/* The first instant after now (ns) at which any rule's window opens or
 * closes, or a budget/quota period of any rule ends; 0 when none. Standing
 * verdicts (pause, freeze, a period's reset) can change only then. */
int64_t policy_next_edge(const struct policy *, int64_t now);

/* Split "k=v,k=v" into tags: s is copied into buf (buflen), pairs without
 * '=' or with an empty key are skipped, at most cap are kept. Returns the
 * count. */
int policy_tags_parse(const char *s, char *buf, size_t buflen,
    struct policy_tag *tags, int cap);

/* 1 when tags ("k=v,k=v") match one of the idle section's selectors
 * ("KEY=GLOB": a tag with that key whose value fnmatch(3)es the glob);
 * 0 otherwise, always 0 with no selector. */
int policy_idle_tags_match(const struct policy_idle *, const char *tags);

/* Names. */
const char *policy_verdict_name(enum policy_verdict);
const char *policy_kind_name(enum policy_kind);

/* ---- printing (policy_print.c) ---- */

/* Normalised JSON text of the policy (malloc'd; NULL on ENOMEM). */
char *policy_show(const struct policy *);

/* ns → RFC 3339 with the policy zone's offset (whole seconds, rounded
 * down); "-" for 0. */
void policy_fmt_time(const struct policy *, int64_t ns, char *buf,
    size_t len);

/* Bytes → "8GiB" (the largest binary unit that divides it exactly:
 * KiB, MiB, GiB, TiB), else the plain number "4097"; parses back to the
 * same value as a gpu_limit mem_cap. */
void policy_fmt_bytes(uint64_t v, char *buf, size_t len);

/* nano-USD → shortest exact decimal with at least 2 decimals. */
void policy_fmt_usd(tg_nano_usd v, char *buf, size_t len);

/* The decision as one line (the .cases format), text, or JSON. */
void policy_print_line(FILE *, const struct policy *,
    const struct policy_decision *);
void policy_print_text(FILE *, const struct policy *,
    const struct policy_decision *);
char *policy_decision_json(const struct policy *,
    const struct policy_decision *);

/* Fill d->reason (after policy_eval with d->lazy_reason set; the same
 * input). */
void policy_decision_reason(const struct policy *, const struct policy_input *,
    struct policy_decision *);

#endif
