/* metrics.c: /metrics, /healthz and /readyz from the supervisor's model */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/config/cfg.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/procstat.h"
#include "common/str.h"
#include "supervisor/sup.h"

/* Failover phases span milliseconds (label writes) to minutes (the
 * grace period inside "detect"). */
static const double phase_le[] = {
	0.005,
	0.01,
	0.025,
	0.05,
	0.1,
	0.25,
	0.5,
	1,
	2.5,
	5,
	10,
	30,
	60,
	120,
	300,
};
static const char *const phase_names[PHASE_MAX] = {
	"detect",
	"strip",
	"assign",
	"label",
};

/* controller-runtime's reconcile_time_seconds buckets (v0.15+ default
 * exponential buckets, trimmed to PROM_HIST_MAX). */
static const double reconcile_le[] = {
	0.005,
	0.01,
	0.025,
	0.05,
	0.1,
	0.25,
	0.5,
	1,
	2.5,
	5,
	10,
	15,
	30,
	60,
};
static const char *const reconcile_names[RECONCILE_MAX] = {
	"success",
	"error",
	"requeue",
	"requeue_after",
};

static void
phases_init(struct sup_metrics *m)
{
	int i;

	if (m->phase_ready)
		return;
	for (i = 0; i < PHASE_MAX; i++)
		prom_hist_init(&m->phase[i], phase_le,
		    sizeof(phase_le) / sizeof(phase_le[0]));
	prom_hist_init(&m->reconcile_time, reconcile_le,
	    sizeof(reconcile_le) / sizeof(reconcile_le[0]));
	m->phase_ready = 1;
}

static uint64_t
add_fail_sum(const struct sup_metrics *m)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < PROTO_FIPS_MAX; i++)
		n += m->add_fail[i];
	return n;
}

void
metrics_reconcile_begin(struct sup_metrics *m, int64_t now)
{
	m->reconcile_start = now > 0 ? now : 1;
	m->reconcile_add_fail = add_fail_sum(m);
}

void
metrics_reconcile_end(struct sup_metrics *m, enum sup_reconcile r, int64_t now)
{
	if (m->reconcile_start == 0 || (unsigned int)r >= RECONCILE_MAX)
		return;
	phases_init(m);
	/* A failed additional assignment never stops the pass, but it is
	 * a failed step all the same. */
	if (add_fail_sum(m) != m->reconcile_add_fail)
		r = RECONCILE_ERROR;
	m->reconcile[r]++;
	prom_hist_observe(&m->reconcile_time,
	    (double)(now - m->reconcile_start) / 1000.0);
	m->reconcile_start = 0;
}

enum sup_reconcile
metrics_reconcile_result(const struct plan *p)
{
	switch (p->outcome) {
	case DECIDE_REREAD:
	case DECIDE_PRIMARY_UNKNOWN:
		return RECONCILE_REQUEUE;
	case DECIDE_HOLDING:
	case DECIDE_BACKOFF:
		return RECONCILE_REQUEUE_AFTER;
	default:
		return RECONCILE_SUCCESS;
	}
}

void
metrics_phase(struct sup_metrics *m, enum sup_phase p, int64_t ms)
{
	phases_init(m);
	prom_hist_observe(&m->phase[p], (double)ms / 1000.0);
}

static int
fail_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sup_fail *)a)->name,
	    ((const struct sup_fail *)b)->name);
}

/* Failed probe reports per node; sorted so lookups stay cheap with
 * thousands of nodes.  Only nodes the world knows get a series (a
 * hostile probe worker cannot invent names), and the table has a fixed
 * cap, so no report can grow the supervisor's memory without bound. */
void
metrics_probe_failed(struct sup_metrics *m, const struct world *w,
    const char *node, uint32_t count)
{
	struct sup_fail key, *f, *n;

	if (world_node_find(w, node) == NULL)
		return;
	memset(&key, 0, sizeof(key));
	if (str_copy(key.name, sizeof(key.name), node) != 0)
		return;
	f = m->n_fails == 0
	    ? NULL
	    : bsearch(&key, m->fails, m->n_fails, sizeof(*f), fail_cmp);
	if (f != NULL) {
		f->n += count;
		return;
	}
	if (m->n_fails == m->cap_fails) {
		size_t cap = m->cap_fails ? m->cap_fails * 2 : 16;

		if (cap > METRICS_FAILS_MAX ||
		    (n = reallocarray(m->fails, cap, sizeof(*n))) == NULL)
			return;
		m->fails = n;
		m->cap_fails = cap;
	}
	key.n = count;
	m->fails[m->n_fails++] = key;
	qsort(m->fails, m->n_fails, sizeof(*m->fails), fail_cmp);
}

void
metrics_probe_prune(struct sup_metrics *m, const struct world *w)
{
	size_t i, k;

	for (i = k = 0; i < m->n_fails; i++)
		if (world_node_find(w, m->fails[i].name) != NULL)
			m->fails[k++] = m->fails[i];
	m->n_fails = k; /* order kept: still sorted */
}

void
metrics_free(struct sup_metrics *m)
{
	free(m->fails);
	m->fails = NULL;
	m->n_fails = m->cap_fails = 0;
}

static const char *
fip_name(const struct sup *s, int i)
{
	return i == 0 ? s->cfg->floating_ip_name : s->cfg->additional[i - 1];
}

/* The gateway: the labelled node whose server holds the primary. */
static const struct world_node *
gateway(const struct sup *s)
{
	const struct world_fip *f = world_fip_get(s->world, 0);
	const struct world_node *n;
	size_t i;

	if (f == NULL || !f->known || f->server_id == 0)
		return NULL;
	for (i = 0; (n = world_node_at(s->world, i)) != NULL; i++)
		if (n->labelled && n->server_id == f->server_id)
			return n;
	return NULL;
}

static const struct sup_fail *
fail_find(const struct sup_metrics *m, const char *node)
{
	struct sup_fail key;

	memset(&key, 0, sizeof(key));
	if (m->n_fails == 0 || str_copy(key.name, sizeof(key.name), node) != 0)
		return NULL;
	return bsearch(&key, m->fails, m->n_fails, sizeof(key), fail_cmp);
}

/* A series from 0 for every probed node (so increase() sees the first
 * failure), and on for a node that failed and is no longer probed while
 * it is still known; a node that leaves takes its series with it
 * (metrics_probe_prune), so the set stays bounded by the world. */
static void
health_failures(struct prom *p, const struct sup *s)
{
	const struct world_node *n;
	const struct sup_fail *f;
	size_t i;

	prom_family(p, "tuist_stable_egress_health_check_failures_total",
	    PROM_COUNTER, "failed health probes reported");
	for (i = 0; (n = world_node_at(s->world, i)) != NULL; i++) {
		if (!n->candidate && !n->labelled)
			continue;
		f = fail_find(&s->m, n->name);
		prom_sample(p, f != NULL ? (double)f->n : 0, "node", n->name,
		    NULL);
	}
	for (i = 0; i < s->m.n_fails; i++) {
		n = world_node_find(s->world, s->m.fails[i].name);
		if (n != NULL && !n->candidate && !n->labelled)
			prom_sample(p, (double)s->m.fails[i].n, "node",
			    s->m.fails[i].name, NULL);
	}
}

static void
reference_metrics(struct prom *p, const struct sup *s, int64_t now)
{
	const struct world_node *n, *gw = gateway(s);
	const struct world_fip *f;
	size_t i;

	prom_family(p, "tuist_stable_egress_gateway_available", PROM_GAUGE,
	    "1 when a fit labelled node holds the primary floating IP");
	prom_sample(p, decide_gateway_available(s->world, &s->dcfg, now), NULL);
	prom_family(p, "tuist_stable_egress_gateway_prepared", PROM_GAUGE,
	    "1 when the node's host agent pod is Ready");
	for (i = 0; (n = world_node_at(s->world, i)) != NULL; i++)
		if (n->candidate || n->labelled)
			prom_sample(p,
			    !s->dcfg.prepared_gate || world_node_prepared(n),
			    "node", n->name, NULL);
	prom_family(p, "tuist_stable_egress_gateway_active", PROM_GAUGE,
	    "1 for the gateway node, with the primary's address");
	if (gw != NULL)
		prom_sample(p, 1, "node", gw->name, "egress_ip",
		    world_fip_get(s->world, 0)->ip, NULL);
	prom_family(p, "tuist_stable_egress_failovers_total", PROM_COUNTER,
	    "primary floating IP assignments made");
	prom_sample(p, (double)s->m.failovers, NULL);
	prom_family(p, "tuist_stable_egress_gateway_node_healthy", PROM_GAUGE,
	    "latest health probe per probed node");
	for (i = 0; (n = world_node_at(s->world, i)) != NULL; i++)
		if (n->probe != WORLD_PROBE_NEVER)
			prom_sample(p, n->probe == WORLD_PROBE_OK, "node",
			    n->name, NULL);
	health_failures(p, s);
	prom_family(p, "tuist_stable_egress_additional_floating_ip_on_active",
	    PROM_GAUGE,
	    "1 when the additional floating IP is on the "
	    "gateway's server");
	for (i = 1; i <= s->cfg->n_additional; i++) {
		f = world_fip_get(s->world, (int)i);
		prom_sample(p,
		    gw != NULL && f->known && f->server_id == gw->server_id,
		    "floating_ip", fip_name(s, (int)i), NULL);
	}
	prom_family(p,
	    "tuist_stable_egress_additional_floating_ip_assignments_total",
	    PROM_COUNTER, "additional floating IP assignments made");
	for (i = 1; i <= s->cfg->n_additional; i++)
		prom_sample(p, (double)s->m.add_assign[i], "floating_ip",
		    fip_name(s, (int)i), NULL);
	prom_family(p,
	    "tuist_stable_egress_additional_floating_ip_failures_total",
	    PROM_COUNTER, "failed or refused additional assignments");
	for (i = 1; i <= s->cfg->n_additional; i++)
		prom_sample(p, (double)s->m.add_fail[i], "floating_ip",
		    fip_name(s, (int)i), NULL);
}

/* What every controller-runtime manager exports, which the reference's
 * dashboards and alerts use; the controller's name is the reference's. */
static void
runtime_metrics(struct prom *p, struct sup *s, int64_t now)
{
	static const char ctl[] = "stable-egress-failover";
	int r;

	phases_init(&s->m);
	prom_family(p, "controller_runtime_reconcile_total", PROM_COUNTER,
	    "Total number of reconciliations per controller");
	for (r = 0; r < RECONCILE_MAX; r++)
		prom_sample(p, (double)s->m.reconcile[r], "controller", ctl,
		    "result", reconcile_names[r], NULL);
	prom_family(p, "controller_runtime_reconcile_errors_total",
	    PROM_COUNTER,
	    "Total number of reconciliation errors per controller");
	prom_sample(p, (double)s->m.reconcile[RECONCILE_ERROR], "controller",
	    ctl, NULL);
	prom_family(p, "controller_runtime_reconcile_time_seconds",
	    PROM_HISTOGRAM, "Length of time per reconciliation per controller");
	prom_histogram(p, &s->m.reconcile_time, "controller", ctl, NULL);
	prom_family(p, "leader_election_master_status", PROM_GAUGE,
	    "Gauge of if the reporting system is master of the relevant lease, "
	    "0 indicates backup, 1 indicates master. 'name' is the string used "
	    "to identify the lease. Please make sure to group by name.");
	prom_sample(p, sup_can_write(s, now), "name", s->cfg->lease_name, NULL);
}

void
metrics_worker_stat(struct sup_metrics *m, int kind,
    const struct msg_ping_ans *a)
{
	struct msg_ping_ans *w;

	if (kind <= WORKER_NONE || kind >= WORKER_COUNT)
		return;
	w = &m->wstat[kind];
	/* A new process: keep the CPU its predecessor used, so the
	 * counter never goes back. */
	if (w->start_usec != a->start_usec)
		m->cpu_gone_usec += w->cpu_usec;
	*w = *a;
}

/*
 * The standard process_* families for the whole process tree
 * (docs/operations.md): the supervisor's own figures plus each worker's
 * latest PING answer, since no process here can read /proc once
 * sandboxed.
 */
static void
process_metrics(struct prom *p, const struct sup *s)
{
	struct msg_ping_ans self, sum;
	int k;

	memset(&self, 0, sizeof(self));
	procstat_fill(&self);
	sum = self;
	sum.cpu_usec += s->m.cpu_gone_usec;
	for (k = WORKER_NONE + 1; k < WORKER_COUNT; k++) {
		sum.cpu_usec += s->m.wstat[k].cpu_usec;
		sum.rss_bytes += s->m.wstat[k].rss_bytes;
		sum.vsz_bytes += s->m.wstat[k].vsz_bytes;
		sum.open_fds += s->m.wstat[k].open_fds;
	}
	prom_family(p, "process_cpu_seconds_total", PROM_COUNTER,
	    "Total user and system CPU time spent in seconds.");
	prom_sample(p, (double)sum.cpu_usec / 1e6, NULL);
	prom_family(p, "process_resident_memory_bytes", PROM_GAUGE,
	    "Resident memory size in bytes.");
	prom_sample(p, (double)sum.rss_bytes, NULL);
	prom_family(p, "process_virtual_memory_bytes", PROM_GAUGE,
	    "Virtual memory size in bytes.");
	prom_sample(p, (double)sum.vsz_bytes, NULL);
	prom_family(p, "process_open_fds", PROM_GAUGE,
	    "Number of open file descriptors.");
	prom_sample(p, sum.open_fds, NULL);
	prom_family(p, "process_max_fds", PROM_GAUGE,
	    "Maximum number of open file descriptors.");
	prom_sample(p, self.max_fds, NULL);
	prom_family(p, "process_start_time_seconds", PROM_GAUGE,
	    "Start time of the process since unix epoch in seconds.");
	prom_sample(p, (double)(self.start_usec / 1000000), NULL);
}

static void
worker_metrics(struct prom *p, const struct sup *s)
{
	int k, r;

	prom_family(p, "stable_egressd_worker_restarts_total", PROM_COUNTER,
	    "worker restarts by worker and reason");
	for (k = 1; k < WORKER_COUNT; k++)
		for (r = 0; r < PROC_R_MAX; r++)
			prom_sample(p, (double)s->w[k].restarts[r], "worker",
			    s->w[k].name, "reason",
			    proc_reason_name((enum proc_reason)r), NULL);
	prom_family(p, "stable_egressd_worker_up", PROM_GAUGE,
	    "1 while the worker is running and has said hello");
	for (k = 1; k < WORKER_COUNT; k++)
		prom_sample(p, s->w[k].ready, "worker", s->w[k].name, NULL);
}

static void
api_metrics(struct prom *p, const struct sup *s)
{
	static const char *const apis[] = { "", "kubernetes", "hcloud" };
	char code[16];
	int a, c;

	prom_family(p, "stable_egressd_api_requests_total", PROM_COUNTER,
	    "API requests by API and HTTP code (0: no answer)");
	for (a = 1; a <= 2; a++)
		for (c = 0; c < 600; c++) {
			if (s->m.api_req[a][c] == 0)
				continue;
			str_fmt(code, sizeof(code), "%d", c);
			prom_sample(p, (double)s->m.api_req[a][c], "api",
			    apis[a], "code", code, NULL);
		}
	prom_family(p, "stable_egressd_api_errors_total", PROM_COUNTER,
	    "API requests without an answer or answered >= 400");
	for (a = 1; a <= 2; a++) {
		uint64_t e = s->m.api_req[a][0];

		for (c = 400; c < 600; c++)
			e += s->m.api_req[a][c];
		prom_sample(p, (double)e, "api", apis[a], NULL);
	}
	prom_family(p, "stable_egressd_hcloud_ratelimit_remaining", PROM_GAUGE,
	    "RateLimit-Remaining of the newest Hetzner reply");
	if (s->m.rl.limit != 0)
		prom_sample(p, s->m.rl.remaining, NULL);
	prom_family(p, "stable_egressd_hcloud_ratelimit_limit", PROM_GAUGE,
	    "RateLimit-Limit of the newest Hetzner reply");
	if (s->m.rl.limit != 0)
		prom_sample(p, s->m.rl.limit, NULL);
}

static int
ready(const struct sup *s)
{
	int k;

	for (k = 1; k < WORKER_COUNT; k++)
		if (!s->w[k].ready)
			return 0;
	return s->ctl.kube_api_ok;
}

static void
own_metrics(struct prom *p, struct sup *s, int64_t now)
{
	int i;

	prom_family(p, "stable_egressd_leader", PROM_GAUGE,
	    "1 while this replica leads and may write");
	prom_sample(p, sup_can_write(s, now), NULL);
	prom_family(p, "stable_egressd_standbys_ready", PROM_GAUGE,
	    "1 on a ready standby: the sum over replicas is the redundancy");
	prom_sample(p,
	    !sup_can_write(s, now) && ready(s) && s->ctl.nodes_synced, NULL);
	prom_family(p, "stable_egressd_landlock_abi", PROM_GAUGE,
	    "the kernel's Landlock ABI version the workers use (0: none)");
	prom_sample(p, s->cfg->landlock_abi, NULL);
	prom_family(p, "stable_egressd_allowlist_refusals_total", PROM_COUNTER,
	    "decisions refused by --egress-ip-allowlist");
	prom_sample(p, (double)s->m.allowlist_refusals, NULL);
	prom_family(p, "stable_egressd_events_total", PROM_COUNTER,
	    "Kubernetes Events sent or dropped by the rate limit");
	prom_sample(p, (double)s->m.events_sent, "result", "sent", NULL);
	prom_sample(p, (double)s->m.events_dropped, "result", "dropped", NULL);
	phases_init(&s->m);
	prom_family(p, "stable_egressd_failover_phase_seconds", PROM_HISTOGRAM,
	    "duration of each failover phase");
	for (i = 0; i < PHASE_MAX; i++)
		prom_histogram(p, &s->m.phase[i], "phase", phase_names[i],
		    NULL);
	worker_metrics(p, s);
	api_metrics(p, s);
	metrics_budget(p, s, now);
}

int
metrics_handler(void *arg, const char *path, struct buf *body,
    const char **content_type)
{
	struct sup *s = arg;
	int64_t now = clock_ms();
	struct prom p;
	int k, alive = 1;

	if (strcmp(path, "/healthz") == 0) {
		/* Alive: we run, and no worker has been down for a minute;
		 * one restart within its backoff is tolerated, a worker that
		 * keeps dying is not. */
		for (k = 1; k < WORKER_COUNT; k++)
			alive &= s->w[k].down_since == 0 ||
			    now - s->w[k].down_since < PROC_DOWN_UNHEALTHY;
		buf_append(body, alive ? "ok\n" : "worker down\n",
		    alive ? 3 : 12);
		return alive ? 200 : 503;
	}
	if (strcmp(path, "/readyz") == 0) {
		k = ready(s);
		buf_append(body, k ? "ok\n" : "not ready\n", k ? 3 : 10);
		return k ? 200 : 503;
	}
	if (strcmp(path, "/metrics") != 0)
		return 404;
	prom_init(&p, body);
	reference_metrics(&p, s, now);
	runtime_metrics(&p, s, now);
	process_metrics(&p, s);
	own_metrics(&p, s, now);
	*content_type = PROM_CONTENT_TYPE;
	return prom_error(&p) == 0 ? 200 : 500;
}
