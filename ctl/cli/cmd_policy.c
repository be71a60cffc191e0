/*
 * cmd_policy.c — `tollctl policy check|show|eval FILE`: the policy engine
 * run locally on a file, without a daemon and without sending anything;
 * `policy apply FILE` (checked here first, then the file's descriptor goes
 * to the daemon, which checks it again, writes its policy file and makes
 * it active) and `policy show` without FILE (the daemon's active policy,
 * printed exactly as `policy show FILE` prints a file, so the two diff).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "jsonpp.h"
#include "policy.h"
#include "proto.h"
#include "timearg.h"
#include "util.h"

#define EVAL_MAX_TAGS POLICY_MAX_TAGS

struct eval_args {
	struct policy_input in;
	struct policy_tag tags[EVAL_MAX_TAGS];
	char *tagbuf;
	struct policy_usage *usage;     /* per rule */
	int fmt;
};

static const char *const formats[] = { "text", "json", "line", NULL };
enum { FMT_TEXT, FMT_JSON, FMT_LINE };

static void
policy_usage_text(FILE *f)
{
	fputs("usage: tollctl policy check FILE\n"
	    "       tollctl policy show FILE\n"
	    "       tollctl policy show [--format text|json]\n"
	    "       tollctl policy apply FILE\n"
	    "       tollctl policy eval FILE [--at TIME] [--tags K=V,..]\n"
	    "            [--kind llm|gpu] [--model M] [--provider P] [--user U]\n"
	    "            [--exe PATH] [--mode enforce|observe|off] [--unreachable]\n"
	    "            [--request-usd X] [--request-tokens N]\n"
	    "            [--usage RULE:spent=USD,tokens=N,rpm=N,tpm=N,"
	    "concurrent=N]...\n"
	    "            [--format text|json|line]\n\n"
	    "check: validate FILE (exit 0, or 1 with FILE: JSON.PATH: what was\n"
	    "expected). show FILE: print FILE back in normal form. eval: the\n"
	    "verdict for one request at TIME (RFC 3339, default now) given the\n"
	    "usage so far of each rule, its deciding rule, reset time and what is\n"
	    "left; nothing is sent and nothing sleeps. `line` is the .cases format\n"
	    "of policies/README.md.\n\n"
	    "These talk to the daemon (exit 2 when none answers):\n"
	    "show without FILE: the daemon's active policy in the same normal form\n"
	    "(json: with its file, whether it is the built-in default, when it was\n"
	    "loaded and its generation). apply: check FILE as check does, then\n"
	    "hand it to the daemon, which checks it again, writes it to its policy\n"
	    "file and makes it active at once; root, group tollgate or the\n"
	    "daemon's own user only. A bad FILE changes nothing.\n", f);
}

static struct policy *
load(const char *file)
{
	char err[512];
	struct policy *p = policy_load(file, err, sizeof(err));

	if (p == NULL)
		fprintf(stderr, "tollctl policy: %s\n", err);
	return p;
}

/* "team=a,purpose=b" into a->tags (the buffer is kept in a->tagbuf). */
static int
parse_tags(struct eval_args *a, const char *arg)
{
	char *s, *tok, *save = NULL;

	free(a->tagbuf);
	a->in.ntags = 0;
	if ((a->tagbuf = s = strdup(arg)) == NULL)
		return -1;
	if (strcmp(s, "-") == 0)
		return 0;
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq == NULL || eq == tok || a->in.ntags == EVAL_MAX_TAGS) {
			fprintf(stderr, "tollctl policy eval: --tags: expected "
			    "K=V,K=V (at most %d), got '%s'\n", EVAL_MAX_TAGS, arg);
			return -1;
		}
		*eq = '\0';
		a->tags[a->in.ntags].key = tok;
		a->tags[a->in.ntags++].value = eq + 1;
	}
	return 0;
}

static int
parse_num(const char *opt, const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0) {
		fprintf(stderr, "tollctl policy eval: %s: expected a "
		    "non-negative integer, got '%s'\n", opt, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* "RULE:spent=1.50,tokens=10,rpm=3,tpm=100,concurrent=2" */
static int
parse_usage(struct eval_args *a, const struct policy *p, const char *arg)
{
	char buf[512], *colon, *tok, *save = NULL;
	struct policy_usage *u;
	int i;

	snprintf(buf, sizeof(buf), "%s", arg);
	if ((colon = strchr(buf, ':')) == NULL)
		goto bad;
	*colon = '\0';
	if ((i = policy_rule_index(p, buf)) < 0) {
		fprintf(stderr, "tollctl policy eval: --usage: no rule '%s'\n",
		    buf);
		return -1;
	}
	u = &a->usage[i];
	for (tok = strtok_r(colon + 1, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int64_t *n = NULL;
		if (eq == NULL)
			goto bad;
		*eq++ = '\0';
		if (strcmp(tok, "spent") == 0) {
			if (tg_usd_parse(eq, &u->spent) < 0 || u->spent < 0)
				goto bad;
			continue;
		}
		n = strcmp(tok, "tokens") == 0 ? &u->tokens :
		    strcmp(tok, "rpm") == 0 ? &u->rpm :
		    strcmp(tok, "tpm") == 0 ? &u->tpm :
		    strcmp(tok, "concurrent") == 0 ? &u->concurrent : NULL;
		if (n == NULL || parse_num("--usage", eq, n) < 0)
			goto bad;
	}
	return 0;
bad:
	fprintf(stderr, "tollctl policy eval: --usage: expected RULE:spent=USD,"
	    "tokens=N,rpm=N,tpm=N,concurrent=N, got '%s'\n", arg);
	return -1;
}

static int
pick(const char *opt, const char *arg, const char *const *names)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(arg, names[i]) == 0)
			return i;
	fprintf(stderr, "tollctl policy eval: %s: unknown value '%s'\n", opt,
	    arg);
	return -1;
}

static int
eval_opt(struct eval_args *a, const struct policy *p, int c, const char *arg)
{
	static const char *const kinds[] = { "llm", "gpu", NULL };
	static const char *const modes[] = { "enforce", "observe", "off", NULL };
	int64_t n;
	int k;

	switch (c) {
	case 'a':
		if (timearg_parse(arg, cli_now_ns(), &a->in.now) == 0)
			return 0;
		fprintf(stderr, "tollctl policy eval: --at: expected "
		    TIMEARG_EXPECTED ", got '%s'\n", arg);
		return -1;
	case 't':
		return parse_tags(a, arg);
	case 'k':
		if ((k = pick("--kind", arg, kinds)) < 0)
			return -1;
		a->in.kind = k;
		return 0;
	case 'o':
		if ((k = pick("--mode", arg, modes)) < 0)
			return -1;
		a->in.mode = k;
		return 0;
	case 'm': a->in.model = arg; return 0;
	case 'p': a->in.provider = arg; return 0;
	case 'u': a->in.user = arg; return 0;
	case 'e': a->in.exe = arg; return 0;
	case 'U': return parse_usage(a, p, arg);
	case 'n':
		a->in.unreachable = 1;
		return 0;
	case 'T':
		if (parse_num("--request-tokens", arg, &n) < 0)
			return -1;
		a->in.tokens = n;
		return 0;
	case 'D':
		if (tg_usd_parse(arg, &a->in.cost) == 0 && a->in.cost >= 0)
			return 0;
		fprintf(stderr, "tollctl policy eval: --request-usd: expected "
		    "an amount like 0.25, got '%s'\n", arg);
		return -1;
	case 'f':
		return (a->fmt = cli_format("policy eval", arg, formats)) < 0 ?
		    -1 : 0;
	}
	fprintf(stderr, "tollctl policy eval: bad option (see tollctl policy "
	    "--help)\n");
	return -1;
}

static int
eval_args(struct eval_args *a, const struct policy *p, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 'a' },
		{ "tags", required_argument, NULL, 't' },
		{ "kind", required_argument, NULL, 'k' },
		{ "model", required_argument, NULL, 'm' },
		{ "provider", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "exe", required_argument, NULL, 'e' },
		{ "mode", required_argument, NULL, 'o' },
		{ "usage", required_argument, NULL, 'U' },
		{ "unreachable", no_argument, NULL, 'n' },
		{ "request-tokens", required_argument, NULL, 'T' },
		{ "request-usd", required_argument, NULL, 'D' },
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->in.now = cli_now_ns();
	a->in.tags = a->tags;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1)
		if (eval_opt(a, p, c == '?' ? 0 : c, optarg) < 0)
			return -1;
	return cli_no_args_left("policy eval", argc, argv);
}

static void
usage_cb(void *arg, int rule, int64_t from, int64_t to, struct policy_usage *u)
{
	*u = ((struct policy_usage *)arg)[rule];
}

static int
do_eval(const struct policy *p, int argc, char **argv)
{
	struct policy_rule_state states[POLICY_MAX_RULES];
	struct policy_decision d = { .states = states, .cap = POLICY_MAX_RULES };
	struct eval_args a;
	char *js;
	int rc = CLI_EXIT_ERR;

	memset(&a, 0, sizeof(a));
	a.usage = calloc((size_t)p->nrules + 1, sizeof(*a.usage));
	if (a.usage == NULL || eval_args(&a, p, argc, argv) < 0)
		goto out;
	policy_eval(p, &a.in, usage_cb, a.usage, &d);
	if (a.fmt == FMT_LINE)
		policy_print_line(stdout, p, &d);
	else if (a.fmt == FMT_TEXT)
		policy_print_text(stdout, p, &d);
	else {
		if ((js = policy_decision_json(p, &d)) == NULL)
			goto out;
		puts(js);
		free(js);
	}
	rc = CLI_EXIT_OK;
out:
	free(a.tagbuf);
	free(a.usage);
	return rc;
}

/* `policy apply FILE` */
static int
do_apply(struct cli *cli, const char *file)
{
	struct tg_policy_apply a;
	struct client c;
	struct policy *p;
	json_t *doc;
	char *text;
	size_t len;
	int fd, rc;

	if ((p = load(file)) == NULL)
		return CLI_EXIT_ERR;
	policy_free(p);
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "tollctl policy: %s: %s\n", file, strerror(errno));
		return CLI_EXIT_ERR;
	}
	memset(&a, 0, sizeof(a));
	tg_strlcpy(a.name, file, sizeof(a.name));
	if ((rc = client_open(&c, cli->socket)) == CLI_EXIT_OK) {
		rc = client_call_json_fd(&c, TG_MSG_POLICY_APPLY, &a, sizeof(a),
		    fd, &text, &len);
		client_close(&c);
	}
	close(fd);
	if (rc != CLI_EXIT_OK)
		return rc;
	doc = json_loadb(text, len, 0, NULL);
	free(text);
	if (!json_is_true(json_object_get(doc, "applied"))) {
		fprintf(stderr, "tollctl policy apply: unexpected reply from the "
		    "daemon\n");
		json_decref(doc);
		return CLI_EXIT_ERR;
	}
	printf("applied %s: %lld rules (timezone %s) \u2192 %s\n", file,
	    (long long)json_integer_value(json_object_get(doc, "rules")),
	    json_string_value(json_object_get(doc, "timezone")),
	    json_string_value(json_object_get(doc, "file")));
	json_decref(doc);
	return CLI_EXIT_OK;
}

/* `policy show [--format text|json]`: the daemon's active policy. Its
 * "policy" is policy_show()'s text parsed; dumped with the same flags it
 * is that text again, byte for byte. */
static int
do_show_daemon(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const show_formats[] = { "text", "json", NULL };
	int c, fmt = 0, rc;
	json_t *doc;
	char *text, *s;
	size_t len;

	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (c != 'f') {
			cli_bad_option("policy show", argv);
			return CLI_EXIT_ERR;
		}
		if ((fmt = cli_format("policy show", optarg, show_formats)) < 0)
			return CLI_EXIT_ERR;
	}
	if (cli_no_args_left("policy show", argc, argv) < 0)
		return CLI_EXIT_ERR;
	rc = cli_fetch(cli, TG_MSG_POLICY_SHOW, NULL, 0, &doc, &text, &len, NULL);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (fmt == 1)
		rc = jsonpp_write(stdout, text, len) == 0 ? 0 : CLI_EXIT_ERR;
	else if ((s = json_dumps(json_object_get(doc, "policy"),
	    JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		fprintf(stderr, "tollctl policy show: the daemon sent no policy\n");
		rc = CLI_EXIT_ERR;
	} else {
		puts(s);
		free(s);
	}
	json_decref(doc);
	free(text);
	return rc;
}

/* check, show, eval of a FILE: the engine here, nothing sent. */
static int
do_file(int argc, char **argv)
{
	struct policy *p;
	char *s;
	int rc = CLI_EXIT_OK;

	if ((p = load(argv[2])) == NULL)
		return CLI_EXIT_ERR;
	if (strcmp(argv[1], "check") == 0) {
		if (argc > 3) {
			fprintf(stderr, "tollctl policy check: unexpected "
			    "argument '%s'\n", argv[3]);
			rc = CLI_EXIT_ERR;
		} else
			printf("%s: ok (%d rules)\n", argv[2], p->nrules);
	} else if (strcmp(argv[1], "show") == 0) {
		if ((s = policy_show(p)) == NULL)
			rc = CLI_EXIT_ERR;
		else
			puts(s);
		free(s);
	} else
		rc = do_eval(p, argc - 2, argv + 2);
	policy_free(p);
	return rc;
}

int
cmd_policy(struct cli *cli, int argc, char **argv)
{
	const char *sub = argc >= 2 ? argv[1] : "";

	/* `policy --help` and `policy SUB [...] --help` alike */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			policy_usage_text(stdout);
			return CLI_EXIT_OK;
		}
	}
	if (strcmp(sub, "show") == 0 && (argc == 2 || argv[2][0] == '-'))
		return do_show_daemon(cli, argc - 1, argv + 1);
	if (strcmp(sub, "apply") == 0) {
		if (argc == 3)
			return do_apply(cli, argv[2]);
		fprintf(stderr, "usage: tollctl policy apply FILE\n");
		return CLI_EXIT_ERR;
	}
	if (argc < 3 || (strcmp(sub, "check") && strcmp(sub, "show") &&
	    strcmp(sub, "eval"))) {
		policy_usage_text(stderr);
		return CLI_EXIT_ERR;
	}
	return do_file(argc, argv);
}
