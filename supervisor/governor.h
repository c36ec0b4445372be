/* governor.h: the Hetzner rate budget, one estimate for every request */
#ifndef SUPERVISOR_GOVERNOR_H
#define SUPERVISOR_GOVERNOR_H

#include <stdint.h>

#include "common/proto.h"

/*
 * Hetzner's budget is a token bucket per project: capacity Limit,
 * refilled Limit/3600 per second, shared with every other client of
 * the project.  The governor mirrors it from the RateLimit-* headers of
 * every reply and admits a request only when its estimate holds one.
 * Pure: time is a parameter, nothing here does I/O.
 */

#define GOV_LIMIT_DEFAULT 3600 /* until a reply says otherwise */
/* Tokens below which resync reads wait, so our own routine reads never
 * take the tokens a failover needs. */
#define GOV_RESERVE 5
/* Others' spending is measured over windows at least this long, so the
 * one-token rounding of Remaining costs at most 0.1 token/s. */
#define GOV_WINDOW_MS 10000
/* Our share of the refill is never assumed below 1/GOV_SHARE_MIN of it:
 * a neighbour that took everything for a while must not lock us out. */
#define GOV_SHARE_MIN 50

/* Highest first: the order in which waiting requests are admitted. */
enum gov_prio {
	GOV_FAILOVER = 0, /* assign, action checks, re-reads after a move */
	GOV_FASTPATH = 1, /* the failing gateway's server */
	GOV_RESYNC = 2, /* routine Floating IP reads */
	GOV_PRIO_MAX
};

struct gov {
	uint32_t limit; /* bucket capacity and tokens per hour */
	double tokens; /* estimate at time at, after our spending */
	int64_t at;
	int64_t not_before; /* after a 429: the next token's due time */
	int known; /* a reply with headers was seen */
	/* others' spending: window start and what we spent since */
	int64_t win_at;
	double win_tokens;
	double win_ours;
	double others; /* others' rate, tokens per ms */
	/* counters for the metrics */
	uint64_t sent[GOV_PRIO_MAX];
	uint64_t deferred[GOV_PRIO_MAX];
	uint64_t throttled;
	int waiting[GOV_PRIO_MAX]; /* deferred since the last admit */
};

/* A governor that knows nothing yet: enough for one read to learn. */
void gov_init(struct gov *, int64_t now);
/* Tokens we may count on at now (our share of the refill included). */
double gov_estimate(const struct gov *, int64_t now);
/* 1 when a request of prio could go now, without spending. */
int gov_can_admit(const struct gov *, enum gov_prio, int64_t now);
/* Admit and spend one token (1), or count a deferral (0). */
int gov_admit(struct gov *, enum gov_prio, int64_t now);
/* Count a request that waits for something else than the budget (our
 * one request slot is taken); once per waiting request. */
void gov_wait(struct gov *, enum gov_prio);
/* When gov_can_admit() turns true with nothing else happening, or
 * INT64_MAX if never; now or earlier means at once. */
int64_t gov_next_due(const struct gov *, enum gov_prio, int64_t now);
/* A reply: rl its headers (limit 0 = absent), throttled for a 429,
 * requests the operation made beyond the one admitted. */
void gov_reply(struct gov *, const struct msg_ratelimit *, int throttled,
    uint32_t requests, enum gov_prio, int64_t now);
/* "failover", "fastpath", "resync". */
const char *gov_prio_name(enum gov_prio);

#endif /* SUPERVISOR_GOVERNOR_H */
