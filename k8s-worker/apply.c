/* apply.c: watch and list objects into the record store, deltas out */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/str.h"
#include "kube.h"

static uint8_t
sel_flag(const struct kube_refl *f)
{
	return f->kind == REFL_CAND  ? NODE_F_CANDIDATE
	    : f->kind == REFL_ACTIVE ? NODE_F_ACTIVE
				     : 0;
}

/* ---- frames to the supervisor ---- */

static void
send_rec(struct kube_ctx *c, const struct kube_refl *f,
    const struct kube_rec *r)
{
	union msg_payload p;

	memset(&p, 0, sizeof(p));
	if (f->kind == REFL_PODS) {
		str_copy(p.pod.name, sizeof(p.pod.name), r->str);
		str_copy(p.pod.node, sizeof(p.pod.node), KUBE_REC_A(r));
		p.pod.ready = r->flags;
		kube_send(c, MSG_KUBE_POD, 0, &p.pod);
		return;
	}
	str_copy(p.node.name, sizeof(p.node.name), r->str);
	p.node.server_id = r->id;
	str_copy(p.node.addrs, sizeof(p.node.addrs), KUBE_REC_A(r));
	p.node.flags = r->flags;
	kube_send(c, MSG_KUBE_NODE, 0, &p.node);
}

static void
send_del(struct kube_ctx *c, const struct kube_refl *f, const char *name)
{
	struct msg_kube_name m;

	memset(&m, 0, sizeof(m));
	str_copy(m.name, sizeof(m.name), name);
	kube_send(c,
	    f->kind == REFL_PODS ? MSG_KUBE_POD_DEL : MSG_KUBE_NODE_DEL, 0, &m);
}

static int
announced(const struct kube_ctx *c, const struct kube_refl *f)
{
	return f->kind == REFL_PODS ? c->pods_announced : c->nodes_announced;
}

/* A full snapshot of the store the reflector feeds: nodes only once
 * both node selectors have listed, so the first one is complete. */
void
kube_announce(struct kube_ctx *c, const struct kube_refl *f)
{
	struct msg_kube_sync s;
	struct kube_iter it = { 0, NULL };
	struct kube_rec *r;

	if (f->kind != REFL_PODS &&
	    (!c->refl[REFL_CAND].synced || !c->refl[REFL_ACTIVE].synced))
		return;
	memset(&s, 0, sizeof(s));
	s.kind = f->kind == REFL_PODS ? SYNC_PODS : SYNC_NODES;
	kube_send(c, MSG_KUBE_SYNC_BEGIN, 0, &s);
	while ((r = kube_store_iter(f->store, &it)) != NULL) {
		send_rec(c, f, r);
		s.count++;
	}
	kube_send(c, MSG_KUBE_SYNC_END, 0, &s);
	if (f->kind == REFL_PODS)
		c->pods_announced = 1;
	else
		c->nodes_announced = 1;
}

/* ---- applying objects ---- */

/* A node or pod in the store's form: a is the node's addresses or the
 * pod's nodeName. */
struct rec_form {
	char name[PROTO_NAME_MAX];
	char a[PROTO_ADDRS_LEN > PROTO_NAME_MAX ? PROTO_ADDRS_LEN
						: PROTO_NAME_MAX];
	uint64_t id;
	uint64_t rv;
	uint8_t flags;
	unsigned int bad_addrs;
};

static int
decode_obj(struct kube_ctx *c, const struct kube_refl *f, const cJSON *o,
    struct rec_form *out, const char **where)
{
	struct kube_node_obj no;
	struct kube_pod_obj po;
	int r;

	memset(out, 0, sizeof(*out));
	if (f->kind == REFL_PODS) {
		r = kube_decode_pod(o, &po, where);
		memcpy(out->name, po.m.name, sizeof(out->name));
		memcpy(out->a, po.m.node, sizeof(po.m.node));
		out->flags = po.m.ready;
		out->rv = po.rv;
		return r;
	}
	r = kube_decode_node(o, &c->cand, &c->active, &no, where);
	memcpy(out->name, no.m.name, sizeof(out->name));
	memcpy(out->a, no.m.addrs, sizeof(no.m.addrs));
	out->id = no.m.server_id;
	out->flags = no.m.flags;
	out->rv = no.rv;
	out->bad_addrs = no.bad_addrs;
	return r;
}

void
kube_apply(struct kube_ctx *c, struct kube_refl *f, const cJSON *o, int listing)
{
	struct rec_form no;
	struct kube_rec *r;
	const char *where;
	char num[16];
	int rc, changed;

	if ((rc = decode_obj(c, f, o, &no, &where)) != 0) {
		log_warn("object skipped: malformed", "reflector", f->name,
		    "name", no.name, "field", where, "err", kube_strerror(rc),
		    NULL);
		/* Keep what we had rather than let the list sweep it. */
		if (listing && no.name[0] != '\0' &&
		    (r = kube_store_get(f->store, no.name)) != NULL &&
		    (r->member & f->bit))
			r->seen |= f->bit;
		return;
	}
	r = kube_store_get(f->store, no.name);
	/* The other selector's watch may already have applied a newer
	 * state of this node: membership only. */
	if (r != NULL && no.rv != 0 && r->rv != 0 && no.rv < r->rv) {
		r->member |= f->bit;
		r->seen |= listing ? f->bit : 0;
		return;
	}
	if (kube_store_put(f->store, no.name, no.a, no.id, no.flags, &r,
		&changed) == -1) {
		log_error("out of memory storing a record", "name", no.name,
		    NULL);
		return;
	}
	r->rv = no.rv;
	r->member |= f->bit;
	r->seen |= listing ? f->bit : 0;
	/* Once per change of the node, not per status update. */
	if (changed && no.bad_addrs > 0) {
		snprintf(num, sizeof(num), "%u", no.bad_addrs);
		log_warn("node addresses left out: not numeric IPs", "node",
		    no.name, "count", num, NULL);
	}
	if (!listing && changed && announced(c, f))
		send_rec(c, f, r);
}

/* Leaving this selector; the record goes once it is in none. */
static void
leave(struct kube_ctx *c, struct kube_refl *f, struct kube_rec *r, uint64_t rv,
    int quiet)
{
	uint8_t before = r->flags;

	r->member &= (uint8_t)~f->bit;
	if (rv == 0 || r->rv == 0 || rv >= r->rv) {
		r->flags &= (uint8_t)~sel_flag(f);
		if (rv > r->rv)
			r->rv = rv;
	}
	if (r->member == 0) {
		if (!quiet && announced(c, f))
			send_del(c, f, r->str);
		kube_store_del(f->store, r);
	} else if (!quiet && r->flags != before && announced(c, f))
		send_rec(c, f, r);
}

void
kube_deleted(struct kube_ctx *c, struct kube_refl *f, const cJSON *o)
{
	struct rec_form no;
	struct kube_rec *r;
	const char *where;
	int rc;

	/* The last state: only its name and resourceVersion matter. */
	rc = decode_obj(c, f, o, &no, &where);
	if (no.name[0] == '\0' ||
	    (rc != 0 && strcmp(where, "metadata.name") == 0)) {
		log_warn("DELETED event without a usable name", "reflector",
		    f->name, "err", kube_strerror(rc), NULL);
		return;
	}
	if ((r = kube_store_get(f->store, no.name)) != NULL &&
	    (r->member & f->bit))
		leave(c, f, r, no.rv, 0);
}

void
kube_sweep(struct kube_refl *f, struct kube_ctx *c)
{
	struct kube_iter it = { 0, NULL };
	struct kube_rec *r;

	while ((r = kube_store_iter(f->store, &it)) != NULL)
		if ((r->member & f->bit) && !(r->seen & f->bit))
			leave(c, f, r, 0, 1);
}

void
kube_clear_seen(struct kube_refl *f)
{
	struct kube_iter it = { 0, NULL };
	struct kube_rec *r;

	while ((r = kube_store_iter(f->store, &it)) != NULL)
		r->seen &= (uint8_t)~f->bit;
}
