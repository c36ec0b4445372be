/* decide.c: DESIGN.md "The decision, exactly" as a pure function */

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "supervisor/config/allowlist.h"
#include "decide.h"

/*
 * One pass over the nodes (sorted by name, so the first match is the
 * lowest-named) collects everything the rules ask about.
 */
struct scan {
	const struct world_node *holder; /* holds the primary */
	const struct world_node *fit; /* fit labelled */
	const struct world_node *fit_holder; /* fit labelled holder */
	const struct world_node *fit_movable; /* fit labelled, server id */
	const struct world_node *holding; /* labelled, in a grace */
	const struct world_node *unfit; /* labelled, past its grace */
	const struct world_node *elig; /* eligible candidate */
	const struct world_node *elig_holder; /* eligible holder */
	/* labelled nodes in name order; one extra so a kept one still fits */
	const struct world_node *labelled[PLAN_STRIP_MAX + 1];
	size_t n_labelled;
};

void
decide_cfg_defaults(struct decide_cfg *cfg)
{
	cfg->unhealthy_grace_ms = 90 * 1000;
	cfg->unprepared_grace_ms = 5 * 60 * 1000;
	cfg->prepared_gate = 1;
	cfg->n_additional = 0;
	cfg->backoff_first_ms = 5 * 1000;
	cfg->backoff_cap_ms = 5 * 60 * 1000;
	cfg->refusal_skip_ms = 10 * 60 * 1000;
}

/* Saturating: a huge grace must not wrap into the past. */
static int64_t
add_sat(int64_t t, int64_t d)
{
	if (d > 0 && t > INT64_MAX - d)
		return INT64_MAX;
	if (d < 0 && t < INT64_MIN - d)
		return INT64_MIN;
	return t + d;
}

int64_t
decide_backoff_delay(const struct decide_cfg *cfg, unsigned int failures)
{
	int64_t d = cfg->backoff_first_ms;
	unsigned int i;

	if (failures == 0 || d <= 0)
		return 0;
	for (i = 1; i < failures && d < cfg->backoff_cap_ms; i++)
		d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
	return d < cfg->backoff_cap_ms ? d : cfg->backoff_cap_ms;
}

static int64_t
backoff_end(const struct decide_cfg *cfg, const struct world_backoff *b)
{
	return add_sat(b->failed_at, decide_backoff_delay(cfg, b->failures));
}

static int
in_backoff(const struct decide_cfg *cfg, const struct world_backoff *b,
    int64_t now)
{
	return b->failures > 0 && now < backoff_end(cfg, b);
}

static int
skipped(const struct decide_cfg *cfg, const struct world_node *n, int64_t now)
{
	return n->refused && now < add_sat(n->refused_at, cfg->refusal_skip_ms);
}

static int
prepared(const struct decide_cfg *cfg, const struct world_node *n)
{
	return !cfg->prepared_gate || n->ready_pods > 0;
}

/* Server fast path: a gateway whose server is off, stopping, deleting
 * or gone waits out no grace, and such a candidate is not eligible. */
static int
server_off(const struct world_node *n)
{
	return n->server == WORLD_SERVER_OFF;
}

/* Both "within grace" tests are true when the cause is absent. */
static int
probe_in_grace(const struct decide_cfg *cfg, const struct world_node *n,
    int64_t now)
{
	return n->probe != WORLD_PROBE_FAILING ||
	    now < add_sat(n->failing_since, cfg->unhealthy_grace_ms);
}

static int
unprepared_in_grace(const struct decide_cfg *cfg, const struct world_node *n,
    int64_t now)
{
	return prepared(cfg, n) ||
	    now < add_sat(n->unprepared_since, cfg->unprepared_grace_ms);
}

int
decide_node_fit(const struct decide_cfg *cfg, const struct world_node *n,
    int64_t now)
{
	(void)now;
	return !n->unschedulable && !n->deleting &&
	    n->probe != WORLD_PROBE_FAILING && prepared(cfg, n);
}

/* With two causes at once, the node holds only while both are in grace. */
int
decide_node_holding(const struct decide_cfg *cfg, const struct world_node *n,
    int64_t now)
{
	return !n->unschedulable && !n->deleting &&
	    !decide_node_fit(cfg, n, now) && probe_in_grace(cfg, n, now) &&
	    unprepared_in_grace(cfg, n, now) && !server_off(n);
}

int
decide_node_eligible(const struct decide_cfg *cfg, const struct world_node *n,
    int64_t now)
{
	return n->candidate && n->ready && !n->unschedulable && !n->deleting &&
	    n->server_id != 0 && n->probe == WORLD_PROBE_OK &&
	    prepared(cfg, n) && !skipped(cfg, n, now) && !server_off(n);
}

static int
holds(const struct world *w, const struct world_node *n)
{
	return w->fip[0].server_id != 0 && n->server_id == w->fip[0].server_id;
}

const struct world_node *
decide_gateway_node(const struct world *w, const struct decide_cfg *cfg,
    int64_t now)
{
	size_t i;

	if (w == NULL || cfg == NULL || !w->fip[0].known)
		return NULL;
	for (i = 0; i < w->n_nodes; i++) {
		const struct world_node *n = w->nodes[i];

		if (n->labelled && holds(w, n) && decide_node_fit(cfg, n, now))
			return n;
	}
	return NULL;
}

int
decide_gateway_available(const struct world *w, const struct decide_cfg *cfg,
    int64_t now)
{
	return decide_gateway_node(w, cfg, now) != NULL;
}

static void
scan_labelled(const struct decide_cfg *cfg, const struct world_node *n,
    int is_holder, int64_t now, struct scan *s)
{
	if (s->n_labelled < PLAN_STRIP_MAX + 1)
		s->labelled[s->n_labelled] = n;
	s->n_labelled++;
	if (decide_node_fit(cfg, n, now)) {
		if (s->fit == NULL)
			s->fit = n;
		if (is_holder && s->fit_holder == NULL)
			s->fit_holder = n;
		if (n->server_id != 0 && s->fit_movable == NULL)
			s->fit_movable = n;
	} else if (decide_node_holding(cfg, n, now)) {
		if (s->holding == NULL)
			s->holding = n;
	} else if (s->unfit == NULL)
		s->unfit = n;
}

static void
scan_nodes(const struct world *w, const struct decide_cfg *cfg, int64_t now,
    struct scan *s)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < w->n_nodes; i++) {
		const struct world_node *n = w->nodes[i];
		int is_holder = holds(w, n);

		if (is_holder && s->holder == NULL)
			s->holder = n;
		if (n->labelled)
			scan_labelled(cfg, n, is_holder, now, s);
		/* past the lowest eligible only an eligible holder matters */
		if (s->elig_holder != NULL || (s->elig != NULL && !is_holder) ||
		    !decide_node_eligible(cfg, n, now))
			continue;
		if (s->elig == NULL)
			s->elig = n;
		if (is_holder)
			s->elig_holder = n;
	}
}

static void
set_name(char *dst, const struct world_node *n)
{
	if (n == NULL)
		dst[0] = '\0';
	else
		memcpy(dst, n->name, n->name_len + 1);
}

static void
plan_reset(struct plan *p)
{
	p->outcome = DECIDE_PRIMARY_UNKNOWN;
	p->gateway[0] = '\0';
	p->holder[0] = '\0';
	p->held[0] = '\0';
	p->reason[0] = '\0';
	p->more = 0;
	p->fips_refused = 0;
	p->fips_waiting = 0;
	p->n_steps = 0;
}

/* The reason is a log field: a cut one is still better than none. */
static void __attribute__((format(printf, 3, 4)))
plan_say(struct plan *p, enum decide_outcome o, const char *fmt, ...)
{
	va_list ap;
	int r;

	p->outcome = o;
	va_start(ap, fmt);
	r = vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
	va_end(ap);
	if (r < 0)
		p->reason[0] = '\0';
}

static void
add_step(struct plan *p, enum plan_op op, const struct world_node *n, int fip,
    uint64_t server_id, const char *reason)
{
	struct plan_step *st;

	/* the callers' bounds make this unreachable; stay in the array */
	if (p->n_steps == PLAN_STEPS_MAX)
		return;
	st = &p->steps[p->n_steps++];
	st->op = op;
	st->fip = fip;
	st->server_id = server_id;
	st->reason = reason;
	set_name(st->node, n);
}

/*
 * Strips every labelled node except keep, in name order, at most
 * PLAN_STRIP_MAX of them. Returns 1 (and sets more) when some are left for
 * the next decide; then nothing may be labelled or assigned yet.
 */
static int
add_strips(struct plan *p, const struct scan *s, const struct world_node *keep,
    const char *reason)
{
	size_t i, added = 0, others = s->n_labelled, stored = s->n_labelled;

	if (stored > PLAN_STRIP_MAX + 1)
		stored = PLAN_STRIP_MAX + 1;
	if (keep != NULL && keep->labelled)
		others--;
	for (i = 0; i < stored && added < PLAN_STRIP_MAX; i++) {
		if (s->labelled[i] == keep)
			continue;
		add_step(p, PLAN_STRIP_LABEL, s->labelled[i], 0, 0, reason);
		added++;
	}
	p->more = others > PLAN_STRIP_MAX;
	return p->more;
}

/*
 * As in the reference, --egress-ip-allowlist guards the primary only
 * (rule 1); the additional ones, runner egress addresses that are not
 * in it, have their own optional guard (rule 6).
 */
static int
fip_allowed(const struct world *w, const struct decide_cfg *cfg, int i)
{
	const struct world_fip *f = &w->fip[i];

	if (i == 0)
		return f->in_allowlist;
	return allowlist_contains_fip(cfg->additional_allowlist, f->ip,
	    f->is_v6);
}

/* Floating IPs outside their allowlist, for the log and the metric. */
static uint32_t
refused_mask(const struct world *w, const struct decide_cfg *cfg)
{
	uint32_t mask = 0;
	int i;

	for (i = 0; i <= cfg->n_additional && i < WORLD_FIP_MAX; i++)
		if (w->fip[i].known && !fip_allowed(w, cfg, i))
			mask |= UINT32_C(1) << i;
	return mask;
}

/* Rule 6: after the primary's steps, one assignment per additional. */
static void
add_additional(const struct world *w, const struct decide_cfg *cfg, int64_t now,
    const struct world_node *gw, struct plan *p)
{
	int i;

	for (i = 1; i <= cfg->n_additional && i < WORLD_FIP_MAX; i++) {
		const struct world_fip *f = &w->fip[i];

		if (!f->known || !fip_allowed(w, cfg, i) ||
		    f->server_id == gw->server_id)
			continue;
		if (f->action_running || in_backoff(cfg, &f->backoff, now)) {
			p->fips_waiting |= UINT32_C(1) << i;
			continue;
		}
		add_step(p, PLAN_ASSIGN_ADDITIONAL, gw, i, gw->server_id,
		    "additional Floating IP follows the gateway");
	}
}

/* "95s" (cut to whole seconds), or "1500ms" below 10 s when not whole. */
static const char *
dur(char *buf, size_t len, int64_t ms)
{
	int r;

	if (ms % 1000 == 0 || ms >= 10000 || ms <= -10000)
		r = snprintf(buf, len, "%llds", (long long)(ms / 1000));
	else
		r = snprintf(buf, len, "%lldms", (long long)ms);
	if (r < 0 || (size_t)r >= len)
		buf[0] = '\0';
	return buf;
}

static int
cause(char *buf, size_t len, const struct world_node *n, const char *what,
    int64_t since, int64_t grace, int64_t now)
{
	char a[24], b[24];

	return snprintf(buf, len, "%s %s %s %s grace %s", n->name, what,
	    dur(a, sizeof(a), now - since), now - since >= grace ? ">=" : "<",
	    dur(b, sizeof(b), grace));
}

/*
 * Why a labelled node is not fit, naming the cause that decides: the one
 * past its grace if any, else the one still inside it.
 */
static const char *
describe(const struct decide_cfg *cfg, const struct world_node *n, int64_t now,
    char *buf, size_t len)
{
	int failing = n->probe == WORLD_PROBE_FAILING, r;

	if (n->deleting)
		r = snprintf(buf, len, "%s is being deleted", n->name);
	else if (n->unschedulable)
		r = snprintf(buf, len, "%s is cordoned", n->name);
	else if (server_off(n))
		r = snprintf(buf, len,
		    "%s: its server is off or gone (fast path, no grace)",
		    n->name);
	else if (failing &&
	    (!probe_in_grace(cfg, n, now) || unprepared_in_grace(cfg, n, now)))
		r = cause(buf, len, n, "probe failing", n->failing_since,
		    cfg->unhealthy_grace_ms, now);
	else if (!prepared(cfg, n))
		r = cause(buf, len, n, "unprepared", n->unprepared_since,
		    cfg->unprepared_grace_ms, now);
	else
		r = snprintf(buf, len, "%s is fit", n->name);
	if (r < 0)
		buf[0] = '\0';
	return buf;
}

/* Rule 4: the gateway holds the primary; only labels may be wrong. */
static void
plan_relabel(const struct world *w, const struct decide_cfg *cfg, int64_t now,
    const struct scan *s, const struct world_node *gw, struct plan *p)
{
	size_t stale = s->n_labelled - (gw->labelled ? 1 : 0);

	if (add_strips(p, s, gw, "stale active label") == 0 && !gw->labelled)
		add_step(p, PLAN_SET_LABEL, gw, 0, 0,
		    "the gateway holds the primary");
	if (p->n_steps == 0)
		plan_say(p, DECIDE_STEADY,
		    "%s is the gateway and holds the primary", gw->name);
	else
		plan_say(p, DECIDE_RELABEL,
		    "%s holds the primary: %zu stale label(s)%s", gw->name,
		    stale, gw->labelled ? "" : ", gateway unlabelled");
	if (!p->more)
		add_additional(w, cfg, now, gw, p);
}

static void
say_move(const struct decide_cfg *cfg, int64_t now, const struct scan *s,
    const struct world_node *gw, struct plan *p)
{
	char buf[WORLD_NAME_MAX + 96];
	const char *kind = "the lowest-named eligible candidate";
	const char *why = "no labelled node";

	if (gw->labelled) {
		plan_say(p, DECIDE_MOVE,
		    "move the primary to %s: it is fit and labelled but "
		    "does not hold it",
		    gw->name);
		return;
	}
	if (gw == s->elig_holder)
		kind = "the eligible holder";
	if (s->unfit != NULL)
		why = describe(cfg, s->unfit, now, buf, sizeof(buf));
	plan_say(p, DECIDE_MOVE, "move the primary to %s, %s: %s", gw->name,
	    kind, why);
}

/* Rule 5: strip, assign and wait, label; or wait out the backoff. */
static void
plan_move(const struct world *w, const struct decide_cfg *cfg, int64_t now,
    const struct scan *s, const struct world_node *gw, struct plan *p)
{
	int64_t skip_end = add_sat(gw->refused_at, cfg->refusal_skip_ms);
	char a[24];

	if (skipped(cfg, gw, now)) {
		plan_say(p, DECIDE_BACKOFF,
		    "%s refused an assignment (4xx): skipped for %s more",
		    gw->name, dur(a, sizeof(a), skip_end - now));
		return;
	}
	if (in_backoff(cfg, &gw->move, now)) {
		plan_say(p, DECIDE_BACKOFF,
		    "move to %s retried in %s after %u failure(s)", gw->name,
		    dur(a, sizeof(a), backoff_end(cfg, &gw->move) - now),
		    gw->move.failures);
		return;
	}
	say_move(cfg, now, s, gw, p);
	if (add_strips(p, s, gw, "strip every label before the move") != 0)
		return;
	add_step(p, PLAN_ASSIGN, gw, 0, gw->server_id,
	    "primary to the gateway's server");
	if (!gw->labelled)
		add_step(p, PLAN_SET_LABEL, gw, 0, 0,
		    "label the gateway once it holds the primary");
	add_additional(w, cfg, now, gw, p);
}

/* After a failed or unknown assignment: the label goes where the IP is. */
static void
plan_label_holder(const struct scan *s, struct plan *p)
{
	if (s->holder != NULL)
		plan_say(p, DECIDE_LABEL_HOLDER,
		    "after the failed assignment label %s, which holds the "
		    "primary",
		    s->holder->name);
	else
		plan_say(p, DECIDE_LABEL_HOLDER,
		    "after the failed assignment no node holds the primary: "
		    "no label");
	if (add_strips(p, s, s->holder, "label only the real holder") == 0 &&
	    s->holder != NULL && !s->holder->labelled)
		add_step(p, PLAN_SET_LABEL, s->holder, 0, 0,
		    "the real holder of the primary");
}

static void
plan_no_choice(const struct decide_cfg *cfg, int64_t now, const struct scan *s,
    struct plan *p)
{
	char why[WORLD_NAME_MAX + 96];

	if (s->fit != NULL)
		plan_say(p, DECIDE_NO_CANDIDATE,
		    "no eligible candidate: %s is fit and labelled but has no "
		    "hcloud:// providerID",
		    s->fit->name);
	else if (s->unfit != NULL)
		plan_say(p, DECIDE_NO_CANDIDATE, "no eligible candidate: %s",
		    describe(cfg, s->unfit, now, why, sizeof(why)));
	else
		plan_say(p, DECIDE_NO_CANDIDATE, "no eligible candidate");
}

/* Rules 2 to 6, once the primary is known, settled and allowed. */
static void
plan_rules(const struct world *w, const struct decide_cfg *cfg, int64_t now,
    const struct scan *s, struct plan *p)
{
	char why[WORLD_NAME_MAX + 96];
	const struct world_node *gw;

	if (s->holding != NULL && s->fit == NULL) {
		set_name(p->held, s->holding);
		plan_say(p, DECIDE_HOLDING, "%s",
		    describe(cfg, s->holding, now, why, sizeof(why)));
		return;
	}
	if (s->fit_holder != NULL)
		gw = s->fit_holder;
	else if (s->fit_movable != NULL)
		gw = s->fit_movable;
	else if (s->fit != NULL)
		gw = NULL; /* adopt, never disturb: wait for an id */
	else if (s->elig_holder != NULL)
		gw = s->elig_holder;
	else
		gw = s->elig;
	if (gw == NULL) {
		plan_no_choice(cfg, now, s, p);
		return;
	}
	set_name(p->gateway, gw);
	if (holds(w, gw))
		plan_relabel(w, cfg, now, s, gw, p);
	else
		plan_move(w, cfg, now, s, gw, p);
}

int
decide(const struct world *w, const struct decide_cfg *cfg, int64_t now,
    struct plan *p)
{
	const struct world_fip *primary;
	const char *why;
	struct scan s;

	if (w == NULL || cfg == NULL || p == NULL) {
		errno = EINVAL;
		return -1;
	}
	plan_reset(p);
	primary = &w->fip[0];
	if (!primary->known) {
		plan_say(p, DECIDE_PRIMARY_UNKNOWN, "primary not read yet");
		return 0;
	}
	if (primary->action_running || w->reread_primary) {
		why = "the last assignment failed or its result is unknown";
		if (primary->action_running)
			why = "an action is running on the primary";
		plan_say(p, DECIDE_REREAD, "%s", why);
		add_step(p, PLAN_REREAD_FIPS, NULL, 0, 0,
		    "learn where the primary really is");
		return 0;
	}
	p->fips_refused = refused_mask(w, cfg);
	if (!primary->in_allowlist) {
		plan_say(p, DECIDE_ALLOWLIST_REFUSED,
		    "primary %s is outside --egress-ip-allowlist: writing "
		    "nothing",
		    primary->ip);
		return 0;
	}
	scan_nodes(w, cfg, now, &s);
	set_name(p->holder, s.holder);
	if (w->label_holder)
		plan_label_holder(&s, p);
	else
		plan_rules(w, cfg, now, &s, p);
	return 0;
}

static void
earliest(int64_t *best, int64_t t, int64_t now)
{
	if (t > now && t < *best)
		*best = t;
}

int64_t
decide_next_deadline(const struct world *w, const struct decide_cfg *cfg,
    int64_t now)
{
	int64_t best = INT64_MAX;
	size_t i;
	int f;

	if (w == NULL || cfg == NULL)
		return INT64_MAX;
	for (i = 0; i < w->n_nodes; i++) {
		const struct world_node *n = w->nodes[i];

		/* grace only matters for a labelled node (rule 2) */
		if (n->labelled && n->probe == WORLD_PROBE_FAILING)
			earliest(&best,
			    add_sat(n->failing_since, cfg->unhealthy_grace_ms),
			    now);
		if (n->labelled && !prepared(cfg, n))
			earliest(&best,
			    add_sat(n->unprepared_since,
				cfg->unprepared_grace_ms),
			    now);
		if (n->move.failures > 0)
			earliest(&best, backoff_end(cfg, &n->move), now);
		if (n->refused)
			earliest(&best,
			    add_sat(n->refused_at, cfg->refusal_skip_ms), now);
	}
	for (f = 1; f <= cfg->n_additional && f < WORLD_FIP_MAX; f++)
		if (w->fip[f].backoff.failures > 0)
			earliest(&best, backoff_end(cfg, &w->fip[f].backoff),
			    now);
	return best;
}
