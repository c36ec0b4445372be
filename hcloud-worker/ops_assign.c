/* ops_assign.c: the assign operation: pre-read, server check, POST and
 * the action polls, each paced by the last reply's budget */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "hc.h"

/* Longest pause between polls while the API answers 429. */
#define HC_POLL_BACKOFF_MAX_MS 8000

/*
 * When to poll a running assign action, in ms after the POST was
 * answered (the action has started by then).  The points follow the
 * 1-2-5 series (1, 2, 5, 10, 20, 50 s: three per decade, each step at
 * most 2.5x), so the number of polls grows with the logarithm of the
 * action's length, and an action ending anywhere is noticed at worst
 * 1.5x its length late.  Each poll sits a guard after its series point
 * (250 ms, or 5 % from 10 s on) so that actions of 1, 2, 5 or 20 s,
 * the lengths we design for, are seen within that guard, with room for
 * server-side lag: late by at most max(10 %, 500 ms), in 3, 4, 5 and 7
 * requests with the read and the POST.  An action that never ends
 * costs 9 before the deadline makes the answer RES_UNKNOWN.  No
 * schedule gives max(10 %, 500 ms) for every length within 8 requests:
 * that alone needs a poll every 500 ms up to 5 s.
 */
static const int64_t poll_ms[] = { 1250, 2250, 5250, 10500, 21000, 52500 };

#ifdef SE_TEST_HOOKS
int64_t hc_test_assign_deadline_ms = 60000;
#endif

int64_t
hc_poll_at(unsigned k)
{
	const unsigned n = sizeof(poll_ms) / sizeof(poll_ms[0]);
	unsigned before;

	/* The polls due before the deadline (all of them unless a test
	 * build shortened it), then the deadline itself. */
	for (before = 0; before < n && poll_ms[before] < HC_ASSIGN_DEADLINE_MS;
	     before++)
		;
	if (k < before)
		return poll_ms[k];
	if (k == before)
		return HC_ASSIGN_DEADLINE_MS;
	return -1;
}

/* ---- MSG_HC_ASSIGN_REQ ---------------------------------------------- */

static int
read_fip(struct hc_ctx *ctx, int step)
{
	char path[64];

	(void)snprintf(path, sizeof(path), "/floating_ips/%" PRIu64,
	    ctx->op.fip_id);
	return hc_op_start(ctx, step, HC_GET, path, NULL);
}

/* The last reply left no token: the bucket refills one per 3600/Limit
 * s, so the next request would only draw a 429. */
static int
out_of_budget(const struct hc_op *op)
{
	return op->rl.limit != 0 && op->rl.remaining == 0;
}

static uint32_t
token_wait_ms(const struct hc_op *op)
{
	return hc_retry_after_ms(&op->rl, time(NULL));
}

/* Before the POST nothing has changed: hand the rest back to the
 * supervisor's governor rather than spend a token that is not there. */
static int
paused(struct hc_ctx *ctx)
{
	return hc_op_finish(ctx, RES_THROTTLED, token_wait_ms(&ctx->op), 0,
	    "no API budget left before the assign; nothing sent");
}

static int
checked_fresh(const struct hc_ctx *ctx)
{
	const struct hc_checked *c = &ctx->checked;

	return c->fip_id == ctx->op.fip_id &&
	    c->server_id == ctx->op.server_id &&
	    clock_ms() - c->at_ms < HC_CHECKED_MS;
}

static int
assign_post(struct hc_ctx *ctx)
{
	char path[80], body[48];

	/* snprintf, never a JSON library's number printer: 10^15 must not
	 * become 1e+15. */
	(void)snprintf(path, sizeof(path),
	    "/floating_ips/%" PRIu64 "/actions/assign", ctx->op.fip_id);
	(void)snprintf(body, sizeof(body), "{\"server\":%" PRIu64 "}",
	    ctx->op.server_id);
	return hc_op_start(ctx, HC_ST_POST, HC_POST, path, body);
}

static int
server_check(struct hc_ctx *ctx)
{
	char path[64];

	(void)snprintf(path, sizeof(path), "/servers/%" PRIu64,
	    ctx->op.server_id);
	return hc_op_start(ctx, HC_ST_SRVCHECK, HC_GET, path, NULL);
}

/* After the checks that passed: the server check if one is due, then
 * the POST, each only while the budget holds a token. */
static int
assign_next(struct hc_ctx *ctx, int server_ok)
{
	if (ctx->op.requests > 0 && out_of_budget(&ctx->op))
		return paused(ctx);
	if (!server_ok)
		return server_check(ctx);
	return assign_post(ctx);
}

int
hc_op_assign(struct hc_ctx *ctx, uint32_t seq, uint64_t fip, uint64_t srv)
{
	int r;

	if ((r = hc_op_busy(ctx, MSG_HC_ASSIGN_ANS, seq)) != 0)
		return r < 0 ? -1 : 0;
	hc_op_begin(ctx, HC_OP_ASSIGN, seq);
	ctx->op.fip_id = fip;
	ctx->op.server_id = srv;
	if (fip == 0 || fip > HC_ID_MAX || srv == 0 || srv > HC_ID_MAX)
		return hc_op_finish(ctx, RES_INVALID, 0, 0,
		    "Floating IP or server id outside 1..2^53-1");
	/* A retry after a 429 keeps the reads that succeeded. */
	if (checked_fresh(ctx)) {
		log_debug("assign retried: earlier checks kept", NULL);
		return assign_next(ctx, ctx->checked.server_ok);
	}
	memset(&ctx->checked, 0, sizeof(ctx->checked));
	/* Read first: an assign that is already true costs no write and
	 * no action, and a retried failover cannot move it twice. */
	return read_fip(ctx, HC_ST_READ);
}

static int
configured(const struct hc_ctx *ctx, const char *name)
{
	size_t i;

	for (i = 0; i < ctx->nnames; i++)
		if (strcmp(ctx->names[i], name) == 0)
			return (int)i;
	return -1;
}

static int
assign_read(struct hc_ctx *ctx, const struct hc_reply *r)
{
	struct hc_op *op = &ctx->op;
	struct hc_fip fip;
	struct hc_fail f;
	int d, idx;

	if (hc_op_reply_fail(ctx, r, &f) != 0)
		return hc_op_finish_fail(ctx, &f);
	if ((d = hc_decode_fip_reply(r->body, r->len, &fip)) != 0)
		return hc_op_malformed(ctx, RES_MALFORMED, d);
	if (fip.id != op->fip_id)
		return hc_op_finish(ctx, RES_MALFORMED, 0, 0,
		    "reply describes another Floating IP");
	/* Only the Floating IPs this daemon was configured with are ever
	 * moved, whatever id the supervisor sends, and only under the id
	 * they had when first read. */
	if ((idx = configured(ctx, fip.name)) < 0)
		return hc_op_finish(ctx, RES_REFUSED, 0, 0,
		    "not a configured Floating IP: refused");
	if (ctx->pinned[idx] != 0 && ctx->pinned[idx] != fip.id) {
		log_warn("assign refused: floating IP renamed or replaced",
		    "fip", fip.name, NULL);
		return hc_op_finish(ctx, RES_REFUSED, 0, 0,
		    "Floating IP renamed or replaced since the first read: "
		    "refused");
	}
	if (fip.server == op->server_id)
		return hc_op_finish(ctx, RES_OK, 0, 0, "");
	if (op->step == HC_ST_REREAD) {
		/* floating_ip_assigned, yet not on the target: report the
		 * refusal as it came. */
		return hc_op_finish(ctx, RES_INVALID, 0, 0, op->pending);
	}
	ctx->checked.fip_id = op->fip_id;
	ctx->checked.server_id = op->server_id;
	ctx->checked.at_ms = clock_ms();
	ctx->checked.server_ok = ctx->selector.n == 0;
	return assign_next(ctx, ctx->checked.server_ok);
}

static int
assign_server(struct hc_ctx *ctx, const struct hc_reply *r)
{
	struct hc_server srv;
	struct hc_fail f;
	char id[24];
	int d;

	if (hc_op_reply_fail(ctx, r, &f) != 0)
		return hc_op_finish_fail(ctx, &f);
	if ((d = hc_decode_server_reply(r->body, r->len, &srv)) != 0)
		return hc_op_malformed(ctx, RES_MALFORMED, d);
	if (srv.id != ctx->op.server_id)
		return hc_op_finish(ctx, RES_MALFORMED, 0, 0,
		    "reply describes another server");
	if (!hc_selector_match(&ctx->selector, &srv.labels)) {
		(void)snprintf(id, sizeof(id), "%" PRIu64, srv.id);
		log_warn("assign refused: server does not match "
			 "--hcloud-server-label-selector",
		    "server", id, NULL);
		memset(&ctx->checked, 0, sizeof(ctx->checked));
		return hc_op_finish(ctx, RES_SERVER_REFUSED, 0, 0,
		    "target server does not match "
		    "--hcloud-server-label-selector: refused");
	}
	ctx->checked.server_ok = 1;
	return assign_next(ctx, 1);
}

static int
schedule_poll(struct hc_ctx *ctx)
{
	struct hc_op *op = &ctx->op;
	int64_t at = hc_poll_at(op->polls), due;
	struct hc_fail f;

	if (at < 0 ||
	    (op->throttled > 0 &&
		clock_ms() - op->t0_ms > HC_ASSIGN_DEADLINE_MS)) {
		hc_failf(&f, RES_UNKNOWN,
		    "action %" PRIu64 " still running after %d s",
		    op->action_id, (int)(HC_ASSIGN_DEADLINE_MS / 1000));
		return hc_op_finish_fail(ctx, &f);
	}
	op->timer_ms = op->t0_ms + at;
	/* No poll before the bucket holds a token again. */
	if (out_of_budget(op) &&
	    (due = op->reply_ms + token_wait_ms(op)) > op->timer_ms)
		op->timer_ms = due;
	op->step = HC_ST_WAIT;
	return 0;
}

static int
action_seen(struct hc_ctx *ctx, const struct hc_action *a)
{
	struct hc_fail f;

	switch (a->status) {
	case HC_ACTION_SUCCESS:
		return hc_op_finish(ctx, RES_OK, 0, 0, "");
	case HC_ACTION_ERROR:
		hc_failf(&f, RES_ACTION_FAILED,
		    "action %" PRIu64 " failed: %s (%s)", a->id, a->message,
		    a->code);
		return hc_op_finish_fail(ctx, &f);
	}
	if (ctx->op.action_id == 0) {
		ctx->op.action_id = a->id;
		ctx->op.t0_ms = clock_ms();
	}
	return schedule_poll(ctx);
}

static int
assign_posted(struct hc_ctx *ctx, const struct hc_reply *r)
{
	struct hc_action a;
	struct hc_error e;
	struct hc_fail f;
	int d;

	if (hc_op_reply_fail(ctx, r, &f) != 0) {
		/* A 429 executed nothing: the checks stay valid for the
		 * retry.  Anything else may have changed something. */
		if (f.result != RES_THROTTLED)
			memset(&ctx->checked, 0, sizeof(ctx->checked));
		/* Already there, per the API: the re-read decides. */
		if (r->status == 422 &&
		    hc_decode_error(r->body, r->len, &e) == 0 &&
		    strcmp(e.code, "floating_ip_assigned") == 0) {
			memcpy(ctx->op.pending, f.err, sizeof(ctx->op.pending));
			return read_fip(ctx, HC_ST_REREAD);
		}
		return hc_op_finish_fail(ctx, &f);
	}
	memset(&ctx->checked, 0, sizeof(ctx->checked));
	if ((d = hc_decode_action_reply(r->body, r->len, &a)) != 0)
		return hc_op_malformed(ctx, RES_UNKNOWN, d);
	return action_seen(ctx, &a);
}

/* A 429 on a poll: the assign was accepted and the poll is a read, so
 * it is retried, later each time, within the same deadline. */
static int
poll_throttled(struct hc_ctx *ctx)
{
	struct hc_op *op = &ctx->op;
	int64_t wait = token_wait_ms(op), at;
	unsigned i;

	for (i = 0; i < op->throttled && wait < HC_POLL_BACKOFF_MAX_MS; i++)
		wait *= 2;
	if (wait > HC_POLL_BACKOFF_MAX_MS)
		wait = HC_POLL_BACKOFF_MAX_MS;
	op->throttled++;
	if (op->polls > 0)
		op->polls--; /* the same point of the schedule again */
	if (schedule_poll(ctx) != 0 || op->kind == HC_OP_NONE)
		return 0;
	at = op->reply_ms + wait;
	if (at > op->timer_ms)
		op->timer_ms = at;
	return 0;
}

static int
assign_polled(struct hc_ctx *ctx, const struct hc_reply *r)
{
	struct hc_action a;
	struct hc_fail f;
	int d;

	/* The assign was accepted: whatever stops us from watching it
	 * leaves its outcome unknown, never failed. */
	if (hc_op_reply_fail(ctx, r, &f) != 0) {
		if (f.result == RES_THROTTLED)
			return poll_throttled(ctx);
		f.result = RES_UNKNOWN;
		return hc_op_finish_fail(ctx, &f);
	}
	ctx->op.throttled = 0;
	if ((d = hc_decode_action_reply(r->body, r->len, &a)) != 0)
		return hc_op_malformed(ctx, RES_UNKNOWN, d);
	if (a.id != ctx->op.action_id)
		return hc_op_finish(ctx, RES_UNKNOWN, 0, 0,
		    "reply describes another action");
	return action_seen(ctx, &a);
}

int
hc_assign_reply(struct hc_ctx *ctx, const struct hc_reply *r)
{
	switch (ctx->op.step) {
	case HC_ST_READ:
	case HC_ST_REREAD:
		return assign_read(ctx, r);
	case HC_ST_POST:
		return assign_posted(ctx, r);
	case HC_ST_SRVCHECK:
		return assign_server(ctx, r);
	}
	return assign_polled(ctx, r);
}
