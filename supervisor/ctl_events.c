/* ctl_events.c: logs and Kubernetes Events on decision transitions */
#include <stdio.h>
#include <string.h>

#include "supervisor/config/cfg.h"
#include "common/log.h"
#include "common/str.h"
#include "sup.h"

/*
 * Events are written only on transitions of the decision (never per
 * evaluation) and through a token bucket: a burst of EV_BURST, then
 * one per EV_REFILL_MS.  A flapping world therefore costs the API at
 * most a few writes a minute; what is dropped is counted.
 */
#define EV_BURST 10.0
#define EV_REFILL_MS 6000

void
ctl_event(struct sup *s, const char *node, int warning, const char *reason,
    const char *action, const char *note, int64_t now)
{
	struct ctl *c = &s->ctl;
	struct msg_kube_event ev;

	if (node == NULL || node[0] == '\0' || s->cfg->dry_run ||
	    !sup_can_write(s, now))
		return;
	c->ev_tokens += (double)(now - c->ev_refill_at) / EV_REFILL_MS;
	if (c->ev_tokens > EV_BURST)
		c->ev_tokens = EV_BURST;
	c->ev_refill_at = now;
	if (c->ev_tokens < 1.0) {
		s->m.events_dropped++;
		log_debug("event dropped by rate limit", "reason", reason,
		    "node", node, NULL);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	str_copy(ev.node, sizeof(ev.node), node);
	ev.warning = warning != 0;
	str_copy(ev.reason, sizeof(ev.reason), reason);
	str_copy(ev.action, sizeof(ev.action), action);
	str_copy(ev.note, sizeof(ev.note), note);
	if (sup_request(s, WORKER_K8S, MSG_KUBE_EVENT_REQ, &ev) != 0) {
		c->ev_tokens -= 1.0;
		s->m.events_sent++;
	}
}

/* Some node to hang a cluster-wide Event on: the held or labelled node,
 * the holder, else the first candidate. */
static const char *
event_node(const struct sup *s, const struct plan *p)
{
	const struct world_node *n;
	size_t i;

	if (p->held[0] != '\0')
		return p->held;
	for (i = 0; (n = world_node_at(s->world, i)) != NULL; i++)
		if (n->labelled)
			return n->name;
	if (p->holder[0] != '\0')
		return p->holder;
	for (i = 0; (n = world_node_at(s->world, i)) != NULL; i++)
		if (n->candidate)
			return n->name;
	return NULL;
}

static void
announce_allowlist(struct sup *s, const struct plan *p, int64_t now)
{
	const struct world_fip *f = world_fip_get(s->world, 0);
	char note[PROTO_NOTE_MAX];

	s->m.allowlist_refusals++;
	str_fmt(note, sizeof(note),
	    "primary floating IP %s (%s) is "
	    "outside --egress-ip-allowlist %s: nothing is written",
	    s->cfg->floating_ip_name, f->ip, s->cfg->allowlist_text);
	log_error("allowlist refusal: floating IP outside "
		  "--egress-ip-allowlist, writing nothing",
	    "fip", s->cfg->floating_ip_name, "address", f->ip, "allowlist",
	    s->cfg->allowlist_text, NULL);
	ctl_event(s, event_node(s, p), 1, "AllowlistRefused", "Guard", note,
	    now);
}

static void
announce_additional(struct sup *s, const struct plan *p)
{
	const struct world_fip *f;
	size_t i;

	if (p->fips_refused == 0)
		return;
	for (i = 1; i <= s->cfg->n_additional; i++) {
		if (!(p->fips_refused & (1u << i)))
			continue;
		f = world_fip_get(s->world, (int)i);
		s->m.allowlist_refusals++;
		log_error("allowlist refusal: additional floating IP outside "
			  "--additional-egress-ip-allowlist, not assigned",
		    "fip", s->cfg->additional[i - 1], "address", f->ip,
		    "allowlist", s->cfg->additional_allowlist_text, NULL);
	}
}

static void
announce_events(struct sup *s, const struct plan *p, int64_t now)
{
	char note[PROTO_NOTE_MAX];
	size_t i;

	switch (p->outcome) {
	case DECIDE_ALLOWLIST_REFUSED:
		announce_allowlist(s, p, now);
		break;
	case DECIDE_HOLDING:
		str_fmt(note, sizeof(note),
		    "gateway %s held for its grace "
		    "period: %s",
		    p->held, p->reason);
		ctl_event(s, p->held, 0, "HeldForGrace", "Hold", note, now);
		break;
	case DECIDE_NO_CANDIDATE:
		str_fmt(note, sizeof(note),
		    "no eligible candidate: %s; "
		    "labels and floating IP stay",
		    p->reason);
		log_warn("no eligible candidate", "reason", p->reason, NULL);
		ctl_event(s, event_node(s, p), 1, "NoEligibleCandidate",
		    "Failover", note, now);
		break;
	case DECIDE_RELABEL:
		for (i = 0; i < p->n_steps; i++) {
			if (p->steps[i].op != PLAN_STRIP_LABEL)
				continue;
			str_fmt(note, sizeof(note),
			    "stale active label "
			    "stripped; gateway is %s",
			    p->gateway);
			ctl_event(s, p->steps[i].node, 0, "StaleLabelStripped",
			    "Relabel", note, now);
		}
		break;
	default:
		break;
	}
}

static void
log_would(const struct plan *p)
{
	char line[PLAN_REASON_MAX + 2 * PROTO_NAME_MAX], w[sizeof(line) + 8];
	size_t i;

	for (i = 0; i < p->n_steps; i++) {
		if (plan_format_step(&p->steps[i], line, sizeof(line)) != 0)
			str_copy(line, sizeof(line),
			    plan_op_name(p->steps[i].op));
		str_fmt(w, sizeof(w), "would %s", line);
		log_info(w, "outcome", decide_outcome_name(p->outcome), NULL);
	}
}

/* Log a decision when it differs from the previous one; emit Events on
 * transitions; remember when trouble began (the failover's "detect"
 * phase starts there). */
void
ctl_announce(struct sup *s, const struct plan *p, int64_t now)
{
	struct ctl *c = &s->ctl;
	char key[sizeof(c->last_key)];
	int steady = p->outcome == DECIDE_STEADY;

	str_fmt(key, sizeof(key), "%d|%s|%s|%s|%zu|%u", (int)p->outcome,
	    p->gateway, p->held, p->holder, p->n_steps, p->fips_refused);
	if (steady)
		c->first_evidence = 0;
	else if (c->first_evidence == 0)
		c->first_evidence = now;
	if (strcmp(key, c->last_key) == 0)
		return;
	str_copy(c->last_key, sizeof(c->last_key), key);
	c->last_outcome = p->outcome;
	log_info("decision", "outcome", decide_outcome_name(p->outcome),
	    "gateway", p->gateway, "holder", p->holder, "reason", p->reason,
	    NULL);
	if (s->cfg->dry_run)
		log_would(p);
	announce_events(s, p, now);
	announce_additional(s, p);
}
