/* test_decide_props.c: decide() checked over exhaustive and random worlds,
 * and named situations decided by hand (grace boundaries, backoff, the 4xx
 * skip, busy and unknown primaries, label-holder, strip cut-off,
 * additional Floating IPs) */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "supervisor/config/allowlist.h"
#include "supervisor/decide.h"
#include "supervisor/world.h"

#define T0 10000000
#define SEC 1000
#define MAXN 8
#define IN_IP "203.0.113.7" /* inside the test allowlist */
#define OUT_IP "198.51.100.7" /* outside it */

enum probe { P_OK, P_NEVER, P_SHORT, P_LONG }; /* failing < / >= grace */
enum prep { R_YES, R_SHORT, R_LONG }; /* unprepared < / >= grace */

/* One node of an enumerated world. */
struct nstate {
	unsigned char lab, ready, sched, del, probe, prep, cand;
};

static struct allowlist al;
static const char *const names[MAXN] = { "a", "b", "c", "d", "e", "f", "g",
	"h" };
static const char *const pods[MAXN] = { "p-a", "p-b", "p-c", "p-d", "p-e",
	"p-f", "p-g", "p-h" };

/* ---- the oracle: DESIGN.md's words over nstate, nothing shared ---- */

static int
o_fit(const struct nstate *s, int gate)
{
	return s->sched && !s->del &&
	    (s->probe == P_OK || s->probe == P_NEVER) &&
	    (!gate || s->prep == R_YES);
}

static int
o_holding(const struct nstate *s, int gate)
{
	return s->sched && !s->del && !o_fit(s, gate) && s->probe != P_LONG &&
	    (!gate || s->prep != R_LONG);
}

static int
o_elig(const struct nstate *s, int gate)
{
	return s->cand && s->ready && s->sched && !s->del && s->probe == P_OK &&
	    (!gate || s->prep == R_YES);
}

/* Appends " " (unless first), op and name; no printf: it runs 20M times. */
static void
o_append(char *buf, size_t len, const char *op, const char *name)
{
	size_t off = strlen(buf), lo = strlen(op), ln = strlen(name);

	assert_true(off + 1 + lo + ln < len);
	if (off)
		buf[off++] = ' ';
	memcpy(buf + off, op, lo);
	memcpy(buf + off + lo, name, ln + 1);
}

/*
 * Expected outcome, gateway index (-1) and steps ("S:a A:b L:b X1:b").
 * holder: index of the node holding the primary or -1; add_on: index of
 * the node whose server holds additional fip 1, or -1.
 */
static enum decide_outcome
oracle(const struct nstate *s, int n, int holder, int allow, int gate,
    int add_on, int *gw, char *st, size_t stlen)
{
	int i, g = -1, any_hold = 0, any_fit = 0, label_steps = 0;

	*gw = -1;
	st[0] = '\0';
	if (!allow)
		return DECIDE_ALLOWLIST_REFUSED;
	for (i = 0; i < n; i++) {
		any_fit |= s[i].lab && o_fit(&s[i], gate);
		any_hold |= s[i].lab && o_holding(&s[i], gate);
	}
	if (any_hold && !any_fit)
		return DECIDE_HOLDING;
	for (i = 0; i < n && g < 0; i++)
		if (s[i].lab && o_fit(&s[i], gate) && i == holder)
			g = i;
	for (i = 0; i < n && g < 0; i++)
		if (s[i].lab && o_fit(&s[i], gate))
			g = i;
	for (i = 0; i < n && g < 0; i++)
		if (o_elig(&s[i], gate) && i == holder)
			g = i;
	for (i = 0; i < n && g < 0; i++)
		if (o_elig(&s[i], gate))
			g = i;
	if (g < 0)
		return DECIDE_NO_CANDIDATE;
	*gw = g;
	for (i = 0; i < n; i++)
		if (s[i].lab && i != g) {
			o_append(st, stlen, "S:", names[i]);
			label_steps++;
		}
	if (g != holder)
		o_append(st, stlen, "A:", names[g]);
	if (!s[g].lab) {
		o_append(st, stlen, "L:", names[g]);
		label_steps++;
	}
	if (add_on != g)
		o_append(st, stlen, "X1:", names[g]);
	if (g != holder)
		return DECIDE_MOVE;
	return label_steps ? DECIDE_RELABEL : DECIDE_STEADY;
}

/* ---- helpers shared by both kinds of test ---- */

static const char *
render(const struct plan *p, char *buf, size_t len)
{
	static const char *const op[] = { "S:", "L:", "A:", "X?:", "R" };
	char x[] = "X?:";
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < p->n_steps; i++) {
		const struct plan_step *s = &p->steps[i];

		if (s->op == PLAN_ASSIGN_ADDITIONAL) {
			x[1] = (char)('0' + s->fip % 10);
			o_append(buf, len, x, s->node);
		} else
			o_append(buf, len, op[s->op], s->node);
	}
	return buf;
}

static int
same_plan(const struct plan *a, const struct plan *b)
{
	size_t i;

	if (a->outcome != b->outcome || a->n_steps != b->n_steps ||
	    a->more != b->more || strcmp(a->gateway, b->gateway) != 0 ||
	    a->fips_refused != b->fips_refused ||
	    a->fips_waiting != b->fips_waiting)
		return 0;
	for (i = 0; i < a->n_steps; i++)
		if (a->steps[i].op != b->steps[i].op ||
		    a->steps[i].fip != b->steps[i].fip ||
		    a->steps[i].server_id != b->steps[i].server_id ||
		    strcmp(a->steps[i].node, b->steps[i].node) != 0)
			return 0;
	return 1;
}

static void
set_label(struct world *w, const char *name, int labelled, int64_t now)
{
	const struct world_node *n = world_node_find(w, name);
	struct world_node_facts f;

	assert_non_null(n);
	f = (struct world_node_facts){ n->name, n->server_id, n->addrs,
		n->ready, n->unschedulable, n->deleting, n->candidate,
		labelled };
	assert_int_equal(world_node_upsert(w, &f, now), 0);
}

/*
 * Property (a): walking the plan's label steps never labels a node while
 * another one carries the label, and a plan that labels (or chose a
 * gateway) leaves at most one, unless it was cut at PLAN_STRIP_MAX.
 */
static void
check_label_walk(const struct world *w, const struct plan *p)
{
	size_t i, j, n = world_node_count(w), count = 0;
	unsigned char lab[256];

	assert_true(n <= sizeof(lab));
	for (i = 0; i < n; i++)
		count += lab[i] = (unsigned char)world_node_at(w, i)->labelled;
	for (i = 0; i < p->n_steps; i++) {
		const struct plan_step *s = &p->steps[i];

		if (s->op != PLAN_STRIP_LABEL && s->op != PLAN_SET_LABEL)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(world_node_at(w, j)->name, s->node) == 0)
				break;
		assert_true(j < n);
		if (s->op == PLAN_SET_LABEL) {
			assert_int_equal(lab[j], 0);
			assert_int_equal(count, 0);
		} else
			assert_int_equal(lab[j], 1);
		count += s->op == PLAN_SET_LABEL ? 1 : (size_t)-1;
		lab[j] = s->op == PLAN_SET_LABEL;
	}
	if (!p->more &&
	    (p->outcome == DECIDE_MOVE || p->outcome == DECIDE_RELABEL ||
		p->outcome == DECIDE_STEADY ||
		p->outcome == DECIDE_LABEL_HOLDER))
		assert_true(count <= 1);
}

/*
 * The test's own classification of a node from the facts the world
 * recorded (DESIGN.md's words, not decide.c's functions): fit as a
 * labelled node, eligible as a candidate (with the 4xx skip).
 */
static int
t_fit(const struct decide_cfg *cfg, const struct world_node *n)
{
	return !n->unschedulable && !n->deleting &&
	    n->probe != WORLD_PROBE_FAILING &&
	    (!cfg->prepared_gate || n->ready_pods > 0);
}

static int
t_elig(const struct decide_cfg *cfg, const struct world_node *n, int64_t now)
{
	return n->candidate && n->ready && !n->unschedulable && !n->deleting &&
	    n->server_id != 0 && n->probe == WORLD_PROBE_OK &&
	    (!cfg->prepared_gate || n->ready_pods > 0) &&
	    !(n->refused && now < n->refused_at + cfg->refusal_skip_ms);
}

/*
 * Properties (c), (d), (e) and the shape of a plan: REREAD alone, else
 * strips, then at most one ASSIGN, one SET_LABEL, then additional ones.
 */
static void
check_plan_shape(const struct world *w, const struct decide_cfg *cfg,
    int64_t now, const struct plan *p)
{
	int fit_holder = 0, fit_elsewhere = 0, elig_holder = 0, assign = 0;
	size_t i, rank = 0;

	for (i = 0; i < world_node_count(w); i++) {
		const struct world_node *n = world_node_at(w, i);
		int holds = w->fip[0].server_id != 0 &&
		    n->server_id == w->fip[0].server_id;

		if (n->labelled && t_fit(cfg, n)) {
			fit_holder |= holds;
			fit_elsewhere |= !holds;
		}
		elig_holder |= holds && t_elig(cfg, n, now);
	}
	for (i = 0; i < p->n_steps; i++) {
		static const size_t order[] = { 0, 2, 1, 3, 4 };
		size_t r = order[p->steps[i].op];

		assert_true(r >= rank);
		assert_true(p->steps[i].op != PLAN_ASSIGN || !assign);
		assign |= p->steps[i].op == PLAN_ASSIGN;
		rank = r;
	}
	if (p->outcome == DECIDE_REREAD)
		assert_true(
		    p->n_steps == 1 && p->steps[0].op == PLAN_REREAD_FIPS);
	else
		assert_true(rank < 4);
	/* a primary that is known, settled and moving must be re-read */
	if (w->fip[0].known && (w->fip[0].action_running || w->reread_primary))
		assert_int_equal(p->outcome, DECIDE_REREAD);
	/* the allowlist guard: nothing outside it is ever assigned */
	if (w->fip[0].known && !w->fip[0].in_allowlist)
		assert_int_equal(p->n_steps, 0);
	for (i = 0; i < p->n_steps; i++) {
		const struct world_fip *f = &w->fip[p->steps[i].fip];

		if (p->steps[i].op == PLAN_ASSIGN_ADDITIONAL)
			assert_true(
			    allowlist_contains_fip(cfg->additional_allowlist,
				f->ip, f->is_v6) &&
			    !f->action_running);
	}
	if (fit_holder) /* (c) */
		assert_false(assign);
	if ((fit_holder || elig_holder) && !fit_elsewhere) /* (e) */
		assert_false(assign);
	switch (p->outcome) { /* (d) and friends */
	case DECIDE_PRIMARY_UNKNOWN:
	case DECIDE_ALLOWLIST_REFUSED:
	case DECIDE_HOLDING:
	case DECIDE_NO_CANDIDATE:
	case DECIDE_BACKOFF:
		assert_int_equal(p->n_steps, 0);
		break;
	default:
		break;
	}
}

/* ---- exhaustive small worlds ---- */

/* Node i has server i + 1; its timers put it inside or past each grace. */
static void
put_node(struct world *w, const struct nstate *s, int i)
{
	int64_t created = s->prep == R_SHORT ? T0 - 100 * SEC : T0 - 400 * SEC;
	struct world_node_facts f = {
		.name = names[i],
		.server_id = (uint64_t)i + 1,
		.addrs = "10.0.0.1",
		.ready = s->ready,
		.unschedulable = !s->sched,
		.deleting = s->del,
		.candidate = s->cand,
		.labelled = s->lab,
	};

	assert_int_equal(world_node_upsert(w, &f, created), 0);
	if (s->prep == R_YES)
		assert_int_equal(world_pod_upsert(w, pods[i], names[i], 1,
				     created),
		    0);
	if (s->probe == P_OK)
		world_probe_result(w, names[i], 1, T0 - SEC);
	else if (s->probe == P_SHORT)
		world_probe_result(w, names[i], 0, T0 - 30 * SEC);
	else if (s->probe == P_LONG)
		world_probe_result(w, names[i], 0, T0 - 100 * SEC);
}

/* The primary on holder's server; additional fip 1 on server 2 ("b"). */
static void
set_primary(struct world *w, int holder, int allow)
{
	world_fip_set(w, 0, 7, allow ? IN_IP : OUT_IP, 0,
	    holder < 0 ? 0 : (uint64_t)holder + 1, 0, &al, T0);
}

static void
set_additional(struct world *w, uint64_t server_id)
{
	world_fip_set(w, 1, 8, "203.0.113.8", 0, server_id, 0, &al, T0);
}

static struct world *
build(const struct nstate *s, int n, const int *order)
{
	struct world *w = world_new();
	int k;

	assert_non_null(w);
	for (k = 0; k < n; k++)
		put_node(w, &s[order[k]], order[k]);
	set_additional(w, 2);
	return w;
}

/*
 * Properties (b) and (f): apply the plan as if every step succeeded; then
 * exactly the gateway is labelled, holds the primary, and a new decision
 * has nothing left to do. The labels are put back afterwards.
 */
static void
check_applied(struct world *w, const struct decide_cfg *cfg,
    const struct plan *p, const struct nstate *s, int n)
{
	const struct world_node *gw = world_node_find(w, p->gateway);
	struct plan again;
	size_t i;
	int k;

	assert_non_null(gw);
	for (i = 0; i < p->n_steps; i++) {
		const struct plan_step *st = &p->steps[i];

		if (st->op == PLAN_STRIP_LABEL || st->op == PLAN_SET_LABEL)
			set_label(w, st->node, st->op == PLAN_SET_LABEL, T0);
		else if (st->op == PLAN_ASSIGN)
			world_move_result(w, st->node, WORLD_MOVE_OK, T0);
		else if (st->op == PLAN_ASSIGN_ADDITIONAL)
			set_additional(w, st->server_id);
	}
	for (k = 0; k < n; k++)
		assert_int_equal(world_node_find(w, names[k])->labelled,
		    strcmp(names[k], p->gateway) == 0);
	assert_true(w->fip[0].server_id == gw->server_id);
	assert_int_equal(decide(w, cfg, T0, &again), 0);
	assert_int_equal(again.outcome, DECIDE_STEADY);
	assert_int_equal(again.n_steps, 0);
	for (k = 0; k < n; k++)
		set_label(w, names[k], s[k].lab, T0);
	set_additional(w, 2);
}

struct enum_stats {
	unsigned long worlds;
	unsigned long by_outcome[DECIDE_BACKOFF + 1];
};

/* Every holder and allowlist case of one tuple of node states. */
static void
check_tuple(const struct nstate *s, int n, const struct decide_cfg *cfg,
    const int *perm, struct enum_stats *st)
{
	static const int ident[MAXN] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	struct world *a = build(s, n, ident);
	struct world *b = perm == NULL ? NULL : build(s, n, perm);
	char want[512], got[512];
	struct plan pa, pb;
	enum decide_outcome o;
	int holder, allow, gw;

	for (holder = -1; holder < n; holder++) {
		for (allow = 1; allow >= 0; allow--) {
			set_primary(a, holder, allow);
			assert_int_equal(decide(a, cfg, T0, &pa), 0);
			if (b != NULL) { /* (g) */
				set_primary(b, holder, allow);
				assert_int_equal(decide(b, cfg, T0, &pb), 0);
				assert_true(same_plan(&pa, &pb));
			}
			o = oracle(s, n, holder, allow, cfg->prepared_gate, 1,
			    &gw, want, sizeof(want));
			render(&pa, got, sizeof(got));
			if (pa.outcome != o || strcmp(want, got) != 0 ||
			    strcmp(pa.gateway, gw < 0 ? "" : names[gw]) != 0)
				fail_msg("%s [%s] gw %s, oracle %s [%s] gw %s",
				    decide_outcome_name(pa.outcome), got,
				    pa.gateway, decide_outcome_name(o), want,
				    gw < 0 ? "" : names[gw]);
			check_label_walk(a, &pa);
			check_plan_shape(a, cfg, T0, &pa);
			if (o == DECIDE_MOVE || o == DECIDE_RELABEL ||
			    o == DECIDE_STEADY)
				check_applied(a, cfg, &pa, s, n);
			st->worlds++;
			st->by_outcome[o]++;
		}
	}
	world_free(a);
	world_free(b);
}

/*
 * Node state number v, digit by digit. with_cand: the last digit has three
 * levels, candidate Ready, candidate not Ready, not a candidate (NodeReady
 * only counts for a candidate, so the fourth pair would repeat the third);
 * else all are candidates and the digit is NodeReady.
 */
static void
state_of(unsigned v, int with_cand, int prep_levels, struct nstate *s)
{
	s->lab = v & 1;
	s->sched = (v >> 1) & 1;
	s->del = (v >> 2) & 1;
	s->probe = (v >> 3) & 3;
	v >>= 5;
	s->prep = (unsigned char)(prep_levels == 3 ? v % 3 : (v % 2) * R_LONG);
	v /= (unsigned)prep_levels;
	s->cand = !with_cand || v % 3 != 2;
	s->ready = with_cand ? v % 3 != 1 : v % 2;
}

/*
 * Walks states[]^n: every assignment of the listed node states to n nodes,
 * each checked for every holder and both allowlist answers. For one tuple
 * in four a second world inserts the nodes in another order (all n! orders
 * in turn) and must plan alike; building worlds is what costs under ASan.
 */
static void
enumerate(const struct nstate *states, size_t n_states, int n,
    const struct decide_cfg *cfg, struct enum_stats *st)
{
	static const int perms3[6][3] = { { 2, 1, 0 }, { 1, 2, 0 }, { 2, 0, 1 },
		{ 0, 2, 1 }, { 1, 0, 2 }, { 0, 1, 2 } };
	static const int rev2[2] = { 1, 0 };
	size_t idx[MAXN] = { 0 }, k, tuple = 0;
	struct nstate s[MAXN];

	for (;;) {
		for (k = 0; k < (size_t)n; k++)
			s[k] = states[idx[k]];
		check_tuple(s, n, cfg,
		    tuple % 4	 ? NULL
			: n == 3 ? perms3[tuple / 4 % 6]
				 : rev2,
		    st);
		tuple++;
		for (k = 0; k < (size_t)n && ++idx[k] == n_states; k++)
			idx[k] = 0;
		if (k == (size_t)n)
			return;
	}
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
report(const char *what, const struct enum_stats *st, const struct timespec *t0)
{
	int o;

	printf("%s: %lu worlds in %.2fs:", what, st->worlds, seconds_since(t0));
	for (o = 0; o <= DECIDE_BACKOFF; o++)
		if (st->by_outcome[o])
			printf(" %s=%lu",
			    decide_outcome_name((enum decide_outcome)o),
			    st->by_outcome[o]);
	printf("\n");
}

/* ---- random sequences of worlds over time ---- */

#define RN 6 /* nodes in the pool */
#define RADD 2 /* additional Floating IPs */

struct rnode {
	char name[8];
	uint64_t server_id;
	int present, ready, unsched, del, cand, lab, pod, pod_ready;
};

/* Two worlds fed the same events; only their insertion orders differ. */
struct rsim {
	struct world *w[2];
	struct decide_cfg cfg;
	int64_t now;
	uint64_t rng;
	struct rnode n[RN];
	uint64_t primary; /* where it really is */
	int busy; /* an action runs on it */
	uint64_t add[RADD + 1];
	struct plan plan[2];
	unsigned long by_outcome[DECIDE_BACKOFF + 1];
};

static uint64_t
rnd(struct rsim *r)
{
	/* xorshift64*: small, seedable, the same everywhere */
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return (r->rng * UINT64_C(2685821657736338717)) >> 16;
}

static unsigned
pick(struct rsim *r, unsigned n)
{
	return (unsigned)(rnd(r) % n);
}

static void
r_upsert(struct rsim *r, int wi, int i)
{
	const struct rnode *m = &r->n[i];
	struct world_node_facts f = { m->name, m->server_id, "10.0.0.9",
		m->ready, m->unsched, m->del, m->cand, m->lab };
	char pod[16];

	assert_int_equal(world_node_upsert(r->w[wi], &f, r->now), 0);
	snprintf(pod, sizeof(pod), "p-%s", m->name);
	if (m->pod)
		assert_int_equal(world_pod_upsert(r->w[wi], pod, m->name,
				     m->pod_ready, r->now),
		    0);
	else
		world_pod_remove(r->w[wi], pod, r->now);
}

static void
r_both(struct rsim *r, int i)
{
	r_upsert(r, 0, i);
	r_upsert(r, 1, i);
}

/* Resync: every present node upserted, in a fresh order per world. */
static void
r_snapshot(struct rsim *r)
{
	int wi, k, order[RN];

	for (wi = 0; wi < 2; wi++) {
		for (k = 0; k < RN; k++)
			order[k] = k;
		for (k = RN - 1; k > 0; k--) {
			int j = (int)pick(r, (unsigned)k + 1), t = order[k];

			order[k] = order[j];
			order[j] = t;
		}
		world_nodes_mark(r->w[wi]);
		world_pods_mark(r->w[wi]);
		for (k = 0; k < RN; k++)
			if (r->n[order[k]].present)
				r_upsert(r, wi, order[k]);
		world_nodes_sweep(r->w[wi]);
		world_pods_sweep(r->w[wi], r->now);
	}
}

/* Additional 1 is inside the allowlist, additional 2 outside it. */
static void
r_read_additional(struct rsim *r, int f)
{
	int wi;

	for (wi = 0; wi < 2; wi++)
		world_fip_set(r->w[wi], f, 7 + (uint64_t)f,
		    f == 1 ? "203.0.113.8" : OUT_IP, 0, r->add[f], 0, &al,
		    r->now);
}

static void
r_read(struct rsim *r)
{
	int f;

	world_fip_set(r->w[0], 0, 7, IN_IP, 0, r->primary, r->busy, &al,
	    r->now);
	world_fip_set(r->w[1], 0, 7, IN_IP, 0, r->primary, r->busy, &al,
	    r->now);
	for (f = 1; f <= RADD; f++)
		r_read_additional(r, f);
	if (r->busy && pick(r, 2))
		r->busy = 0;
}

static int
r_find(struct rsim *r, const char *name)
{
	int i;

	for (i = 0; i < RN; i++)
		if (strcmp(r->n[i].name, name) == 0)
			return i;
	fail_msg("plan names unknown node %s", name);
	return -1;
}

static void
r_move_result(struct rsim *r, const char *node, enum world_move_result res)
{
	world_move_result(r->w[0], node, res, r->now);
	world_move_result(r->w[1], node, res, r->now);
}

/* One step as the wiring would run it; 0 when it failed (plan stops). */
static int
r_step(struct rsim *r, const struct plan_step *st)
{
	unsigned u = pick(r, 10);
	int i;

	switch (st->op) {
	case PLAN_STRIP_LABEL:
	case PLAN_SET_LABEL:
		if (u == 0)
			return 0;
		i = r_find(r, st->node);
		r->n[i].lab = st->op == PLAN_SET_LABEL;
		r_both(r, i);
		return 1;
	case PLAN_ASSIGN:
		if (u < 7) {
			r->primary = st->server_id;
			r_move_result(r, st->node, WORLD_MOVE_OK);
			return 1;
		}
		if (u == 8 && pick(r, 2))
			r->primary = st->server_id; /* it did happen */
		r_move_result(r, st->node,
		    u == 7	 ? WORLD_MOVE_FAILED
			: u == 8 ? WORLD_MOVE_UNKNOWN
				 : WORLD_MOVE_REFUSED);
		return 0;
	case PLAN_ASSIGN_ADDITIONAL:
		if (u >= 8) {
			world_additional_result(r->w[0], st->fip, 0, r->now);
			world_additional_result(r->w[1], st->fip, 0, r->now);
			return 0;
		}
		r->add[st->fip] = st->server_id;
		world_additional_result(r->w[0], st->fip, 1, r->now);
		world_additional_result(r->w[1], st->fip, 1, r->now);
		r_read_additional(r, st->fip);
		return 1;
	case PLAN_REREAD_FIPS:
		r_read(r);
		return 1;
	}
	return 0;
}

/* Runs plan[0]; on full success checks properties (b) and (f). */
static void
r_execute(struct rsim *r)
{
	const struct plan *p = &r->plan[0];
	const struct world_node *gw;
	struct plan again;
	size_t i;
	int k;

	for (i = 0; i < p->n_steps; i++)
		if (!r_step(r, &p->steps[i]))
			return;
	if (p->outcome == DECIDE_LABEL_HOLDER) {
		/* the label is on the node holding the primary, or on none */
		for (k = 0; k < RN; k++)
			assert_int_equal(r->n[k].lab && r->n[k].present,
			    strcmp(r->n[k].name, p->holder) == 0);
		world_label_holder_done(r->w[0]);
		world_label_holder_done(r->w[1]);
	}
	if ((p->outcome != DECIDE_MOVE && p->outcome != DECIDE_RELABEL &&
		p->outcome != DECIDE_STEADY) ||
	    p->more)
		return;
	gw = world_node_find(r->w[0], p->gateway);
	assert_non_null(gw);
	for (k = 0; k < RN; k++)
		assert_int_equal(r->n[k].lab && r->n[k].present,
		    strcmp(r->n[k].name, p->gateway) == 0);
	assert_true(r->w[0]->fip[0].server_id == gw->server_id);
	assert_int_equal(decide(r->w[0], &r->cfg, r->now, &again), 0);
	assert_int_equal(again.outcome, DECIDE_STEADY);
	assert_int_equal(again.n_steps, 0);
}

/* A change to one node's facts, as a watch event would bring it. */
static void
r_node_event(struct rsim *r)
{
	int i = (int)pick(r, RN);
	struct rnode *m = &r->n[i];

	/* mostly back to good: a pool of broken nodes plans nothing */
	int bad = pick(r, 8) == 0;

	switch (pick(r, 9)) {
	case 0:
		m->ready = !bad;
		break;
	case 1:
		m->unsched = bad;
		break;
	case 2:
		m->del = bad;
		break;
	case 3:
		m->cand = !bad;
		break;
	case 4:
		m->lab = !m->lab;
		break; /* someone else's write */
	case 5:
		m->server_id = bad ? 0 : 100 + rnd(r) % 1000;
		break;
	case 6:
		m->pod = !bad;
		break;
	case 7:
		m->pod_ready = !bad;
		break;
	default:
		m->present = !m->present;
		if (!m->present) {
			world_node_remove(r->w[0], m->name);
			world_node_remove(r->w[1], m->name);
			return;
		}
	}
	if (m->present)
		r_both(r, i);
}

static void
r_event(struct rsim *r)
{
	unsigned e = pick(r, 100);
	int i = (int)pick(r, RN);

	if (e < 20)
		r->now += (int64_t)pick(r, 4) ? pick(r, 20 * SEC)
					      : pick(r, 400 * SEC);
	else if (e < 45)
		r_node_event(r);
	else if (e < 60) {
		int ok = pick(r, 10) < 6;

		world_probe_result(r->w[0], r->n[i].name, ok, r->now);
		world_probe_result(r->w[1], r->n[i].name, ok, r->now);
	} else if (e < 63)
		r_snapshot(r);
	else if (e < 66) {
		/* someone else moves the primary */
		r->primary = pick(r, 4) ? r->n[i].server_id : 0;
		r->busy = (int)pick(r, 2);
	} else if (e < 72)
		r_read(r);
	else
		r_execute(r);
}

/*
 * (g) both worlds plan alike; (a), (c), (d), (e) on the plan; and nothing
 * changes before decide_next_deadline() with time alone.
 */
static void
r_check(struct rsim *r)
{
	struct plan later;
	int64_t d, t;

	assert_int_equal(decide(r->w[0], &r->cfg, r->now, &r->plan[0]), 0);
	assert_int_equal(decide(r->w[1], &r->cfg, r->now, &r->plan[1]), 0);
	assert_true(same_plan(&r->plan[0], &r->plan[1]));
	check_label_walk(r->w[0], &r->plan[0]);
	check_plan_shape(r->w[0], &r->cfg, r->now, &r->plan[0]);
	r->by_outcome[r->plan[0].outcome]++;
	d = decide_next_deadline(r->w[0], &r->cfg, r->now);
	assert_true(d > r->now);
	t = d - r->now > 3600 * SEC ? 3600 * SEC : d - r->now;
	t = r->now + (int64_t)(rnd(r) % (uint64_t)t);
	assert_int_equal(decide(r->w[0], &r->cfg, t, &later), 0);
	assert_true(same_plan(&r->plan[0], &later));
}

static void
r_run(uint64_t seed, int gate, int steps)
{
	static const char *const nm[RN] = { "m", "c", "x", "a", "k", "f" };
	struct rsim r;
	int i;

	memset(&r, 0, sizeof(r));
	r.rng = seed ? seed : 1;
	r.now = T0;
	decide_cfg_defaults(&r.cfg);
	r.cfg.additional_allowlist = &al;
	r.cfg.prepared_gate = gate;
	r.cfg.n_additional = RADD;
	r.w[0] = world_new();
	r.w[1] = world_new();
	assert_true(r.w[0] != NULL && r.w[1] != NULL);
	for (i = 0; i < RN; i++) {
		struct rnode *m = &r.n[i];

		*m = (struct rnode){ .server_id = 10 + (uint64_t)i,
			.present = 1,
			.ready = 1,
			.cand = i != 2,
			.pod = 1,
			.pod_ready = 1,
			.lab = i == 0 };
		snprintf(m->name, sizeof(m->name), "%s", nm[i]);
	}
	for (i = 0; i < RN; i++) {
		r_upsert(&r, 0, i);
		r_upsert(&r, 1, RN - 1 - i);
	}
	r.primary = 10;
	r_read(&r);
	for (i = 0; i < steps; i++) {
		r_event(&r);
		r_check(&r);
	}
	printf("random: seed %llu gate %d, %d steps:", (unsigned long long)seed,
	    gate, steps);
	for (i = 0; i <= DECIDE_BACKOFF; i++)
		if (r.by_outcome[i])
			printf(" %s=%lu",
			    decide_outcome_name((enum decide_outcome)i),
			    r.by_outcome[i]);
	printf("\n");
	world_free(r.w[0]);
	world_free(r.w[1]);
}

static void
test_random_sequences(void **state)
{
	const char *env = getenv("DECIDE_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : UINT64_C(0x5eed2024);

	(void)state;
	printf("random: seed %llu (set DECIDE_SEED to replay another)\n",
	    (unsigned long long)seed);
	r_run(seed, 1, 50000);
	r_run(seed + 1, 0, 50000);
}

/*
 * What is enumerated (grace 90 s, unprepared grace 5 min; node i is on
 * server i + 1; additional Floating IP 1 sits on node b's server; every
 * world is checked against the oracle and properties a-g):
 *
 * 2 nodes, gate on: every node takes each of 576 states: labelled {y,n} x
 *   schedulable {y,n} x deleting {y,n} x probe {ok, never, failing 30 s,
 *   failing 100 s} x prepared {yes, unprepared 100 s, unprepared 400 s} x
 *   {candidate and NodeReady, candidate not NodeReady, not a candidate};
 *   576^2 tuples x holder {none, a, b} x primary {inside, outside} the
 *   allowlist = 1,990,656 worlds.
 * 2 nodes, gate off: the same with prepared {yes, unprepared 400 s}: 192
 *   states, 221,184 worlds.
 * 3 nodes, the issue's product: labelled x NodeReady x schedulable x deleting
 *   x probe (4) x prepared {yes, unprepared 400 s}, all candidates: 128
 *   states, 128^3 x holder {none, a, b, c} x allowlist = 16,777,216 worlds,
 *   about 10 s plain: DECIDE_EXHAUSTIVE_FULL=1 runs it. By default only the
 *   half with ready ^ schedulable ^ deleting ^ unprepared even: labelled and
 *   probe stay complete and the four two-level factors form a 2^(4-1)
 *   design in which any two of them take all four value pairs; so 64 states,
 *   every pair of dimensions of a node in all its combinations, and all
 *   64^3 tuples of the three nodes x 4 x 2 = 2,097,152 worlds.
 */
static void
test_exhaustive_two_nodes(void **state)
{
	static struct nstate states[576];
	struct enum_stats st = { 0 };
	struct decide_cfg cfg;
	struct timespec t0;
	unsigned v;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	decide_cfg_defaults(&cfg);
	cfg.additional_allowlist = &al;
	cfg.n_additional = 1;
	for (v = 0; v < 576; v++)
		state_of(v, 1, 3, &states[v]);
	enumerate(states, 576, 2, &cfg, &st);
	report("2 nodes x 576 states, gate on", &st, &t0);
	/* without the prepared gate pods do not matter: 2 levels suffice */
	memset(&st, 0, sizeof(st));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cfg.prepared_gate = 0;
	for (v = 0; v < 192; v++)
		state_of(v, 1, 2, &states[v]);
	enumerate(states, 192, 2, &cfg, &st);
	report("2 nodes x 192 states, gate off", &st, &t0);
}

static void
test_exhaustive_three_nodes(void **state)
{
	static struct nstate states[128];
	struct enum_stats st = { 0 };
	struct decide_cfg cfg;
	struct timespec t0;
	size_t n = 0;
	unsigned v;
	const char *full = getenv("DECIDE_EXHAUSTIVE_FULL");

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	decide_cfg_defaults(&cfg);
	cfg.additional_allowlist = &al;
	cfg.n_additional = 1;
	for (v = 0; v < 128; v++) {
		struct nstate s;

		state_of(v, 0, 2, &s);
		if (full == NULL &&
		    ((s.ready ^ s.sched ^ s.del ^ (s.prep != R_YES)) & 1))
			continue;
		states[n++] = s;
	}
	enumerate(states, n, 3, &cfg, &st);
	report(full ? "3 nodes x 128 states (full)"
		    : "3 nodes x 64 states (half fraction)",
	    &st, &t0);
}

/* ---- named situations, each decided by hand ---- */

#define GRACE (90 * SEC)
#define UGRACE (300 * SEC)

static struct allowlist add_al; /* --additional-egress-ip-allowlist */

/* A Ready, schedulable candidate on server sid, probed fine at T0 - 1 s. */
static void
s_node(struct world *w, const char *name, uint64_t sid, int lab)
{
	struct world_node_facts f = { name, sid, "10.0.0.1", 1, 0, 0, 1, lab };

	assert_int_equal(world_node_upsert(w, &f, T0 - 1000 * SEC), 0);
	world_probe_result(w, name, 1, T0 - SEC);
}

/* The defaults, without the prepared gate unless a test turns it on. */
static void
s_cfg(struct decide_cfg *cfg)
{
	decide_cfg_defaults(cfg);
	cfg->prepared_gate = 0;
}

static struct world *
s_world(uint64_t primary_on)
{
	struct world *w = world_new();

	assert_non_null(w);
	world_fip_set(w, 0, 7, IN_IP, 0, primary_on, 0, &al, T0 - SEC);
	return w;
}

/*
 * The usual start: defaults without the gate, primary on server 1 of
 * labelled node a, candidate b on server 2; a failing for a whole grace
 * when failing is set.
 */
static struct world *
s_pair(struct decide_cfg *cfg, int failing)
{
	struct world *w = s_world(1);

	s_cfg(cfg);
	s_node(w, "a", 1, 1);
	s_node(w, "b", 2, 0);
	if (failing)
		world_probe_result(w, "a", 0, T0 - GRACE);
	return w;
}

/*
 * The whole answer: outcome, gateway, holder, the class of the reason
 * (a phrase it must contain) and every step, additional ones included.
 */
static void
expect(const struct world *w, const struct decide_cfg *cfg, int64_t now,
    enum decide_outcome o, const char *gw, const char *holder, const char *why,
    const char *steps)
{
	struct plan p;
	char got[4096];

	assert_int_equal(decide(w, cfg, now, &p), 0);
	render(&p, got, sizeof(got));
	if (p.outcome != o || strcmp(p.gateway, gw) != 0 ||
	    strcmp(p.holder, holder) != 0 || strstr(p.reason, why) == NULL ||
	    strcmp(got, steps) != 0)
		fail_msg("at T0%+lld: got %s gw \"%s\" holder \"%s\" [%s] "
			 "\"%s\"; want %s gw \"%s\" holder \"%s\" [%s] \"%s\"",
		    (long long)(now - T0), decide_outcome_name(p.outcome),
		    p.gateway, p.holder, got, p.reason, decide_outcome_name(o),
		    gw, holder, steps, why);
}

/*
 * A grace at -1 ms, 0 and +1 ms from its end: the unhealthy one (a failing
 * since T0 - 90 s) or, gate on, the unprepared one (a's pod gone since
 * T0 - 5 min).  Holding before, moving from the very millisecond on.
 */
static void
grace_boundary(int unprepared)
{
	struct decide_cfg cfg;
	struct world *w = s_pair(&cfg, 0);
	const int64_t u = T0 - UGRACE;

	if (unprepared) {
		cfg.prepared_gate = 1;
		assert_int_equal(world_pod_upsert(w, "p-a", "a", 1, u - SEC),
		    0);
		assert_int_equal(world_pod_upsert(w, "p-b", "b", 1, u - SEC),
		    0);
		world_pod_remove(w, "p-a", u);
	} else {
		world_probe_result(w, "a", 0, T0 - GRACE);
		world_probe_result(w, "a", 0, T0 - 2); /* the same failure */
	}
	expect(w, &cfg, T0 - 1, DECIDE_HOLDING, "", "a", "grace", "");
	assert_true(decide_next_deadline(w, &cfg, T0 - 1) == T0);
	expect(w, &cfg, T0, DECIDE_MOVE, "b", "a", "move the primary to b",
	    "S:a A:b L:b");
	expect(w, &cfg, T0 + 1, DECIDE_MOVE, "b", "a", "move the primary to b",
	    "S:a A:b L:b");
	world_free(w);
}

static void
test_grace_boundary(void **state)
{
	(void)state;
	grace_boundary(0);
}

static void
test_unprepared_grace_boundary(void **state)
{
	(void)state;
	grace_boundary(1);
}

/* A candidate without an hcloud:// id is never chosen; a fit labelled
 * node without one is adopted, never disturbed: nothing to do. */
static void
test_missing_server_ids(void **state)
{
	struct decide_cfg cfg;
	struct world *w = s_world(1);

	(void)state;
	s_cfg(&cfg);
	s_node(w, "a", 1, 1);
	s_node(w, "b", 0, 0);
	s_node(w, "c", 3, 0);
	world_probe_result(w, "a", 0, T0 - GRACE);
	expect(w, &cfg, T0, DECIDE_MOVE, "c", "a", "move the primary to c",
	    "S:a A:c L:c");
	world_free(w);
	w = s_world(0);
	s_node(w, "a", 0, 1);
	s_node(w, "b", 0, 0);
	expect(w, &cfg, T0, DECIDE_NO_CANDIDATE, "", "",
	    "a is fit and labelled but has no hcloud:// providerID", "");
	world_free(w);
}

/* A failed assignment: re-read, label the real holder, then the target
 * waits out its backoff (-1 ms, 0). */
static void
test_backoff_after_failure(void **state)
{
	struct decide_cfg cfg;
	struct world *w = s_pair(&cfg, 1);

	(void)state;
	set_label(w, "a", 0, T0); /* the move stripped it */
	world_move_result(w, "b", WORLD_MOVE_FAILED, T0);
	expect(w, &cfg, T0, DECIDE_REREAD, "", "", "the last assignment failed",
	    "R");
	world_fip_set(w, 0, 7, IN_IP, 0, 1, 0, &al, T0);
	expect(w, &cfg, T0, DECIDE_LABEL_HOLDER, "", "a",
	    "after the failed assignment label a", "L:a");
	set_label(w, "a", 1, T0);
	world_label_holder_done(w);
	expect(w, &cfg, T0 + cfg.backoff_first_ms - 1, DECIDE_BACKOFF, "b", "a",
	    "move to b retried in", "");
	expect(w, &cfg, T0 + cfg.backoff_first_ms, DECIDE_MOVE, "b", "a",
	    "move the primary to b", "S:a A:b L:b");
	world_free(w);
}

/* A 4xx refusal skips the node for refusal_skip_ms; others go first. */
static void
test_refusal_skip(void **state)
{
	struct decide_cfg cfg;
	struct world *w = s_pair(&cfg, 0);

	(void)state;
	s_node(w, "c", 3, 0);
	world_probe_result(w, "a", 0, T0 - GRACE);
	world_move_result(w, "b", WORLD_MOVE_REFUSED, T0);
	world_fip_set(w, 0, 7, IN_IP, 0, 1, 0, &al, T0);
	world_label_holder_done(w);
	expect(w, &cfg, T0 + 1, DECIDE_MOVE, "c", "a", "move the primary to c",
	    "S:a A:c L:c");
	expect(w, &cfg, T0 + cfg.refusal_skip_ms - 1, DECIDE_MOVE, "c", "a",
	    "move the primary to c", "S:a A:c L:c");
	expect(w, &cfg, T0 + cfg.refusal_skip_ms, DECIDE_MOVE, "b", "a",
	    "move the primary to b", "S:a A:b L:b");
	world_free(w);
}

/* Busy primary and an unknown result: re-read; the read decides. */
static void
test_busy_and_unknown(void **state)
{
	struct decide_cfg cfg;
	struct world *w = s_pair(&cfg, 0);

	(void)state;
	world_fip_set(w, 0, 7, IN_IP, 0, 1, 1, &al, T0);
	expect(w, &cfg, T0, DECIDE_REREAD, "", "",
	    "an action is running on the primary", "R");
	world_fip_set(w, 0, 7, IN_IP, 0, 1, 0, &al, T0);
	expect(w, &cfg, T0, DECIDE_STEADY, "a", "a", "a", "");
	/* unknown: it did happen after all; the label follows the IP */
	world_probe_result(w, "a", 0, T0 - GRACE);
	set_label(w, "a", 0, T0);
	world_move_result(w, "b", WORLD_MOVE_UNKNOWN, T0);
	expect(w, &cfg, T0, DECIDE_REREAD, "", "", "result is unknown", "R");
	world_fip_set(w, 0, 7, IN_IP, 0, 2, 0, &al, T0 + SEC);
	expect(w, &cfg, T0 + SEC, DECIDE_LABEL_HOLDER, "", "b",
	    "after the failed assignment label b", "L:b");
	set_label(w, "b", 1, T0 + SEC);
	world_label_holder_done(w);
	expect(w, &cfg, T0 + SEC, DECIDE_STEADY, "b", "b", "b", "");
	/* and when it did not happen and nobody holds it: no label */
	world_move_result(w, "b", WORLD_MOVE_UNKNOWN, T0 + 2 * SEC);
	world_fip_set(w, 0, 7, IN_IP, 0, 0, 0, &al, T0 + 2 * SEC);
	expect(w, &cfg, T0 + 2 * SEC, DECIDE_LABEL_HOLDER, "", "",
	    "no node holds the primary", "S:b");
	world_free(w);
}

/* More labelled nodes than one plan strips: the first PLAN_STRIP_MAX by
 * name, nothing else, more set; the next plan goes on. */
static void
test_more_labelled_than_a_plan(void **state)
{
	struct decide_cfg cfg;
	struct world *w = s_world(0);
	struct plan p;
	char name[24];
	unsigned i;

	(void)state;
	s_cfg(&cfg);
	for (i = 0; i < PLAN_STRIP_MAX + 6; i++) {
		snprintf(name, sizeof(name), "n%03u", i);
		s_node(w, name, 100 + i, 1);
		world_probe_result(w, name, 0, T0 - GRACE);
	}
	s_node(w, "z", 2, 0);
	assert_int_equal(decide(w, &cfg, T0, &p), 0);
	assert_int_equal(p.outcome, DECIDE_MOVE);
	assert_string_equal(p.gateway, "z");
	assert_int_equal(p.more, 1);
	assert_int_equal(p.n_steps, PLAN_STRIP_MAX);
	for (i = 0; i < p.n_steps; i++) {
		snprintf(name, sizeof(name), "n%03u", i);
		assert_int_equal(p.steps[i].op, PLAN_STRIP_LABEL);
		assert_string_equal(p.steps[i].node, name);
	}
	for (i = 0; i < PLAN_STRIP_MAX; i++)
		set_label(w, p.steps[i].node, 0, T0);
	expect(w, &cfg, T0, DECIDE_MOVE, "z", "", "move the primary to z",
	    "S:n064 S:n065 S:n066 S:n067 S:n068 S:n069 A:z L:z");
	world_free(w);
}

/* Additional Floating IPs: in their allowlist they follow, outside it
 * they are refused, busy or in backoff they wait; the primary goes on. */
static void
test_additional_fips(void **state)
{
	struct decide_cfg cfg;
	struct world *w = s_pair(&cfg, 0);
	struct plan p;

	(void)state;
	cfg.n_additional = 3;
	/* --additional-egress-ip-allowlist: X2 is outside it */
	cfg.additional_allowlist = &add_al;
	world_fip_set(w, 1, 8, "198.51.100.8", 0, 2, 0, &add_al, T0);
	world_fip_set(w, 2, 9, OUT_IP, 0, 2, 0, &add_al, T0);
	world_fip_set(w, 3, 10, "2001:db8:1:2::/64", 1, 0, 0, &add_al, T0);
	expect(w, &cfg, T0, DECIDE_STEADY, "a", "a", "a", "X1:a X3:a");
	assert_int_equal(decide(w, &cfg, T0, &p), 0);
	assert_int_equal(p.fips_refused, 1u << 2);
	assert_int_equal(p.fips_waiting, 0);
	assert_true(p.steps[0].server_id == 1 && p.steps[1].server_id == 1);
	/* busy, and in backoff after a failure */
	world_fip_set(w, 1, 8, "198.51.100.8", 0, 2, 1, &add_al, T0);
	world_additional_result(w, 3, 0, T0);
	expect(w, &cfg, T0, DECIDE_STEADY, "a", "a", "a", "");
	assert_int_equal(decide(w, &cfg, T0, &p), 0);
	assert_int_equal(p.fips_waiting, (1u << 1) | (1u << 3));
	expect(w, &cfg, T0 + cfg.backoff_first_ms, DECIDE_STEADY, "a", "a", "a",
	    "X3:a");
	/* a move carries them after the label */
	world_fip_set(w, 1, 8, "198.51.100.8", 0, 2, 0, &add_al, T0);
	world_probe_result(w, "a", 0, T0 - GRACE);
	expect(w, &cfg, T0 + cfg.backoff_first_ms, DECIDE_MOVE, "b", "a",
	    "move the primary to b", "S:a A:b L:b X3:b");
	world_free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exhaustive_two_nodes),
		cmocka_unit_test(test_exhaustive_three_nodes),
		cmocka_unit_test(test_random_sequences),
		cmocka_unit_test(test_grace_boundary),
		cmocka_unit_test(test_unprepared_grace_boundary),
		cmocka_unit_test(test_missing_server_ids),
		cmocka_unit_test(test_backoff_after_failure),
		cmocka_unit_test(test_refusal_skip),
		cmocka_unit_test(test_busy_and_unknown),
		cmocka_unit_test(test_more_labelled_than_a_plan),
		cmocka_unit_test(test_additional_fips),
	};

	if (allowlist_parse(&al, "203.0.113.0/24", NULL, 0) != 0 ||
	    allowlist_parse(&add_al, "198.51.100.8/32,2001:db8::/32", NULL,
		0) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
