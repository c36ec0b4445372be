/* world.h: the supervisor's model of nodes, pods and Floating IPs */
#ifndef SUPERVISOR_WORLD_H
#define SUPERVISOR_WORLD_H

#include <stddef.h>
#include <stdint.h>

struct allowlist;

#define WORLD_NAME_MAX 253 /* DNS subdomain: node and pod names */
#define WORLD_IP_MAX 64 /* address or "x:x::/n" text, with NUL */
#define WORLD_ADDRS_LEN 368 /* a node's addresses: PROTO_ADDRS_LEN */
#define WORLD_ADDITIONAL_MAX 16
#define WORLD_FIP_MAX (1 + WORLD_ADDITIONAL_MAX) /* 0: primary */
/* Bounds memory against a runaway snapshot; growth past them is ERANGE. */
#define WORLD_NODES_MAX 100000
#define WORLD_PODS_MAX 100000

enum world_probe {
	WORLD_PROBE_NEVER, /* no result yet */
	WORLD_PROBE_OK, /* latest probe connected */
	WORLD_PROBE_FAILING /* failing continuously since failing_since */
};

enum world_move_result {
	WORLD_MOVE_OK,
	WORLD_MOVE_FAILED, /* 5xx, 423, 429, transport, action error */
	WORLD_MOVE_REFUSED, /* 4xx other than 423/429: skip the node */
	WORLD_MOVE_UNKNOWN, /* timed out: where the IP is, is unknown */
	/* refused before anything was sent (the server check): the
	 * primary is where it was, the node is skipped, no re-read */
	WORLD_MOVE_REFUSED_UNSENT
};

/* What the fast path learnt of a node's Hetzner server. */
enum world_server {
	WORLD_SERVER_UNKNOWN = 0, /* not read, or the read failed */
	WORLD_SERVER_RUNNING, /* running (or starting, migrating...) */
	WORLD_SERVER_OFF /* off, stopping, deleting, or 404 */
};

/* What the k8s worker reports about one Node. */
struct world_node_facts {
	const char *name;
	uint64_t server_id; /* 0: providerID not hcloud://<id> */
	const char *addrs; /* space-separated; NULL or "" when none */
	int ready;
	int unschedulable;
	int deleting;
	int candidate;
	int labelled;
};

/*
 * Facts only: decide() turns failures and times into delays with its
 * configuration, so the policy lives in one place.
 */
struct world_backoff {
	unsigned int failures; /* consecutive; 0: none */
	int64_t failed_at; /* time of the latest failure */
};

struct world_node {
	char name[WORLD_NAME_MAX + 1]; /* the sort key */
	size_t name_len;
	uint64_t server_id;
	char addrs[WORLD_ADDRS_LEN]; /* as the k8s-worker sent them */
	int ready;
	int unschedulable;
	int deleting;
	int candidate;
	int labelled;
	enum world_probe probe;
	int64_t failing_since; /* valid while probe is FAILING */
	int64_t probed_at; /* latest result; valid unless NEVER */
	unsigned int ready_pods; /* prepared while > 0 */
	int64_t unprepared_since; /* valid while ready_pods == 0 */
	struct world_backoff move; /* failed assignments to this node */
	int refused; /* a 4xx refused an assignment here */
	int64_t refused_at;
	enum world_server server; /* fast path: what the last read said */
	int64_t server_read_at; /* its time; valid unless UNKNOWN */
	unsigned int gen; /* snapshot mark */
};

struct world_fip {
	int known; /* read at least once and not forgotten */
	uint64_t id;
	char ip[WORLD_IP_MAX]; /* IPv4 address or IPv6 "net/64" */
	int is_v6;
	uint64_t server_id; /* 0: unassigned */
	int action_running;
	int in_allowlist; /* in the "al" given when set (primary: rule 1) */
	int64_t read_at;
	struct world_backoff backoff; /* additional ones only */
};

/*
 * Read it through the functions below; fields are public so decide() and
 * the metrics can look without copying. Nodes are kept sorted by name.
 */
struct world {
	struct world_node **nodes;
	size_t n_nodes;
	size_t cap_nodes;
	struct world_pod **pods;
	size_t n_pods;
	size_t cap_pods;
	unsigned int node_gen;
	unsigned int pod_gen;
	struct world_fip fip[WORLD_FIP_MAX];
	int reread_primary; /* an assignment failed or is unknown */
	int label_holder; /* then label the real holder */
};

/* Returns an empty world or NULL (ENOMEM); world_free() frees it. */
struct world *world_new(void);
void world_free(struct world *);

/*
 * Creates or updates a node. A new node starts never probed and, when no
 * Ready pod is bound to it yet, unprepared since now. A changed server_id is
 * another machine: its probe, backoff and refusal state start over.
 * Returns 0, or -1 with errno EINVAL (bad name or address) or ENOMEM/ERANGE.
 */
int
world_node_upsert(struct world *, const struct world_node_facts *, int64_t now);
void world_node_remove(struct world *, const char *name);
/* Snapshot: mark, upsert every listed node, sweep the ones not upserted. */
void world_nodes_mark(struct world *);
void world_nodes_sweep(struct world *);

size_t world_node_count(const struct world *);
/* Index order is name order (strcmp); NULL when i is out of range. */
const struct world_node *world_node_at(const struct world *, size_t i);
const struct world_node *
world_node_find(const struct world *, const char *name);
/* 1 when at least one Ready pod is bound to the node. */
int world_node_prepared(const struct world_node *);

/*
 * Pods of the prepared gate, by pod name; node_name "" when unscheduled.
 * A pod may name a node not seen yet: it counts once the node appears.
 * Return 0 or -1 with errno EINVAL, ENOMEM or ERANGE.
 */
int world_pod_upsert(struct world *, const char *pod_name,
    const char *node_name, int ready, int64_t now);
void world_pod_remove(struct world *, const char *pod_name, int64_t now);
void world_pods_mark(struct world *);
void world_pods_sweep(struct world *, int64_t now);

/* A probe result for a node; ignored for an unknown node. */
void world_probe_result(struct world *, const char *node, int ok, int64_t now);

/*
 * What the fast path read of the node's server (gone: a 404).  A probe
 * that succeeds again forgets it: the machine answers, whatever the API
 * said a moment ago.
 */
void world_server_result(struct world *, const char *node, enum world_server,
    int64_t now);

/*
 * What a read of Floating IP idx (0: primary, 1..16: additional) showed.
 * in_allowlist is computed here from al (NULL: no guard). A read of the
 * primary with no action running ends a pending re-read.
 */
void world_fip_set(struct world *, int idx, uint64_t id, const char *ip,
    int is_v6, uint64_t server_id, int action_running,
    const struct allowlist *al, int64_t now);
/* Forget a Floating IP (not found, or must be read again before use). */
void world_fip_unknown(struct world *, int idx);
const struct world_fip *world_fip_get(const struct world *, int idx);

/*
 * Result of assigning the primary to node. OK: the primary is on the node's
 * server now and the node's backoff is reset. Any failure: the primary must
 * be re-read and its real holder labelled; FAILED and UNKNOWN count towards
 * the node's backoff, REFUSED has the node skipped.
 */
void world_move_result(struct world *, const char *node, enum world_move_result,
    int64_t now);
/*
 * Result of assigning additional Floating IP idx. ok resets its backoff; the
 * caller reports where it now is with world_fip_set().
 */
void world_additional_result(struct world *, int idx, int ok, int64_t now);

/* 1 while a re-read of the primary is pending. */
int world_reread_pending(const struct world *);
/* 1 while the real holder must be labelled (decide: LABEL_HOLDER). */
int world_label_holder_pending(const struct world *);
/* Call once every step of a LABEL_HOLDER plan succeeded (or it had none). */
void world_label_holder_done(struct world *);

#endif /* SUPERVISOR_WORLD_H */
