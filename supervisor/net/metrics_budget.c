/* metrics_budget.c: the Hetzner budget as the governor sees it, and the
 * server fast path and server check */
#include "supervisor/net/prom.h"
#include "supervisor/sup.h"

void
metrics_budget(struct prom *p, const struct sup *s, int64_t now)
{
	const struct gov *g = &s->ctl.gov;
	int i;

	prom_family(p, "stable_egressd_hcloud_budget_estimate", PROM_GAUGE,
	    "Hetzner requests the governor counts on now (our share of the "
	    "refill included)");
	prom_sample(p, gov_estimate(g, now), NULL);
	prom_family(p, "stable_egressd_hcloud_budget_others_per_hour",
	    PROM_GAUGE, "Hetzner requests per hour others were seen to spend");
	prom_sample(p, g->others * 3600000.0, NULL);
	prom_family(p, "stable_egressd_hcloud_requests_by_priority_total",
	    PROM_COUNTER, "Hetzner requests sent, by governor priority");
	for (i = 0; i < GOV_PRIO_MAX; i++)
		prom_sample(p, (double)g->sent[i], "priority",
		    gov_prio_name((enum gov_prio)i), NULL);
	prom_family(p, "stable_egressd_hcloud_requests_deferred_total",
	    PROM_COUNTER, "Hetzner requests the governor made wait");
	for (i = 0; i < GOV_PRIO_MAX; i++)
		prom_sample(p, (double)g->deferred[i], "priority",
		    gov_prio_name((enum gov_prio)i), NULL);
	prom_family(p, "stable_egressd_hcloud_throttled_total", PROM_COUNTER,
	    "Hetzner operations answered 429 rate_limit_exceeded");
	prom_sample(p, (double)g->throttled, NULL);
	prom_family(p, "stable_egressd_fastpath_demotions_total", PROM_COUNTER,
	    "gateways demoted without the grace: their server was off or "
	    "gone");
	prom_sample(p, (double)s->m.fastpath_demotions, NULL);
	prom_family(p, "stable_egressd_server_check_refusals_total",
	    PROM_COUNTER,
	    "assignments refused: the server did not match "
	    "--hcloud-server-label-selector");
	prom_sample(p, (double)s->m.server_refusals, NULL);
}
