/* sup.h: the supervisor process and its context */
#ifndef SUP_H
#define SUP_H

#include <stddef.h>
#include <stdint.h>

#include "supervisor/config/cfg.h"
#include "common/proto.h"
#include "decide.h"
#include "elect.h"
#include "supervisor/net/prom.h"
#include "proc.h"
#include "world.h"

struct httpd;

/* controller-runtime's reconcile results (controller_runtime_reconcile_total). */
enum sup_reconcile {
	RECONCILE_SUCCESS = 0, /* the pass wrote what it decided */
	RECONCILE_ERROR, /* a step failed, timed out or was cut off */
	RECONCILE_REQUEUE, /* the primary must be read again first */
	RECONCILE_REQUEUE_AFTER, /* waiting out a grace, backoff or pacing */
	RECONCILE_MAX
};

/* Failover phases for the histogram, in order. */
enum sup_phase {
	PHASE_DETECT = 0, /* first evidence -> move decided */
	PHASE_STRIP, /* label strips */
	PHASE_ASSIGN, /* assign + action wait */
	PHASE_LABEL, /* label on the new gateway */
	PHASE_MAX
};

struct sup_metrics {
	uint64_t failovers;
	uint64_t add_assign[PROTO_FIPS_MAX];
	uint64_t add_fail[PROTO_FIPS_MAX];
	uint64_t allowlist_refusals;
	uint64_t api_req[3][600]; /* [api][HTTP code]; code 0 = none */
	uint64_t events_sent, events_dropped;
	struct msg_ratelimit rl; /* newest Hetzner headers */
	struct prom_hist phase[PHASE_MAX]; /* seconds */
	int phase_ready;
	struct sup_fail { /* failed probe reports per node */
		char name[PROTO_NAME_MAX];
		uint64_t n;
	} * fails;
	size_t n_fails, cap_fails;
	/* one reconcile = one decide-and-execute pass (docs/operations.md) */
	uint64_t reconcile[RECONCILE_MAX];
	struct prom_hist reconcile_time; /* seconds */
	int64_t reconcile_start; /* of the pass under way, 0 = none */
	uint64_t reconcile_add_fail; /* add_fail[] sum at its start */
	/* process_*: each worker's latest own figures (its PING answers) */
	struct msg_ping_ans wstat[WORKER_COUNT];
	uint64_t cpu_gone_usec; /* CPU of worker processes that ended */
};

/* The controller: plan execution and everything it waits for. */
struct ctl {
	int started; /* past start-up: log freely */
	int nodes_synced, pods_synced;
	int kube_api_ok;
	int dirty; /* the world changed: decide again */
	int64_t decide_at; /* time alone changes the decision */
	int probe_dirty; /* probe targets must be re-sent */
	int probe_sending; /* a list is half sent */
	size_t probe_cursor; /* next world index to send */
	uint32_t probe_sent; /* targets sent since BEGIN */
	struct plan plan;
	size_t step; /* next step to run */
	int running; /* a plan is being carried out */
	uint32_t wait_seq; /* request in flight, 0 = none */
	int wait_kind; /* worker it went to */
	uint16_t wait_type;
	int64_t step_deadline;
	int64_t step_started;
	int64_t plan_started;
	int64_t phase_start;
	int64_t detect_ms; /* phase DETECT of this move */
	char move_from[PROTO_NAME_MAX];
	/* Floating IP reads */
	int fips_inflight;
	uint32_t fips_seq, action_seq;
	int reread; /* read was for REREAD_FIPS */
	struct msg_fip pending_primary; /* held until the action check */
	int64_t next_resync;
	int64_t next_reread;
	int64_t hc_not_before; /* after a 429: Hetzner paced */
	int64_t first_evidence; /* when the current trouble began */
	/* what was last logged/announced, to act on transitions only */
	enum decide_outcome last_outcome;
	char last_key[3 * PROTO_NAME_MAX];
	uint64_t last_plan_hash;
	/* Event rate limit: token bucket, plus one recent key */
	double ev_tokens;
	int64_t ev_refill_at;
	uint32_t event_seq;
};

struct sup {
	const struct cfg *cfg;
	struct worker w[WORKER_COUNT]; /* indexed by enum proto_worker */
	struct cfg_worker_args wargs[WORKER_COUNT]; /* their argv */
	struct elect elect;
	int elect_on; /* --leader-elect */
	struct world *world;
	struct decide_cfg dcfg;
	struct ctl ctl;
	struct sup_metrics m;
	struct httpd *metrics_srv, *health_srv;
	int sigfd;
	int stopping;
	int64_t started_at;
};

/* Run the supervisor; returns the exit status (0, 1 or 2). */
int sup_main(int argc, char **argv);

/* 1 when this replica may write now (leader within its renew deadline,
 * or election disabled). */
int sup_can_write(const struct sup *, int64_t now);
/* Send a request to a ready worker; returns its seq, 0 if not sent. */
uint32_t
sup_request(struct sup *, int kind, uint16_t type, const void *payload);

/* sup.c: pieces of the loop (sup_loop.c drives them) */
int sup_signals_open(void);
int sup_workers_setup(struct sup *, char *err, size_t errlen);
void
sup_worker_readable(struct sup *, struct worker *, uint8_t *buf, int64_t now);
void sup_reap(struct sup *, int64_t now);
void sup_tick_workers(struct sup *, int64_t now);
int64_t sup_next_deadline(struct sup *, int64_t now);
uint32_t sup_elect_send(void *arg, uint16_t type, const struct msg_lease *);

/* ctl.c: the controller */
void ctl_init(struct sup *, int64_t now);
void ctl_on_frame(struct sup *, int kind, uint16_t type, uint32_t seq,
    const union msg_payload *, int64_t now);
void ctl_worker_down(struct sup *, int kind, int64_t now);
void ctl_worker_ready(struct sup *, int kind, int64_t now);
void ctl_tick(struct sup *, int64_t now);
int64_t ctl_next_deadline(const struct sup *, int64_t now);
/* ctl_events.c */
void ctl_announce(struct sup *, const struct plan *, int64_t now);
void ctl_event(struct sup *, const char *node, int warning, const char *reason,
    const char *action, const char *note, int64_t now);
/* metrics.c: /metrics, /healthz and /readyz */
int metrics_handler(void *arg, const char *path, struct buf *body,
    const char **content_type);
void metrics_probe_failed(struct sup_metrics *, const char *node, uint32_t n);
void metrics_phase(struct sup_metrics *, enum sup_phase, int64_t ms);
/* A reconcile begins (decide ran while leading) and ends with a result;
 * an end without a pass under way is ignored. */
void metrics_reconcile_begin(struct sup_metrics *, int64_t now);
void
metrics_reconcile_end(struct sup_metrics *, enum sup_reconcile, int64_t now);
/* A worker's own figures from its PING answer (process_* metrics). */
void metrics_worker_stat(struct sup_metrics *, int kind,
    const struct msg_ping_ans *);
/* The result of a pass that ended without a failed step. */
enum sup_reconcile metrics_reconcile_result(const struct plan *);
void metrics_free(struct sup_metrics *);

#endif /* SUP_H */
