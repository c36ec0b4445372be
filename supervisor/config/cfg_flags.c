/* cfg_flags.c: the flag table, its setters and how values are shown */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/str.h"
#include "cfg.h"
#include "dur.h"

#define FIELD(f) offsetof(struct cfg, f), sizeof(((struct cfg *)0)->f)

static void *
field(struct cfg *c, const struct cfg_flag *f)
{
	return (char *)c + f->off;
}

static const void *
cfield(const struct cfg *c, const struct cfg_flag *f)
{
	return (const char *)c + f->off;
}

static int
store(struct cfg *c, const struct cfg_flag *f, const char *val, char *why,
    size_t whylen)
{
	if (str_copy(field(c, f), f->size, val) == -1) {
		cfg_errf(why, whylen, "too long (at most %zu bytes)",
		    f->size - 1);
		return -1;
	}
	return 0;
}

static int
set_bool(struct cfg *c, const struct cfg_flag *f, const char *val, char *why,
    size_t whylen)
{
	int b = cfg_parse_bool(val);

	if (b == -1)
		return cfg_refuse(why, whylen, "boolean", val, NULL);
	*(int *)field(c, f) = b;
	return 0;
}

static int
set_action(struct cfg *c, const struct cfg_flag *f, const char *val, char *why,
    size_t whylen)
{
	(void)c;
	(void)f;
	if (cfg_parse_bool(val) == -1)
		return cfg_refuse(why, whylen, "boolean", val, NULL);
	return 0;
}

static int
set_dur(struct cfg *c, const struct cfg_flag *f, const char *val, char *why,
    size_t whylen)
{
	char q[CFG_QUOTE_MAX];
	int64_t ms;

	if (dur_parse(val, &ms) == -1)
		return cfg_refuse(why, whylen, "duration", val, NULL);
	if (ms < f->min) {
		cfg_quote(q, sizeof(q), val);
		cfg_errf(why, whylen, "must be %s, not %s",
		    f->min > 0 ? "at least 1ms" : "0 or more", q);
		return -1;
	}
	*(int64_t *)field(c, f) = ms;
	return 0;
}

static int
set_port(struct cfg *c, const struct cfg_flag *f, const char *val, char *why,
    size_t whylen)
{
	int64_t v;

	if (str_to_i64(val, 1, 65535, &v) == -1)
		return cfg_refuse(why, whylen, "port", val, "1-65535");
	*(int *)field(c, f) = (int)v;
	return 0;
}

static int
set_label(struct cfg *c, const struct cfg_flag *f, const char *val, char *why,
    size_t whylen)
{
	if (cfg_check_label(val, why, whylen) == -1)
		return -1;
	return store(c, f, val, why, whylen);
}

static int
set_label_opt(struct cfg *c, const struct cfg_flag *f, const char *val,
    char *why, size_t whylen)
{
	if (val[0] != '\0' && cfg_check_label(val, why, whylen) == -1)
		return -1;
	return store(c, f, val, why, whylen);
}

static int
set_ns(struct cfg *c, const struct cfg_flag *f, const char *val, char *why,
    size_t whylen)
{
	if (cfg_check_ns(val, why, whylen) == -1)
		return -1;
	return store(c, f, val, why, whylen);
}

static int
set_dnsname(struct cfg *c, const struct cfg_flag *f, const char *val, char *why,
    size_t whylen)
{
	if (cfg_check_dnsname(val, why, whylen) == -1)
		return -1;
	return store(c, f, val, why, whylen);
}

static int
set_text(struct cfg *c, const struct cfg_flag *f, const char *val, char *why,
    size_t whylen)
{
	if (cfg_has_ctl(val))
		return cfg_refuse(why, whylen, "value", val,
		    "control character");
	return store(c, f, val, why, whylen);
}

/* Text that must be given; set_text allows "" (meaning "none"). */
static int
set_path(struct cfg *c, const struct cfg_flag *f, const char *val, char *why,
    size_t whylen)
{
	if (val[0] == '\0') {
		cfg_errf(why, whylen, "must not be empty");
		return -1;
	}
	return set_text(c, f, val, why, whylen);
}

static int
set_fip(struct cfg *c, const struct cfg_flag *f, const char *val, char *why,
    size_t whylen)
{
	char buf[CFG_FIPNAME_MAX];

	if (cfg_check_fip(val, strlen(val), why, whylen) == -1)
		return -1;
	/* Blanks around a name are a typo, as in the comma list. */
	if (str_copy(buf, sizeof(buf), val) == -1)
		return -1;
	return store(c, f, str_trim(buf), why, whylen);
}

static int
set_additional(struct cfg *c, const struct cfg_flag *f, const char *val,
    char *why, size_t whylen)
{
	char names[CFG_ADDITIONAL_MAX][CFG_FIPNAME_MAX];
	size_t n;

	(void)f;
	if (cfg_parse_names(val, names, &n, why, whylen) == -1)
		return -1;
	memcpy(c->additional, names, n * sizeof(names[0]));
	c->n_additional = n;
	return 0;
}

/* Both guards: text and parsed list sit side by side in struct cfg. */
static int
set_guard(const char *val, struct allowlist *dst, char *text, size_t textlen,
    char *why, size_t whylen)
{
	static const char prefix[] = "--egress-ip-allowlist: ";
	struct allowlist al;
	char msg[CFG_ERR_MAX];

	if (strlen(val) >= textlen) {
		cfg_errf(why, whylen, "too long (at most %zu bytes)",
		    textlen - 1);
		return -1;
	}
	msg[0] = '\0';
	if (allowlist_parse(&al, val, msg, sizeof(msg)) == -1) {
		/* The caller names the flag or key itself. */
		cfg_errf(why, whylen, "%s",
		    str_prefix(msg, prefix) ? msg + sizeof(prefix) - 1 : msg);
		return -1;
	}
	*dst = al;
	return str_copy(text, textlen, val);
}

static int
set_allowlist(struct cfg *c, const struct cfg_flag *f, const char *val,
    char *why, size_t whylen)
{
	(void)f;
	return set_guard(val, &c->allowlist, c->allowlist_text,
	    sizeof(c->allowlist_text), why, whylen);
}

static int
set_additional_allowlist(struct cfg *c, const struct cfg_flag *f,
    const char *val, char *why, size_t whylen)
{
	(void)f;
	return set_guard(val, &c->additional_allowlist,
	    c->additional_allowlist_text, sizeof(c->additional_allowlist_text),
	    why, whylen);
}

static int
set_endpoint(struct cfg *c, const struct cfg_flag *f, const char *val,
    char *why, size_t whylen)
{
	size_t n;

	if (cfg_check_endpoint(val, why, whylen) == -1 ||
	    store(c, f, val, why, whylen) == -1)
		return -1;
	/* Paths are appended as "/floating_ips": one trailing '/' goes. */
	n = strlen(c->hcloud_endpoint);
	if (c->hcloud_endpoint[n - 1] == '/')
		c->hcloud_endpoint[n - 1] = '\0';
	return 0;
}

static int
set_bind(struct cfg *c, const struct cfg_flag *f, const char *val, char *why,
    size_t whylen)
{
	struct cfg_bind b;

	memset(&b, 0, sizeof(b));
	if (str_copy(b.text, sizeof(b.text), val) == -1)
		return cfg_refuse(why, whylen, "address", val, "too long");
	/* "0" is controller-runtime's "off"; older releases took "" too. */
	if (val[0] == '\0' || strcmp(val, "0") == 0) {
		*(struct cfg_bind *)field(c, f) = b;
		return 0;
	}
	if (cfg_split_hostport(val, strlen(val), b.host, sizeof(b.host),
		&b.port) == -1 ||
	    b.port == -1)
		return cfg_refuse(why, whylen, "address", val,
		    "want host:port, :port, [v6]:port or 0");
	b.enabled = 1;
	*(struct cfg_bind *)field(c, f) = b;
	return 0;
}

static int
set_log_format(struct cfg *c, const struct cfg_flag *f, const char *val,
    char *why, size_t whylen)
{
	int v = log_parse_format(val);

	(void)f;
	if (v == -1)
		return cfg_refuse(why, whylen, "log format", val,
		    "json or text");
	c->log_json = v;
	return 0;
}

static int
set_log_level(struct cfg *c, const struct cfg_flag *f, const char *val,
    char *why, size_t whylen)
{
	int v = log_parse_level(val);

	(void)f;
	if (v == -1)
		return cfg_refuse(why, whylen, "log level", val,
		    "debug, info, warn or error");
	c->log_level = (enum log_level)v;
	return 0;
}

static int
show(char *buf, size_t len, const char *s)
{
	return str_copy(buf, len, s);
}

static int
show_bool(const struct cfg *c, const struct cfg_flag *f, char *buf, size_t len)
{
	return show(buf, len, *(const int *)cfield(c, f) ? "true" : "false");
}

static int
show_dur(const struct cfg *c, const struct cfg_flag *f, char *buf, size_t len)
{
	return dur_format(*(const int64_t *)cfield(c, f), buf, len);
}

static int
show_int(const struct cfg *c, const struct cfg_flag *f, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%d", *(const int *)cfield(c, f));

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int
show_str(const struct cfg *c, const struct cfg_flag *f, char *buf, size_t len)
{
	return show(buf, len, cfield(c, f));
}

static int
show_additional(const struct cfg *c, const struct cfg_flag *f, char *buf,
    size_t len)
{
	size_t i, o = 0, n;

	(void)f;
	if (len == 0)
		return -1;
	buf[0] = '\0';
	for (i = 0; i < c->n_additional; i++) {
		n = strlen(c->additional[i]);
		if (o + n + 2 > len)
			return -1;
		if (i > 0)
			buf[o++] = ',';
		memcpy(buf + o, c->additional[i], n + 1);
		o += n;
	}
	return 0;
}

static int
show_allowlist(const struct cfg *c, const struct cfg_flag *f, char *buf,
    size_t len)
{
	(void)f;
	/* The normalised list is what is enforced. */
	if (allowlist_format(&c->allowlist, buf, len) == 0)
		return 0;
	return show(buf, len, c->allowlist_text);
}

static int
show_additional_allowlist(const struct cfg *c, const struct cfg_flag *f,
    char *buf, size_t len)
{
	(void)f;
	if (allowlist_format(&c->additional_allowlist, buf, len) == 0)
		return 0;
	return show(buf, len, c->additional_allowlist_text);
}

static int
show_bind(const struct cfg *c, const struct cfg_flag *f, char *buf, size_t len)
{
	const struct cfg_bind *b = cfield(c, f);

	return show(buf, len, b->enabled ? b->text : "0");
}

static int
show_log_format(const struct cfg *c, const struct cfg_flag *f, char *buf,
    size_t len)
{
	(void)f;
	return show(buf, len, c->log_json ? "json" : "text");
}

static int
show_log_level(const struct cfg *c, const struct cfg_flag *f, char *buf,
    size_t len)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };

	(void)f;
	if ((unsigned int)c->log_level >= sizeof(names) / sizeof(names[0]))
		return -1;
	return show(buf, len, names[c->log_level]);
}

int
cfg_flag_find(const char *name)
{
	size_t i;

	for (i = 0; i < cfg_nflags; i++)
		if (strcmp(cfg_flags[i].name, name) == 0)
			return (int)i;
	return -1;
}

int
cfg_flag_apply(struct cfg *c, int i, const char *val, char *why, size_t whylen)
{
	if (i < 0 || (size_t)i >= cfg_nflags) {
		cfg_errf(why, whylen, "no such flag");
		return -1;
	}
	if (cfg_flags[i].set(c, &cfg_flags[i], val, why, whylen) == -1)
		return -1;
	c->given |= UINT64_C(1) << i;
	return 0;
}

void
cfg_defaults(struct cfg *c)
{
	char why[CFG_ERR_MAX];
	size_t i;

	memset(c, 0, sizeof(*c));
	/* The table's defaults are valid values; a unit test holds that. */
	for (i = 0; i < cfg_nflags; i++)
		if (cfg_flags[i].def != NULL)
			(void)cfg_flags[i].set(c, &cfg_flags[i],
			    cfg_flags[i].def, why, sizeof(why));
	c->given = 0;
}

/*
 * Sorted by name, as Go's flag package prints them.  def is applied
 * through set at cfg_defaults(), so usage and behaviour cannot disagree.
 */
const struct cfg_flag cfg_flags[] = {
	{ "active-label", CFG_T_STR, 0, "key=value",
	    "tuist.dev/stable-egress-gateway=server",
	    "node label that marks the egress gateway; it moves with the "
	    "Floating IP",
	    set_label, show_str, FIELD(active_label), 0 },
	{ "additional-egress-ip-allowlist", CFG_T_LIST, 0, "cidrs", "",
	    "comma list of CIDRs guarding the additional Floating IPs: one "
	    "outside it is never assigned (empty: not checked)",
	    set_additional_allowlist, show_additional_allowlist, 0, 0, 0 },
	{ "additional-floating-ip-names", CFG_T_LIST, 0, "names", "",
	    "comma list of Floating IP names (at most 16) that follow the "
	    "primary onto the gateway's server",
	    set_additional, show_additional, 0, 0, 0 },
	{ "candidate-label", CFG_T_STR, 0, "key=value",
	    "tuist.dev/stable-egress-candidate=server",
	    "node label of the nodes that may become the gateway", set_label,
	    show_str, FIELD(candidate_label), 0 },
	{ "check-config", CFG_T_BOOL, CFG_F_NOPRINT, NULL, "false",
	    "load the configuration and credentials, print the effective "
	    "configuration and exit (0 ok, 2 error)",
	    set_bool, show_bool, FIELD(check_config), 0 },
	{ "config", CFG_T_STR, CFG_F_NOFILE | CFG_F_NOPRINT, "file", NULL,
	    "YAML file of settings keyed by flag name; flags on the command "
	    "line win",
	    set_path, show_str, FIELD(config_path), 0 },
	{ "dry-run", CFG_T_BOOL, 0, NULL, "false",
	    "elect, probe and plan as usual, but only log what would be "
	    "written (no label, Floating IP or Event)",
	    set_bool, show_bool, FIELD(dry_run), 0 },
	{ "egress-ip-allowlist", CFG_T_LIST, 0, "cidrs", "",
	    "comma list of CIDRs guarding the primary Floating IP: outside "
	    "it nothing is written (empty: no guard)",
	    set_allowlist, show_allowlist, 0, 0, 0 },
	{ "floating-ip-name", CFG_T_STR, 0, "name", NULL,
	    "name of the primary Floating IP that carries the egress traffic "
	    "(required)",
	    set_fip, show_str, FIELD(floating_ip_name), 0 },
	{ "hcloud-ca-file", CFG_T_STR, 0, "file", "",
	    "PEM CA bundle for the Hetzner Cloud API (empty: system CAs)",
	    set_text, show_str, FIELD(hcloud_ca_file), 0 },
	{ "hcloud-endpoint", CFG_T_STR, 0, "url",
	    "https://api.hetzner.cloud/v1",
	    "Hetzner Cloud API base URL, else $HCLOUD_ENDPOINT; https://, or "
	    "http:// to a loopback host only",
	    set_endpoint, show_str, FIELD(hcloud_endpoint), 0 },
	{ "hcloud-server-label-selector", CFG_T_STR, 0, "selector", "",
	    "Hetzner label selector the target server must match before a "
	    "Floating IP is assigned to it, e.g. k=v,k2 in (a,b) (empty: no "
	    "check)",
	    set_text, show_str, FIELD(hcloud_server_selector), 0 },
	{ "hcloud-token-path", CFG_T_STR, 0, "file", "/etc/hcloud/token",
	    "file holding the Hetzner Cloud API token (a trailing newline is "
	    "trimmed)",
	    set_path, show_str, FIELD(hcloud_token_path), 0 },
	{ "health-probe-bind-address", CFG_T_STR, 0, "address", ":8081",
	    "listen address of /healthz and /readyz (host:port or :port; 0 "
	    "disables)",
	    set_bind, show_bind, FIELD(health_addr), 0 },
	{ "help", CFG_T_ACTION, CFG_F_NOFILE | CFG_F_NOPRINT, NULL, NULL,
	    "print this help and exit", set_action, NULL, 0, 0, 0 },
	{ "identity", CFG_T_STR, 0, "id", NULL,
	    "leader-election identity (default <hostname>_<random>)", set_path,
	    show_str, FIELD(identity), 0 },
	{ "kubeconfig", CFG_T_STR, 0, "file", "",
	    "kubeconfig file, else $KUBECONFIG (its first entry), else the "
	    "in-cluster service account",
	    set_text, show_str, FIELD(kubeconfig), 0 },
	{ "leader-elect", CFG_T_BOOL, 0, NULL, "true",
	    "elect one writing leader among the replicas through a Lease",
	    set_bool, show_bool, FIELD(leader_elect), 0 },
	{ "leader-elect-lease-duration", CFG_T_DUR, 0, "duration", "15s",
	    "how long a Lease holds without renewal; standbys wait this long "
	    "after the last renewal",
	    set_dur, show_dur, FIELD(lease_duration_ms), 1 },
	{ "leader-elect-renew-deadline", CFG_T_DUR, 0, "duration", "10s",
	    "how long the leader tries to renew before it stops writing",
	    set_dur, show_dur, FIELD(renew_deadline_ms), 1 },
	{ "leader-elect-resource-name", CFG_T_STR, 0, "name",
	    "stable-egress-controller.tuist.dev",
	    "name of the coordination.k8s.io/v1 Lease", set_dnsname, show_str,
	    FIELD(lease_name), 0 },
	{ "leader-elect-resource-namespace", CFG_T_STR, 0, "namespace", NULL,
	    "namespace of the Lease (default $POD_NAMESPACE, else the "
	    "service-account namespace, else kube-system)",
	    set_ns, show_str, FIELD(lease_namespace), 0 },
	{ "leader-elect-retry-period", CFG_T_DUR, 0, "duration", "2s",
	    "how often replicas try to acquire or renew the Lease", set_dur,
	    show_dur, FIELD(retry_period_ms), 1 },
	{ "log-format", CFG_T_STR, 0, "json|text", "json", "log line format",
	    set_log_format, show_log_format, 0, 0, 0 },
	{ "log-level", CFG_T_STR, 0, "level", "info",
	    "lowest level logged: debug, info, warn or error", set_log_level,
	    show_log_level, 0, 0, 0 },
	{ "metrics-bind-address", CFG_T_STR, 0, "address", ":8080",
	    "listen address of /metrics (host:port or :port; 0 disables)",
	    set_bind, show_bind, FIELD(metrics_addr), 0 },
	{ "node-health-interval", CFG_T_DUR, 0, "duration", "1s",
	    "how often each node is probed", set_dur, show_dur,
	    FIELD(node_health_interval_ms), 1 },
	{ "node-health-port", CFG_T_INT, 0, "port", "9962",
	    "TCP port probed on every InternalIP and ExternalIP of each "
	    "node, all at once, healthy if any connects (the Cilium "
	    "agent's metrics)",
	    set_port, show_int, FIELD(node_health_port), 0 },
	{ "node-health-timeout", CFG_T_DUR, 0, "duration", "2s",
	    "timeout of one TCP probe", set_dur, show_dur,
	    FIELD(node_health_timeout_ms), 1 },
	{ "node-unhealthy-grace-period", CFG_T_DUR, 0, "duration", "90s",
	    "how long the gateway's probe must fail continuously before a "
	    "fail-over",
	    set_dur, show_dur, FIELD(node_unhealthy_grace_ms), 0 },
	{ "node-unprepared-grace-period", CFG_T_DUR, 0, "duration", "5m",
	    "how long the gateway may stay unprepared before a fail-over",
	    set_dur, show_dur, FIELD(node_unprepared_grace_ms), 0 },
	{ "prepared-pod-label", CFG_T_STR, 0, "key=value",
	    "tuist.dev/stable-egress-host-configurer=true",
	    "label of the host-agent pod that must be Ready on a node before "
	    "it is promoted (empty: no gate)",
	    set_label_opt, show_str, FIELD(prepared_pod_label), 0 },
	{ "prepared-pod-namespace", CFG_T_STR, 0, "namespace", "kube-system",
	    "namespace of the prepared pods", set_ns, show_str,
	    FIELD(prepared_pod_namespace), 0 },
	{ "require-landlock", CFG_T_BOOL, 0, NULL, "false",
	    "refuse to start on a kernel without Landlock (else: a warning "
	    "and the metric stable_egressd_landlock_abi)",
	    set_bool, show_bool, FIELD(require_landlock), 0 },
	{ "resync-interval", CFG_T_DUR, 0, "duration", "30s",
	    "how often the Floating IPs are re-read and everything decided "
	    "again",
	    set_dur, show_dur, FIELD(resync_interval_ms), 1 },
	{ "user", CFG_T_STR, 0, "name", "",
	    "run every process as this user and its group; required when "
	    "started as root",
	    set_text, show_str, FIELD(user), 0 },
	{ "version", CFG_T_ACTION, CFG_F_NOFILE | CFG_F_NOPRINT, NULL, NULL,
	    "print the version and exit", set_action, NULL, 0, 0, 0 },
	/* controller-runtime's logging flags (the reference's), mapped */
	{ "zap-devel", CFG_T_BOOL, CFG_F_NOPRINT, NULL, "false",
	    "development logging: text, debug level and ISO 8601 times unless "
	    "set otherwise",
	    set_bool, show_bool, FIELD(zap_devel), 0 },
	{ "zap-encoder", CFG_T_STR, CFG_F_NOPRINT, "json|console", NULL,
	    "zap's name for --log-format: json, or console (= text)",
	    cfg_set_zap_encoder, NULL, 0, 0, 0 },
	{ "zap-log-level", CFG_T_STR, CFG_F_NOPRINT, "level", NULL,
	    "zap's --log-level: debug, info, error, panic (= error) or an "
	    "integer > 0 (= debug)",
	    cfg_set_zap_level, NULL, 0, 0, 0 },
	{ "zap-stacktrace-level", CFG_T_STR, CFG_F_NOPRINT, "level", NULL,
	    "accepted for compatibility (info, error or panic); no stack "
	    "traces are written",
	    cfg_set_zap_stacktrace, NULL, 0, 0, 0 },
	{ "zap-time-encoding", CFG_T_STR, 0, "encoding", NULL,
	    "how \"ts\" is written: epoch (json default), millis, nanos, "
	    "iso8601 (text default), rfc3339 or rfc3339nano",
	    cfg_set_zap_time, cfg_show_zap_time, 0, 0, 0 },
};

const size_t cfg_nflags = sizeof(cfg_flags) / sizeof(cfg_flags[0]);

_Static_assert(sizeof(cfg_flags) / sizeof(cfg_flags[0]) <= 64,
    "struct cfg.given has one bit per flag");
