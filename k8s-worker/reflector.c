/* reflector.c: list + watch of nodes and prepared pods, as client-go does */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/str.h"
#include "kube.h"

#define BACKOFF_MIN_MS 800
#define BACKOFF_MAX_MS 30000
#define BACKOFF_RESET_MS 120000 /* healthy this long: start over */
#define WATCH_MIN_S 300 /* client-go's random 300-600 s */
#define WATCH_SPREAD_S 301
#define WATCH_SLACK_S 30 /* CURLOPT_TIMEOUT above the server's */
#define WATCH_EARLY_MS 1000 /* ended this soon, no event: error */
#define LIST_TIMEOUT_S 60

/* How the line handler ended a watch. */
enum kube_watch_end {
	WE_NONE = 0,
	WE_GONE, /* ERROR 410: relist */
	WE_THROTTLED, /* ERROR 429: back off, re-watch */
	WE_ERROR, /* anything else: back off, relist */
};

static void begin_list(struct kube_ctx *, struct kube_refl *);
static void begin_watch(struct kube_ctx *, struct kube_refl *);

static int
enabled(const struct kube_refl *f)
{
	return f->path[0] != '\0';
}

int
kube_all_synced(const struct kube_ctx *c)
{
	int i;

	for (i = 0; i < REFL_COUNT; i++)
		if (enabled(&c->refl[i]) && !c->refl[i].synced)
			return 0;
	return 1;
}

static int
refl_init(struct kube_refl *f, int kind, const char *name,
    struct kube_store *st, uint8_t bit, const char *path,
    const struct kube_sel *sel)
{
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->name = name;
	f->store = st;
	f->bit = bit;
	f->limit = KUBE_PAGE_LIMIT;
	if (kube_sel_query(sel, f->selector, sizeof(f->selector)) == -1)
		return -1;
	return str_copy(f->path, sizeof(f->path), path);
}

void
kube_refl_setup(struct kube_ctx *c)
{
	char path[sizeof(c->refl[0].path)];
	int n;

	if (refl_init(&c->refl[REFL_CAND], REFL_CAND, "nodes/candidate",
		&c->nodes, 1, "/api/v1/nodes", &c->cand) == -1 ||
	    refl_init(&c->refl[REFL_ACTIVE], REFL_ACTIVE, "nodes/active",
		&c->nodes, 2, "/api/v1/nodes", &c->active) == -1)
		fatalx("label selector does not fit", NULL);
	memset(&c->refl[REFL_PODS], 0, sizeof(c->refl[REFL_PODS]));
	if (!c->have_prepared)
		return;
	n = snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods",
	    c->prepared_ns);
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    refl_init(&c->refl[REFL_PODS], REFL_PODS, "pods/prepared", &c->pods,
		1, path, &c->prepared) == -1)
		fatalx("prepared pod selector does not fit", NULL);
}

void
kube_refl_start(struct kube_ctx *c)
{
	int i;

	for (i = 0; i < REFL_COUNT; i++)
		if (enabled(&c->refl[i]))
			begin_list(c, &c->refl[i]);
}

int64_t
kube_backoff_next(struct kube_refl *f, int64_t now, uint64_t *rng,
    uint32_t retry_after_ms)
{
	int64_t base, d;

	if (f->backoff_ms == 0 || now - f->trouble_at > BACKOFF_RESET_MS)
		f->backoff_ms = BACKOFF_MIN_MS;
	base = f->backoff_ms;
	d = base + base * (int64_t)(kube_rand(rng) % 1001) / 1000;
	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	f->backoff_ms = base * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : base * 2;
	f->trouble_at = now;
	return d > (int64_t)retry_after_ms ? d : (int64_t)retry_after_ms;
}

static void
trouble(struct kube_ctx *c, struct kube_refl *f, int relist,
    uint32_t retry_after_ms)
{
	int64_t now = clock_ms(), d;
	char ms[24];

	d = kube_backoff_next(f, now, &c->rng, retry_after_ms);
	f->state = RS_WAIT;
	f->relist = relist;
	f->due = now + d;
	if (relist) {
		free(f->cont);
		f->cont = NULL;
		f->limit = KUBE_PAGE_LIMIT;
	}
	snprintf(ms, sizeof(ms), "%lld", (long long)d);
	log_info("backing off", "reflector", f->name, "delay_ms", ms, "next",
	    relist ? "list" : "watch", NULL);
}

/* ---- list ---- */

static void
log_http_failure(const char *what, const struct kube_refl *f,
    const struct kube_req *r)
{
	struct kube_status st;
	char code[8], err[PROTO_TEXT_MAX];

	snprintf(code, sizeof(code), "%ld", r->code);
	if (r->rc != CURLE_OK || r->stop != KUBE_STOP_NONE)
		kube_http_errtext(r, err, sizeof(err));
	else if (r->reply != NULL &&
	    kube_decode_status_body((const char *)r->reply->data, r->reply->len,
		&st) == 0)
		snprintf(err, sizeof(err), "%.63s: %.440s", st.reason,
		    st.message);
	else
		snprintf(err, sizeof(err), "HTTP %ld", r->code);
	log_warn(what, "reflector", f->name, "code", code, "err", err, NULL);
}

/* An object over the JSON memory budget is an error (someone must
 * look at that object); other undecodable replies are warnings. */
static void
log_error_or_warn(int rc, const char *what, const char *refl)
{
	if (rc == KUBE_ERR_MEMORY)
		log_error(what, "reflector", refl, "err", kube_strerror(rc),
		    NULL);
	else
		log_warn(what, "reflector", refl, "err", kube_strerror(rc),
		    NULL);
}

static int
list_page(struct kube_ctx *c, struct kube_refl *f, struct kube_req *r)
{
	struct kube_doc d;
	const cJSON *item;
	int rc;

	rc = kube_decode_list((const char *)r->reply->data, r->reply->len, &d);
	/* The raw page is not needed once parsed. */
	buf_free(r->reply);
	r->reply = NULL;
	if (rc != 0) {
		kube_doc_free(&d);
		/* Over the budget: the caller asks for fewer items. */
		if (rc == KUBE_ERR_MEMORY && f->limit > 1)
			return -2;
		log_error_or_warn(rc, "list reply undecodable", f->name);
		return -1;
	}
	cJSON_ArrayForEach(item, d.object)
	{
		kube_apply(c, f, item, 1);
		f->listed++;
	}
	free(f->cont);
	f->cont = d.cont;
	d.cont = NULL;
	str_copy(f->rv, sizeof(f->rv), d.rv);
	kube_doc_free(&d);
	return 0;
}

static void
list_done(struct kube_req *r)
{
	struct kube_refl *f = r->owner;
	struct kube_ctx *c = r->ctx;
	char n[16];
	int rc;

	f->req = NULL;
	if (r->stop == KUBE_STOP_TOOBIG && f->limit > 1) {
		/* The same page again, in smaller pieces. */
		f->limit /= 2;
		snprintf(n, sizeof(n), "%d", f->limit);
		log_warn("list page too large, asking for fewer items",
		    "reflector", f->name, "limit", n, NULL);
		begin_list(c, f);
		return;
	}
	if (r->rc != CURLE_OK || r->stop != KUBE_STOP_NONE || r->code != 200 ||
	    r->reply == NULL) {
		log_http_failure("list failed", f, r);
		/* A throttled page is asked again; else a fresh list. */
		trouble(c, f, r->code != 429,
		    r->code == 429 || r->code >= 500 ? r->retry_after_ms : 0);
		return;
	}
	if ((rc = list_page(c, f, r)) == -2) {
		f->limit /= 2;
		snprintf(n, sizeof(n), "%d", f->limit);
		log_warn("list page over the JSON memory budget, asking for "
			 "fewer items",
		    "reflector", f->name, "limit", n, NULL);
		begin_list(c, f);
		return;
	}
	if (rc == -1) {
		trouble(c, f, 1, 0);
		return;
	}
	if (f->cont != NULL) {
		begin_list(c, f);
		return;
	}
	kube_sweep(f, c);
	f->synced = 1;
	f->limit = KUBE_PAGE_LIMIT;
	snprintf(n, sizeof(n), "%u", f->listed);
	log_info("listed", "reflector", f->name, "count", n, "rv", f->rv, NULL);
	kube_set_api(c, 1);
	kube_announce(c, f);
	/* Pages were parsed and freed: give the pages back to the OS. */
	malloc_trim(0);
	begin_watch(c, f);
}

static void
begin_list(struct kube_ctx *c, struct kube_refl *f)
{
	char q[sizeof(f->selector) + 3 * KUBE_CONTINUE_MAX + 64];
	char cont[3 * KUBE_CONTINUE_MAX + 1];
	struct kube_req *r;
	int n;

	if (f->cont == NULL) {
		kube_clear_seen(f);
		f->listed = 0;
	}
	cont[0] = '\0';
	if (f->cont != NULL && kube_urlenc(f->cont, cont, sizeof(cont)) == -1)
		cont[0] = '\0';
	/* No resourceVersion: a consistent read that honours limit (the
	 * watch cache ignores limit for RV "0": one huge reply). */
	n = snprintf(q, sizeof(q), "%s?limit=%d&labelSelector=%s%s%s", f->path,
	    f->limit, f->selector, cont[0] ? "&continue=" : "", cont);
	if (n < 0 || (size_t)n >= sizeof(q) ||
	    (r = kube_http_new(c, "GET", q, NULL, NULL, 0, LIST_TIMEOUT_S)) ==
		NULL) {
		trouble(c, f, 1, 0);
		return;
	}
	r->owner = f;
	r->on_done = list_done;
	if (kube_http_start(r) == -1) {
		trouble(c, f, 1, 0);
		return;
	}
	f->req = r;
	f->state = RS_LIST;
}

/* ---- watch ---- */

static int
watch_error(struct kube_refl *f, const cJSON *obj)
{
	struct kube_status st;
	char code[8];

	if (kube_decode_status(obj, &st) != 0) {
		log_warn("watch ERROR event undecodable", "reflector", f->name,
		    NULL);
		f->end = WE_ERROR;
		return -1;
	}
	if (st.code == 410 || strcmp(st.reason, "Expired") == 0 ||
	    strcmp(st.reason, "Gone") == 0)
		f->end = WE_GONE;
	else if (st.code == 429 || strcmp(st.reason, "TooManyRequests") == 0)
		f->end = WE_THROTTLED;
	else
		f->end = WE_ERROR;
	f->retry_after_ms = st.retry_after_s * 1000;
	snprintf(code, sizeof(code), "%d", st.code);
	log_info("watch ended by an ERROR event", "reflector", f->name, "code",
	    code, "reason", st.reason, "err", st.message, NULL);
	return -1;
}

static int
watch_line(struct kube_req *r, const char *line, size_t n)
{
	struct kube_refl *f = r->owner;
	struct kube_ctx *c = r->ctx;
	struct kube_doc d;
	int rc;

	f->last_event = clock_ms();
	f->events++;
	if ((rc = kube_decode_event(line, n, &d)) != 0) {
		kube_doc_free(&d);
		if (rc == KUBE_ERR_MEMORY) {
			/* One object we cannot hold: skipped, the watch goes
			 * on (a relist would meet it again). */
			log_error_or_warn(rc, "watch event skipped", f->name);
			return 0;
		}
		log_error_or_warn(rc, "watch event undecodable", f->name);
		f->end = WE_ERROR;
		return -1;
	}
	if (d.type == KUBE_EV_ERROR) {
		rc = watch_error(f, d.object);
		kube_doc_free(&d);
		return rc;
	}
	/* Every event, bookmarks too, moves the resume point. */
	str_copy(f->rv, sizeof(f->rv), d.rv);
	if (d.type == KUBE_EV_ADDED || d.type == KUBE_EV_MODIFIED)
		kube_apply(c, f, d.object, 0);
	else if (d.type == KUBE_EV_DELETED)
		kube_deleted(c, f, d.object);
	kube_doc_free(&d);
	return 0;
}

/* A normal end of the stream (timeout, EOF, a dropped connection). */
static int
clean_end(const struct kube_req *r)
{
	if (r->code != 200 || r->stop != KUBE_STOP_NONE)
		return 0;
	switch (r->rc) {
	case CURLE_OK:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_OPERATION_TIMEDOUT:
		return 1;
	default:
		return 0;
	}
}

static void
watch_done(struct kube_req *r)
{
	struct kube_refl *f = r->owner;
	struct kube_ctx *c = r->ctx;
	int64_t dur = clock_ms() - f->watch_t0;

	f->req = NULL;
	if (f->end == WE_GONE)
		trouble(c, f, 1, 0);
	else if (f->end == WE_THROTTLED)
		trouble(c, f, 0, f->retry_after_ms);
	else if (f->end == WE_ERROR)
		trouble(c, f, 1, 0);
	else if (r->stop == KUBE_STOP_LINE || r->stop == KUBE_STOP_NOMEM) {
		log_http_failure("watch failed", f, r);
		trouble(c, f, 0, 0);
	} else if (clean_end(r)) {
		if (dur < WATCH_EARLY_MS && f->events == 0) {
			log_warn("watch ended at once without events",
			    "reflector", f->name, NULL);
			trouble(c, f, 1, 0);
		} else
			begin_watch(c, f);
	} else {
		log_http_failure("watch failed", f, r);
		/* Refused or throttled: the RV is still good. */
		trouble(c, f,
		    !(r->code == 429 ||
			(r->code == 0 && r->rc == CURLE_COULDNT_CONNECT)),
		    r->code == 429 || r->code >= 500 ? r->retry_after_ms : 0);
	}
}

static void
begin_watch(struct kube_ctx *c, struct kube_refl *f)
{
	char q[sizeof(f->selector) + 3 * PROTO_RV_MAX + 160];
	char rv[3 * PROTO_RV_MAX + 1];
	struct kube_req *r;
	int n, timeout;

	timeout = WATCH_MIN_S + (int)(kube_rand(&c->rng) % WATCH_SPREAD_S);
	n = kube_urlenc(f->rv, rv, sizeof(rv)) == -1
	    ? -1
	    : snprintf(q, sizeof(q),
		  "%s?watch=true&resourceVersion=%s"
		  "&allowWatchBookmarks=true&timeoutSeconds=%d&labelSelector=%"
		  "s",
		  f->path, rv, timeout, f->selector);
	if (n < 0 || (size_t)n >= sizeof(q) ||
	    (r = kube_http_new(c, "GET", q, NULL, NULL, 1,
		 timeout + WATCH_SLACK_S)) == NULL) {
		trouble(c, f, 1, 0);
		return;
	}
	r->owner = f;
	r->on_line = watch_line;
	r->on_done = watch_done;
	f->end = WE_NONE;
	f->events = 0;
	f->retry_after_ms = 0;
	f->watch_t0 = f->last_event = clock_ms();
	if (kube_http_start(r) == -1) {
		trouble(c, f, 1, 0);
		return;
	}
	f->req = r;
	f->state = RS_WATCH;
}

void
kube_refl_tick(struct kube_ctx *c, int64_t now)
{
	struct kube_refl *f;
	int i;

	for (i = 0; i < REFL_COUNT; i++) {
		f = &c->refl[i];
		if (!enabled(f))
			continue;
		if (f->state == RS_WAIT && now >= f->due) {
			if (f->relist)
				begin_list(c, f);
			else
				begin_watch(c, f);
		} else if (f->state == RS_WATCH && f->req != NULL &&
		    now - f->last_event >= c->stall_ms) {
			log_warn("watch stalled, restarting it", "reflector",
			    f->name, "rv", f->rv, NULL);
			kube_http_cancel(f->req);
			f->req = NULL;
			begin_watch(c, f);
		}
	}
}

int64_t
kube_refl_due(const struct kube_ctx *c)
{
	const struct kube_refl *f;
	int64_t due = -1, d;
	int i;

	for (i = 0; i < REFL_COUNT; i++) {
		f = &c->refl[i];
		if (!enabled(f))
			continue;
		if (f->state == RS_WAIT)
			d = f->due;
		else if (f->state == RS_WATCH && f->req != NULL)
			d = f->last_event + c->stall_ms;
		else
			continue;
		if (due == -1 || d < due)
			due = d;
	}
	return due;
}

void
kube_refl_free(struct kube_ctx *c)
{
	int i;

	for (i = 0; i < REFL_COUNT; i++) {
		free(c->refl[i].cont);
		c->refl[i].cont = NULL;
	}
}
