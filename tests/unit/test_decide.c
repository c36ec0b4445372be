/* test_decide.c: one named test per rule and case of the decision */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "supervisor/config/allowlist.h"
#include "supervisor/decide.h"
#include "supervisor/world.h"

#define T0 10000000 /* an arbitrary CLOCK_MONOTONIC ms */
#define SEC 1000
#define FIP_V4 "203.0.113.7"

/* Node shapes: a candidate is healthy, prepared and schedulable unless told */
enum {
	LAB = 1,
	CAND = 2,
	NOTREADY = 4,
	CORDON = 8,
	DEL = 16,
	NOPREP = 32,
	NOPROBE = 64,
	NOSERVER = 128
};

struct fx {
	struct world *w;
	struct decide_cfg cfg;
	struct plan plan;
	struct allowlist al;
};

static int
setup(void **state)
{
	static struct fx fx;

	memset(&fx, 0, sizeof(fx));
	if ((fx.w = world_new()) == NULL)
		return -1;
	decide_cfg_defaults(&fx.cfg);
	*state = &fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	world_free(fx->w);
	return 0;
}

/* Adds node "name" on server sid at time t with the given shape. */
static void
put(struct world *w, const char *name, uint64_t sid, int flags, int64_t t)
{
	struct world_node_facts f = {
		.name = name,
		.server_id = (flags & NOSERVER) ? 0 : sid,
		.addrs = "10.0.0.1",
		.ready = !(flags & NOTREADY),
		.unschedulable = !!(flags & CORDON),
		.deleting = !!(flags & DEL),
		.candidate = !!(flags & CAND),
		.labelled = !!(flags & LAB),
	};
	char pod[300];

	assert_int_equal(world_node_upsert(w, &f, t), 0);
	if (!(flags & NOPROBE))
		world_probe_result(w, name, 1, t);
	if (!(flags & NOPREP)) {
		snprintf(pod, sizeof(pod), "agent-%s", name);
		assert_int_equal(world_pod_upsert(w, pod, name, 1, t), 0);
	}
}

static void
relabel(struct world *w, const char *name, int labelled)
{
	const struct world_node *n = world_node_find(w, name);
	struct world_node_facts f;

	assert_non_null(n);
	f = (struct world_node_facts){ n->name, n->server_id, n->addrs,
		n->ready, n->unschedulable, n->deleting, n->candidate,
		labelled };
	assert_int_equal(world_node_upsert(w, &f, T0), 0);
}

static void
primary(struct fx *fx, uint64_t sid)
{
	world_fip_set(fx->w, 0, 100, FIP_V4, 0, sid, 0, &fx->al, T0);
}

static void
additional(struct fx *fx, int idx, const char *ip, uint64_t sid)
{
	world_fip_set(fx->w, idx, 100 + (uint64_t)idx, ip, 0, sid, 0, &fx->al,
	    T0);
	if (fx->cfg.n_additional < idx)
		fx->cfg.n_additional = idx;
}

/* "S:a A:b L:b X1:b R": strip, assign, label, additional 1, re-read. */
static const char *
steps(const struct plan *p)
{
	static char buf[4096];
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < p->n_steps; i++) {
		const struct plan_step *s = &p->steps[i];
		const char *sp = i ? " " : "";
		int n = 0;

		switch (s->op) {
		case PLAN_STRIP_LABEL:
			n = snprintf(buf + off, sizeof(buf) - off, "%sS:%s", sp,
			    s->node);
			break;
		case PLAN_SET_LABEL:
			n = snprintf(buf + off, sizeof(buf) - off, "%sL:%s", sp,
			    s->node);
			break;
		case PLAN_ASSIGN:
			n = snprintf(buf + off, sizeof(buf) - off, "%sA:%s", sp,
			    s->node);
			break;
		case PLAN_ASSIGN_ADDITIONAL:
			n = snprintf(buf + off, sizeof(buf) - off, "%sX%d:%s",
			    sp, s->fip, s->node);
			break;
		case PLAN_REREAD_FIPS:
			n = snprintf(buf + off, sizeof(buf) - off, "%sR", sp);
			break;
		}
		assert_true(n > 0 && (size_t)n < sizeof(buf) - off);
		off += (size_t)n;
	}
	return buf;
}

static void
run(struct fx *fx, int64_t now, enum decide_outcome want,
    const char *want_steps)
{
	assert_int_equal(decide(fx->w, &fx->cfg, now, &fx->plan), 0);
	if (fx->plan.outcome != want)
		fail_msg("outcome %s, want %s (%s)",
		    decide_outcome_name(fx->plan.outcome),
		    decide_outcome_name(want), fx->plan.reason);
	assert_string_equal(steps(&fx->plan), want_steps);
}

static void
test_primary_unknown(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	put(fx->w, "b", 2, LAB | CAND, T0);
	run(fx, T0, DECIDE_PRIMARY_UNKNOWN, "");
	primary(fx, 1);
	world_fip_unknown(fx->w, 0);
	run(fx, T0, DECIDE_PRIMARY_UNKNOWN, "");
}

static void
test_steady_zero_steps(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 1);
	additional(fx, 1, "203.0.113.8", 1);
	run(fx, T0, DECIDE_STEADY, "");
	assert_string_equal(fx->plan.gateway, "a");
	assert_string_equal(fx->plan.holder, "a");
	assert_int_equal(decide_gateway_available(fx->w, &fx->cfg, T0), 1);
	assert_string_equal(decide_gateway_node(fx->w, &fx->cfg, T0)->name,
	    "a");
}

static void
test_adopt_non_candidate_fit_labelled_holder(void **state)
{
	struct fx *fx = *state;

	/* not a candidate, not even NodeReady: still adopted */
	put(fx->w, "z", 9, LAB | NOTREADY, T0);
	put(fx->w, "a", 1, CAND, T0);
	primary(fx, 9);
	run(fx, T0, DECIDE_STEADY, "");
	assert_string_equal(fx->plan.gateway, "z");
}

static void
test_adopt_never_probed_labelled_holder(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "z", 9, LAB | NOPROBE, T0);
	put(fx->w, "a", 1, CAND, T0);
	primary(fx, 9);
	run(fx, T0, DECIDE_STEADY, "");
	assert_string_equal(fx->plan.gateway, "z");
}

static void
test_fit_labelled_non_holder_gets_primary(void **state)
{
	struct fx *fx = *state;

	/* the labelled node keeps its label while the primary comes to it */
	put(fx->w, "b", 2, LAB, T0);
	put(fx->w, "a", 1, CAND, T0);
	primary(fx, 1);
	run(fx, T0, DECIDE_MOVE, "A:b");
	assert_string_equal(fx->plan.gateway, "b");
	assert_string_equal(fx->plan.holder, "a");
}

static void
test_stale_labels_stripped(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	put(fx->w, "b", 2, LAB | CAND, T0);
	put(fx->w, "c", 3, LAB | CORDON, T0);
	put(fx->w, "d", 4, CAND, T0);
	primary(fx, 2);
	run(fx, T0, DECIDE_RELABEL, "S:a S:c");
	assert_string_equal(fx->plan.gateway, "b");
}

static void
test_label_missing_on_holder(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, CAND, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 2);
	run(fx, T0, DECIDE_RELABEL, "L:b");
	assert_string_equal(fx->plan.gateway, "b");
}

static void
test_failover_prefers_holder_candidate(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND | CORDON, T0);
	put(fx->w, "b", 2, CAND, T0);
	put(fx->w, "c", 3, CAND, T0);
	primary(fx, 3);
	/* c holds the primary: no provider write, only labels */
	run(fx, T0, DECIDE_RELABEL, "S:a L:c");
	assert_string_equal(fx->plan.gateway, "c");
}

static void
test_failover_lowest_named(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "c", 3, CAND, T0);
	put(fx->w, "a", 1, LAB | CAND | CORDON, T0);
	put(fx->w, "b", 2, CAND, T0);
	put(fx->w, "aa", 4, CAND | NOTREADY, T0);
	primary(fx, 1);
	run(fx, T0, DECIDE_MOVE, "S:a A:b L:b");
	assert_int_equal(fx->plan.steps[1].server_id, 2);
}

static void
test_cordon_demotes_at_once(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 1);
	run(fx, T0, DECIDE_STEADY, "");
	put(fx->w, "a", 1, LAB | CAND | CORDON, T0 + 1);
	run(fx, T0 + 1, DECIDE_MOVE, "S:a A:b L:b");
	assert_non_null(strstr(fx->plan.reason, "a is cordoned"));
}

static void
test_delete_demotes_at_once(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND | DEL, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 1);
	run(fx, T0, DECIDE_MOVE, "S:a A:b L:b");
	assert_non_null(strstr(fx->plan.reason, "a is being deleted"));
}

static void
test_holding_during_grace(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 1);
	world_probe_result(fx->w, "a", 0, T0);
	run(fx, T0, DECIDE_HOLDING, "");
	run(fx, T0 + 89999, DECIDE_HOLDING, "");
	assert_string_equal(fx->plan.held, "a");
	assert_string_equal(fx->plan.reason, "a probe failing 89s < grace 90s");
	assert_int_equal(decide_gateway_available(fx->w, &fx->cfg, T0), 0);
	/* a probe success ends it without any write */
	world_probe_result(fx->w, "a", 1, T0 + 50 * SEC);
	run(fx, T0 + 95 * SEC, DECIDE_STEADY, "");
}

/* Server fast path: an off or gone server ends the grace at once; a
 * running one changes nothing; a candidate known off is not eligible. */
static void
test_server_off_demotes_without_grace(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	put(fx->w, "b", 2, CAND, T0);
	put(fx->w, "c", 3, CAND, T0);
	primary(fx, 1);
	world_probe_result(fx->w, "a", 0, T0);
	world_server_result(fx->w, "a", WORLD_SERVER_RUNNING, T0 + 100);
	run(fx, T0 + SEC, DECIDE_HOLDING, "");
	world_server_result(fx->w, "a", WORLD_SERVER_OFF, T0 + SEC);
	run(fx, T0 + SEC, DECIDE_MOVE, "S:a A:b L:b");
	assert_string_equal(fx->plan.reason,
	    "move the primary to b, the lowest-named eligible candidate: a: "
	    "its server is off or gone (fast path, no grace)");
	/* b's server known off: c is chosen */
	world_server_result(fx->w, "b", WORLD_SERVER_OFF, T0 + SEC);
	assert_int_equal(decide_node_eligible(&fx->cfg,
			     world_node_find(fx->w, "b"), T0 + SEC),
	    0);
	run(fx, T0 + SEC, DECIDE_MOVE, "S:a A:c L:c");
	/* a probe that answers again forgets what the API said */
	world_probe_result(fx->w, "a", 1, T0 + 2 * SEC);
	run(fx, T0 + 2 * SEC, DECIDE_STEADY, "");
}

static void
test_after_grace_moves(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 1);
	world_probe_result(fx->w, "a", 0, T0);
	run(fx, T0 + 90 * SEC, DECIDE_MOVE, "S:a A:b L:b");
	assert_string_equal(fx->plan.reason,
	    "move the primary to b, the "
	    "lowest-named eligible candidate: a probe failing 90s >= grace "
	    "90s");
}

static void
test_unprepared_grace(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 1);
	world_pod_remove(fx->w, "agent-a", T0 + SEC);
	run(fx, T0 + SEC, DECIDE_HOLDING, "");
	run(fx, T0 + SEC + 5 * 60 * SEC - 1, DECIDE_HOLDING, "");
	run(fx, T0 + SEC + 5 * 60 * SEC, DECIDE_MOVE, "S:a A:b L:b");
	assert_non_null(strstr(fx->plan.reason, "a unprepared 300s >= grace"));
}

static void
test_two_causes_hold_only_while_both_in_grace(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND | NOPREP, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 1);
	world_probe_result(fx->w, "a", 0, T0 + 299 * SEC);
	run(fx, T0 + 299 * SEC, DECIDE_HOLDING, "");
	/* unprepared for 5 min; the probe failure is fresh: move anyway */
	run(fx, T0 + 300 * SEC, DECIDE_MOVE, "S:a A:b L:b");
	assert_non_null(strstr(fx->plan.reason, "a unprepared 300s"));
}

static void
test_prepared_gate_off(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND | NOPREP, T0 - 3600 * SEC);
	put(fx->w, "b", 2, CAND | NOPREP, T0);
	primary(fx, 2);
	run(fx, T0, DECIDE_NO_CANDIDATE, "");
	fx->cfg.prepared_gate = 0;
	/* a is fit now: adopted, the primary follows it */
	run(fx, T0, DECIDE_MOVE, "A:a");
	relabel(fx->w, "a", 0);
	/* b is eligible without a pod and holds the primary */
	run(fx, T0, DECIDE_RELABEL, "L:b");
}

static void
test_never_probed_not_eligible(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, CAND | NOPROBE, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 1);
	run(fx, T0, DECIDE_MOVE, "A:b L:b");
}

static void
test_no_eligible_candidate(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND | CORDON, T0);
	put(fx->w, "b", 2, CAND | NOTREADY, T0);
	put(fx->w, "c", 3, CAND | NOPROBE, T0);
	put(fx->w, "d", 4, CAND | NOPREP, T0);
	put(fx->w, "e", 5, CAND | DEL, T0);
	put(fx->w, "f", 6, CORDON | CAND, T0);
	put(fx->w, "g", 7, 0, T0); /* not a candidate */
	world_probe_result(fx->w, "h", 0, T0); /* unknown node: ignored */
	primary(fx, 1);
	run(fx, T0, DECIDE_NO_CANDIDATE, "");
	assert_string_equal(fx->plan.reason,
	    "no eligible candidate: a is cordoned");
	assert_string_equal(fx->plan.gateway, "");
}

static void
test_candidate_needs_server_id(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, CAND | NOSERVER, T0);
	primary(fx, 0);
	run(fx, T0, DECIDE_NO_CANDIDATE, "");
	put(fx->w, "b", 2, CAND, T0);
	run(fx, T0, DECIDE_MOVE, "A:b L:b");
}

static void
test_fit_labelled_without_server_id_waits(void **state)
{
	struct fx *fx = *state;

	/* adopt, never disturb: no move away from a fit labelled node */
	put(fx->w, "a", 1, LAB | NOSERVER, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 2);
	run(fx, T0, DECIDE_NO_CANDIDATE, "");
	assert_non_null(strstr(fx->plan.reason, "providerID"));
	/* an unassigned primary is not "held" by a node without a server */
	primary(fx, 0);
	run(fx, T0, DECIDE_NO_CANDIDATE, "");
	assert_string_equal(fx->plan.holder, "");
	put(fx->w, "c", 3, LAB, T0);
	run(fx, T0, DECIDE_MOVE, "S:a A:c");
}

static void
test_allowlist_refusal_writes_nothing(void **state)
{
	struct fx *fx = *state;
	char err[256];

	assert_int_equal(allowlist_parse(&fx->al, "198.51.100.0/24", err,
			     sizeof(err)),
	    0);
	put(fx->w, "a", 1, LAB | CAND | CORDON, T0);
	put(fx->w, "b", 2, LAB | CAND, T0);
	put(fx->w, "c", 3, CAND, T0);
	primary(fx, 1);
	additional(fx, 1, "198.51.100.1", 0);
	run(fx, T0, DECIDE_ALLOWLIST_REFUSED, "");
	assert_string_equal(fx->plan.reason,
	    "primary 203.0.113.7 is outside "
	    "--egress-ip-allowlist: writing nothing");
	assert_int_equal(fx->plan.fips_refused, 1);
	/* also the label fixes after a failed move are withheld */
	world_move_result(fx->w, "c", WORLD_MOVE_FAILED, T0);
	primary(fx, 1);
	run(fx, T0, DECIDE_ALLOWLIST_REFUSED, "");
}

/* As in the reference, --egress-ip-allowlist guards the primary only:
 * the runner egress addresses outside it still follow the gateway. */
static void
test_additional_outside_allowlist_moves(void **state)
{
	struct fx *fx = *state;
	char err[256];

	assert_int_equal(allowlist_parse(&fx->al, "203.0.113.7/32", err,
			     sizeof(err)),
	    0);
	put(fx->w, "a", 1, LAB | CAND | CORDON, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 1);
	additional(fx, 1, "198.51.100.1", 1);
	additional(fx, 2, "203.0.113.9", 1);
	run(fx, T0, DECIDE_MOVE, "S:a A:b L:b X1:b X2:b");
	assert_int_equal(fx->plan.fips_refused, 0);
}

/* --additional-egress-ip-allowlist: one outside it is never assigned,
 * and the primary goes on. */
static void
test_additional_allowlist_refuses(void **state)
{
	struct fx *fx = *state;
	struct allowlist add;
	char err[256];

	assert_int_equal(allowlist_parse(&add, "203.0.113.0/28", err,
			     sizeof(err)),
	    0);
	fx->cfg.additional_allowlist = &add;
	put(fx->w, "a", 1, LAB | CAND | CORDON, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 1);
	additional(fx, 1, "198.51.100.1", 1);
	additional(fx, 2, "203.0.113.9", 1);
	run(fx, T0, DECIDE_MOVE, "S:a A:b L:b X2:b");
	assert_int_equal(fx->plan.fips_refused, 1u << 1);
	/* steady on b: still only the one inside */
	relabel(fx->w, "a", 0);
	relabel(fx->w, "b", 1);
	primary(fx, 2);
	run(fx, T0, DECIDE_STEADY, "X2:b");
}

static void
test_additional_after_primary(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND | DEL, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 1);
	additional(fx, 1, "203.0.113.8", 1);
	additional(fx, 2, "203.0.113.9", 0);
	additional(fx, 3, "203.0.113.10", 2); /* already there */
	world_fip_unknown(fx->w, 4);
	fx->cfg.n_additional = 4;
	run(fx, T0, DECIDE_MOVE, "S:a A:b L:b X1:b X2:b");
	assert_int_equal(fx->plan.steps[3].server_id, 2);
	assert_int_equal(fx->plan.steps[3].fip, 1);
}

static void
test_additional_on_steady_and_relabel(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	primary(fx, 1);
	additional(fx, 1, "203.0.113.8", 7);
	/* the labels are right: STEADY, the only step is the additional */
	run(fx, T0, DECIDE_STEADY, "X1:a");
	put(fx->w, "b", 2, LAB, T0);
	run(fx, T0, DECIDE_RELABEL, "S:b X1:a");
}

static void
test_additional_not_under_rules_1_2_3(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	primary(fx, 1);
	additional(fx, 1, "203.0.113.8", 0);
	world_probe_result(fx->w, "a", 0, T0);
	run(fx, T0, DECIDE_HOLDING, "");
	run(fx, T0 + 90 * SEC, DECIDE_NO_CANDIDATE, "");
	assert_int_equal(allowlist_parse(&fx->al, "203.0.113.8/32", NULL, 0),
	    0);
	primary(fx, 1);
	run(fx, T0, DECIDE_ALLOWLIST_REFUSED, "");
}

static void
test_additional_backoff(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	primary(fx, 1);
	additional(fx, 1, "203.0.113.8", 0);
	world_additional_result(fx->w, 1, 0, T0);
	run(fx, T0, DECIDE_STEADY, "");
	assert_int_equal(fx->plan.fips_waiting, 1u << 1);
	assert_int_equal(decide_next_deadline(fx->w, &fx->cfg, T0),
	    T0 + 5 * SEC);
	run(fx, T0 + 5 * SEC, DECIDE_STEADY, "X1:a");
	world_additional_result(fx->w, 1, 0, T0 + 5 * SEC);
	run(fx, T0 + 14999, DECIDE_STEADY, "");
	run(fx, T0 + 15 * SEC, DECIDE_STEADY, "X1:a");
	world_additional_result(fx->w, 1, 1, T0 + 15 * SEC);
	run(fx, T0 + 15 * SEC, DECIDE_STEADY, "X1:a");
	/* busy with another action: wait for the next read */
	world_fip_set(fx->w, 1, 101, "203.0.113.8", 0, 0, 1, NULL, T0);
	run(fx, T0, DECIDE_STEADY, "");
}

static void
test_move_backoff_doubling_capped(void **state)
{
	struct fx *fx = *state;
	static const int64_t want[] = { 5, 10, 20, 40, 80, 160, 300, 300 };
	int64_t t = T0;
	size_t i;

	put(fx->w, "a", 1, LAB | CAND | CORDON, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 1);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		run(fx, t, DECIDE_MOVE, "S:a A:b L:b");
		relabel(fx->w, "a", 0);
		world_move_result(fx->w, "b",
		    i % 2 ? WORLD_MOVE_UNKNOWN : WORLD_MOVE_FAILED, t);
		run(fx, t, DECIDE_REREAD, "R");
		primary(fx, 1);
		run(fx, t, DECIDE_LABEL_HOLDER, "L:a");
		relabel(fx->w, "a", 1);
		world_label_holder_done(fx->w);
		run(fx, t, DECIDE_BACKOFF, "");
		assert_int_equal(decide_next_deadline(fx->w, &fx->cfg, t),
		    t + want[i] * SEC);
		run(fx, t + want[i] * SEC - 1, DECIDE_BACKOFF, "");
		t += want[i] * SEC;
	}
	world_move_result(fx->w, "b", WORLD_MOVE_OK, t);
	assert_int_equal(fx->w->fip[0].server_id, 2);
	world_move_result(fx->w, "b", WORLD_MOVE_FAILED, t);
	primary(fx, 1);
	world_label_holder_done(fx->w);
	/* the success reset the count: first delay again */
	assert_int_equal(decide_next_deadline(fx->w, &fx->cfg, t), t + 5 * SEC);
}

static void
test_backoff_keeps_labelled_node_fit(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	primary(fx, 1);
	world_move_result(fx->w, "a", WORLD_MOVE_FAILED, T0);
	world_move_result(fx->w, "a", WORLD_MOVE_REFUSED, T0);
	primary(fx, 1);
	world_label_holder_done(fx->w);
	run(fx, T0, DECIDE_STEADY, "");
	assert_int_equal(decide_gateway_available(fx->w, &fx->cfg, T0), 1);
	/* but a primary elsewhere waits for the skip to end */
	primary(fx, 0);
	run(fx, T0, DECIDE_BACKOFF, "");
	assert_non_null(strstr(fx->plan.reason, "refused"));
}

static void
test_refusal_skip_ten_minutes(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND | DEL, T0);
	put(fx->w, "b", 2, CAND, T0);
	put(fx->w, "c", 3, CAND, T0);
	primary(fx, 1);
	run(fx, T0, DECIDE_MOVE, "S:a A:b L:b");
	relabel(fx->w, "a", 0);
	world_move_result(fx->w, "b", WORLD_MOVE_REFUSED, T0);
	run(fx, T0, DECIDE_REREAD, "R");
	primary(fx, 1);
	run(fx, T0, DECIDE_LABEL_HOLDER, "L:a");
	relabel(fx->w, "a", 1);
	world_label_holder_done(fx->w);
	assert_int_equal(decide_node_eligible(&fx->cfg,
			     world_node_find(fx->w, "b"), T0),
	    0);
	run(fx, T0, DECIDE_MOVE, "S:a A:c L:c");
	assert_int_equal(decide_next_deadline(fx->w, &fx->cfg, T0),
	    T0 + 600 * SEC);
	run(fx, T0 + 600 * SEC - 1, DECIDE_MOVE, "S:a A:c L:c");
	run(fx, T0 + 600 * SEC, DECIDE_MOVE, "S:a A:b L:b");
}

static void
test_unknown_reread_label_holder_normal(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND | CORDON, T0);
	put(fx->w, "b", 2, CAND, T0);
	put(fx->w, "c", 3, CAND, T0);
	primary(fx, 1);
	run(fx, T0, DECIDE_MOVE, "S:a A:b L:b");
	relabel(fx->w, "a", 0);
	world_move_result(fx->w, "b", WORLD_MOVE_UNKNOWN, T0 + SEC);
	run(fx, T0 + SEC, DECIDE_REREAD, "R");
	/* the action still runs: stay in REREAD */
	world_fip_set(fx->w, 0, 100, FIP_V4, 0, 1, 1, NULL, T0 + 2 * SEC);
	run(fx, T0 + 2 * SEC, DECIDE_REREAD, "R");
	/* done after all: c holds it (someone else's move), label it */
	world_fip_set(fx->w, 0, 100, FIP_V4, 0, 3, 0, NULL, T0 + 3 * SEC);
	run(fx, T0 + 3 * SEC, DECIDE_LABEL_HOLDER, "L:c");
	assert_string_equal(fx->plan.holder, "c");
	relabel(fx->w, "c", 1);
	run(fx, T0 + 3 * SEC, DECIDE_LABEL_HOLDER, "");
	world_label_holder_done(fx->w);
	run(fx, T0 + 3 * SEC, DECIDE_STEADY, "");
}

static void
test_label_holder_when_none_holds(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	put(fx->w, "b", 2, LAB | CAND | NOPREP, T0);
	primary(fx, 0);
	world_move_result(fx->w, "a", WORLD_MOVE_FAILED, T0);
	primary(fx, 0);
	run(fx, T0, DECIDE_LABEL_HOLDER, "S:a S:b");
	assert_string_equal(fx->plan.holder, "");
}

static void
test_primary_action_running_rereads(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	world_fip_set(fx->w, 0, 100, FIP_V4, 0, 1, 1, NULL, T0);
	run(fx, T0, DECIDE_REREAD, "R");
	primary(fx, 1);
	run(fx, T0, DECIDE_STEADY, "");
}

static void
test_next_deadline(void **state)
{
	struct fx *fx = *state;

	put(fx->w, "a", 1, LAB | CAND, T0);
	put(fx->w, "b", 2, CAND | NOPREP, T0); /* not labelled: no timer */
	primary(fx, 1);
	assert_true(decide_next_deadline(fx->w, &fx->cfg, T0) == INT64_MAX);
	world_probe_result(fx->w, "a", 0, T0);
	assert_int_equal(decide_next_deadline(fx->w, &fx->cfg, T0 + SEC),
	    T0 + 90 * SEC);
	/* at the deadline the answer changes: it is in the past then */
	assert_true(
	    decide_next_deadline(fx->w, &fx->cfg, T0 + 90 * SEC) == INT64_MAX);
	world_pod_remove(fx->w, "agent-a", T0 + 10 * SEC);
	assert_int_equal(decide_next_deadline(fx->w, &fx->cfg, T0 + 95 * SEC),
	    T0 + 310 * SEC);
	world_move_result(fx->w, "b", WORLD_MOVE_FAILED, T0 + 20 * SEC);
	assert_int_equal(decide_next_deadline(fx->w, &fx->cfg, T0 + 21 * SEC),
	    T0 + 25 * SEC);
	world_move_result(fx->w, "b", WORLD_MOVE_REFUSED, T0 + 30 * SEC);
	assert_int_equal(decide_next_deadline(fx->w, &fx->cfg, T0 + 311 * SEC),
	    T0 + 630 * SEC);
}

static void
test_write_order(void **state)
{
	struct fx *fx = *state;
	size_t i, last_strip = 0, assign = 0, label = 0;

	put(fx->w, "m", 5, LAB | CAND | DEL, T0);
	put(fx->w, "a", 1, LAB | CORDON, T0);
	put(fx->w, "z", 9, LAB | NOTREADY | CORDON, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 5);
	additional(fx, 1, "203.0.113.8", 5);
	run(fx, T0, DECIDE_MOVE, "S:a S:m S:z A:b L:b X1:b");
	for (i = 0; i < fx->plan.n_steps; i++) {
		if (fx->plan.steps[i].op == PLAN_STRIP_LABEL)
			last_strip = i;
		if (fx->plan.steps[i].op == PLAN_ASSIGN)
			assign = i;
		if (fx->plan.steps[i].op == PLAN_SET_LABEL)
			label = i;
	}
	assert_true(last_strip < assign && assign < label);
}

/* "S:n00 S:n01 ..." for nodes first..last-1 */
static const char *
strips(int first, int last, const char *tail)
{
	static char buf[2048];
	size_t off = 0;
	int i, n;

	buf[0] = '\0';
	for (i = first; i < last; i++) {
		n = snprintf(buf + off, sizeof(buf) - off, "%sS:n%02d",
		    i == first ? "" : " ", i);
		assert_true(n > 0 && (size_t)n < sizeof(buf) - off);
		off += (size_t)n;
	}
	n = snprintf(buf + off, sizeof(buf) - off, "%s", tail);
	assert_true(n >= 0 && (size_t)n < sizeof(buf) - off);
	return buf;
}

static void
test_strip_bound_move(void **state)
{
	struct fx *fx = *state;
	char name[16];
	int i;

	for (i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		put(fx->w, name, 10 + (uint64_t)i, LAB | CORDON, T0);
	}
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 10);
	additional(fx, 1, "203.0.113.8", 0);
	/* 64 strips and nothing else: no label while others still carry it */
	run(fx, T0, DECIDE_MOVE, strips(0, 64, ""));
	assert_int_equal(fx->plan.more, 1);
	for (i = 0; i < 64; i++)
		relabel(fx->w, fx->plan.steps[i].node, 0);
	run(fx, T0, DECIDE_MOVE, strips(64, 70, " A:b L:b X1:b"));
	assert_int_equal(fx->plan.more, 0);
}

static void
test_strip_bound_relabel(void **state)
{
	struct fx *fx = *state;
	char name[16];
	int i;

	put(fx->w, "n33", 2, CAND, T0); /* the holder, in the middle */
	for (i = 0; i < 66; i++) {
		if (i == 33)
			continue;
		snprintf(name, sizeof(name), "n%02d", i);
		put(fx->w, name, 10 + (uint64_t)i, LAB | CORDON, T0);
	}
	primary(fx, 2);
	additional(fx, 1, "203.0.113.8", 0);
	run(fx, T0, DECIDE_RELABEL,
	    "S:n00 S:n01 S:n02 S:n03 S:n04 S:n05 "
	    "S:n06 S:n07 S:n08 S:n09 S:n10 S:n11 S:n12 S:n13 S:n14 S:n15 "
	    "S:n16 S:n17 S:n18 S:n19 S:n20 S:n21 S:n22 S:n23 S:n24 S:n25 "
	    "S:n26 S:n27 S:n28 S:n29 S:n30 S:n31 S:n32 S:n34 S:n35 S:n36 "
	    "S:n37 S:n38 S:n39 S:n40 S:n41 S:n42 S:n43 S:n44 S:n45 S:n46 "
	    "S:n47 S:n48 S:n49 S:n50 S:n51 S:n52 S:n53 S:n54 S:n55 S:n56 "
	    "S:n57 S:n58 S:n59 S:n60 S:n61 S:n62 S:n63 S:n64");
	assert_int_equal(fx->plan.more, 1);
	relabel(fx->w, "n00", 0);
	/* exactly 64 left: no longer cut, the label and additional follow */
	assert_int_equal(decide(fx->w, &fx->cfg, T0, &fx->plan), 0);
	assert_int_equal(fx->plan.outcome, DECIDE_RELABEL);
	assert_int_equal(fx->plan.more, 0);
	assert_string_equal(fx->plan.steps[0].node, "n01");
	assert_string_equal(fx->plan.steps[63].node, "n65");
	assert_int_equal(fx->plan.n_steps, 64 + 2);
	assert_int_equal(fx->plan.steps[64].op, PLAN_SET_LABEL);
	assert_int_equal(fx->plan.steps[65].op, PLAN_ASSIGN_ADDITIONAL);
}

static void
test_holding_beats_past_grace_labelled(void **state)
{
	struct fx *fx = *state;

	/* one labelled node past its grace, one inside: wait (rule 2) */
	put(fx->w, "a", 1, LAB | CAND, T0);
	put(fx->w, "b", 2, LAB | CAND, T0);
	put(fx->w, "c", 3, CAND, T0);
	primary(fx, 1);
	world_probe_result(fx->w, "a", 0, T0);
	world_probe_result(fx->w, "b", 0, T0 + 60 * SEC);
	run(fx, T0 + 100 * SEC, DECIDE_HOLDING, "");
	assert_string_equal(fx->plan.held, "b");
	run(fx, T0 + 150 * SEC, DECIDE_MOVE, "S:a S:b A:c L:c");
}

static void
test_fit_labelled_elsewhere_ends_holding(void **state)
{
	struct fx *fx = *state;

	/* b is fit and labelled: no reason to wait for a */
	put(fx->w, "a", 1, LAB | CAND, T0);
	put(fx->w, "b", 2, LAB, T0);
	primary(fx, 1);
	world_probe_result(fx->w, "a", 0, T0);
	run(fx, T0 + SEC, DECIDE_MOVE, "S:a A:b");
	assert_string_equal(fx->plan.reason,
	    "move the primary to b: it is "
	    "fit and labelled but does not hold it");
}

static void
test_holding_needs_schedulable(void **state)
{
	struct fx *fx = *state;
	const struct world_node *n;

	put(fx->w, "a", 1, LAB | CAND | CORDON, T0);
	world_probe_result(fx->w, "a", 0, T0);
	n = world_node_find(fx->w, "a");
	assert_int_equal(decide_node_fit(&fx->cfg, n, T0), 0);
	assert_int_equal(decide_node_holding(&fx->cfg, n, T0), 0);
	put(fx->w, "a", 1, LAB | CAND | NOPROBE, T0); /* uncordoned */
	assert_int_equal(decide_node_holding(&fx->cfg, n, T0), 1);
	assert_int_equal(decide_node_holding(&fx->cfg, n, T0 + 90 * SEC), 0);
	assert_int_equal(decide_node_eligible(&fx->cfg, n, T0), 0);
}

static void
test_insertion_order_irrelevant(void **state)
{
	struct fx *fx = *state;
	struct world *w2 = world_new();
	struct plan p2;

	assert_non_null(w2);
	put(fx->w, "b", 2, CAND, T0);
	put(fx->w, "c", 3, CAND, T0);
	put(fx->w, "a", 1, LAB | DEL, T0);
	put(w2, "a", 1, LAB | DEL, T0);
	put(w2, "c", 3, CAND, T0);
	put(w2, "b", 2, CAND, T0);
	primary(fx, 1);
	world_fip_set(w2, 0, 100, FIP_V4, 0, 1, 0, NULL, T0);
	run(fx, T0, DECIDE_MOVE, "S:a A:b L:b");
	assert_int_equal(decide(w2, &fx->cfg, T0, &p2), 0);
	assert_string_equal(steps(&p2), "S:a A:b L:b");
	world_free(w2);
}

static void
test_backoff_delay_sequence(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(decide_backoff_delay(&fx->cfg, 0), 0);
	assert_int_equal(decide_backoff_delay(&fx->cfg, 1), 5 * SEC);
	assert_int_equal(decide_backoff_delay(&fx->cfg, 2), 10 * SEC);
	assert_int_equal(decide_backoff_delay(&fx->cfg, 6), 160 * SEC);
	assert_int_equal(decide_backoff_delay(&fx->cfg, 7), 300 * SEC);
	assert_int_equal(decide_backoff_delay(&fx->cfg, UINT32_MAX), 300 * SEC);
	fx->cfg.backoff_cap_ms = INT64_MAX;
	assert_true(decide_backoff_delay(&fx->cfg, 100) == INT64_MAX);
	fx->cfg.backoff_first_ms = 0;
	assert_int_equal(decide_backoff_delay(&fx->cfg, UINT32_MAX), 0);
}

static void
test_huge_grace_does_not_wrap(void **state)
{
	struct fx *fx = *state;

	fx->cfg.unhealthy_grace_ms = INT64_MAX;
	put(fx->w, "a", 1, LAB | CAND, T0);
	primary(fx, 1);
	world_probe_result(fx->w, "a", 0, T0);
	run(fx, INT64_MAX - 1, DECIDE_HOLDING, "");
	assert_true(decide_next_deadline(fx->w, &fx->cfg, T0) == INT64_MAX);
}

static void
test_outcome_and_op_names(void **state)
{
	(void)state;
	assert_string_equal(decide_outcome_name(DECIDE_PRIMARY_UNKNOWN),
	    "PRIMARY_UNKNOWN");
	assert_string_equal(decide_outcome_name(DECIDE_REREAD), "REREAD");
	assert_string_equal(decide_outcome_name(DECIDE_ALLOWLIST_REFUSED),
	    "ALLOWLIST_REFUSED");
	assert_string_equal(decide_outcome_name(DECIDE_LABEL_HOLDER),
	    "LABEL_HOLDER");
	assert_string_equal(decide_outcome_name(DECIDE_HOLDING), "HOLDING");
	assert_string_equal(decide_outcome_name(DECIDE_NO_CANDIDATE),
	    "NO_CANDIDATE");
	assert_string_equal(decide_outcome_name(DECIDE_STEADY), "STEADY");
	assert_string_equal(decide_outcome_name(DECIDE_RELABEL), "RELABEL");
	assert_string_equal(decide_outcome_name(DECIDE_MOVE), "MOVE");
	assert_string_equal(decide_outcome_name(DECIDE_BACKOFF), "BACKOFF");
	assert_string_equal(decide_outcome_name((enum decide_outcome)99),
	    "UNKNOWN");
	assert_string_equal(plan_op_name(PLAN_STRIP_LABEL), "STRIP_LABEL");
	assert_string_equal(plan_op_name(PLAN_SET_LABEL), "SET_LABEL");
	assert_string_equal(plan_op_name(PLAN_ASSIGN), "ASSIGN");
	assert_string_equal(plan_op_name(PLAN_ASSIGN_ADDITIONAL),
	    "ASSIGN_ADDITIONAL");
	assert_string_equal(plan_op_name(PLAN_REREAD_FIPS), "REREAD_FIPS");
	assert_string_equal(plan_op_name((enum plan_op)99), "UNKNOWN");
}

static void
test_plan_format_step(void **state)
{
	struct fx *fx = *state;
	struct plan_step bogus = { .op = (enum plan_op)99 };
	char buf[512], small[10];

	put(fx->w, "a", 1, LAB | CAND | CORDON, T0);
	put(fx->w, "b", 2, CAND, T0);
	primary(fx, 1);
	additional(fx, 3, "203.0.113.8", 0);
	run(fx, T0, DECIDE_MOVE, "S:a A:b L:b X3:b");
	assert_int_equal(plan_format_step(&fx->plan.steps[0], buf, sizeof(buf)),
	    0);
	assert_string_equal(buf,
	    "strip the active label from a: strip "
	    "every label before the move");
	assert_int_equal(plan_format_step(&fx->plan.steps[1], buf, sizeof(buf)),
	    0);
	assert_string_equal(buf,
	    "assign the primary Floating IP to server 2 "
	    "(b) and wait: primary to the gateway's server");
	assert_int_equal(plan_format_step(&fx->plan.steps[2], buf, sizeof(buf)),
	    0);
	assert_string_equal(buf,
	    "set the active label on b: label the "
	    "gateway once it holds the primary");
	assert_int_equal(plan_format_step(&fx->plan.steps[3], buf, sizeof(buf)),
	    0);
	assert_string_equal(buf,
	    "assign additional Floating IP 3 to server 2 "
	    "(b) and wait: additional Floating IP follows the gateway");
	world_move_result(fx->w, "b", WORLD_MOVE_FAILED, T0);
	run(fx, T0, DECIDE_REREAD, "R");
	assert_int_equal(plan_format_step(&fx->plan.steps[0], buf, sizeof(buf)),
	    0);
	assert_string_equal(buf,
	    "re-read the Floating IPs: learn where the "
	    "primary really is");
	errno = 0;
	assert_int_equal(plan_format_step(&fx->plan.steps[0], small,
			     sizeof(small)),
	    -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(plan_format_step(&bogus, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(plan_format_step(NULL, buf, sizeof(buf)), -1);
	assert_int_equal(plan_format_step(&fx->plan.steps[0], NULL, 0), -1);
}

static void
test_reasons(void **state)
{
	struct fx *fx = *state;

	run(fx, T0, DECIDE_PRIMARY_UNKNOWN, "");
	assert_string_equal(fx->plan.reason, "primary not read yet");
	primary(fx, 1);
	run(fx, T0, DECIDE_NO_CANDIDATE, "");
	assert_string_equal(fx->plan.reason, "no eligible candidate");
	put(fx->w, "a", 1, LAB | CAND, T0);
	run(fx, T0, DECIDE_STEADY, "");
	assert_string_equal(fx->plan.reason,
	    "a is the gateway and holds the primary");
	put(fx->w, "b", 2, LAB | CORDON, T0);
	run(fx, T0, DECIDE_RELABEL, "S:b");
	assert_string_equal(fx->plan.reason,
	    "a holds the primary: 1 stale label(s)");
	world_pod_remove(fx->w, "agent-a", T0 + 1500);
	run(fx, T0 + 3000, DECIDE_HOLDING, "");
	assert_string_equal(fx->plan.reason,
	    "a unprepared 1500ms < grace 300s");
	world_move_result(fx->w, "b", WORLD_MOVE_FAILED, T0);
	world_move_result(fx->w, "b", WORLD_MOVE_FAILED, T0);
	world_fip_set(fx->w, 0, 100, FIP_V4, 0, 1, 1, NULL, T0);
	run(fx, T0, DECIDE_REREAD, "R");
	assert_string_equal(fx->plan.reason,
	    "an action is running on the primary");
	primary(fx, 0);
	run(fx, T0, DECIDE_LABEL_HOLDER, "S:a S:b");
	assert_string_equal(fx->plan.reason,
	    "after the failed assignment no "
	    "node holds the primary: no label");
	world_label_holder_done(fx->w);
	put(fx->w, "a", 1, CAND | CORDON, T0);
	put(fx->w, "b", 2, CAND, T0);
	run(fx, T0 + 1000, DECIDE_BACKOFF, "");
	assert_string_equal(fx->plan.reason,
	    "move to b retried in 9s after 2 failure(s)");
}

static void
test_decide_rejects_null(void **state)
{
	struct fx *fx = *state;

	errno = 0;
	assert_int_equal(decide(NULL, &fx->cfg, T0, &fx->plan), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(decide(fx->w, NULL, T0, &fx->plan), -1);
	assert_int_equal(decide(fx->w, &fx->cfg, T0, NULL), -1);
	assert_true(decide_next_deadline(NULL, &fx->cfg, T0) == INT64_MAX);
	assert_int_equal(decide_gateway_available(NULL, &fx->cfg, T0), 0);
	assert_null(decide_gateway_node(fx->w, NULL, T0));
	/* primary not read: no gateway, whatever the labels say */
	put(fx->w, "a", 1, LAB | CAND, T0);
	assert_null(decide_gateway_node(fx->w, &fx->cfg, T0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_primary_unknown),
		T(test_steady_zero_steps),
		T(test_adopt_non_candidate_fit_labelled_holder),
		T(test_adopt_never_probed_labelled_holder),
		T(test_fit_labelled_non_holder_gets_primary),
		T(test_stale_labels_stripped),
		T(test_label_missing_on_holder),
		T(test_failover_prefers_holder_candidate),
		T(test_failover_lowest_named),
		T(test_cordon_demotes_at_once),
		T(test_server_off_demotes_without_grace),
		T(test_delete_demotes_at_once),
		T(test_holding_during_grace),
		T(test_after_grace_moves),
		T(test_unprepared_grace),
		T(test_two_causes_hold_only_while_both_in_grace),
		T(test_prepared_gate_off),
		T(test_never_probed_not_eligible),
		T(test_no_eligible_candidate),
		T(test_candidate_needs_server_id),
		T(test_fit_labelled_without_server_id_waits),
		T(test_allowlist_refusal_writes_nothing),
		T(test_additional_outside_allowlist_moves),
		T(test_additional_allowlist_refuses),
		T(test_additional_after_primary),
		T(test_additional_on_steady_and_relabel),
		T(test_additional_not_under_rules_1_2_3),
		T(test_additional_backoff),
		T(test_move_backoff_doubling_capped),
		T(test_backoff_keeps_labelled_node_fit),
		T(test_refusal_skip_ten_minutes),
		T(test_unknown_reread_label_holder_normal),
		T(test_label_holder_when_none_holds),
		T(test_primary_action_running_rereads),
		T(test_next_deadline),
		T(test_write_order),
		T(test_strip_bound_move),
		T(test_strip_bound_relabel),
		T(test_holding_beats_past_grace_labelled),
		T(test_fit_labelled_elsewhere_ends_holding),
		T(test_holding_needs_schedulable),
		T(test_insertion_order_irrelevant),
		T(test_backoff_delay_sequence),
		T(test_huge_grace_does_not_wrap),
		T(test_outcome_and_op_names),
		T(test_plan_format_step),
		T(test_reasons),
		T(test_decide_rejects_null),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
