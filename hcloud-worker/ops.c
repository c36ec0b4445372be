/* ops.c: the hcloud worker's operations as request/reply state machines */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "common/clock.h"
#include "common/frame.h"
#include "common/log.h"
#include "hc.h"

/* Bound on the requests of one read of the Floating IPs. */
#define HC_FIPS_REQ_MAX 40

void
hc_failf(struct hc_fail *f, int result, const char *fmt, ...)
{
	va_list ap;

	f->result = result;
	/* Truncation is fine: err is one bounded line. */
	va_start(ap, fmt);
	(void)vsnprintf(f->err, sizeof(f->err), fmt, ap);
	va_end(ap);
}

void
hc_op_begin(struct hc_ctx *ctx, int kind, uint32_t seq)
{
	memset(&ctx->op, 0, sizeof(ctx->op));
	ctx->op.kind = kind;
	ctx->op.seq = seq;
}

static const char *
op_name(int kind)
{
	switch (kind) {
	case HC_OP_FIPS:
		return "fips";
	case HC_OP_ASSIGN:
		return "assign";
	case HC_OP_SERVER:
		return "server";
	}
	return "action";
}

/*
 * The first successful read pins each name's id.  A later read that
 * finds another id under a configured name (renamed or replaced) does
 * not pass it on: that Floating IP is refused until a restart.
 */
static void
pin_ids(struct hc_ctx *ctx)
{
	struct msg_fip *m;
	char got[24], want[24];
	size_t i;

	for (i = 0; i < ctx->nnames; i++) {
		m = &ctx->op.fips.fips[i];
		if (!m->found)
			continue;
		if (ctx->pinned[i] == 0) {
			ctx->pinned[i] = m->id;
			continue;
		}
		if (ctx->pinned[i] == m->id)
			continue;
		(void)snprintf(got, sizeof(got), "%" PRIu64, m->id);
		(void)snprintf(want, sizeof(want), "%" PRIu64, ctx->pinned[i]);
		log_warn("floating IP renamed or replaced since the first "
			 "read: refused",
		    "fip", ctx->names[i], "id", got, "pinned_id", want, NULL);
		memset(m, 0, sizeof(*m));
		memcpy(m->name, ctx->names[i], sizeof(m->name));
	}
}

/* Send the operation's answer and end it. */
int
hc_op_finish(struct hc_ctx *ctx, int result, uint32_t retry, int running,
    const char *err)
{
	struct hc_op *op = &ctx->op;
	struct msg_hc_fips_ans *fa = &op->fips;
	struct msg_hc_server_ans sa;
	struct msg_hc_ans a;
	uint16_t type;
	int r;

	if (op->kind == HC_OP_SERVER) {
		memset(&sa, 0, sizeof(sa));
		sa.result = (uint8_t)result;
		sa.code = op->code;
		sa.retry_after_ms = retry;
		sa.rl = op->rl;
		sa.status = (uint8_t)running; /* the status, for this op */
		hc_sanitize(sa.err, sizeof(sa.err), err, ctx->token);
		r = frame_send(ctx->fd, MSG_HC_SERVER_ANS, op->seq, &sa);
	} else if (op->kind == HC_OP_FIPS) {
		if (result == RES_OK)
			pin_ids(ctx);
		fa->result = (uint8_t)result;
		fa->code = op->code;
		fa->retry_after_ms = retry;
		fa->rl = op->rl;
		hc_sanitize(fa->err, sizeof(fa->err), err, ctx->token);
		/* Records are passed on whole or not at all. */
		fa->count = result == RES_OK ? (uint8_t)ctx->nnames : 0;
		r = frame_send(ctx->fd, MSG_HC_FIPS_ANS, op->seq, fa);
	} else {
		memset(&a, 0, sizeof(a));
		a.result = (uint8_t)result;
		a.code = op->code;
		a.retry_after_ms = retry;
		a.rl = op->rl;
		a.running = (uint8_t)running;
		a.requests = op->requests;
		hc_sanitize(a.err, sizeof(a.err), err, ctx->token);
		type = op->kind == HC_OP_ASSIGN ? MSG_HC_ASSIGN_ANS
						: MSG_HC_ACTION_ANS;
		r = frame_send(ctx->fd, type, op->seq, &a);
	}
	log_debug("operation done", "op", op_name(op->kind), "result",
	    result == RES_OK ? "ok" : "failed", NULL);
	memset(op, 0, sizeof(*op));
	return r;
}

int
hc_op_finish_fail(struct hc_ctx *ctx, const struct hc_fail *f)
{
	return hc_op_finish(ctx, f->result, f->retry_after_ms, 0, f->err);
}

/* One request at a time: a second one is answered at once rather than
 * queued, because the supervisor waits for each answer anyway and a
 * queue would only hide a bug there. */
int
hc_op_busy(struct hc_ctx *ctx, uint16_t type, uint32_t seq)
{
	static const char msg[] = "busy: another operation is running";
	struct msg_hc_fips_ans fa;
	struct msg_hc_server_ans sa;
	struct msg_hc_ans a;

	if (ctx->op.kind == HC_OP_NONE)
		return 0;
	log_warn("busy: answered at once", "msg_type", msg_name(type), NULL);
	if (type == MSG_HC_SERVER_ANS) {
		memset(&sa, 0, sizeof(sa));
		sa.result = RES_TRANSIENT;
		memcpy(sa.err, msg, sizeof(msg));
		return frame_send(ctx->fd, type, seq, &sa) == 0 ? 1 : -1;
	}
	if (type == MSG_HC_FIPS_ANS) {
		memset(&fa, 0, sizeof(fa));
		fa.result = RES_TRANSIENT;
		memcpy(fa.err, msg, sizeof(msg));
		return frame_send(ctx->fd, type, seq, &fa) == 0 ? 1 : -1;
	}
	memset(&a, 0, sizeof(a));
	a.result = RES_TRANSIENT;
	memcpy(a.err, msg, sizeof(msg));
	return frame_send(ctx->fd, type, seq, &a) == 0 ? 1 : -1;
}

int
hc_op_start(struct hc_ctx *ctx, int step, int method, const char *path,
    const char *body)
{
	struct hc_op *op = &ctx->op;
	char *q;

	op->step = step;
	(void)snprintf(op->what, sizeof(op->what), "%s %s",
	    method == HC_POST ? "POST" : "GET", path);
	/* The query is noise in err lines; the path says what it was. */
	if ((q = strchr(op->what, '?')) != NULL)
		*q = '\0';
	if (hc_client_request(&ctx->client, method, path, body) != 0)
		return hc_op_finish(ctx, RES_TRANSIENT, 0, 0,
		    "cannot start an API request");
	op->requests++;
	return 0;
}

/*
 * 0 when r is a 2xx reply to decode; else -1 with f filled.  A POST
 * that may have reached the API and has no clear answer (transport
 * failure after sending, 5xx, a reply too big to read) is RES_UNKNOWN:
 * the assign may have happened and must not be sent again.
 */
int
hc_op_reply_fail(struct hc_ctx *ctx, const struct hc_reply *r,
    struct hc_fail *f)
{
	const char *what = ctx->op.what, *corr = r->corr;
	int post = ctx->client.method == HC_POST;
	struct hc_error e;

	memset(f, 0, sizeof(*f));
	if (r->oversize) {
		hc_failf(f, post ? RES_UNKNOWN : RES_MALFORMED,
		    "%s: reply larger than %d bytes", what, HC_REPLY_MAX);
		return -1;
	}
	if (r->cerr != CURLE_OK) {
		hc_failf(f, post && r->sent ? RES_UNKNOWN : RES_TRANSIENT,
		    "%s: %s (curl %d%s)", what, r->errbuf, (int)r->cerr,
		    post && !r->sent ? ", not sent" : "");
		return -1;
	}
	if (r->status >= 200 && r->status < 300)
		return 0;
	if (hc_decode_error(r->body, r->len, &e) != 0)
		memset(&e, 0, sizeof(e));
	f->result = hc_result_for(r->status, e.code);
	if (f->result == RES_THROTTLED)
		f->retry_after_ms = hc_retry_after_ms(&r->rl, time(NULL));
	if (post && r->status >= 500)
		f->result = RES_UNKNOWN;
	if (strcmp(e.code, "deprecated_api_endpoint") == 0)
		log_warn("hcloud API endpoint removed", "path", what,
		    "announcement", e.announcement, NULL);
	if (e.code[0] != '\0')
		hc_failf(f, f->result, "%s: %s (%s, HTTP %ld%s%s)", what,
		    e.message, e.code, r->status,
		    corr[0] ? ", correlation " : "", corr);
	else
		hc_failf(f, f->result, "%s: HTTP %ld without an error body%s%s",
		    what, r->status, corr[0] ? ", correlation " : "", corr);
	return -1;
}

int
hc_op_malformed(struct hc_ctx *ctx, int result, int derr)
{
	struct hc_fail f;

	hc_failf(&f, result, "%s: undecodable reply: %s", ctx->op.what,
	    hc_decode_strerror(derr));
	return hc_op_finish_fail(ctx, &f);
}

/* ---- MSG_HC_FIPS_REQ ------------------------------------------------ */

/*
 * One list request usually beats one ?name= per Floating IP: a project
 * rarely holds more than 50, so every configured name comes back in a
 * single GET /floating_ips?per_page=50.  A single name uses ?name=
 * (same one request, a reply of one item).  When page 1 shows more
 * pages left than names still missing, the rest go by name: requests
 * are never more than min(pages, 1 + names).
 */
static int
fips_next(struct hc_ctx *ctx)
{
	struct hc_op *op = &ctx->op;
	char path[PROTO_FIPNAME_MAX * 3 + 64], *esc;
	size_t i;
	int n;

	if (op->requests >= HC_FIPS_REQ_MAX)
		return hc_op_finish(ctx, RES_MALFORMED, 0, 0,
		    "GET /floating_ips: too many pages");
	if (!op->by_name) {
		n = snprintf(path, sizeof(path),
		    "/floating_ips?page=%" PRIu32 "&per_page=%d", op->page,
		    HC_PER_PAGE);
		if (n < 0 || (size_t)n >= sizeof(path))
			return hc_op_finish(ctx, RES_TRANSIENT, 0, 0,
			    "path too long");
		return hc_op_start(ctx, HC_ST_FIPS_PAGE, HC_GET, path, NULL);
	}
	for (i = op->next_name; i < ctx->nnames && op->fips.fips[i].found; i++)
		;
	if (i == ctx->nnames)
		return hc_op_finish(ctx, RES_OK, 0, 0, "");
	op->cur = i;
	op->next_name = i + 1;
	if ((esc = curl_easy_escape(ctx->client.easy, ctx->names[i], 0)) ==
	    NULL)
		return hc_op_finish(ctx, RES_TRANSIENT, 0, 0, "out of memory");
	n = snprintf(path, sizeof(path), "/floating_ips?name=%s", esc);
	curl_free(esc);
	if (n < 0 || (size_t)n >= sizeof(path))
		return hc_op_finish(ctx, RES_TRANSIENT, 0, 0, "path too long");
	return hc_op_start(ctx, HC_ST_FIPS_NAME, HC_GET, path, NULL);
}

int
hc_op_fips(struct hc_ctx *ctx, uint32_t seq)
{
	struct msg_fip *m;
	size_t i;
	int r;

	if ((r = hc_op_busy(ctx, MSG_HC_FIPS_ANS, seq)) != 0)
		return r < 0 ? -1 : 0;
	hc_op_begin(ctx, HC_OP_FIPS, seq);
	for (i = 0; i < ctx->nnames; i++) {
		m = &ctx->op.fips.fips[i];
		memcpy(m->name, ctx->names[i], sizeof(m->name));
	}
	ctx->op.page = 1;
	ctx->op.by_name = ctx->nnames == 1;
	return fips_next(ctx);
}

static void
fip_record(struct msg_fip *m, const struct hc_fip *f)
{
	m->found = 1;
	m->id = f->id;
	memcpy(m->ip, f->ip, sizeof(m->ip));
	m->is_v6 = (uint8_t)f->is_v6;
	m->server_id = f->server;
	m->blocked = (uint8_t)f->blocked;
}

static int
fips_reply(struct hc_ctx *ctx, const struct hc_reply *r)
{
	struct hc_op *op = &ctx->op;
	const char *names[PROTO_FIPS_MAX];
	struct hc_fip_list l;
	size_t i, n, missing = 0, idx;
	struct hc_fail f;
	int d;

	if (hc_op_reply_fail(ctx, r, &f) != 0)
		return hc_op_finish_fail(ctx, &f);
	if (op->step == HC_ST_FIPS_NAME) {
		names[0] = ctx->names[op->cur];
		n = 1;
	} else {
		for (n = 0; n < ctx->nnames; n++)
			names[n] = ctx->names[n];
	}
	if ((d = hc_decode_fip_list(r->body, r->len, names, n, &l)) != 0)
		return hc_op_malformed(ctx, RES_MALFORMED, d);
	for (i = 0; i < n; i++) {
		idx = op->step == HC_ST_FIPS_NAME ? op->cur : i;
		if (!l.found[i])
			continue;
		if (op->fips.fips[idx].found)
			return hc_op_malformed(ctx, RES_MALFORMED, HC_DERR_DUP);
		fip_record(&op->fips.fips[idx], &l.fips[i]);
	}
	if (op->step == HC_ST_FIPS_NAME)
		return fips_next(ctx);
	for (i = 0; i < ctx->nnames; i++)
		missing += !op->fips.fips[i].found;
	if (missing == 0 || l.page.next_page == 0)
		return hc_op_finish(ctx, RES_OK, 0, 0, "");
	if (l.page.last_page != 0 && l.page.last_page - l.page.page > missing) {
		op->by_name = 1;
		op->next_name = 0;
	} else
		op->page = l.page.next_page;
	return fips_next(ctx);
}

/* ---- MSG_HC_SERVER_REQ ---------------------------------------------- */

int
hc_op_server(struct hc_ctx *ctx, uint32_t seq, uint64_t srv)
{
	char path[64];
	int r;

	if ((r = hc_op_busy(ctx, MSG_HC_SERVER_ANS, seq)) != 0)
		return r < 0 ? -1 : 0;
	hc_op_begin(ctx, HC_OP_SERVER, seq);
	ctx->op.server_id = srv;
	if (srv == 0 || srv > HC_ID_MAX)
		return hc_op_finish(ctx, RES_INVALID, 0, SERVER_ST_UNKNOWN,
		    "server id outside 1..2^53-1");
	(void)snprintf(path, sizeof(path), "/servers/%" PRIu64, srv);
	return hc_op_start(ctx, HC_ST_SERVER, HC_GET, path, NULL);
}

static int
server_reply(struct hc_ctx *ctx, const struct hc_reply *r)
{
	struct hc_server srv;
	struct hc_fail f;
	int d;

	if (hc_op_reply_fail(ctx, r, &f) != 0) {
		/* Gone is an answer, not a failure. */
		if (f.result == RES_NOT_FOUND)
			return hc_op_finish(ctx, RES_OK, 0, SERVER_ST_GONE, "");
		return hc_op_finish(ctx, f.result, f.retry_after_ms,
		    SERVER_ST_UNKNOWN, f.err);
	}
	if ((d = hc_decode_server_reply(r->body, r->len, &srv)) != 0)
		return hc_op_malformed(ctx, RES_MALFORMED, d);
	if (srv.id != ctx->op.server_id)
		return hc_op_finish(ctx, RES_MALFORMED, 0, SERVER_ST_UNKNOWN,
		    "reply describes another server");
	return hc_op_finish(ctx, RES_OK, 0, srv.status, "");
}

/* ---- MSG_HC_ACTION_REQ ---------------------------------------------- */

int
hc_op_action(struct hc_ctx *ctx, uint32_t seq, uint64_t fip)
{
	char path[96];
	int r;

	if ((r = hc_op_busy(ctx, MSG_HC_ACTION_ANS, seq)) != 0)
		return r < 0 ? -1 : 0;
	hc_op_begin(ctx, HC_OP_ACTION, seq);
	ctx->op.fip_id = fip;
	if (fip == 0 || fip > HC_ID_MAX)
		return hc_op_finish(ctx, RES_INVALID, 0, 0,
		    "Floating IP id outside 1..2^53-1");
	/* The FIP's own action list, filtered by the API: one request,
	 * and not the deprecated single-action path. */
	(void)snprintf(path, sizeof(path),
	    "/floating_ips/%" PRIu64 "/actions?status=running&per_page=%d", fip,
	    HC_PER_PAGE);
	return hc_op_start(ctx, HC_ST_ACTIONS, HC_GET, path, NULL);
}

static int
action_reply(struct hc_ctx *ctx, const struct hc_reply *r)
{
	struct hc_action_list l;
	struct hc_fail f;
	int d;

	if (hc_op_reply_fail(ctx, r, &f) != 0)
		return hc_op_finish_fail(ctx, &f);
	if ((d = hc_decode_action_list(r->body, r->len, &l)) != 0)
		return hc_op_malformed(ctx, RES_MALFORMED, d);
	if (l.running == 0)
		return hc_op_finish(ctx, RES_OK, 0, 0, "");
	hc_failf(&f, RES_OK, "action %" PRIu64 " running", l.running_id);
	return hc_op_finish(ctx, RES_OK, 0, 1, f.err);
}

/* ---- driving -------------------------------------------------------- */

int
hc_op_reply(struct hc_ctx *ctx, const struct hc_reply *r)
{
	struct hc_op *op = &ctx->op;
	struct msg_api_stat st;
	char code[8], usec[16];

	st.api = API_HCLOUD;
	st.code = r->status > 0 && r->status < 1000 ? (uint16_t)r->status : 0;
	st.usec = r->usec;
	if (frame_send(ctx->fd, MSG_API_STAT, 0, &st) != 0)
		return -1;
	if (log_enabled(LOG_DEBUG)) {
		(void)snprintf(code, sizeof(code), "%u", st.code);
		(void)snprintf(usec, sizeof(usec), "%" PRIu32, st.usec);
		log_debug("api request", "path", op->what, "code", code, "usec",
		    usec, NULL);
	}
	op->code = st.code;
	op->rl = r->rl;
	op->reply_ms = clock_ms();
	switch (op->step) {
	case HC_ST_FIPS_PAGE:
	case HC_ST_FIPS_NAME:
		return fips_reply(ctx, r);
	case HC_ST_READ:
	case HC_ST_REREAD:
	case HC_ST_POST:
	case HC_ST_POLL:
	case HC_ST_SRVCHECK:
		return hc_assign_reply(ctx, r);
	case HC_ST_ACTIONS:
		return action_reply(ctx, r);
	case HC_ST_SERVER:
		return server_reply(ctx, r);
	}
	return 0; /* an abandoned request: nothing waits for it */
}

int
hc_op_tick(struct hc_ctx *ctx, int64_t now_ms)
{
	struct hc_op *op = &ctx->op;
	char path[64];

	if (op->step != HC_ST_WAIT || now_ms < op->timer_ms)
		return 0;
	op->polls++;
	op->timer_ms = 0;
	(void)snprintf(path, sizeof(path), "/floating_ips/actions/%" PRIu64,
	    op->action_id);
	return hc_op_start(ctx, HC_ST_POLL, HC_GET, path, NULL);
}

int64_t
hc_op_timeout(const struct hc_ctx *ctx, int64_t now_ms)
{
	if (ctx->op.step != HC_ST_WAIT)
		return -1;
	return ctx->op.timer_ms > now_ms ? ctx->op.timer_ms - now_ms : 0;
}
