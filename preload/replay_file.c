/* replay_file.c — replay one range of a spool file, pipelined; see
 * replay.h. */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "replay.h"
#include "say.h"
#include "shim.h"
#include "spool.h"

struct flight {
	uint32_t seq[REPLAY_WINDOW];
	off_t start[REPLAY_WINDOW]; /* where each record begins in the file */
	int n;
};

struct file_pass {
	int sent, acked, refused, refused_code;
	int ended;          /* read to the end of the range */
	int bad;            /* stopped at a record that cannot be read */
	int stalled;        /* a transient refusal: stop here */
	off_t first_failed; /* start of the first record the daemon refused */
	const char *why;
};

int64_t
shim_replay_step_deadline(int64_t end, int64_t step)
{
	int64_t d = shim_now_mono() + step;

	return (end && end < d) ? end : d;
}

static void
refused(struct file_pass *fp, const struct shim_reply *r, off_t start)
{
	int code = r->hdr.type == TG_MSG_FAIL ? (int)r->u.fail.code : 0;

	if (start < fp->first_failed)
		fp->first_failed = start;
	if (code && shim_conn_permanent(code)) {
		fp->refused++;
		fp->refused_code = code;
	} else
		fp->stalled = 1; /* may pass later: keep the file */
}

/* Take one reply; match it to a record in flight. */
static int
collect(struct flight *w, struct file_pass *fp, int64_t dl)
{
	struct shim_reply r;
	int rc;

	if ((rc = shim_conn_recv(&r, dl)) != 0)
		return rc;
	for (int i = 0; i < w->n; i++) {
		if (w->seq[i] != r.hdr.seq)
			continue;
		if (r.hdr.type == TG_MSG_ACK)
			fp->acked++;
		else
			refused(fp, &r, w->start[i]);
		w->n--;
		w->seq[i] = w->seq[w->n];
		w->start[i] = w->start[w->n];
		break;
	}
	return 0; /* a stale reply of an earlier call: ignored */
}

/* Read the next record and send it. 0 sent; 1 nothing more to send now
 * (*rc set when the send failed). */
static int
send_next(struct replay_file *f, off_t *off, struct flight *w,
    struct file_pass *fp, int64_t dl, int *rc)
{
	struct tg_record rec;
	off_t start = *off;
	const char *why;
	int rd;

	if (f->to >= 0 && *off >= f->to) {
		fp->ended = 1;
		return 1;
	}
	if ((rd = shim_spool_read(f->fd, off, &rec, &why)) != 0) {
		fp->ended = rd != SPOOL_BAD;
		fp->bad = rd == SPOOL_BAD;
		fp->why = why;
		if (rd == SPOOL_TORN)
			shim_say("spool %.80s: %s at offset %lld; skipped",
			    f->name, why, (long long)*off);
		return 1;
	}
	if ((*rc = shim_conn_send(TG_MSG_RECORD, &rec, sizeof(rec),
	    &w->seq[w->n], dl)) != 0) {
		*off = start; /* not sent: the next pass sends it again */
		return 1;
	}
	w->start[w->n++] = start;
	fp->sent++;
	return 0;
}

/* Everything before this offset is acknowledged. */
static off_t
acked_upto(const struct flight *w, const struct file_pass *fp, off_t off)
{
	off_t upto = fp->first_failed < off ? fp->first_failed : off;

	for (int i = 0; i < w->n; i++)
		if (w->start[i] < upto)
			upto = w->start[i];
	return upto;
}

static int
outcome(struct replay_file *f, const struct file_pass *fp, int settled,
    off_t off)
{
	if (!settled)
		return REPLAY_PARTIAL;
	if (fp->bad)
		snprintf(f->why, sizeof(f->why), "%s at offset %lld", fp->why,
		    (long long)off);
	else if (fp->refused)
		snprintf(f->why, sizeof(f->why), "the daemon refused %d "
		    "record(s) (error %d)", fp->refused, fp->refused_code);
	if (fp->bad || fp->refused)
		return REPLAY_BAD;
	return fp->ended ? REPLAY_DONE : REPLAY_PARTIAL;
}

int
shim_replay_range(struct replay_file *f, int64_t end, int64_t step,
    struct replay_result *res)
{
	struct flight w = { .n = 0 };
	struct file_pass fp = { .first_failed = (off_t)1 << 62 };
	off_t off = f->from;
	int rc = 0, more = 1;

	for (;;) {
		while (more && rc == 0 && !fp.stalled && w.n < REPLAY_WINDOW &&
		    !(end && shim_now_mono() >= end))
			more = !send_next(f, &off, &w, &fp,
			    shim_replay_step_deadline(end, step), &rc);
		if (w.n == 0 || rc != 0 || fp.stalled)
			break;
		rc = collect(&w, &fp, shim_replay_step_deadline(end, step));
	}
	res->acked += fp.acked;
	f->upto = acked_upto(&w, &fp, off);
	if (rc == SHIM_LOST)
		res->lost = 1;
	else if (rc != 0 || fp.stalled || more)
		res->stalled = 1; /* a timeout, a refusal for now, or end */
	return outcome(f, &fp, rc == 0 && !fp.stalled && w.n == 0 && !more,
	    off);
}
