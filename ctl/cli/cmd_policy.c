/*
 * cmd_policy.c — `tollctl policy check|show|eval FILE`: the policy engine
 * run locally on a file, without a daemon and without sending anything.
 * (`policy apply` and `policy show` without FILE need the daemon: not yet.)
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "policy.h"
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
	    "       tollctl policy eval FILE [--at TIME] [--tags K=V,..]\n"
	    "            [--kind llm|gpu] [--model M] [--provider P] [--user U]\n"
	    "            [--exe PATH] [--mode enforce|observe|off] [--unreachable]\n"
	    "            [--request-usd X] [--request-tokens N]\n"
	    "            [--usage RULE:spent=USD,tokens=N,rpm=N,tpm=N,"
	    "concurrent=N]...\n"
	    "            [--format text|json|line]\n\n"
	    "check: validate FILE (exit 0, or 1 with FILE: JSON.PATH: what was\n"
	    "expected). show: print FILE back in normal form. eval: the verdict\n"
	    "for one request at TIME (RFC 3339, default now) given the usage so\n"
	    "far of each rule, its deciding rule, reset time and what is left;\n"
	    "nothing is sent and nothing sleeps. `line` is the .cases format of\n"
	    "policies/README.md. apply, and show without FILE, need the daemon\n"
	    "(not in this version).\n", f);
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

int
cmd_policy(struct cli *cli, int argc, char **argv)
{
	struct policy *p;
	char *s;
	int rc = CLI_EXIT_OK;

	/* `policy --help` and `policy SUB [...] --help` alike */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			policy_usage_text(stdout);
			return CLI_EXIT_OK;
		}
	}
	if (argc < 3 || (strcmp(argv[1], "check") && strcmp(argv[1], "show") &&
	    strcmp(argv[1], "eval"))) {
		if (argc >= 2 && strcmp(argv[1], "apply") == 0) {
			fprintf(stderr, "tollctl policy apply: needs the daemon: "
			    "not in this version\n");
			return CLI_EXIT_ERR;
		}
		if (argc == 2 && strcmp(argv[1], "show") == 0) {
			fprintf(stderr, "tollctl policy show: without FILE it "
			    "needs the daemon: not in this version\n");
			return CLI_EXIT_ERR;
		}
		policy_usage_text(stderr);
		return CLI_EXIT_ERR;
	}
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
