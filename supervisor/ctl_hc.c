/* ctl_hc.c: every Hetzner request of the controller, through the governor:
 * Floating IP reads, the action check, the server fast path */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/str.h"
#include "sup.h"

/* How long a read may wait for its answer before it counts as failed. */
#define STEP_READ_MS 30000
/* Re-read pace while an action still runs on the primary. */
#define REREAD_EVERY_MS 1000
/* A busy request slot is polled this often (the answer also wakes us). */
#define HC_BUSY_RETRY_MS 100
/* The gateway's server is read again this often while its probe fails. */
#define FAST_EVERY_MS 10000

/* Record why a request waits: the earliest time it may go. */
static void
defer(struct sup *s, enum gov_prio p, int64_t now)
{
	struct ctl *c = &s->ctl;
	int64_t due = c->hc_seq != 0 ? now + HC_BUSY_RETRY_MS
				     : gov_next_due(&c->gov, p, now);

	if (due <= now)
		due = now + 1;
	/* a wake time in the past is spent: the new one replaces it */
	if (due < c->hc_wake[p] || c->hc_wake[p] <= now)
		c->hc_wake[p] = due;
}

int
ctl_hc_ready(const struct sup *s, enum gov_prio p, int64_t now)
{
	const struct ctl *c = &s->ctl;

	return s->w[WORKER_HCLOUD].ready && c->hc_seq == 0 &&
	    gov_can_admit(&c->gov, p, now);
}

void
ctl_hc_wait(struct sup *s, enum gov_prio p, int64_t now)
{
	gov_wait(&s->ctl.gov, p);
	defer(s, p, now);
}

uint32_t
ctl_hc_send(struct sup *s, uint16_t type, const void *payload, enum gov_prio p,
    int64_t now)
{
	struct ctl *c = &s->ctl;
	uint32_t seq;

	/* One request at a time: the worker runs one operation, and the
	 * governor's estimate is only right if it sees every reply. */
	if (!s->w[WORKER_HCLOUD].ready)
		return 0;
	if (c->hc_seq != 0 || !gov_admit(&c->gov, p, now)) {
		if (c->hc_seq != 0)
			gov_wait(&c->gov, p);
		defer(s, p, now);
		return 0;
	}
	if ((seq = sup_request(s, WORKER_HCLOUD, type, payload)) == 0)
		return 0;
	c->hc_seq = seq;
	c->hc_prio = p;
	c->hc_sent_at = now;
	c->hc_wake[p] = INT64_MAX;
	return seq;
}

/* Every Hetzner answer feeds the governor, stale or not: its headers are
 * the newest word on the budget. */
void
ctl_hc_answered(struct sup *s, uint16_t type, uint32_t seq,
    const union msg_payload *p, int64_t now)
{
	struct ctl *c = &s->ctl;
	const struct msg_ratelimit *rl;
	uint32_t requests = 1;
	enum gov_prio prio = GOV_RESYNC;
	uint16_t code;

	/* The status of the last reply: a worker that paused an operation
	 * for want of budget answers RES_THROTTLED after a 200. */
	switch (type) {
	case MSG_HC_FIPS_ANS:
		rl = &p->fips.rl;
		code = p->fips.code;
		break;
	case MSG_HC_SERVER_ANS:
		rl = &p->server.rl;
		code = p->server.code;
		break;
	default:
		rl = &p->hc.rl;
		code = p->hc.code;
		requests = p->hc.requests;
		break;
	}
	if (seq == c->hc_seq && seq != 0) {
		prio = (enum gov_prio)c->hc_prio;
		c->hc_seq = 0;
	}
	if (rl->limit != 0)
		s->m.rl = *rl;
	gov_reply(&c->gov, rl, code == 429, requests, prio, now);
}

void
ctl_hc_reset(struct sup *s)
{
	s->ctl.hc_seq = 0;
	s->ctl.srv_seq = 0;
}

/* ---- Floating IP reads ---------------------------------------------- */

int
ctl_read_fips(struct sup *s, int reread, int64_t now)
{
	struct msg_hc_fip_id z = { 0 };
	struct ctl *c = &s->ctl;

	if (c->fips_inflight)
		return 1;
	if ((c->fips_seq = ctl_hc_send(s, MSG_HC_FIPS_REQ, &z,
		 reread ? GOV_FAILOVER : GOV_RESYNC, now)) == 0)
		return 0;
	c->fips_inflight = 1;
	c->action_pending = 0;
	c->reread = reread;
	c->step_deadline = now + STEP_READ_MS;
	return 1;
}

void
ctl_fips_finished(struct sup *s, int ok, int64_t now)
{
	struct ctl *c = &s->ctl;
	int64_t due;

	c->fips_inflight = 0;
	c->action_pending = 0;
	c->dirty = 1;
	if (!ok || world_reread_pending(s->world)) {
		due = gov_next_due(&c->gov, GOV_FAILOVER, now);
		c->next_reread = now + REREAD_EVERY_MS;
		if (due > c->next_reread)
			c->next_reread = due;
	}
	if (c->running && c->wait_type == MSG_HC_FIPS_REQ) {
		c->wait_seq = 0;
		c->running = 0; /* a REREAD plan is one step */
		metrics_reconcile_end(&s->m,
		    ok ? RECONCILE_REQUEUE : RECONCILE_ERROR, now);
	}
}

static int
fip_index(const struct sup *s, const char *name)
{
	size_t i;

	if (strcmp(name, s->cfg->floating_ip_name) == 0)
		return 0;
	for (i = 0; i < s->cfg->n_additional; i++)
		if (strcmp(name, s->cfg->additional[i]) == 0)
			return (int)i + 1;
	return -1;
}

/* The second request of a re-read; after a 429 only this one is tried
 * again: the Floating IPs already read stay read. */
void
ctl_action_check(struct sup *s, int64_t now)
{
	struct ctl *c = &s->ctl;
	struct msg_hc_fip_id q;

	q.fip_id = c->pending_primary.id;
	c->action_pending = 1;
	if ((c->action_seq = ctl_hc_send(s, MSG_HC_ACTION_REQ, &q, GOV_FAILOVER,
		 now)) == 0) {
		if (!s->w[WORKER_HCLOUD].ready)
			ctl_fips_finished(s, 0, now);
		return;
	}
	c->action_pending = 0;
	c->step_deadline = now + STEP_READ_MS;
}

void
ctl_on_fips(struct sup *s, const struct msg_hc_fips_ans *a, int64_t now)
{
	const struct allowlist *al = &s->cfg->allowlist;
	int i, idx, check = 0;

	if (a->result != RES_OK) {
		log_warn("floating IP read failed", "err", a->err, NULL);
		ctl_fips_finished(s, 0, now);
		return;
	}
	for (i = 0; i < a->count; i++) {
		const struct msg_fip *f = &a->fips[i];

		if ((idx = fip_index(s, f->name)) < 0)
			continue;
		if (!f->found) {
			log_error("floating IP not found", "fip", f->name,
			    NULL);
			world_fip_unknown(s->world, idx);
			continue;
		}
		/* After a failed or unknown assignment the primary only
		 * counts once no action runs on it any more. */
		if (idx == 0 &&
		    (s->ctl.reread || world_reread_pending(s->world))) {
			s->ctl.pending_primary = *f;
			check = 1;
			continue;
		}
		world_fip_set(s->world, idx, f->id, f->ip, f->is_v6,
		    f->server_id, 0, al, now);
	}
	if (!check) {
		ctl_fips_finished(s, 1, now);
		return;
	}
	ctl_action_check(s, now);
}

void
ctl_on_action(struct sup *s, const struct msg_hc_ans *a, int64_t now)
{
	const struct msg_fip *f = &s->ctl.pending_primary;

	if (a->result == RES_THROTTLED) {
		/* Nothing learnt, nothing lost: only this request again. */
		log_info("action check throttled; retried when the budget "
			 "allows",
		    "fip", f->name, NULL);
		ctl_action_check(s, now);
		return;
	}
	if (a->result != RES_OK) {
		log_warn("action check failed", "fip", f->name, "err", a->err,
		    NULL);
		ctl_fips_finished(s, 0, now);
		return;
	}
	world_fip_set(s->world, 0, f->id, f->ip, f->is_v6, f->server_id,
	    a->running, &s->cfg->allowlist, now);
	if (a->running)
		log_info("an action still runs on the primary; re-reading",
		    "fip", f->name, NULL);
	ctl_fips_finished(s, 1, now);
}

/* ---- the server fast path ------------------------------------------- */

/* The labelled node in its grace whose server read is due soonest. */
static const struct world_node *
fast_target(const struct sup *s, int64_t now, int64_t *due)
{
	const struct world_node *n, *best = NULL;
	int64_t t;
	size_t i;

	*due = INT64_MAX;
	for (i = 0; (n = world_node_at(s->world, i)) != NULL; i++) {
		if (!n->labelled || n->probe != WORLD_PROBE_FAILING ||
		    n->server_id == 0 || n->server == WORLD_SERVER_OFF ||
		    !decide_node_holding(&s->dcfg, n, now))
			continue;
		/* Once at the first failure, then every FAST_EVERY_MS. */
		t = n->server_read_at < n->failing_since
		    ? n->failing_since
		    : n->server_read_at + FAST_EVERY_MS;
		if (t < *due) {
			*due = t;
			best = n;
		}
	}
	return best;
}

void
ctl_fastpath(struct sup *s, int64_t now)
{
	struct ctl *c = &s->ctl;
	const struct world_node *n;
	struct msg_hc_server_id q;
	int64_t due;

	if (c->srv_seq != 0 || (n = fast_target(s, now, &due)) == NULL ||
	    due > now)
		return;
	q.server_id = n->server_id;
	if ((c->srv_seq = ctl_hc_send(s, MSG_HC_SERVER_REQ, &q, GOV_FASTPATH,
		 now)) == 0)
		return;
	str_copy(c->srv_node, sizeof(c->srv_node), n->name);
	c->srv_id = n->server_id;
}

int64_t
ctl_fastpath_deadline(const struct sup *s, int64_t now)
{
	const struct ctl *c = &s->ctl;
	int64_t due;

	if (c->srv_seq != 0 || !s->w[WORKER_HCLOUD].ready ||
	    fast_target(s, now, &due) == NULL)
		return INT64_MAX;
	return due > c->hc_wake[GOV_FASTPATH] ||
		c->hc_wake[GOV_FASTPATH] == INT64_MAX
	    ? due
	    : c->hc_wake[GOV_FASTPATH];
}

static const char *
status_name(uint8_t st)
{
	static const char *const names[] = { "unknown", "running", "off",
		"stopping", "deleting", "gone", "other" };

	return st <= SERVER_ST_MAX ? names[st] : "unknown";
}

void
ctl_on_server(struct sup *s, const struct msg_hc_server_ans *a, int64_t now)
{
	struct ctl *c = &s->ctl;
	const struct world_node *n = world_node_find(s->world, c->srv_node);
	enum world_server st = WORLD_SERVER_UNKNOWN;
	char note[PROTO_NOTE_MAX], id[24];

	c->srv_seq = 0;
	if (n == NULL || n->server_id != c->srv_id)
		return; /* the node went or is another machine now */
	snprintf(id, sizeof(id), "%" PRIu64, c->srv_id);
	if (a->result != RES_OK)
		log_warn("gateway's server could not be read; the grace "
			 "applies",
		    "node", n->name, "server", id, "err", a->err, NULL);
	else if (a->status == SERVER_ST_OFF ||
	    a->status == SERVER_ST_STOPPING ||
	    a->status == SERVER_ST_DELETING || a->status == SERVER_ST_GONE)
		st = WORLD_SERVER_OFF;
	else
		st = WORLD_SERVER_RUNNING;
	world_server_result(s->world, c->srv_node, st, now);
	c->dirty = 1;
	if (st != WORLD_SERVER_OFF) {
		log_debug("gateway's server read", "node", c->srv_node,
		    "status", status_name(a->status), NULL);
		return;
	}
	s->m.fastpath_demotions++;
	log_warn("gateway's server is down: demoted without the grace", "node",
	    c->srv_node, "server", id, "status", status_name(a->status), NULL);
	str_fmt(note, sizeof(note),
	    "server %s of %s is %s while its probe fails: demoted at once "
	    "(server fast path)",
	    id, c->srv_node, status_name(a->status));
	ctl_event(s, c->srv_node, 1, "GatewayServerDown", "Failover", note,
	    now);
}

int64_t
ctl_hc_deadline(const struct sup *s, int64_t now)
{
	const struct ctl *c = &s->ctl;
	int64_t d = ctl_fastpath_deadline(s, now);

	if ((c->assign_wait || c->action_pending) &&
	    c->hc_wake[GOV_FAILOVER] < d)
		d = c->hc_wake[GOV_FAILOVER];
	return d;
}
