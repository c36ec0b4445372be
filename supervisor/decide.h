/* decide.h: the pure decision: (world, configuration, now) -> plan */
#ifndef SUPERVISOR_DECIDE_H
#define SUPERVISOR_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "world.h"

struct allowlist;

struct decide_cfg {
	int64_t unhealthy_grace_ms; /* 90 s */
	int64_t unprepared_grace_ms; /* 5 min */
	int prepared_gate; /* 1: --prepared-pod-label set */
	int n_additional; /* fip[1..n_additional] are used */
	int64_t backoff_first_ms; /* 5 s, doubling per failure */
	int64_t backoff_cap_ms; /* 5 min */
	int64_t refusal_skip_ms; /* 10 min after a refusing 4xx */
	/* --additional-egress-ip-allowlist; NULL or unset: not checked.
	 * The primary's guard is world_fip.in_allowlist (rule 1). */
	const struct allowlist *additional_allowlist;
};

/*
 * The steps each outcome may carry. Events belong to outcome changes and are
 * the caller's; a plan holds API writes (and the re-read) only.
 */
enum decide_outcome {
	DECIDE_PRIMARY_UNKNOWN, /* primary not read yet: none */
	DECIDE_REREAD, /* failed/unknown move or busy primary: REREAD_FIPS */
	DECIDE_ALLOWLIST_REFUSED, /* rule 1: none */
	/* strips, SET_LABEL of the holder; then world_label_holder_done() */
	DECIDE_LABEL_HOLDER,
	DECIDE_HOLDING, /* rule 2: none */
	DECIDE_NO_CANDIDATE, /* rule 3, no choice: none */
	DECIDE_STEADY, /* rule 4, labels right: ASSIGN_ADDITIONAL only */
	DECIDE_RELABEL, /* rule 4: strips, SET_LABEL, ASSIGN_ADDITIONAL */
	DECIDE_MOVE, /* rule 5: strips, ASSIGN, SET_LABEL, ASSIGN_ADDITIONAL */
	DECIDE_BACKOFF /* rule 5, target in backoff or skipped: none */
};

enum plan_op {
	PLAN_STRIP_LABEL, /* remove the active label from node */
	PLAN_SET_LABEL, /* put the active label on node */
	PLAN_ASSIGN, /* primary to server_id, wait for the action */
	PLAN_ASSIGN_ADDITIONAL, /* fip to server_id, wait for the action */
	PLAN_REREAD_FIPS /* read the primary (and additional) again */
};

/*
 * One label patch is one API write; with more labelled nodes than this the
 * plan strips the first PLAN_STRIP_MAX by name, sets more and stops there:
 * the next decide, on the world that saw the strips, continues.
 */
#define PLAN_STRIP_MAX 64
/* strips, ASSIGN, SET_LABEL, one ASSIGN_ADDITIONAL per additional */
#define PLAN_STEPS_MAX (PLAN_STRIP_MAX + 2 + WORLD_ADDITIONAL_MAX)
#define PLAN_REASON_MAX 640 /* two node names and some words */

struct plan_step {
	enum plan_op op;
	int fip; /* 0 for ASSIGN, 1..16 additional */
	uint64_t server_id; /* ASSIGN*: the target server */
	char node[WORLD_NAME_MAX + 1]; /* "" for REREAD_FIPS */
	const char *reason; /* static text */
};

/* About 24 KiB: keep one in the loop's context rather than on the stack. */
struct plan {
	enum decide_outcome outcome;
	char gateway[WORLD_NAME_MAX + 1]; /* chosen, or "" */
	char holder[WORLD_NAME_MAX + 1]; /* holds the primary */
	char held[WORLD_NAME_MAX + 1]; /* HOLDING: the node */
	char reason[PLAN_REASON_MAX];
	int more; /* strips were cut at PLAN_STRIP_MAX */
	uint32_t fips_refused; /* bit i: fip i outside its allowlist */
	uint32_t fips_waiting; /* bit i: fip i in backoff or busy */
	size_t n_steps;
	struct plan_step steps[PLAN_STEPS_MAX];
};

/* Fills in the defaults of the table in DESIGN.md. */
void decide_cfg_defaults(struct decide_cfg *);

/*
 * Decides what to write now; pure and deterministic: reads only its
 * arguments, allocates nothing. Returns 0, or -1 (EINVAL) on NULL input.
 */
int decide(const struct world *, const struct decide_cfg *, int64_t now,
    struct plan *out);

/*
 * The earliest time after now at which decide() could answer differently
 * with nothing but time passing (a grace, backoff or skip ends), or
 * INT64_MAX. The event loop sleeps until then.
 */
int64_t decide_next_deadline(const struct world *, const struct decide_cfg *,
    int64_t now);

/*
 * Classify one node as DESIGN.md words it, whether or not it is labelled or
 * a candidate: fit (as a labelled node), holding (inside a grace period),
 * eligible (as a candidate; includes the 4xx skip). Return 1 or 0.
 */
int decide_node_fit(const struct decide_cfg *, const struct world_node *,
    int64_t now);
int decide_node_holding(const struct decide_cfg *, const struct world_node *,
    int64_t now);
int decide_node_eligible(const struct decide_cfg *, const struct world_node *,
    int64_t now);

/*
 * The working gateway: the lowest-named fit labelled node holding the
 * primary, or NULL. For gateway_active and additional_floating_ip_on_active.
 */
const struct world_node *decide_gateway_node(const struct world *,
    const struct decide_cfg *, int64_t now);
/* 1 when a fit labelled node holds the primary (gateway_available). */
int decide_gateway_available(const struct world *, const struct decide_cfg *,
    int64_t now);

/* Delay after the nth consecutive failure: first, doubling, capped. */
int64_t decide_backoff_delay(const struct decide_cfg *, unsigned int failures);

/* "MOVE", "HOLDING", ... for logs and metrics; never NULL. */
const char *decide_outcome_name(enum decide_outcome);

/* "STRIP_LABEL", "ASSIGN", ... for structured logs; never NULL. */
const char *plan_op_name(enum plan_op);

/*
 * One line for logs and the dry-run ("strip the active label from node-a:
 * stale active label"), which prefixes "would ". Returns 0, or -1 (errno
 * ERANGE when it does not fit, EINVAL).
 */
int plan_format_step(const struct plan_step *, char *buf, size_t len);

#endif /* SUPERVISOR_DECIDE_H */
