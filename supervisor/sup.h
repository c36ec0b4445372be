/* sup.h: the supervisor process and its context */
#ifndef SUP_H
#define SUP_H

#include <stddef.h>
#include <stdint.h>

#include "supervisor/config/cfg.h"
#include "common/proto.h"
#include "decide.h"
#include "elect.h"
#include "governor.h"
#include "supervisor/net/prom.h"
#include "proc.h"
#include "spawner/spawner.h"
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
	uint64_t fastpath_demotions; /* gateways demoted by the server read */
	uint64_t server_refusals; /* assigns the server check refused */
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
	/* Hetzner: one request out at a time, admitted by the governor */
	struct gov gov;
	uint32_t hc_seq; /* the request out, 0 = none */
	int hc_prio; /* its enum gov_prio */
	int64_t hc_sent_at;
	int64_t hc_wake[GOV_PRIO_MAX]; /* a deferred one is due again */
	int action_pending; /* re-read: FIPs read, action check waits */
	int assign_wait; /* plan paused at an ASSIGN for the budget */
	/* the server fast path */
	uint32_t srv_seq;
	char srv_node[PROTO_NAME_MAX];
	uint64_t srv_id;
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
	struct cfg_worker_args wargs[WORKER_COUNT]; /* their argv, wiped
							  * once the spawner
							  * has them */
	struct spawn_cfg spawn; /* what the spawner is forked with */
	int spawner_fd; /* channel to the spawner */
	pid_t spawner_pid;
	struct elect elect;
	int elect_on; /* --leader-elect */
	struct world *world;
	struct decide_cfg dcfg;
	struct ctl ctl;
	struct sup_metrics m;
	struct httpd *metrics_srv, *health_srv;
	int sigfd;
	int landlock_abi; /* of our own sandbox, 0: none */
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

/* sandbox.c: bound listeners, spawner forked: lock ourselves down.
 * 0, or -1 with one line in err. */
int sup_sandbox_enter(struct sup *, char *err, size_t errlen);

/* sup.c: pieces of the loop (sup_loop.c drives them) */
int sup_signals_open(void);
int sup_workers_setup(struct sup *, char *err, size_t errlen);
void
sup_worker_readable(struct sup *, struct worker *, uint8_t *buf, int64_t now);
void sup_reap(struct sup *, int64_t now);
void sup_spawner_readable(struct sup *, uint8_t *buf, int64_t now);
/* The spawner is gone: one line saying how it ended, exit 1. */
void sup_spawner_lost(struct sup *, const char *why) __attribute__((noreturn));
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
/* ctl_hc.c: Hetzner requests through the governor */
int ctl_hc_ready(const struct sup *, enum gov_prio, int64_t now);
void ctl_hc_wait(struct sup *, enum gov_prio, int64_t now);
/* Send if the slot is free and the governor admits; seq, or 0 (the
 * request is then due again at ctl_hc_deadline()). */
uint32_t ctl_hc_send(struct sup *, uint16_t type, const void *payload,
    enum gov_prio, int64_t now);
void ctl_hc_answered(struct sup *, uint16_t type, uint32_t seq,
    const union msg_payload *, int64_t now);
void ctl_hc_reset(struct sup *);
int64_t ctl_hc_deadline(const struct sup *, int64_t now);
/* 1 when sent (or a read is already out), 0 when it must wait. */
int ctl_read_fips(struct sup *, int reread, int64_t now);
void ctl_fips_finished(struct sup *, int ok, int64_t now);
void ctl_action_check(struct sup *, int64_t now);
void ctl_on_fips(struct sup *, const struct msg_hc_fips_ans *, int64_t now);
void ctl_on_action(struct sup *, const struct msg_hc_ans *, int64_t now);
void ctl_fastpath(struct sup *, int64_t now);
int64_t ctl_fastpath_deadline(const struct sup *, int64_t now);
void ctl_on_server(struct sup *, const struct msg_hc_server_ans *, int64_t now);
/* ctl_events.c */
void ctl_announce(struct sup *, const struct plan *, int64_t now);
void ctl_event(struct sup *, const char *node, int warning, const char *reason,
    const char *action, const char *note, int64_t now);
/* metrics.c: /metrics, /healthz and /readyz */
int metrics_handler(void *arg, const char *path, struct buf *body,
    const char **content_type);
/* Count n failed probes of node, if the world knows it. */
void metrics_probe_failed(struct sup_metrics *, const struct world *,
    const char *node, uint32_t n);
/* Drop the series of nodes the world no longer has. */
void metrics_probe_prune(struct sup_metrics *, const struct world *);
/* Most per-node failure series kept (as many nodes as the world). */
#define METRICS_FAILS_MAX WORLD_NODES_MAX
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
/* metrics_budget.c: the governor's figures */
void metrics_budget(struct prom *, const struct sup *, int64_t now);

#endif /* SUP_H */
