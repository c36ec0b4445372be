/* ctl.c: the controller: worker frames -> world -> decide -> plan steps */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "supervisor/config/cfg.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/str.h"
#include "sup.h"

/* The world keeps a node's address list verbatim, as the frame has it. */
_Static_assert(WORLD_ADDRS_LEN == PROTO_ADDRS_LEN, "address list sizes");

/* How long one step may wait for its answer before it counts as
 * failed; the hcloud worker's own assign deadline is shorter. */
#define STEP_LABEL_MS 30000
#define STEP_ASSIGN_MS 120000
#define STEP_READ_MS 30000
/* A decision that needs the Hetzner slot while it is taken looks again
 * this soon (the answer also wakes the loop). */
#define HC_BUSY_RETRY_MS 100
/* ... and this soon while the hcloud worker is down (its HELLO wakes the
 * loop anyway). */
#define HC_DOWN_RETRY_MS 1000

static void exec_next(struct sup *, int64_t now);
static int world_ready(const struct sup *);

void
ctl_init(struct sup *s, int64_t now)
{
	struct ctl *c = &s->ctl;
	int i;

	memset(c, 0, sizeof(*c));
	c->next_resync = now;
	c->ev_tokens = 10;
	c->ev_refill_at = now;
	c->last_outcome = DECIDE_PRIMARY_UNKNOWN;
	c->dirty = 1;
	gov_init(&c->gov, now);
	for (i = 0; i < GOV_PRIO_MAX; i++)
		c->hc_wake[i] = INT64_MAX;
}

static int
write_enabled(const struct sup *s, int64_t now)
{
	return sup_can_write(s, now) && !s->cfg->dry_run;
}

/* ---- world updates from the k8s and probe workers ------------------ */

static void
on_node(struct sup *s, const struct msg_kube_node *n, int64_t now)
{
	struct world_node_facts f = {
		.name = n->name,
		.server_id = n->server_id,
		.addrs = n->addrs,
		.ready = (n->flags & NODE_F_READY) != 0,
		.unschedulable = (n->flags & NODE_F_UNSCHED) != 0,
		.deleting = (n->flags & NODE_F_DELETING) != 0,
		.candidate = (n->flags & NODE_F_CANDIDATE) != 0,
		.labelled = (n->flags & NODE_F_ACTIVE) != 0,
	};

	const struct world_node *o = world_node_find(s->world, n->name);
	int probed = f.candidate || f.labelled;

	/* The probe worker needs the list again only when a probed node
	 * comes, goes or changes address, not on every status update. */
	if (o == NULL ? probed
		      : (probed != (o->candidate || o->labelled) ||
			    strcmp(o->addrs, f.addrs) != 0))
		s->ctl.probe_dirty = 1;
	if (world_node_upsert(s->world, &f, now) == -1)
		log_warn("node record refused", "node", n->name, NULL);
}

/* Our own label write succeeded: reflect it now rather than wait for
 * the watch, so the next decision does not repeat it. */
static void
set_labelled(struct sup *s, const char *name, int labelled, int64_t now)
{
	const struct world_node *n = world_node_find(s->world, name);
	struct world_node_facts f;

	if (n == NULL || n->labelled == labelled)
		return;
	memset(&f, 0, sizeof(f));
	f.name = n->name;
	f.server_id = n->server_id;
	f.addrs = n->addrs;
	f.ready = n->ready;
	f.unschedulable = n->unschedulable;
	f.deleting = n->deleting;
	f.candidate = n->candidate;
	f.labelled = labelled;
	world_node_upsert(s->world, &f, now);
}

static void
on_sync(struct sup *s, const struct msg_kube_sync *y, int end, int64_t now)
{
	if (y->kind == SYNC_NODES) {
		if (!end)
			world_nodes_mark(s->world);
		else {
			world_nodes_sweep(s->world);
			metrics_probe_prune(&s->m, s->world);
			s->ctl.nodes_synced = 1;
			s->ctl.probe_dirty = 1;
		}
	} else if (y->kind == SYNC_PODS) {
		if (!end)
			world_pods_mark(s->world);
		else {
			world_pods_sweep(s->world, now);
			s->ctl.pods_synced = 1;
		}
	}
}

static int
probed(const struct world_node *n)
{
	return (n->candidate || n->labelled) && n->addrs[0] != '\0';
}

/*
 * The whole target list, BEGIN .. END.  Thousands of targets do not fit
 * a socket buffer at once, so a full socket pauses the list at a cursor
 * and the loop resumes it when the socket is writable; END carries the
 * number of targets really sent.
 */
static void
send_targets(struct sup *s)
{
	struct worker *w = &s->w[WORKER_PROBE];
	struct ctl *c = &s->ctl;
	struct msg_probe_target t;
	struct msg_probe_sync y = { 0 };
	const struct world_node *n;
	size_t i;
	int r;

	if (!c->probe_sending) {
		for (i = 0; (n = world_node_at(s->world, i)) != NULL; i++)
			y.count += probed(n);
		if (proc_send_nb(w, MSG_PROBE_TARGETS_BEGIN, 0, &y) != 0)
			return;
		c->probe_sending = 1;
		c->probe_dirty = 0;
		c->probe_cursor = 0;
		c->probe_sent = 0;
	}
	for (; (n = world_node_at(s->world, c->probe_cursor)) != NULL;
	     c->probe_cursor++) {
		if (!probed(n))
			continue;
		memset(&t, 0, sizeof(t));
		str_copy(t.node, sizeof(t.node), n->name);
		str_copy(t.addrs, sizeof(t.addrs), n->addrs);
		if ((r = proc_send_nb(w, MSG_PROBE_TARGET, 0, &t)) != 0) {
			c->probe_sending = r > 0; /* full: resume later */
			return;
		}
		c->probe_sent++;
	}
	y.count = c->probe_sent;
	if ((r = proc_send_nb(w, MSG_PROBE_TARGETS_END, 0, &y)) != 1)
		c->probe_sending = 0;
}

/* ---- plan execution -------------------------------------------------- */

static void
plan_abort(struct sup *s, const char *why)
{
	struct ctl *c = &s->ctl;

	if (c->running) {
		log_warn("plan stopped", "reason", why, NULL);
		metrics_reconcile_end(&s->m, RECONCILE_ERROR, clock_ms());
	}
	c->running = 0;
	c->wait_seq = 0;
	c->assign_wait = 0;
	c->dirty = 1;
}

static void
plan_done(struct sup *s, int64_t now)
{
	struct ctl *c = &s->ctl;
	char note[PROTO_NOTE_MAX], ms[24];

	c->running = 0;
	c->dirty = 1;
	metrics_reconcile_end(&s->m, metrics_reconcile_result(&c->plan), now);
	if (c->plan.outcome == DECIDE_LABEL_HOLDER)
		world_label_holder_done(s->world);
	if (c->plan.outcome != DECIDE_MOVE)
		return;
	snprintf(ms, sizeof(ms), "%lld", (long long)(now - c->plan_started));
	str_fmt(note, sizeof(note),
	    "gateway moved from %s to %s (%s); "
	    "took %s ms",
	    c->move_from[0] ? c->move_from : "none", c->plan.gateway,
	    c->plan.reason, ms);
	log_info("gateway moved", "from", c->move_from, "to", c->plan.gateway,
	    "reason", c->plan.reason, "duration_ms", ms, NULL);
	ctl_event(s, c->plan.gateway, 0, "GatewayMoved", "Failover", note, now);
	c->first_evidence = 0;
}

static void
step_sent(struct sup *s, uint32_t seq, int kind, uint16_t type, int64_t timeout,
    int64_t now)
{
	struct ctl *c = &s->ctl;

	if (seq == 0) {
		plan_abort(s, "worker not ready");
		return;
	}
	c->wait_seq = seq;
	c->wait_kind = kind;
	c->wait_type = type;
	c->step_started = now;
	c->step_deadline = now + timeout;
}

static void
exec_step(struct sup *s, const struct plan_step *st, int64_t now)
{
	const struct world_fip *f;
	struct msg_kube_label l;
	struct msg_hc_assign a;
	uint32_t seq;

	switch (st->op) {
	case PLAN_STRIP_LABEL:
	case PLAN_SET_LABEL:
		memset(&l, 0, sizeof(l));
		str_copy(l.node, sizeof(l.node), st->node);
		l.set = st->op == PLAN_SET_LABEL;
		seq = sup_request(s, WORKER_K8S, MSG_KUBE_LABEL_REQ, &l);
		step_sent(s, seq, WORKER_K8S, MSG_KUBE_LABEL_REQ, STEP_LABEL_MS,
		    now);
		return;
	case PLAN_ASSIGN:
	case PLAN_ASSIGN_ADDITIONAL:
		f = world_fip_get(s->world, st->fip);
		a.fip_id = f->id;
		a.server_id = st->server_id;
		seq = ctl_hc_send(s, MSG_HC_ASSIGN_REQ, &a, GOV_FAILOVER, now);
		/* No budget (or our one request slot taken): the plan waits
		 * at this step, labels as they are, and goes on when the
		 * governor admits it. */
		s->ctl.assign_wait = seq == 0 && s->w[WORKER_HCLOUD].ready;
		if (s->ctl.assign_wait)
			return;
		step_sent(s, seq, WORKER_HCLOUD, MSG_HC_ASSIGN_REQ,
		    STEP_ASSIGN_MS, now);
		return;
	case PLAN_REREAD_FIPS:
		(void)ctl_read_fips(s, 1, now);
		step_sent(s, s->ctl.fips_inflight ? s->ctl.fips_seq : 0,
		    WORKER_HCLOUD, MSG_HC_FIPS_REQ, STEP_READ_MS, now);
		return;
	}
}

static void
exec_next(struct sup *s, int64_t now)
{
	struct ctl *c = &s->ctl;
	const struct plan_step *st;
	char line[PLAN_REASON_MAX + 2 * PROTO_NAME_MAX];

	if (c->step >= c->plan.n_steps) {
		plan_done(s, now);
		return;
	}
	st = &c->plan.steps[c->step];
	/* Fencing: every write re-checks leadership, so a replica that
	 * could not renew stops before its Lease can expire. */
	if (st->op != PLAN_REREAD_FIPS && !write_enabled(s, now)) {
		plan_abort(s, "not leading any more");
		return;
	}
	if (plan_format_step(st, line, sizeof(line)) != 0)
		str_copy(line, sizeof(line), plan_op_name(st->op));
	log_info("step", "op", plan_op_name(st->op), "node", st->node, "detail",
	    line, NULL);
	if (c->plan.outcome == DECIDE_MOVE) {
		if (st->op == PLAN_ASSIGN ||
		    (st->op == PLAN_SET_LABEL && c->step > 0 &&
			c->plan.steps[c->step - 1].op == PLAN_ASSIGN)) {
			metrics_phase(&s->m,
			    st->op == PLAN_ASSIGN ? PHASE_STRIP : PHASE_ASSIGN,
			    now - c->phase_start);
			c->phase_start = now;
		}
	}
	exec_step(s, st, now);
}

static enum world_move_result
move_result(uint8_t r)
{
	switch (r) {
	case RES_OK:
		return WORLD_MOVE_OK;
	case RES_UNKNOWN:
	case RES_MALFORMED:
		return WORLD_MOVE_UNKNOWN;
	case RES_REFUSED:
	case RES_INVALID:
	case RES_NOT_FOUND:
	case RES_FORBIDDEN:
	case RES_UNAUTHORIZED:
		return WORLD_MOVE_REFUSED; /* 4xx other than 423/429 */
	default:
		return WORLD_MOVE_FAILED;
	}
}

/* The hcloud-worker's server check refused the target: nothing was
 * sent, the primary stays where it is and its holder gets the label. */
static int
server_refused(struct sup *s, const struct plan_step *st,
    const struct msg_hc_ans *a, int64_t now)
{
	char note[PROTO_NOTE_MAX];

	s->m.server_refusals++;
	world_move_result(s->world, st->node, WORLD_MOVE_REFUSED_UNSENT, now);
	log_error("assignment refused by the server check", "node", st->node,
	    "err", a->err, NULL);
	str_fmt(note, sizeof(note),
	    "assignment to %s refused: its server does not match "
	    "--hcloud-server-label-selector; node skipped for 10 minutes",
	    st->node);
	ctl_event(s, st->node, 1, "ServerRefused", "Failover", note, now);
	return -1;
}

static int
assign_result(struct sup *s, const struct plan_step *st,
    const struct msg_hc_ans *a, int64_t now)
{
	enum world_move_result r = move_result(a->result);
	const struct world_fip *f = world_fip_get(s->world, st->fip);
	char code[16], note[PROTO_NOTE_MAX];

	snprintf(code, sizeof(code), "%u", a->code);
	if (a->result == RES_THROTTLED) {
		/* A 429 before or on the POST: nothing was assigned, nothing
		 * needs reading; the same step goes again once the governor
		 * admits it, off the failure ladder. */
		log_info("assignment throttled, nothing changed; retried when "
			 "the budget allows",
		    "node", st->node, "err", a->err, NULL);
		return 1;
	}
	if (st->op == PLAN_ASSIGN_ADDITIONAL) {
		world_additional_result(s->world, st->fip, r == WORLD_MOVE_OK,
		    now);
		if (r == WORLD_MOVE_OK) {
			s->m.add_assign[st->fip]++;
			world_fip_set(s->world, st->fip, f->id, f->ip, f->is_v6,
			    st->server_id, 0, &s->cfg->allowlist, now);
		} else {
			/* Logged and counted; never blocks the primary. */
			s->m.add_fail[st->fip]++;
			if (a->result == RES_SERVER_REFUSED)
				s->m.server_refusals++;
			log_warn("additional floating IP assignment failed",
			    "fip", s->cfg->additional[st->fip - 1], "code",
			    code, "err", a->err, NULL);
		}
		return 0;
	}
	if (a->result == RES_SERVER_REFUSED && st->op == PLAN_ASSIGN)
		return server_refused(s, st, a, now);
	world_move_result(s->world, st->node, r, now);
	if (r == WORLD_MOVE_OK) {
		s->m.failovers++;
		return 0;
	}
	log_error("floating IP assignment failed", "node", st->node, "result",
	    r == WORLD_MOVE_UNKNOWN ? "unknown" : "failed", "code", code, "err",
	    a->err, NULL);
	if (r == WORLD_MOVE_REFUSED) {
		str_fmt(note, sizeof(note),
		    "assignment to %s refused (HTTP "
		    "%s: %s); node skipped for 10 minutes",
		    st->node, code, a->err);
		ctl_event(s, st->node, 1, "AssignmentRefused", "Failover", note,
		    now);
	}
	return -1;
}

static void
step_answer(struct sup *s, const union msg_payload *p, uint16_t type,
    int64_t now)
{
	struct ctl *c = &s->ctl;
	const struct plan_step *st = &c->plan.steps[c->step];
	int fail = 0;

	c->wait_seq = 0;
	if (type == MSG_KUBE_LABEL_ANS) {
		/* Stripping a node that is gone is done, not failed. */
		if (p->result.result == RES_OK ||
		    (st->op == PLAN_STRIP_LABEL &&
			p->result.result == RES_NOT_FOUND))
			set_labelled(s, st->node, st->op == PLAN_SET_LABEL,
			    now);
		else {
			log_error("label write failed", "node", st->node, "err",
			    p->result.err, NULL);
			fail = 1;
		}
		if (!fail && st->op == PLAN_SET_LABEL &&
		    c->plan.outcome == DECIDE_MOVE)
			metrics_phase(&s->m, PHASE_LABEL, now - c->phase_start);
	} else if ((fail = assign_result(s, st, &p->hc, now)) > 0) {
		exec_step(s, st, now); /* waits for the governor */
		return;
	}
	if (fail) {
		plan_abort(s, "step failed");
		return;
	}
	c->step++;
	exec_next(s, now);
}

static void
step_timeout(struct sup *s, int64_t now)
{
	struct ctl *c = &s->ctl;
	const struct plan_step *st = &c->plan.steps[c->step];

	log_error("step timed out", "op", plan_op_name(st->op), "node",
	    st->node, NULL);
	if (st->op == PLAN_ASSIGN)
		world_move_result(s->world, st->node, WORLD_MOVE_UNKNOWN, now);
	else if (st->op == PLAN_ASSIGN_ADDITIONAL)
		world_additional_result(s->world, st->fip, 0, now);
	if (st->op == PLAN_REREAD_FIPS)
		ctl_fips_finished(s, 0, now);
	plan_abort(s, "step timed out");
}

/* ---- deciding -------------------------------------------------------- */

static int
world_ready(const struct sup *s)
{
	return s->ctl.nodes_synced &&
	    (!s->dcfg.prepared_gate || s->ctl.pods_synced);
}

static int
needs_hcloud(const struct plan *p)
{
	size_t i;

	for (i = 0; i < p->n_steps; i++)
		if (p->steps[i].op == PLAN_ASSIGN ||
		    p->steps[i].op == PLAN_ASSIGN_ADDITIONAL ||
		    p->steps[i].op == PLAN_REREAD_FIPS)
			return 1;
	return 0;
}

static void
run_decide(struct sup *s, int64_t now)
{
	struct ctl *c = &s->ctl;

	c->dirty = 0;
	if (decide(s->world, &s->dcfg, now, &c->plan) != 0)
		return;
	ctl_announce(s, &c->plan, now);
	metrics_reconcile_begin(&s->m, now);
	if (c->plan.n_steps == 0 || s->cfg->dry_run) {
		metrics_reconcile_end(&s->m, metrics_reconcile_result(&c->plan),
		    now);
		return;
	}
	if (c->plan.outcome == DECIDE_REREAD && now < c->next_reread) {
		c->dirty = 1; /* paced while an action runs */
		metrics_reconcile_end(&s->m, RECONCILE_REQUEUE_AFTER, now);
		return;
	}
	if (needs_hcloud(&c->plan) && !ctl_hc_ready(s, GOV_FAILOVER, now)) {
		/* No strip without budget: a move begins only when its
		 * first Hetzner request can go. */
		ctl_hc_wait(s, GOV_FAILOVER, now);
		if (!s->w[WORKER_HCLOUD].ready)
			c->next_reread = now + HC_DOWN_RETRY_MS;
		else if (c->hc_seq != 0)
			c->next_reread = now + HC_BUSY_RETRY_MS;
		else
			c->next_reread =
			    gov_next_due(&c->gov, GOV_FAILOVER, now);
		c->dirty = 1;
		metrics_reconcile_end(&s->m, RECONCILE_REQUEUE_AFTER, now);
		return;
	}
	c->running = 1;
	c->step = 0;
	c->plan_started = c->phase_start = now;
	if (c->plan.outcome == DECIDE_MOVE) {
		const struct world_node *n;
		size_t i;

		c->move_from[0] = '\0';
		for (i = 0; (n = world_node_at(s->world, i)) != NULL; i++)
			if (n->labelled) {
				str_copy(c->move_from, sizeof(c->move_from),
				    n->name);
				break;
			}
		if (c->move_from[0] == '\0')
			str_copy(c->move_from, sizeof(c->move_from),
			    c->plan.holder);
		metrics_phase(&s->m, PHASE_DETECT,
		    c->first_evidence ? now - c->first_evidence : 0);
	}
	exec_next(s, now);
}

/* Waiting Hetzner requests, highest priority first: the one slot goes
 * to the first the governor admits. */
static void
hc_tick(struct sup *s, int64_t now)
{
	struct ctl *c = &s->ctl;

	if (c->running && c->assign_wait) {
		if (!write_enabled(s, now))
			plan_abort(s, "not leading any more");
		else
			exec_step(s, &c->plan.steps[c->step], now);
	}
	if (c->action_pending)
		ctl_action_check(s, now);
	if (!c->running)
		ctl_fastpath(s, now);
	if (now >= c->next_resync && !c->running && s->w[WORKER_HCLOUD].ready) {
		if (ctl_read_fips(s, 0, now)) {
			c->next_resync = now + s->cfg->resync_interval_ms;
			c->dirty = 1;
		} else {
			/* due again when the governor says, at the latest
			 * in a second should nothing have been recorded */
			c->next_resync = c->hc_wake[GOV_RESYNC];
			if (c->next_resync <= now ||
			    c->next_resync > now + 60000)
				c->next_resync = now + 1000;
		}
	}
}

void
ctl_tick(struct sup *s, int64_t now)
{
	struct ctl *c = &s->ctl;
	int lead = sup_can_write(s, now);

	if ((c->probe_dirty || c->probe_sending) && c->nodes_synced &&
	    s->w[WORKER_PROBE].ready)
		send_targets(s);
	if (!lead) {
		if (c->running)
			plan_abort(s, "not leading any more");
		c->next_resync = now; /* read at once when leading */
		return;
	}
	if (c->wait_seq != 0 && now >= c->step_deadline)
		step_timeout(s, now);
	if (c->fips_inflight && !c->running && now >= c->step_deadline)
		ctl_fips_finished(s, 0, now);
	hc_tick(s, now);
	if (c->running || c->fips_inflight || !world_ready(s))
		return;
	if (c->dirty || now >= c->decide_at)
		run_decide(s, now);
	/* Remembered, not recomputed at the next tick: the deadline
	 * function only reports times after its now, so asking it again
	 * at the deadline would miss it. */
	c->decide_at = decide_next_deadline(s->world, &s->dcfg, now);
}

int64_t
ctl_next_deadline(const struct sup *s, int64_t now)
{
	const struct ctl *c = &s->ctl;
	int64_t d, t;

	/* A standby only waits for frames and the election's timers. */
	if (!sup_can_write(s, now))
		return INT64_MAX;
	d = c->next_resync;
	if (c->wait_seq != 0 || c->fips_inflight)
		d = c->step_deadline < d ? c->step_deadline : d;
	if ((t = ctl_hc_deadline(s, now)) < d)
		d = t > now ? t : now;
	if (c->running || c->fips_inflight || !world_ready(s))
		return d;
	if (c->dirty)
		return c->next_reread > now ? c->next_reread : now;
	t = c->decide_at;
	return t < d ? t : d;
}

void
ctl_worker_ready(struct sup *s, int kind, int64_t now)
{
	if (kind == WORKER_PROBE)
		s->ctl.probe_dirty = 1;
	if (kind == WORKER_HCLOUD)
		s->ctl.next_resync = now;
	if (kind == WORKER_K8S) {
		/* A new k8s worker starts with a fresh snapshot. */
		s->ctl.nodes_synced = s->ctl.pods_synced = 0;
	}
}

void
ctl_worker_down(struct sup *s, int kind, int64_t now)
{
	struct ctl *c = &s->ctl;

	if (kind == WORKER_K8S)
		c->kube_api_ok = 0;
	if (kind == WORKER_PROBE) {
		c->probe_sending = 0; /* the new one gets a whole list */
		c->probe_dirty = 1;
	}
	if (kind == WORKER_HCLOUD) {
		ctl_hc_reset(s);
		if (c->fips_inflight)
			ctl_fips_finished(s, 0, now);
		if (c->assign_wait)
			plan_abort(s, "hcloud worker down");
	}
	if (c->wait_seq != 0 && c->wait_kind == kind) {
		/* The answer will never come: a restart mid-plan loses
		 * nothing, the next decision starts from the world. */
		step_timeout(s, now);
	}
}

void
ctl_on_frame(struct sup *s, int kind, uint16_t type, uint32_t seq,
    const union msg_payload *p, int64_t now)
{
	struct ctl *c = &s->ctl;

	switch (type) {
	case MSG_KUBE_SYNC_BEGIN:
	case MSG_KUBE_SYNC_END:
		on_sync(s, &p->sync, type == MSG_KUBE_SYNC_END, now);
		break;
	case MSG_KUBE_NODE:
		on_node(s, &p->node, now);
		break;
	case MSG_KUBE_NODE_DEL:
		world_node_remove(s->world, p->name.name);
		metrics_probe_prune(&s->m, s->world);
		c->probe_dirty = 1;
		break;
	case MSG_KUBE_POD:
		world_pod_upsert(s->world, p->pod.name, p->pod.node,
		    p->pod.ready, now);
		break;
	case MSG_KUBE_POD_DEL:
		world_pod_remove(s->world, p->name.name, now);
		break;
	case MSG_KUBE_STATUS:
		c->kube_api_ok = p->status.api_ok;
		return;
	case MSG_PROBE_RESULT:
		world_probe_result(s->world, p->probe.node, p->probe.ok, now);
		if (p->probe.failed > 0)
			metrics_probe_failed(&s->m, s->world, p->probe.node,
			    p->probe.failed);
		break;
	case MSG_HC_FIPS_ANS:
		if (kind != WORKER_HCLOUD)
			return;
		ctl_hc_answered(s, type, seq, p, now);
		if (seq == c->fips_seq && c->fips_inflight)
			ctl_on_fips(s, &p->fips, now);
		return;
	case MSG_HC_ACTION_ANS:
		if (kind != WORKER_HCLOUD)
			return;
		ctl_hc_answered(s, type, seq, p, now);
		if (seq == c->action_seq && c->fips_inflight)
			ctl_on_action(s, &p->hc, now);
		return;
	case MSG_HC_SERVER_ANS:
		if (kind != WORKER_HCLOUD)
			return;
		ctl_hc_answered(s, type, seq, p, now);
		if (seq == c->srv_seq && c->srv_seq != 0)
			ctl_on_server(s, &p->server, now);
		return;
	case MSG_HC_ASSIGN_ANS:
		if (kind != WORKER_HCLOUD)
			return;
		ctl_hc_answered(s, type, seq, p, now);
		/* Each worker numbers its own requests, so a seq alone
		 * could be another worker's: match worker, the answer type
		 * of what we asked (REQ + 1) and seq. */
		if (c->running && seq == c->wait_seq && kind == c->wait_kind &&
		    type == c->wait_type + 1)
			step_answer(s, p, type, now);
		return;
	case MSG_KUBE_LABEL_ANS:
		if (c->running && seq == c->wait_seq && kind == c->wait_kind &&
		    type == c->wait_type + 1)
			step_answer(s, p, type, now);
		return;
	case MSG_KUBE_EVENT_ANS:
		if (p->result.result != RES_OK)
			log_warn("event not recorded", "err", p->result.err,
			    NULL);
		return;
	default:
		return;
	}
	c->dirty = 1;
}
