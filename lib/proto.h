/*
 * proto.h — the tollgate wire protocol: the one place that owns message
 * types, payload structs and the protocol version.
 *
 * Transport: AF_UNIX SOCK_SEQPACKET. One packet = one message =
 * struct tg_hdr + payload of exactly hdr.len bytes. Every payload has a
 * fixed size per type (checked by tg_msg_check) except TG_MSG_JSON, whose
 * payload is text. Strings inside payloads are fixed arrays that must be
 * NUL-terminated inside the array. Replies echo the request's seq.
 *
 * Bump TG_PROTO_VERSION on every change to this file; the daemon accepts
 * TG_PROTO_VERSION and TG_PROTO_VERSION - 1.
 */
#ifndef TG_PROTO_H
#define TG_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define TG_PROTO_MAGIC 0x54474c31u /* "TGL1" */
#define TG_PROTO_VERSION 3
#define TG_PROTO_OLDEST 1 /* oldest shim version the daemon still accepts */
#define TG_MSG_MAX 65536  /* whole packet, header included */

struct tg_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t len; /* payload bytes after this header */
	uint32_t seq; /* chosen by the requester, echoed in the reply */
};

enum tg_msg_type {
	/* shim -> daemon */
	TG_MSG_REGISTER = 1, /* struct tg_register; reply TG_MSG_REGISTERED + 2 fds */
	TG_MSG_ADMIT = 2,    /* struct tg_admit; reply TG_MSG_VERDICT */
	TG_MSG_RECORD = 3,   /* struct tg_record; reply TG_MSG_ACK after COMMIT */
	TG_MSG_RELEASE = 4,  /* struct tg_release: drop a reservation unused; reply OK */
	TG_MSG_ADMIT_TAGS = 5, /* struct tg_admit_tags: ADMIT for a request
				* with its own tags; reply TG_MSG_VERDICT (v3) */

	/* tollctl -> daemon */
	TG_MSG_STATUS = 20,    /* no payload; reply TG_MSG_JSON */
	TG_MSG_REPORT = 21,    /* struct tg_report_req; reply TG_MSG_JSON */
	TG_MSG_RUN_BEGIN = 22, /* struct tg_run_begin; reply TG_MSG_OK */
	TG_MSG_RUN_END = 23,   /* struct tg_run_end; reply TG_MSG_JSON (summary) */
	TG_MSG_TOP = 24,       /* no payload; reply TG_MSG_JSON */
	TG_MSG_POLICY_SHOW = 25,  /* no payload; reply TG_MSG_JSON (v2) */
	TG_MSG_RUN_POLICY = 27,   /* struct tg_run_policy + 1 fd: the run's own
				   * policy, evaluated beside the host's (it
				   * can only tighten); reply TG_MSG_OK (v2) */
	TG_MSG_POLICY_APPLY = 26, /* struct tg_policy_apply + 1 fd (the file,
				   * read by the daemon); reply TG_MSG_JSON;
				   * root, group tollgate or the daemon's
				   * own user only (v2) */
	TG_MSG_IDLE = 28,         /* no payload; reply TG_MSG_JSON: the GPU
				   * holders and how long each is idle (v3;
				   * an older daemon answers BAD_TYPE) */

	/* daemon -> client */
	TG_MSG_OK = 40,         /* no payload */
	TG_MSG_FAIL = 41,       /* struct tg_fail */
	TG_MSG_REGISTERED = 42, /* struct tg_registered */
	TG_MSG_VERDICT = 43,    /* struct tg_verdict */
	TG_MSG_ACK = 44,        /* struct tg_ack */
	TG_MSG_JSON = 45,       /* text, not NUL-terminated; see TG_JSON_MORE */
};

/* A TG_MSG_JSON payload starts with struct tg_json_head; a reply longer than
 * one packet comes as several packets, all but the last flagged MORE. */
#define TG_JSON_MORE 1u
struct tg_json_head {
	uint32_t flags; /* TG_JSON_MORE while more packets follow */
	/* followed by UTF-8 text */
};

enum tg_err {
	TG_ERR_BAD_MAGIC = 1,
	TG_ERR_BAD_VERSION = 2,
	TG_ERR_BAD_LENGTH = 3,
	TG_ERR_BAD_TYPE = 4,
	TG_ERR_BAD_FIELD = 5, /* a string not terminated, an enum out of range */
	TG_ERR_NOT_REGISTERED = 6,
	TG_ERR_PERMISSION = 7,
	TG_ERR_INTERNAL = 8,
	TG_ERR_NOT_FOUND = 9,
};

struct tg_fail {
	uint32_t code; /* enum tg_err */
	char text[124];
};

/* --- shim registration ------------------------------------------------ */

enum tg_mode { TG_MODE_ENFORCE = 0, TG_MODE_OBSERVE = 1, TG_MODE_OFF = 2 };

/* Probe sets a shimmed process meters itself (the audit probes skip them). */
#define TG_COVERS_LIBCUDA 0x1u
#define TG_COVERS_LIBSSL 0x2u
#define TG_COVERS_PLAIN_HTTP 0x4u

struct tg_register {
	uint32_t mode;   /* enum tg_mode */
	uint32_t covers; /* TG_COVERS_* */
	char tags[256];  /* "team=search,purpose=batch" as in TOLLGATE_TAGS */
	char run[40];    /* TOLLGATE_RUN token of a `tollctl run`, or "" */
};

/* tg_registered.flags: what the policy asks of this process. A v1 shim
 * reads the field as "fail closed when nonzero": the daemon sends v1 peers
 * only TG_REG_FAIL_CLOSED. Live changes come through the verdict page's
 * flags (page.h), which use the same bits. */
#define TG_REG_FAIL_CLOSED 0x1u     /* unreachable daemon: refuse requests */
#define TG_REG_MODE_OFF_REFUSED 0x2u /* TOLLGATE_MODE=off is forbidden: enforce */
/* No rule (nor a run budget) can delay or deny an LLM request of this
 * process, whatever its model: the shim's hooks ask no admission (no
 * round trip) and only settle. A daemon that predates the bit never sets
 * it, so its shims keep asking. */
#define TG_REG_LLM_NO_ADMIT 0x4u

struct tg_registered {
	uint16_t daemon_version;
	uint16_t page_version; /* TG_PAGE_VERSION of page.h */
	uint32_t flags;        /* TG_REG_* (v1: fail_closed 0/1) */
	uint64_t process_id;   /* daemon's id for this registration */
	/* SCM_RIGHTS carries two fds: [0] verdict memfd (sealed, map read-only),
	 * [1] counters memfd (map read-write). */
};

/* --- admission and settlement ----------------------------------------- */

struct tg_admit {
	uint64_t admit_id; /* chosen by the shim; unique per process */
	uint64_t est_input_tokens;
	uint64_t max_output_tokens; /* 0: the request set none; use the model's */
	char provider[32];
	char model[128];
	char endpoint[128];
};

/* A request that names its own tags (an X-Tollgate-Tags header joined to
 * the process's, the request's keys first): the policy sees these, not
 * the registration's, and its refused record carries them. */
struct tg_admit_tags {
	struct tg_admit a;
	char tags[256];  /* "k=v,k=v" */
};

enum tg_decision { TG_ALLOW = 0, TG_DELAY = 1, TG_DENY = 2 };

struct tg_verdict {
	uint64_t admit_id;
	uint32_t decision; /* enum tg_decision */
	uint32_t delay_ms;
	int64_t reset_time_ns;      /* CLOCK_REALTIME; 0 when none */
	int64_t reserved_nano_usd;  /* what admission set aside */
	char rule[64];
	char reason[128];
};

struct tg_release {
	uint64_t admit_id;
};

/* A usage record. Cost is computed by the daemon from the price table.
 * pid/exe/uid/cgroup come from the kernel for live connections; a
 * replayed (TG_REC_REPLAYED) record keeps the pid/exe it was spooled with. */
enum tg_kind { TG_KIND_LLM = 0, TG_KIND_GPU = 1 };
enum tg_source { TG_SOURCE_SHIM = 0, TG_SOURCE_EBPF = 1 };

#define TG_REC_ESTIMATED 0x1u /* a number is not provider-reported */
#define TG_REC_REFUSED 0x2u   /* the request was refused, never sent */
#define TG_REC_REPLAYED 0x4u  /* came from a spool */

struct tg_record {
	uint8_t id[16];    /* globally unique; the ledger ignores a repeat */
	uint64_t admit_id; /* 0: no admission (observe, GPU) */
	int64_t event_time_ns; /* CLOCK_REALTIME when the usage happened */
	uint32_t kind;   /* enum tg_kind */
	uint32_t source; /* enum tg_source */
	uint32_t flags;  /* TG_REC_* */
	uint32_t http_status;
	uint32_t latency_ms;
	uint32_t delay_ms;
	int32_t pid; /* only for TG_REC_REPLAYED */
	uint32_t pad;
	uint64_t input_tokens;
	uint64_t output_tokens;
	uint64_t cached_tokens;
	uint64_t cache_write_tokens;
	uint64_t reasoning_tokens;
	uint64_t gpu_launches;
	uint64_t gpu_busy_ns;
	uint64_t gpu_held_ns;
	uint64_t gpu_mem_peak_bytes;
	char provider[32];
	char model[128];
	char endpoint[128];
	char tags[256]; /* "" = the registration's tags */
	char exe[256];  /* only for TG_REC_REPLAYED */
	char decision[16];
	char rule[64];
	char run[40];   /* only for TG_REC_REPLAYED */
};

struct tg_ack {
	uint8_t id[16];
	uint32_t inserted; /* 0: the ledger already had this id */
	uint32_t pad;
};

/* --- tollctl ------------------------------------------------------------ */

struct tg_report_req {
	int64_t since_ns; /* CLOCK_REALTIME, inclusive */
	int64_t until_ns; /* exclusive; 0 = now */
	char by[64];      /* "model" | "provider" | "tag:NAME" | "" (one row) */
	char run[40];     /* restrict to one run, or "" */
};

struct tg_run_begin {
	int64_t budget_nano_usd; /* < 0: no budget */
	char run[40];
	char tags[256];
};

struct tg_run_end {
	char run[40];
};

/* POLICY_APPLY: the policy file travels as an fd (SCM_RIGHTS) that the
 * daemon reads (at most POLICY_MAX_FILE bytes); name is the file name the
 * user gave, used in error texts only. */
struct tg_policy_apply {
	char name[256];
};

/* RUN_POLICY: the run's owner (or root) gives `tollctl run --policy FILE`
 * to the system daemon, once, right after RUN_BEGIN; the file as an fd. */
struct tg_run_policy {
	char run[40];
	char name[256];
};

/* --- helpers (proto.c) ------------------------------------------------- */

/* Expected payload size for a type, or -1 for variable (JSON) / unknown. */
long tg_payload_size(uint16_t type);

/* Validate a received packet of n bytes: magic, version range, length, and
 * for fixed payloads the size and the NUL-termination of every string.
 * Returns 0 or a positive enum tg_err, and sets *why to a static text. */
int tg_msg_check(const void *pkt, size_t n, const char **why);

/* Fill a header. */
void tg_hdr_init(struct tg_hdr *h, uint16_t type, uint32_t len, uint32_t seq);

/* Copy a string into a fixed array, truncating, always NUL-terminated. */
void tg_strlcpy(char *dst, const char *src, size_t size);

#endif
