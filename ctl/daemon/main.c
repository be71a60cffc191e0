/*
 * tollgated — meters and caps what AI workloads cost on this host.
 *
 *   tollgated [--policy FILE] [--socket PATH] [--state-dir DIR]
 *             [--http ADDR:PORT|off] [--audit] [--prices FILE]
 *             [--retention-days N] [--metric-labels a,b] [--metric-series N]
 *             [--gpu-interval SECONDS] [--gpu-dev-prefix PREFIX]
 *             [--probes on|off] [--fake-clock FILE] [--debug]
 *
 * --gpu-interval (default 60, 1 to 3600): how often the GPU counters the
 * shim keeps in each process's page become ledger records (gpu_settle.h);
 * also when a process's registration ends and at shutdown.
 *
 * --gpu-dev-prefix (default /dev/nvidia): opening a path that starts with
 * it makes a process a GPU device holder (bpf/gpudev.*); tests give a
 * stand-in.
 *
 * --probes off: load no eBPF probe (bpf/; on by default, root only): no
 * idle GPU holders, no audit; the shim's processes are metered as ever.
 *
 * Runs in the foreground and logs to stderr. SIGHUP reloads the price
 * table and the policy (a bad policy is refused; the old one stays);
 * SIGTERM/SIGINT stop accepting, commit and acknowledge what was received,
 * thaw what the policy froze, and exit 0. Exit 1: a start-up error (one
 * line says which).
 *
 * --fake-clock FILE is for tests: the wall clock the policy sees starts at
 * the time in FILE (seconds since the epoch, fractions allowed) and runs
 * on from there; SIGUSR1 reads FILE again, as if the clock had been set.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "paths.h"
#include "probes.h"

#define RETAIN_EVERY_S 3600
#define DEFAULT_RETENTION_DAYS 30

static void
usage(void)
{
	fprintf(stderr, "usage: tollgated [--policy FILE] [--socket PATH] "
	    "[--state-dir DIR] [--http ADDR:PORT|off]\n"
	    "                 [--audit] [--prices FILE] [--retention-days N] "
	    "[--metric-labels a,b]\n"
	    "                 [--metric-series N] [--gpu-interval SECONDS] "
	    "[--fake-clock FILE]\n"
	    "                 [--gpu-dev-prefix PREFIX] [--probes on|off] "
	    "[--debug]\n"
	    "  --gpu-interval  seconds between GPU usage records of a running\n"
	    "                  process (default 60, 1 to 3600)\n");
	exit(1);
}

struct opts {
	const char *socket, *state, *http, *prices, *labels;
	long series;
	int debug;
};

static long
num_arg(const char *flag, const char *v, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *v == '\0' || *end || n < min || n > max)
		fatalx("%s %s: expected a whole number from %ld to %ld", flag, v,
		    min, max);
	return n;
}

static void
parse_args(struct tgd *d, struct opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "http", required_argument, NULL, 'h' },
		{ "audit", no_argument, NULL, 'a' },
		{ "prices", required_argument, NULL, 'P' },
		{ "retention-days", required_argument, NULL, 'r' },
		{ "metric-labels", required_argument, NULL, 'l' },
		{ "metric-series", required_argument, NULL, 'n' },
		{ "debug", no_argument, NULL, 'd' },
		{ "fake-clock", required_argument, NULL, 'F' },
		{ "gpu-interval", required_argument, NULL, 'g' },
		{ "gpu-dev-prefix", required_argument, NULL, 'G' },
		{ "probes", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': d->policy_path = optarg; break;
		case 's': o->socket = optarg; break;
		case 'S': o->state = optarg; break;
		case 'h': o->http = optarg; break;
		case 'a': d->audit = 1; break;
		case 'P': o->prices = optarg; break;
		case 'r':
			d->retention_days = (int)num_arg("--retention-days",
			    optarg, 0, 36500);
			break;
		case 'l': o->labels = optarg; break;
		case 'n': o->series = num_arg("--metric-series", optarg, 0,
		    1000000); break;
		case 'd': o->debug = 1; break;
		case 'F': d->fake_clock = optarg; break;
		case 'g':
			d->gpu_interval = (int)num_arg("--gpu-interval", optarg,
			    1, TGD_GPU_INTERVAL_MAX);
			break;
		case 'G':
			if (*optarg == '\0' || strlen(optarg) >=
			    sizeof(d->gpu_dev_prefix))
				fatalx("--gpu-dev-prefix %s: expected 1 to %zu "
				    "bytes", optarg,
				    sizeof(d->gpu_dev_prefix) - 1);
			tg_strlcpy(d->gpu_dev_prefix, optarg,
			    sizeof(d->gpu_dev_prefix));
			break;
		case 'B':
			if (strcmp(optarg, "on") != 0 &&
			    strcmp(optarg, "off") != 0)
				fatalx("--probes %s: expected on or off",
				    optarg);
			d->probes_off = strcmp(optarg, "off") == 0;
			break;
		default: usage();
		}
	}
	if (d->audit && d->probes_off)
		fatalx("--audit needs the eBPF probes: drop --probes off");
	if (optind != argc)
		usage();
}

static void
set_paths(struct tgd *d, const struct opts *o)
{
	if (o->socket)
		tg_strlcpy(d->socket_path, o->socket, sizeof(d->socket_path));
	else if (tg_path_socket(d->socket_path, sizeof(d->socket_path)) == -1)
		fatalx("socket path too long; give --socket");
	if (o->state)
		tg_strlcpy(d->state_dir, o->state, sizeof(d->state_dir));
	else if (tg_path_state_dir(d->state_dir, sizeof(d->state_dir)) == -1)
		fatalx("state directory path too long; give --state-dir");
	if (snprintf(d->ledger_path, sizeof(d->ledger_path), "%s/ledger.db",
	    d->state_dir) >= (int)sizeof(d->ledger_path))
		fatalx("state directory path too long");
	if (tg_mkdirs(d->state_dir, 0700) == -1)
		fatal("cannot create the state directory %s", d->state_dir);
}

/* Spot pricing, and each GPU it bills on demand for want of a spot price:
 * one line each, at start and at every reload (on demand says nothing). */
static void
prices_log_gpu(const struct tg_prices *t)
{
	const char *g;
	int spot;

	if (tg_prices_gpu_pricing(t) != TG_GPU_SPOT)
		return;
	log_info("%s: GPU pricing: spot", __func__);
	for (size_t i = 0; (g = tg_prices_gpu_at(t, i, &spot)) != NULL; i++)
		if (!spot)
			log_warnx("%s: GPU %s has no spot_usd_per_hour; billed "
			    "at its on-demand usd_per_hour", __func__, g);
}

/* The table: --prices FILE, else the shipped one (tg_path_prices) merged
 * with /etc/tollgate/prices.json when that exists. NULL when none. */
static struct tg_prices *
prices_load(struct tgd *d, const char *given, char *err, size_t errlen)
{
	struct tg_prices *t;

	if (given)
		tg_strlcpy(d->prices_path, given, sizeof(d->prices_path));
	else if (tg_path_prices(d->prices_path, sizeof(d->prices_path)) == -1)
		d->prices_path[0] = '\0';
	if (d->prices_path[0] == '\0') {
		snprintf(err, errlen, "no price table found (give --prices FILE)");
		return NULL;
	}
	if ((t = tg_prices_load(d->prices_path, err, errlen)) == NULL)
		return NULL;
	if (!given && access(TG_DEFAULT_PRICE_OVERRIDES, R_OK) == 0 &&
	    tg_prices_merge(t, TG_DEFAULT_PRICE_OVERRIDES, err, errlen) == -1) {
		tg_prices_free(t);
		return NULL;
	}
	prices_log_gpu(t);
	return t;
}

static void
reload(struct tgd *d, const char *given)
{
	char err[300];
	struct tg_prices *t = prices_load(d, given, err, sizeof(err));

	if (t == NULL) {
		log_warnx("reload: %s; keeping the current prices", err);
	} else {
		/* Reservations hold costs, not price pointers: safe. */
		tg_prices_free(d->prices);
		d->prices = t;
		log_info("reload: %zu model prices from %s",
		    tg_prices_count(t), d->prices_path);
	}
	padmin_reload(d);
}

/* --fake-clock FILE: seconds since the epoch, with a fraction or not. */
static int
fake_clock_read(struct tgd *d)
{
	char buf[64], *end;
	long double v;
	ssize_t n;
	FILE *f;

	if ((f = fopen(d->fake_clock, "re")) == NULL) {
		log_warn("%s: %s", __func__, d->fake_clock);
		return -1;
	}
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n > 0 ? n : 0] = '\0';
	errno = 0;
	v = strtold(buf, &end);
	while (*end == '\n' || *end == ' ')
		end++;
	if (errno || end == buf || *end || v < 0 || v > 4e9) {
		log_warnx("%s: %s: expected seconds since the epoch", __func__,
		    d->fake_clock);
		return -1;
	}
	tgd_fake_clock((int64_t)(v * 1e9L));
	return 0;
}

static void
open_ledger(struct tgd *d)
{
	char err[300];

	if ((d->wlg = ledger_open(d->ledger_path, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((d->rlg = ledger_open(d->ledger_path, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((d->writer = ledger_writer_start(d->wlg, err, sizeof(err))) == NULL)
		fatalx("%s", err);
}

static void
start_metrics(struct tgd *d, const struct opts *o)
{
	const char *http = o->http ? o->http :
	    (geteuid() == 0 ? METRICS_DEFAULT_HTTP : "off");
	char err[300];

	d->metrics = metrics_new(o->labels ? o->labels : METRICS_DEFAULT_LABELS,
	    o->series >= 0 ? (size_t)o->series : METRICS_DEFAULT_CAP,
	    &d->health, err, sizeof(err));
	if (d->metrics == NULL)
		fatalx("%s", err);
	tg_strlcpy(d->http, http, sizeof(d->http));
	if (strcmp(http, "off") == 0)
		return;
	if (metrics_listen(d->metrics, http, err, sizeof(err)) == -1) {
		if (o->http)
			fatalx("%s", err);
		log_warnx("%s; /metrics is off", err);
		return;
	}
	log_info("metrics on http://%s/metrics", metrics_address(d->metrics));
}

static void
ep_add(struct tgd *d, int fd, struct evsrc *src, int kind)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = src };

	src->kind = kind;
	src->ptr = NULL;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		fatal("epoll_ctl");
}

static void
setup_events(struct tgd *d)
{
	struct itimerspec its = { { RETAIN_EVERY_S, 0 }, { RETAIN_EVERY_S, 0 } };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if ((d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->timerfd == -1 || timerfd_settime(d->timerfd, 0, &its, NULL) == -1)
		fatal("timerfd");
	if ((d->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	ep_add(d, d->lfd, &d->ev_listen, EV_LISTEN);
	ep_add(d, d->sigfd, &d->ev_signal, EV_SIGNAL);
	ep_add(d, ledger_writer_fd(d->writer), &d->ev_ledger, EV_LEDGER);
	ep_add(d, d->timerfd, &d->ev_timer, EV_TIMER);
	ep_add(d, d->ptimerfd, &d->ev_ptimer, EV_POLICY_TIMER);
	if (gpu_timer_init(d) == -1)
		fatal("GPU timer");
	ep_add(d, d->gtimerfd, &d->ev_gtimer, EV_GPU_TIMER);
}

static void
retain(struct tgd *d)
{
	int64_t keep = (int64_t)d->retention_days * 86400LL * 1000000000LL;

	/* the real clock, even under --fake-clock: records are kept by
	 * their real age */
	if (d->retention_days > 0 &&
	    ledger_retain(d->rlg, tgd_real_ns() - keep) == -1)
		log_warnx("retention: deleting old raw records failed");
}

static void
on_signal(struct tgd *d, const char *prices_arg)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			reload(d, prices_arg);
		else if (si.ssi_signo == SIGUSR1) {
			if (d->fake_clock && fake_clock_read(d) == 0)
				enforce_clock_changed(d);
		} else
			d->stop = 1;
	}
}

static void
on_event(struct tgd *d, struct evsrc *src, uint32_t events, const char *pa)
{
	uint64_t ticks;

	switch (src->kind) {
	case EV_LISTEN:
		if (!d->stop)
			control_accept(d);
		break;
	case EV_CONN:
		control_event(d, src->ptr, events);
		break;
	case EV_PIDFD:
		if (!((struct conn *)src->ptr)->closed)
			dispatch_proc_died(d, src->ptr);
		break;
	case EV_ORPHAN:
		orphan_died(d, src->ptr);
		break;
	case EV_SIGNAL:
		on_signal(d, pa);
		break;
	case EV_LEDGER:
		record_collect(d);
		break;
	case EV_TIMER:
		if (read(d->timerfd, &ticks, sizeof(ticks)) > 0)
			retain(d);
		break;
	case EV_POLICY_TIMER:
		enforce_timer(d);
		break;
	case EV_GPU_TIMER:
		gpu_timer(d);
		break;
	case EV_PROBE_RING:
		probes_ring_ready(d, src->ptr);
		break;
	case EV_PROBE_TICK:
		probes_tick(d);
		break;
	}
}

static void
loop(struct tgd *d, const char *prices_arg)
{
	struct epoll_event evs[128];
	int n;

	while (!d->stop) {
		n = epoll_wait(d->epfd, evs, 128, control_accept_timeout(d));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (int i = 0; i < n; i++)
			on_event(d, evs[i].data.ptr, evs[i].events, prices_arg);
		if (d->enforce_dirty)
			enforce_scan(d);
		control_reap(d);
		orphan_reap(d);
	}
}

/* Stop accepting, commit and acknowledge what came in, then go. */
static void
shutdown_daemon(struct tgd *d, const struct stat *sock_st)
{
	struct stat st;

	close(d->lfd);
	if (stat(d->socket_path, &st) == 0 && st.st_ino == sock_st->st_ino &&
	    st.st_dev == sock_st->st_dev)
		unlink(d->socket_path);
	/* GPU use up to now: recorded before the last commit; the
	 * connections closed below find nothing more to settle */
	gpu_settle_all(d, 1);
	probes_stop(d);
	record_drain(d);
	enforce_exit(d);
	control_close_all(d);
	orphan_free_all(d);
	ledger_writer_stop(d->writer);
	ledger_close(d->wlg);
	ledger_close(d->rlg);
	metrics_free(d->metrics);
	tg_prices_free(d->prices);
	rules_free(&d->rules);
	policy_free(d->policy);
	log_info("stopped");
}

int
main(int argc, char **argv)
{
	static struct tgd d;
	struct opts o = { .series = -1 };
	struct stat sock_st;
	char err[300];
	sigset_t set;

	log_init("tollgated", 0);
	d.retention_days = DEFAULT_RETENTION_DAYS;
	d.gpu_interval = TGD_GPU_INTERVAL_DEFAULT;
	tg_strlcpy(d.gpu_dev_prefix, "/dev/nvidia", sizeof(d.gpu_dev_prefix));
	parse_args(&d, &o, argc, argv);
	log_init("tollgated", o.debug);
	/* Every thread started from here on (ledger writer, HTTP) inherits
	 * the mask: the signals come to the main loop's signalfd only. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	set_paths(&d, &o);
	if (o.http && strcmp(o.http, "off") != 0 &&
	    metrics_check_addr(o.http, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if ((d.lfd = control_listen(d.socket_path)) == -1)
		exit(1);
	if (stat(d.socket_path, &sock_st) == -1)
		fatal("%s", d.socket_path);
	if ((d.prices = prices_load(&d, o.prices, err, sizeof(err))) == NULL) {
		if (o.prices)
			fatalx("%s", err);
		log_warnx("%s; every model is recorded as unpriced", err);
	}
	if (d.fake_clock && fake_clock_read(&d) == -1)
		exit(1);
	if (runs_init(&d.runs) == -1 || admit_init(&d.admit) == -1 ||
	    htab_init(&d.procs, 256) == -1 || record_init(&d) == -1)
		fatalx("out of memory");
	open_ledger(&d);
	if (enforce_init(&d) == -1)
		fatal("policy timer");
	padmin_load_initial(&d);
	start_metrics(&d, &o);
	setup_events(&d);
	probes_start(&d);
	d.started_ns = tgd_mono_ns();
	retain(&d);
	log_info("listening on %s, ledger %s, %zu model prices", d.socket_path,
	    d.ledger_path, d.prices ? tg_prices_count(d.prices) : (size_t)0);
	loop(&d, o.prices);
	shutdown_daemon(&d, &sock_st);
	return 0;
}
