/* test_idle.c — idle GPU holders (ctl/daemon/idle.c, issue 6) with a fake
 * clock: open, activity, idle after exactly after_seconds, release;
 * exclusion; terminate only for matching tags, after exactly the grace,
 * SIGKILL IDLE_KILL_AFTER_S later for a process that ignores SIGTERM,
 * cancelled by activity; a registered process's launches as activity and
 * the host GPU's price; the metrics. Plus the policy's "idle" section:
 * defaults, values, errors naming the field, print-back, tag selectors.
 * The holders are children of this test (pidfds need live processes). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon.h"
#include "idle.h"
#include "metrics.h"
#include "policy.h"
#include "probes.h"

#define S(x) ((int64_t)(x) * 1000000000LL)

static char err[512];

static struct policy *
parse(const char *idle)
{
	char text[2048];

	snprintf(text, sizeof(text), "{\"schema_version\": 1, \"timezone\": "
	    "\"UTC\"%s%s}", *idle ? ", \"idle\": " : "", idle);
	err[0] = '\0';
	return policy_parse("t.json", text, strlen(text), err, sizeof(err));
}

/* ---- the policy section ------------------------------------------------ */

static void
test_policy_defaults(void **state)
{
	struct policy *p = parse("");
	char *s;

	assert_non_null(p);
	assert_int_equal(p->idle.set, 0);
	assert_int_equal(p->idle.after_seconds, 600);
	assert_int_equal(p->idle.action, POLICY_IDLE_NOTIFY);
	assert_int_equal(p->idle.grace_seconds, 60);
	assert_int_equal(p->idle.ntags, 0);
	s = policy_show(p);
	assert_null(strstr(s, "idle"));
	free(s);
	policy_free(p);
}

static void
test_policy_values(void **state)
{
	struct policy *p = parse("{\"after_seconds\": 1800, \"action\": "
	    "\"terminate\", \"grace_seconds\": 90, \"tags\": [\"team=batch\", "
	    "\"purpose=ml-*\"], \"exclude\": [\"my-agent\"]}");
	struct policy *q;
	char *s1, *s2;

	assert_non_null(p);
	assert_int_equal(p->idle.set, 1);
	assert_int_equal(p->idle.after_seconds, 1800);
	assert_int_equal(p->idle.action, POLICY_IDLE_TERMINATE);
	assert_int_equal(p->idle.grace_seconds, 90);
	assert_int_equal(p->idle.ntags, 2);
	assert_string_equal(p->idle.tags[1], "purpose=ml-*");
	assert_int_equal(p->idle.nexclude, 1);
	assert_string_equal(p->idle.exclude[0], "my-agent");
	/* printed back in normal form; that re-parses to the same text */
	s1 = policy_show(p);
	assert_non_null(strstr(s1, "\"idle\": {\n    \"after_seconds\": 1800,\n"
	    "    \"action\": \"terminate\",\n    \"grace_seconds\": 90,\n"));
	q = policy_parse("show", s1, strlen(s1), err, sizeof(err));
	assert_non_null(q);
	s2 = policy_show(q);
	assert_string_equal(s1, s2);
	free(s1);
	free(s2);
	policy_free(q);
	policy_free(p);
	/* notify: the terminate keys are not printed */
	p = parse("{\"after_seconds\": 5}");
	s1 = policy_show(p);
	assert_non_null(strstr(s1, "\"idle\": {\n    \"after_seconds\": 5,\n"
	    "    \"action\": \"notify\",\n    \"exclude\": []\n  }"));
	free(s1);
	policy_free(p);
}

static void
bad(const char *idle, const char *want)
{
	struct policy *p = parse(idle);

	if (p != NULL)
		fail_msg("%s: parsed", idle);
	assert_string_equal(err, want);
}

static void
test_policy_errors(void **state)
{
	bad("5", "t.json: idle: expected {\"after_seconds\": N, \"action\": "
	    "\"notify\"|\"terminate\", ...}");
	bad("{\"after\": 5}", "t.json: idle: unknown key 'after'");
	bad("{\"after_seconds\": 0}", "t.json: idle.after_seconds: expected a "
	    "positive integer, at most 604800");
	bad("{\"after_seconds\": 604801}", "t.json: idle.after_seconds: "
	    "expected a positive integer, at most 604800");
	bad("{\"after_seconds\": \"30m\"}", "t.json: idle.after_seconds: "
	    "expected a positive integer, at most 604800");
	bad("{\"action\": \"kill\"}", "t.json: idle.action: expected "
	    "\"notify|terminate\"");
	bad("{\"grace_seconds\": 5}", "t.json: idle.grace_seconds: expected "
	    "only with \"action\": \"terminate\"");
	bad("{\"tags\": [\"team=a\"]}", "t.json: idle.tags: expected only "
	    "with \"action\": \"terminate\"");
	bad("{\"action\": \"terminate\"}", "t.json: idle.tags: expected 1 to "
	    "8 \"KEY=GLOB\" tags with \"action\": \"terminate\" (only the "
	    "processes they select are terminated)");
	bad("{\"action\": \"terminate\", \"tags\": [\"team=a\"], "
	    "\"grace_seconds\": 3601}", "t.json: idle.grace_seconds: expected "
	    "a positive integer, at most 3600");
	bad("{\"action\": \"terminate\", \"tags\": [\"team=a\", \"team\"]}",
	    "t.json: idle.tags[1]: expected \"KEY=GLOB\" (a tag key of "
	    "letters, digits, '_', '.', '-'; a glob of 1 to 255 bytes)");
	bad("{\"action\": \"terminate\", \"tags\": [\"=a\"]}",
	    "t.json: idle.tags[0]: expected \"KEY=GLOB\" (a tag key of "
	    "letters, digits, '_', '.', '-'; a glob of 1 to 255 bytes)");
	bad("{\"exclude\": [\"/usr/bin/x\"]}", "t.json: idle.exclude[0]: "
	    "expected an executable's file name (1 to 255 bytes, no '/')");
	bad("{\"exclude\": \"x\"}", "t.json: idle.exclude: expected a list of "
	    "at most 16 executable names");
}

static void
test_policy_tag_match(void **state)
{
	struct policy *p = parse("{\"action\": \"terminate\", \"tags\": "
	    "[\"team=ba*\", \"purpose=train\"]}");

	assert_non_null(p);
	assert_int_equal(policy_idle_tags_match(&p->idle, "team=batch"), 1);
	assert_int_equal(policy_idle_tags_match(&p->idle,
	    "x=1,purpose=train"), 1);
	assert_int_equal(policy_idle_tags_match(&p->idle, "team=web"), 0);
	assert_int_equal(policy_idle_tags_match(&p->idle, "teams=batch"), 0);
	assert_int_equal(policy_idle_tags_match(&p->idle, "purpose=trains"), 0);
	assert_int_equal(policy_idle_tags_match(&p->idle, ""), 0);
	policy_free(p);
	p = parse("{\"action\": \"terminate\", \"tags\": [\"team=*\"]}");
	assert_int_equal(policy_idle_tags_match(&p->idle, "team="), 0);
	assert_int_equal(policy_idle_tags_match(&p->idle, "team=x"), 1);
	policy_free(p);
}

/* ---- the daemon's state ------------------------------------------------ */

#define MAX_KIDS 8
static struct tgd D;
static pid_t kids[MAX_KIDS];
static int nkids;

/* A child that sleeps: forked (this test's exe), or exec'd as
 * /bin/sleep with env; ignore_term: SIGTERM ignored. */
static pid_t
kid(const char *env, int ignore_term)
{
	char exe[64], buf[256];
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { "sleep", "1000", NULL };
		char *envp[] = { (char *)env, NULL };

		if (ignore_term)
			signal(SIGTERM, SIG_IGN);
		if (env != NULL)
			execve("/bin/sleep", argv, envp);
		for (;;)
			pause();
	}
	kids[nkids++] = pid;
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	for (int i = 0; env != NULL && i < 500; i++) { /* until it exec'd */
		ssize_t n = readlink(exe, buf, sizeof(buf) - 1);
		if (n > 0 && (buf[n] = '\0', strstr(buf, "sleep")))
			break;
		usleep(2000);
	}
	return pid;
}

/* The signal that killed pid within ms milliseconds; 1000: it exited;
 * 0: still alive then. */
static int
killed_within(pid_t pid, int ms)
{
	int st;

	for (int i = 0; i <= ms / 5; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			for (int k = 0; k < nkids; k++)
				if (kids[k] == pid)
					kids[k] = 0;
			return WIFSIGNALED(st) ? WTERMSIG(st) : 1000;
		}
		usleep(5000);
	}
	return 0;
}
/* A signal sent is delivered within 50 ms on an idle machine: a process
 * still there after 50 ms was not signalled (the tests wait 2 s for the
 * ones that were). */
#define killed_by(pid) killed_within((pid), 50)
#define dies_of(pid) killed_within((pid), 2000)

static int
setup(void **state)
{
	memset(&D, 0, sizeof(D));
	nkids = 0;
	return 0;
}

static int
teardown(void **state)
{
	for (int k = 0; k < nkids; k++)
		if (kids[k] > 0) {
			kill(kids[k], SIGKILL);
			waitpid(kids[k], NULL, 0);
		}
	idle_reset();
	policy_free(D.policy);
	metrics_free(D.metrics);
	tg_prices_free(D.prices);
	return 0;
}

/* The document's entry of pid, or NULL. */
static json_t *
entry(json_t *doc, pid_t pid)
{
	json_t *procs = json_object_get(doc, "processes"), *p;
	size_t i;

	json_array_foreach(procs, i, p)
		if (json_integer_value(json_object_get(p, "pid")) == pid)
			return p;
	return NULL;
}

#define FIELD_INT(e, k) json_integer_value(json_object_get((e), (k)))
#define FIELD_BOOL(e, k) json_is_true(json_object_get((e), (k)))
#define FIELD_STR(e, k) json_string_value(json_object_get((e), (k)))

/* held_s, idle_s, idle, state of pid at now. */
static void
expect(pid_t pid, int64_t now, long held, long idle, int is_idle,
    const char *st)
{
	json_t *doc = idle_json(&D, 0, now), *e = entry(doc, pid);

	if (e == NULL)
		fail_msg("pid %d not listed at %lld", (int)pid, (long long)now);
	assert_int_equal(FIELD_INT(e, "held_s"), held);
	assert_int_equal(FIELD_INT(e, "idle_s"), idle);
	assert_int_equal(FIELD_BOOL(e, "idle"), is_idle);
	assert_string_equal(FIELD_STR(e, "state"), st);
	json_decref(doc);
}

static void
test_state(void **state)
{
	pid_t a = kid(NULL, 0);
	json_t *doc, *e;

	D.policy = parse("{\"after_seconds\": 10}");
	idle_gpu_open(&D, a, S(100));
	idle_gpu_open(&D, a, S(105));           /* known: held since 100 */
	idle_gpu_activity(&D, a, 5, S(103));
	idle_gpu_activity(&D, a, 2, S(101));    /* older: last stays 103 */
	idle_gpu_activity(&D, 999999, 1, S(104)); /* not a holder */
	idle_tick(&D, S(112) + 999999999);
	expect(a, S(112) + 999999999, 12, 9, 0, "active");
	idle_tick(&D, S(113));
	expect(a, S(113), 13, 10, 1, "idle");
	doc = idle_json(&D, 0, S(113));
	e = entry(doc, a);
	assert_int_equal(FIELD_INT(e, "activity"), 7);
	assert_int_equal(FIELD_INT(e, "uid"), getuid());
	assert_int_equal(FIELD_BOOL(e, "excluded"), 0);
	assert_int_equal(FIELD_BOOL(e, "registered"), 0);
	assert_non_null(strstr(FIELD_STR(e, "exe"), "test_idle"));
	assert_int_equal(FIELD_INT(doc, "idle_after_s"), 10);
	assert_string_equal(FIELD_STR(doc, "action"), "notify");
	assert_int_equal(FIELD_INT(e, "wasted_nano_usd_per_hour"), 0);
	json_decref(doc);
	/* another user sees nothing of it */
	doc = idle_json(&D, getuid() + 1, S(113));
	assert_null(entry(doc, a));
	json_decref(doc);
	idle_gpu_activity(&D, a, 1, S(114));
	idle_tick(&D, S(114));
	expect(a, S(120), 20, 6, 0, "active");
	idle_gpu_release(&D, a, S(121));
	doc = idle_json(&D, 0, S(121));
	assert_int_equal(json_array_size(json_object_get(doc, "processes")), 0);
	json_decref(doc);
	/* notify never signals */
	assert_int_equal(killed_by(a), 0);
}

static void
test_defaults_without_section(void **state)
{
	pid_t a = kid(NULL, 0);

	D.policy = parse("");
	idle_gpu_open(&D, a, S(0));
	idle_tick(&D, S(599));
	expect(a, S(599), 599, 599, 0, "active");
	idle_tick(&D, S(600));
	expect(a, S(600), 600, 600, 1, "idle");
}

static void
test_exclusion(void **state)
{
	pid_t a;

	assert_int_equal(idle_excluded("/usr/bin/nvidia-persistenced", NULL), 1);
	assert_int_equal(idle_excluded("/usr/bin/nv-hostengine", NULL), 1);
	assert_int_equal(idle_excluded("/usr/bin/nvidia-smi", NULL), 1);
	assert_int_equal(idle_excluded("/usr/bin/dcgm-exporter", NULL), 1);
	assert_int_equal(idle_excluded("/usr/bin/nvidia-smi2", NULL), 0);
	assert_int_equal(idle_excluded("/usr/bin/python3", NULL), 0);
	assert_int_equal(idle_excluded("", NULL), 0);
	D.policy = parse("{\"after_seconds\": 2, \"action\": \"terminate\", "
	    "\"grace_seconds\": 1, \"tags\": [\"team=*\"], \"exclude\": "
	    "[\"test_idle\"]}");
	assert_int_equal(idle_excluded("/x/test_idle", &D.policy->idle), 1);
	/* listed, excluded, never acted on (its tags would match) */
	a = kid(NULL, 0);
	idle_gpu_open(&D, a, S(0));
	for (int t = 1; t <= 30; t++)
		idle_tick(&D, S(t));
	expect(a, S(30), 30, 30, 1, "excluded");
	assert_int_equal(killed_by(a), 0);
}

static void
test_terminate(void **state)
{
	pid_t batch, web, stubborn, woke;
	static struct peer peer;
	static struct proc reg;
	json_t *doc;

	D.policy = parse("{\"after_seconds\": 10, \"action\": \"terminate\", "
	    "\"grace_seconds\": 5, \"tags\": [\"team=batch\"]}");
	batch = kid("TOLLGATE_TAGS=team=batch,purpose=x", 0);
	web = kid("TOLLGATE_TAGS=team=web", 0);
	woke = kid("TOLLGATE_TAGS=team=batch", 0);
	stubborn = kid(NULL, 1);
	/* stubborn is registered: the shim's tags, not its environment's */
	memset(&reg, 0, sizeof(reg));
	peer.pid = stubborn;
	reg.peer = &peer;
	tg_strlcpy(reg.tags, "team=batch", sizeof(reg.tags));
	D.procs_all = &reg;
	for (int i = 0; i < 4; i++)
		idle_gpu_open(&D, (pid_t[]){ batch, web, woke, stubborn }[i],
		    S(0));
	doc = idle_json(&D, 0, S(0));
	assert_string_equal(FIELD_STR(entry(doc, batch), "tags"),
	    "team=batch,purpose=x");
	assert_string_equal(FIELD_STR(entry(doc, batch), "exe"), "/usr/bin/sleep");
	assert_string_equal(FIELD_STR(entry(doc, stubborn), "tags"), "team=batch");
	assert_int_equal(FIELD_BOOL(entry(doc, stubborn), "registered"), 1);
	json_decref(doc);
	idle_tick(&D, S(9));
	idle_tick(&D, S(10));                   /* idle: grace until 15 */
	expect(batch, S(10), 10, 10, 1, "grace");
	expect(web, S(10), 10, 10, 1, "idle");
	idle_gpu_activity(&D, woke, 1, S(12));  /* active again */
	idle_tick(&D, S(14) + 999999999);
	assert_int_equal(killed_by(batch), 0);
	expect(woke, S(14) + 999999999, 14, 2, 0, "active");
	idle_tick(&D, S(15));                   /* grace over */
	assert_int_equal(dies_of(batch), SIGTERM);
	assert_int_equal(killed_by(web), 0);
	assert_int_equal(killed_by(woke), 0);
	assert_int_equal(killed_by(stubborn), 0); /* ignores SIGTERM */
	expect(stubborn, S(15), 15, 15, 1, "sigterm");
	idle_gpu_release(&D, batch, S(15));
	/* its shutdown's GPU ioctls after SIGTERM cancel nothing */
	idle_gpu_activity(&D, stubborn, 3, S(17));
	idle_tick(&D, S(17));
	idle_tick(&D, S(19) + 999999999);
	assert_int_equal(killed_by(stubborn), 0);
	idle_tick(&D, S(20));                   /* IDLE_KILL_AFTER_S = 5 */
	assert_int_equal(dies_of(stubborn), SIGKILL);
	/* woke: idle again at 22, SIGTERM at 27 */
	idle_tick(&D, S(22));
	expect(woke, S(22), 22, 10, 1, "grace");
	idle_tick(&D, S(26) + 999999999);
	assert_int_equal(killed_by(woke), 0);
	idle_tick(&D, S(27));
	assert_int_equal(dies_of(woke), SIGTERM);
	doc = idle_json(&D, 0, S(28));
	assert_int_equal(FIELD_INT(doc, "terminations"), 3);
	json_decref(doc);
	for (int t = 28; t < 60; t++)
		idle_tick(&D, S(t));
	assert_int_equal(killed_by(web), 0);
	D.procs_all = NULL;
}

/* A registered process: launches on its counters page are activity; its
 * device's name gives the host GPU's price; the metrics. */
static void
test_shim_launches_price_metrics(void **state)
{
	static struct tg_counters_page page;
	static struct peer peer;
	static struct proc reg;
	char path[] = "/tmp/test_idle_prices.XXXXXX", line[256], *text;
	pid_t a = kid(NULL, 0), b = kid("TOLLGATE_TAGS=team=q\"x", 0);
	FILE *f;
	int fd;
	json_t *doc, *e;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("{\"schema_version\": 1, \"models\": {}, \"gpus\": {\"H100\": "
	    "{\"usd_per_hour\": 2.99}}}", f);
	fclose(f);
	D.prices = tg_prices_load(path, err, sizeof(err));
	unlink(path);
	assert_non_null(D.prices);
	D.metrics = metrics_new("team", 100, &D.health, err, sizeof(err));
	assert_non_null(D.metrics);
	D.policy = parse("{\"after_seconds\": 10}");
	memset(&page, 0, sizeof(page));
	page.gpu[0].used = 1;
	tg_strlcpy(page.gpu[0].name, "NVIDIA H100 80GB HBM3",
	    sizeof(page.gpu[0].name));
	page.gpu_launches = 40;                 /* before: not activity */
	memset(&reg, 0, sizeof(reg));
	peer.pid = a;
	reg.peer = &peer;
	reg.cpage = &page;
	tg_strlcpy(reg.tags, "team=train", sizeof(reg.tags));
	D.procs_all = &reg;
	idle_gpu_open(&D, a, S(0));
	idle_gpu_open(&D, b, S(1));
	idle_tick(&D, S(1));
	page.gpu_launches = 47;
	idle_tick(&D, S(4));                    /* 7 launches: active at 4 */
	idle_tick(&D, S(13) + 999999999);
	expect(a, S(13) + 999999999, 13, 9, 0, "active");
	idle_tick(&D, S(14));
	doc = idle_json(&D, 0, S(14));
	assert_string_equal(FIELD_STR(doc, "gpu"), "H100");
	assert_int_equal(FIELD_INT(doc, "gpu_nano_usd_per_hour"), 2990000000LL);
	e = entry(doc, a);
	assert_int_equal(FIELD_INT(e, "activity"), 7);
	assert_int_equal(FIELD_INT(e, "idle_s"), 10);
	assert_string_equal(FIELD_STR(e, "tags"), "team=train");
	assert_int_equal(FIELD_INT(e, "wasted_nano_usd_per_hour"), 2990000000LL);
	assert_string_equal(FIELD_STR(e, "wasted_usd_per_hour"), "2.99");
	/* the longest idle first: b (since 1) before a (since 4) */
	assert_int_equal(FIELD_INT(json_array_get(json_object_get(doc,
	    "processes"), 0), "pid"), b);
	json_decref(doc);
	text = metrics_render(D.metrics);
	snprintf(line, sizeof(line), "\ntollgate_gpu_idle_seconds{pid=\"%d\","
	    "exe=\"/usr/bin/sleep\",tags=\"team=q\\\"x\"} 13\n", (int)b);
	assert_non_null(strstr(text, line));
	snprintf(line, sizeof(line), "\ntollgate_gpu_idle_seconds{pid=\"%d\","
	    "exe=\"", (int)a);
	assert_non_null(strstr(text, line));
	assert_non_null(strstr(text, "\",tags=\"team=train\"} 10\n"));
	assert_non_null(strstr(text, "\ntollgate_gpu_idle_processes 2\n"));
	assert_non_null(strstr(text,
	    "\ntollgate_gpu_idle_terminations_total 0\n"));
	assert_non_null(strstr(text, "# TYPE tollgate_gpu_idle_seconds gauge\n"));
	free(text);
	D.procs_all = NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_defaults),
		cmocka_unit_test(test_policy_values),
		cmocka_unit_test(test_policy_errors),
		cmocka_unit_test(test_policy_tag_match),
		cmocka_unit_test_setup_teardown(test_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_without_section,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_exclusion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shim_launches_price_metrics,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
