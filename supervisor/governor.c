/* governor.c: the Hetzner rate budget as a pure estimate: admit, due */
#include <string.h>

#include "governor.h"

/* Whole milliseconds, rounded up: a due time is never early. */
static int64_t
ms_up(double ms)
{
	int64_t t = (int64_t)ms;

	return (double)t < ms ? t + 1 : t;
}

/* Full refill rate, tokens per ms. */
static double
rate(const struct gov *g)
{
	return (double)g->limit / 3600000.0;
}

/* The part of the refill left to us: what others were seen to spend is
 * theirs again, but never all of it (GOV_SHARE_MIN). */
static double
our_rate(const struct gov *g)
{
	double r = rate(g), min = r / GOV_SHARE_MIN;

	return r - g->others > min ? r - g->others : min;
}

/* Resync reads leave the reserve to failovers and the fast path. */
static double
need(enum gov_prio p)
{
	return p == GOV_RESYNC ? 1.0 + GOV_RESERVE : 1.0;
}

void
gov_init(struct gov *g, int64_t now)
{
	memset(g, 0, sizeof(*g));
	g->limit = GOV_LIMIT_DEFAULT;
	g->tokens = 1.0 + GOV_RESERVE;
	g->at = now;
	g->not_before = now;
	g->win_at = now;
}

double
gov_estimate(const struct gov *g, int64_t now)
{
	double t = g->tokens;

	if (now > g->at)
		t += (double)(now - g->at) * our_rate(g);
	return t < (double)g->limit ? t : (double)g->limit;
}

int
gov_can_admit(const struct gov *g, enum gov_prio p, int64_t now)
{
	return now >= g->not_before && gov_estimate(g, now) >= need(p);
}

void
gov_wait(struct gov *g, enum gov_prio p)
{
	/* One count per request that had to wait, not per look. */
	if (!g->waiting[p])
		g->deferred[p]++;
	g->waiting[p] = 1;
}

int
gov_admit(struct gov *g, enum gov_prio p, int64_t now)
{
	if (!gov_can_admit(g, p, now)) {
		gov_wait(g, p);
		return 0;
	}
	g->tokens = gov_estimate(g, now) - 1.0;
	g->at = now;
	g->win_ours += 1.0;
	g->sent[p]++;
	g->waiting[p] = 0;
	return 1;
}

int64_t
gov_next_due(const struct gov *g, enum gov_prio p, int64_t now)
{
	int64_t t0 = now > g->not_before ? now : g->not_before, t;
	double n = need(p);

	if (n > (double)g->limit)
		return INT64_MAX;
	if (gov_estimate(g, t0) >= n)
		return t0;
	t = g->at + ms_up((n - g->tokens) / our_rate(g));
	return t > t0 ? t : t0;
}

/* Every GOV_WINDOW_MS: what the bucket should hold had only we spent,
 * against what the reply says; the difference is others' spending. */
static void
measure_others(struct gov *g, double remaining, int64_t now)
{
	int64_t dt = now - g->win_at;
	double expect, o;

	if (!g->known || dt <= 0) {
		g->win_at = now;
		g->win_tokens = remaining;
		g->win_ours = 0;
		return;
	}
	if (dt < GOV_WINDOW_MS)
		return;
	expect = g->win_tokens + (double)dt * rate(g);
	if (expect > (double)g->limit)
		expect = (double)g->limit;
	o = (expect - g->win_ours - remaining) / (double)dt;
	if (o < 0)
		o = 0;
	if (o > rate(g))
		o = rate(g);
	/* Halfway to the new sample: one noisy window moves it little (a
	 * rise taken whole starved failovers on one window's noise). */
	g->others = (g->others + o) / 2.0;
	g->win_at = now;
	g->win_tokens = remaining;
	g->win_ours = 0;
}

void
gov_reply(struct gov *g, const struct msg_ratelimit *rl, int throttled,
    uint32_t requests, enum gov_prio p, int64_t now)
{
	double extra = requests > 1 ? (double)(requests - 1) : 0.0;

	if (p < GOV_PRIO_MAX)
		g->sent[p] += (uint64_t)extra;
	g->win_ours += extra;
	if (throttled) {
		g->throttled++;
		g->win_ours -= 1.0; /* the refused request took nothing */
	}
	if (rl != NULL && rl->limit != 0) {
		g->limit = rl->limit;
		measure_others(g, (double)rl->remaining, now);
		g->tokens = (double)rl->remaining;
		g->known = 1;
	} else
		g->tokens = gov_estimate(g, now) - extra;
	g->at = now;
	if (throttled) {
		/* Nothing goes out before the next token is due. */
		if (g->tokens > 0)
			g->tokens = 0;
		g->not_before = now + ms_up(1.0 / rate(g));
	}
}

const char *
gov_prio_name(enum gov_prio p)
{
	switch (p) {
	case GOV_FAILOVER:
		return "failover";
	case GOV_FASTPATH:
		return "fastpath";
	default:
		return "resync";
	}
}
