/* writes.c: the active label, our Lease and Events, as typed results */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "common/result.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/str.h"
#include "kube.h"

#define WRITE_TIMEOUT_S 10 /* within the renew deadline */
#define REPORTER "tuist.dev/stable-egress-controller"
#define EVENTS_NS "default" /* Events about a Node live here */
#define EVENTS_DENIED_MS (10 * 60 * 1000) /* after 403 from both APIs */
#define LEASES_PATH "/apis/coordination.k8s.io/v1/namespaces/%s/leases"

/* One write in flight: how to answer it, and what a retry needs. */
struct kube_op {
	uint16_t ans; /* MSG_KUBE_*_ANS */
	uint32_t seq;
	int core; /* event: already the core/v1 fallback */
	struct msg_kube_event ev;
	char name[PROTO_NAME_MAX]; /* event object name */
	char time[PROTO_TIME_MAX]; /* event time */
};

int
kube_result_of(long code, const char *reason)
{
	int r;

	if (code >= 200 && code < 300)
		return RES_OK;
	if (code == 0)
		return RES_TRANSIENT; /* no answer at all */
	if (code == 409 && reason != NULL &&
	    strcmp(reason, "AlreadyExists") == 0)
		return RES_EXISTS;
	r = result_of_http(code);
	return r >= 0 ? r : RES_REFUSED;
}

/* ---- answers ---- */

static void
answer(struct kube_ctx *c, uint16_t type, uint32_t seq, int res, long code,
    uint32_t ra, const char *err, const struct msg_lease *lease)
{
	union msg_payload p;
	struct msg_result *m = &p.result;

	memset(&p, 0, sizeof(p));
	if (type == MSG_KUBE_LEASE_ANS) {
		p.lease_ans.result = (uint8_t)res;
		p.lease_ans.code = (uint16_t)code;
		p.lease_ans.retry_after_ms = ra;
		str_copy(p.lease_ans.err, sizeof(p.lease_ans.err), err);
		if (lease != NULL && res == RES_OK)
			p.lease_ans.lease = *lease;
		kube_send(c, type, seq, &p.lease_ans);
		return;
	}
	m->result = (uint8_t)res;
	m->code = (uint16_t)code;
	m->retry_after_ms = ra;
	str_copy(m->err, sizeof(m->err), err);
	kube_send(c, type, seq, m);
}

/* Typed result of a finished request; err gets a sanitised reason. */
static int
req_result(const struct kube_req *r, char *err, size_t errlen, uint32_t *ra)
{
	struct kube_status st;
	int res;

	*ra = 0;
	err[0] = '\0';
	if (r->stop == KUBE_STOP_TOOBIG) {
		kube_http_errtext(r, err, errlen);
		return RES_MALFORMED;
	}
	if (r->rc != CURLE_OK || r->stop != KUBE_STOP_NONE) {
		kube_http_errtext(r, err, errlen);
		return RES_TRANSIENT;
	}
	if (r->code >= 200 && r->code < 300)
		return RES_OK;
	/* The code decides; the body (maybe plain text) only explains. */
	if (r->reply != NULL &&
	    kube_decode_status_body((const char *)r->reply->data, r->reply->len,
		&st) == 0)
		snprintf(err, errlen, "%.63s: %.440s", st.reason, st.message);
	else {
		memset(&st, 0, sizeof(st));
		snprintf(err, errlen, "HTTP %ld", r->code);
	}
	res = kube_result_of(r->code, st.reason);
	if (res == RES_THROTTLED || res == RES_TRANSIENT)
		*ra = r->retry_after_ms ? r->retry_after_ms
					: st.retry_after_s * 1000;
	return res;
}

static int
start(struct kube_ctx *c, struct kube_op *op, const char *method,
    const char *path, const char *ctype, char *body,
    void (*done)(struct kube_req *))
{
	struct kube_req *r;

	if ((r = kube_http_new(c, method, path, ctype, body, 0,
		 WRITE_TIMEOUT_S)) == NULL)
		return -1;
	r->owner = op;
	r->on_done = done;
	if (kube_http_start(r) == -1)
		return -1;
	c->nwrites++;
	return 0;
}

/* Start op or answer it at once (and free it) when that fails. */
static void
submit(struct kube_ctx *c, struct kube_op *op, const char *method,
    const char *path, const char *ctype, cJSON *json,
    void (*done)(struct kube_req *))
{
	char *body = NULL;

	if (json != NULL) {
		body = cJSON_PrintUnformatted(json);
		cJSON_Delete(json);
		if (body == NULL)
			goto fail;
	}
	if (start(c, op, method, path, ctype, body, done) == 0)
		return;
fail:
	answer(c, op->ans, op->seq, RES_TRANSIENT, 0, 0,
	    "cannot start the request", NULL);
	free(op);
}

static struct kube_op *
op_new(struct kube_ctx *c, uint16_t ans, uint32_t seq)
{
	struct kube_op *op;

	if (c->nwrites >= KUBE_WRITES_MAX) {
		answer(c, ans, seq, RES_TRANSIENT, 0, 1000,
		    "too many requests in flight", NULL);
		return NULL;
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		answer(c, ans, seq, RES_TRANSIENT, 0, 0, "out of memory", NULL);
		return NULL;
	}
	op->ans = ans;
	op->seq = seq;
	return op;
}

static void
op_done(struct kube_req *r)
{
	r->ctx->nwrites--;
	free(r->owner);
}

/* ---- label ---- */

static void
label_done(struct kube_req *r)
{
	struct kube_op *op = r->owner;
	char err[PROTO_TEXT_MAX];
	uint32_t ra;
	int res;

	res = req_result(r, err, sizeof(err), &ra);
	answer(r->ctx, op->ans, op->seq, res, r->code, ra, err, NULL);
	op_done(r);
}

void
kube_on_label(struct kube_ctx *c, uint32_t seq, const union msg_payload *p)
{
	const struct msg_kube_label *m = &p->label;
	cJSON *root, *labels;
	char path[PROTO_NAME_MAX + 32];
	struct kube_op *op;

	if (!kube_name_valid(m->node)) {
		answer(c, MSG_KUBE_LABEL_ANS, seq, RES_INVALID, 0, 0,
		    "node name is not a DNS subdomain", NULL);
		return;
	}
	if ((op = op_new(c, MSG_KUBE_LABEL_ANS, seq)) == NULL)
		return;
	snprintf(path, sizeof(path), "/api/v1/nodes/%s", m->node);
	/* Only the configured key: the supervisor names node and on/off. */
	root = cJSON_CreateObject();
	labels =
	    cJSON_AddObjectToObject(cJSON_AddObjectToObject(root, "metadata"),
		"labels");
	if (m->set)
		cJSON_AddStringToObject(labels, c->active.key, c->active.value);
	else
		cJSON_AddNullToObject(labels, c->active.key);
	log_debug("label patch", "node", m->node, "set", m->set ? "1" : "0",
	    NULL);
	submit(c, op, "PATCH", path, "application/merge-patch+json",
	    labels != NULL ? root : (cJSON_Delete(root), NULL), label_done);
}

/* ---- lease ---- */

static void
lease_done(struct kube_req *r)
{
	struct kube_op *op = r->owner;
	char err[PROTO_TEXT_MAX];
	struct msg_lease l;
	const char *where;
	uint32_t ra;
	int res, rc = 0;

	memset(&l, 0, sizeof(l));
	res = req_result(r, err, sizeof(err), &ra);
	if (res == RES_OK &&
	    (r->reply == NULL ||
		(rc = kube_decode_lease_body((const char *)r->reply->data,
		     r->reply->len, &l, &where)) != 0)) {
		res = RES_MALFORMED;
		snprintf(err, sizeof(err), "Lease reply: %s: %s",
		    r->reply == NULL ? "body" : where,
		    r->reply == NULL ? "empty" : kube_strerror(rc));
		log_warn("Lease reply undecodable", "err", err, NULL);
	}
	answer(r->ctx, op->ans, op->seq, res, r->code, ra, err, &l);
	op_done(r);
}

static int
lease_valid(const struct msg_lease *l, int update, const char **why)
{
	*why = "holder is not valid UTF-8";
	if (!kube_utf8_valid(l->holder, strlen(l->holder)))
		return 0;
	*why = "acquire_time is not a MicroTime (six digits, Z)";
	if (l->acquire_time[0] != '\0' &&
	    !kube_microtime_valid(l->acquire_time))
		return 0;
	*why = "renew_time is not a MicroTime (six digits, Z)";
	if (l->renew_time[0] != '\0' && !kube_microtime_valid(l->renew_time))
		return 0;
	*why = "duration or transitions out of range";
	if (l->duration_s > INT32_MAX || l->transitions > INT32_MAX)
		return 0;
	*why = "update without a resourceVersion";
	if (update && l->rv[0] == '\0')
		return 0;
	*why = "resourceVersion is not valid UTF-8";
	return kube_utf8_valid(l->rv, strlen(l->rv));
}

static cJSON *
lease_json(const struct kube_ctx *c, const struct msg_lease *l, int update)
{
	cJSON *root = cJSON_CreateObject(), *meta, *spec;

	cJSON_AddStringToObject(root, "apiVersion", "coordination.k8s.io/v1");
	cJSON_AddStringToObject(root, "kind", "Lease");
	meta = cJSON_AddObjectToObject(root, "metadata");
	cJSON_AddStringToObject(meta, "name", c->lease_name);
	cJSON_AddStringToObject(meta, "namespace", c->lease_ns);
	if (update)
		cJSON_AddStringToObject(meta, "resourceVersion", l->rv);
	/* As client-go writes a LeaderElectionRecord. */
	spec = cJSON_AddObjectToObject(root, "spec");
	cJSON_AddStringToObject(spec, "holderIdentity", l->holder);
	if (l->duration_s > 0)
		cJSON_AddNumberToObject(spec, "leaseDurationSeconds",
		    l->duration_s);
	if (l->acquire_time[0] != '\0')
		cJSON_AddStringToObject(spec, "acquireTime", l->acquire_time);
	if (l->renew_time[0] != '\0')
		cJSON_AddStringToObject(spec, "renewTime", l->renew_time);
	cJSON_AddNumberToObject(spec, "leaseTransitions", l->transitions);
	if (meta == NULL || spec == NULL) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

static void
lease_req(struct kube_ctx *c, uint32_t seq, const struct msg_lease *l,
    const char *method)
{
	char path[KUBE_NS_MAX + PROTO_NAME_MAX + 64];
	int get = strcmp(method, "GET") == 0, put = strcmp(method, "PUT") == 0;
	struct kube_op *op;
	const char *why;
	cJSON *json = NULL;
	int n;

	if (!get && !lease_valid(l, put, &why)) {
		answer(c, MSG_KUBE_LEASE_ANS, seq, RES_INVALID, 0, 0, why,
		    NULL);
		return;
	}
	if ((op = op_new(c, MSG_KUBE_LEASE_ANS, seq)) == NULL)
		return;
	n = snprintf(path, sizeof(path), LEASES_PATH "%s%s", c->lease_ns,
	    strcmp(method, "POST") == 0 ? "" : "/",
	    strcmp(method, "POST") == 0 ? "" : c->lease_name);
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    (!get && (json = lease_json(c, l, put)) == NULL)) {
		answer(c, op->ans, seq, RES_TRANSIENT, 0, 0, "out of memory",
		    NULL);
		free(op);
		return;
	}
	submit(c, op, method, path, get ? NULL : "application/json", json,
	    lease_done);
}

void
kube_on_lease_get(struct kube_ctx *c, uint32_t seq, const union msg_payload *p)
{
	lease_req(c, seq, &p->lease_req.lease, "GET");
}

void
kube_on_lease_create(struct kube_ctx *c, uint32_t seq,
    const union msg_payload *p)
{
	lease_req(c, seq, &p->lease_req.lease, "POST");
}

void
kube_on_lease_update(struct kube_ctx *c, uint32_t seq,
    const union msg_payload *p)
{
	lease_req(c, seq, &p->lease_req.lease, "PUT");
}

/* ---- events ---- */

static cJSON *
ref_json(const char *node)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddStringToObject(o, "kind", "Node");
	cJSON_AddStringToObject(o, "name", node);
	return o;
}

static cJSON *
event_json(const struct kube_ctx *c, const struct kube_op *op)
{
	const struct msg_kube_event *e = &op->ev;
	cJSON *root = cJSON_CreateObject(), *meta, *src;
	char ts[24];

	cJSON_AddStringToObject(root, "apiVersion",
	    op->core ? "v1" : "events.k8s.io/v1");
	cJSON_AddStringToObject(root, "kind", "Event");
	meta = cJSON_AddObjectToObject(root, "metadata");
	cJSON_AddStringToObject(meta, "name", op->name);
	cJSON_AddStringToObject(meta, "namespace", EVENTS_NS);
	cJSON_AddStringToObject(root, "type",
	    e->warning ? "Warning" : "Normal");
	cJSON_AddStringToObject(root, "reason", e->reason);
	cJSON_AddStringToObject(root, "action", e->action);
	cJSON_AddStringToObject(root, "reportingInstance", c->identity);
	if (!op->core) {
		cJSON_AddStringToObject(root, "eventTime", op->time);
		cJSON_AddStringToObject(root, "reportingController", REPORTER);
		cJSON_AddItemToObject(root, "regarding", ref_json(e->node));
		if (e->note[0] != '\0')
			cJSON_AddStringToObject(root, "note", e->note);
		return root;
	}
	/* core/v1: second-precision timestamps, a count and a source. */
	snprintf(ts, sizeof(ts), "%.19sZ", op->time);
	cJSON_AddStringToObject(root, "reportingComponent", REPORTER);
	cJSON_AddItemToObject(root, "involvedObject", ref_json(e->node));
	cJSON_AddStringToObject(root, "message", e->note);
	cJSON_AddStringToObject(root, "firstTimestamp", ts);
	cJSON_AddStringToObject(root, "lastTimestamp", ts);
	cJSON_AddNumberToObject(root, "count", 1);
	src = cJSON_AddObjectToObject(root, "source");
	cJSON_AddStringToObject(src, "component", REPORTER);
	return root;
}

static void event_send(struct kube_ctx *, struct kube_op *);

static void
event_done(struct kube_req *r)
{
	struct kube_op *op = r->owner;
	struct kube_ctx *c = r->ctx;
	char err[PROTO_TEXT_MAX];
	uint32_t ra;
	int res;

	res = req_result(r, err, sizeof(err), &ra);
	if ((res == RES_NOT_FOUND || res == RES_FORBIDDEN) && !op->core) {
		/* No events.k8s.io here, or RBAC grants only core events
		 * (the reference chart): core/v1 now and from now on. */
		log_info("events.k8s.io refused; using core/v1 events", "code",
		    res == RES_FORBIDDEN ? "403" : "404", NULL);
		c->events_core = 1;
		c->nwrites--;
		r->owner = NULL;
		op->core = 1;
		event_send(c, op);
		return;
	}
	if (res == RES_FORBIDDEN) {
		/* Never a forbidden write in a loop: wait for RBAC. */
		log_warn("events forbidden by RBAC; none for 10 minutes", "err",
		    err, NULL);
		c->events_denied_until = clock_ms() + EVENTS_DENIED_MS;
	}
	answer(c, op->ans, op->seq, res, r->code, ra, err, NULL);
	op_done(r);
}

static void
event_send(struct kube_ctx *c, struct kube_op *op)
{
	char path[96];

	snprintf(path, sizeof(path),
	    op->core ? "/api/v1/namespaces/%s/events"
		     : "/apis/events.k8s.io/v1/namespaces/%s/events",
	    EVENTS_NS);
	submit(c, op, "POST", path, "application/json", event_json(c, op),
	    event_done);
}

/* client-go's "<regarding>.<unix ns in hex>", cut to a DNS subdomain. */
static void
event_name(const char *node, char *out, size_t outlen)
{
	struct timespec ts;
	char suffix[24];
	size_t nl = strlen(node), max;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(suffix, sizeof(suffix), ".%llx",
	    (unsigned long long)ts.tv_sec * 1000000000ULL +
		(unsigned long long)ts.tv_nsec);
	max = 253 - strlen(suffix);
	if (nl > max)
		nl = max;
	while (nl > 0 && (node[nl - 1] == '.' || node[nl - 1] == '-'))
		nl--;
	snprintf(out, outlen, "%.*s%s", (int)nl, node, suffix);
}

void
kube_on_event(struct kube_ctx *c, uint32_t seq, const union msg_payload *p)
{
	const struct msg_kube_event *e = &p->event;
	const char *why = NULL;
	struct kube_op *op;

	if (!kube_name_valid(e->node))
		why = "node name is not a DNS subdomain";
	else if (e->reason[0] == '\0' || e->action[0] == '\0')
		why = "reason and action are required";
	else if (!kube_utf8_valid(e->reason, strlen(e->reason)) ||
	    !kube_utf8_valid(e->action, strlen(e->action)) ||
	    !kube_utf8_valid(e->note, strlen(e->note)))
		why = "reason, action or note is not valid UTF-8";
	if (why != NULL) {
		answer(c, MSG_KUBE_EVENT_ANS, seq, RES_INVALID, 0, 0, why,
		    NULL);
		return;
	}
	if (c->events_denied_until > clock_ms()) {
		answer(c, MSG_KUBE_EVENT_ANS, seq, RES_FORBIDDEN, 403, 0,
		    "events forbidden by RBAC; not retried yet", NULL);
		return;
	}
	if ((op = op_new(c, MSG_KUBE_EVENT_ANS, seq)) == NULL)
		return;
	op->ev = *e;
	op->core = c->events_core;
	event_name(e->node, op->name, sizeof(op->name));
	clock_microtime(op->time, sizeof(op->time));
	event_send(c, op);
}
