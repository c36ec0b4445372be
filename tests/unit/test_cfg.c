/* test_cfg.c: flags, the --config file, environment fallbacks, output */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/str.h"
#include "supervisor/config/cfg.h"

#define ARGS_MAX 64

static struct cfg *cfg; /* big: on the heap */
static char err[CFG_ERR_MAX];
static char dir[256]; /* per-run scratch directory */
static char path[512]; /* the config file of the current test */

static const char *const env_vars[] = { "KUBECONFIG", "HCLOUD_ENDPOINT",
	"POD_NAMESPACE", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
	"STABLE_EGRESSD_SA_DIR" };

static const char *
in_dir(const char *name)
{
	static char p[512];

	if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p))
		fail_msg("path too long");
	return p;
}

static void
write_file(const char *p, const char *text, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* The current test's config file, path in `path`. */
static const char *
yaml(const char *text)
{
	snprintf(path, sizeof(path), "%s", in_dir("c.yaml"));
	write_file(path, text, strlen(text));
	return path;
}

/* No ambient environment: the SA dir points at an empty directory. */
static int
setup(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	setenv("STABLE_EGRESSD_SA_DIR", in_dir("sa"), 1);
	unlink(in_dir("sa/namespace"));
	memset(err, 0, sizeof(err));
	return 0;
}

static int
group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/test_cfg.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	if (mkdir(in_dir("sa"), 0700) == -1 || mkdir(in_dir("d"), 0700) == -1)
		return -1;
	cfg = calloc(1, sizeof(*cfg));
	return cfg == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	unlink(in_dir("c.yaml"));
	unlink(in_dir("sa/namespace"));
	rmdir(in_dir("sa"));
	rmdir(in_dir("d"));
	rmdir(dir);
	free(cfg);
	return 0;
}

/* cfg_parse() of "stable-egressd" and the NULL-terminated arguments. */
static enum cfg_result
vparse(va_list ap)
{
	char *argv[ARGS_MAX];
	int argc = 0;
	char *a;

	argv[argc++] = "stable-egressd";
	while ((a = va_arg(ap, char *)) != NULL && argc < ARGS_MAX - 1)
		argv[argc++] = a;
	argv[argc] = NULL;
	return cfg_parse(cfg, argc, argv, err, sizeof(err));
}

static enum cfg_result
parse(const char *first, ...)
{
	enum cfg_result r;
	va_list ap;

	(void)first;
	va_start(ap, first);
	r = vparse(ap);
	va_end(ap);
	return r;
}

/* Parses, with --floating-ip-name given, and expects success. */
#define OK(...) ok_(__LINE__, "", __VA_ARGS__, NULL)
static void
ok_(int line, const char *first, ...)
{
	enum cfg_result r;
	va_list ap;

	(void)first;
	va_start(ap, first);
	r = vparse(ap);
	va_end(ap);
	if (r != CFG_OK)
		fail_msg("line %d: refused: %s", line, err);
}

/*
 * Expects CFG_ERR with one line that starts with the program name and
 * holds want (the flag or key it names, and why).
 */
#define BAD(want, ...) bad_(__LINE__, want, __VA_ARGS__, NULL)
static void
bad_(int line, const char *want, ...)
{
	enum cfg_result r;
	va_list ap;

	va_start(ap, want);
	r = vparse(ap);
	va_end(ap);
	if (r != CFG_ERR)
		fail_msg("line %d: accepted (%d), want error \"%s\"", line, r,
		    want);
	if (strncmp(err, "stable-egressd: ", 16) != 0 ||
	    strchr(err, '\n') != NULL || strstr(err, want) == NULL)
		fail_msg("line %d: error \"%s\" lacks \"%s\"", line, err, want);
}

#define FIP "--floating-ip-name=egress"

static void
test_table_defaults_valid(void **state)
{
	char why[CFG_ERR_MAX];
	size_t i;

	(void)state;
	cfg_defaults(cfg);
	for (i = 0; i < cfg_nflags; i++) {
		if (cfg_flags[i].def == NULL)
			continue;
		if (cfg_flags[i].set(cfg, &cfg_flags[i], cfg_flags[i].def, why,
			sizeof(why)) != 0)
			fail_msg("default of --%s refused: %s",
			    cfg_flags[i].name, why);
	}
	/* sorted, so usage and --check-config read like Go's flag output */
	for (i = 1; i < cfg_nflags; i++)
		assert_true(
		    strcmp(cfg_flags[i - 1].name, cfg_flags[i].name) < 0);
	assert_int_equal(cfg_flag_find("nope"), -1);
	assert_true(cfg_flag_find("floating-ip-name") >= 0);
}

static void
test_defaults(void **state)
{
	(void)state;
	OK(FIP);
	assert_string_equal(cfg->floating_ip_name, "egress");
	assert_int_equal(cfg->n_additional, 0);
	assert_string_equal(cfg->allowlist_text, "");
	assert_int_equal(cfg->allowlist.set, 0);
	assert_string_equal(cfg->candidate_label,
	    "tuist.dev/stable-egress-candidate=server");
	assert_string_equal(cfg->active_label,
	    "tuist.dev/stable-egress-gateway=server");
	assert_string_equal(cfg->prepared_pod_label,
	    "tuist.dev/stable-egress-host-configurer=true");
	assert_string_equal(cfg->prepared_pod_namespace, "kube-system");
	assert_string_equal(cfg->hcloud_token_path, "/etc/hcloud/token");
	assert_string_equal(cfg->hcloud_endpoint,
	    "https://api.hetzner.cloud/v1");
	assert_string_equal(cfg->hcloud_ca_file, "");
	assert_string_equal(cfg->kubeconfig, "");
	assert_int_equal(cfg->resync_interval_ms, 30000);
	assert_int_equal(cfg->node_health_port, 9962);
	assert_int_equal(cfg->node_health_timeout_ms, 2000);
	assert_int_equal(cfg->node_health_interval_ms, 1000);
	assert_int_equal(cfg->node_unhealthy_grace_ms, 90000);
	assert_int_equal(cfg->node_unprepared_grace_ms, 300000);
	assert_int_equal(cfg->leader_elect, 1);
	assert_int_equal(cfg->lease_duration_ms, 15000);
	assert_int_equal(cfg->renew_deadline_ms, 10000);
	assert_int_equal(cfg->retry_period_ms, 2000);
	assert_string_equal(cfg->lease_name,
	    "stable-egress-controller.tuist.dev");
	assert_string_equal(cfg->lease_namespace, "kube-system");
	assert_true(cfg->metrics_addr.enabled);
	assert_string_equal(cfg->metrics_addr.host, "");
	assert_int_equal(cfg->metrics_addr.port, 8080);
	assert_true(cfg->health_addr.enabled);
	assert_int_equal(cfg->health_addr.port, 8081);
	assert_int_equal(cfg->log_json, 1);
	assert_int_equal(cfg->log_level, LOG_INFO);
	assert_int_equal(cfg->dry_run, 0);
	assert_int_equal(cfg->check_config, 0);
	assert_string_equal(cfg->config_path, "");
	assert_string_equal(cfg->sa_dir, in_dir("sa"));
	assert_string_equal(cfg->service_host, "");
}

static void
test_required(void **state)
{
	(void)state;
	assert_int_equal(parse("", NULL), CFG_ERR);
	assert_string_equal(err,
	    "stable-egressd: --floating-ip-name is "
	    "required");
	BAD("--floating-ip-name is required", "--floating-ip-name=");
	BAD("--floating-ip-name is required", "--floating-ip-name", "  ");
	BAD("--floating-ip-name: invalid name \"a,b\"",
	    "--floating-ip-name=a,b");
	BAD("--floating-ip-name: invalid name \"a\\x01\"",
	    "--floating-ip-name=a\001");
	OK("--floating-ip-name", " egress ");
	assert_string_equal(cfg->floating_ip_name, "egress");
}

static void
test_flag_forms(void **state)
{
	(void)state;
	OK("--floating-ip-name=a", "--node-health-port", "1234");
	assert_string_equal(cfg->floating_ip_name, "a");
	assert_int_equal(cfg->node_health_port, 1234);
	OK("-floating-ip-name", "b", "-node-health-port=99");
	assert_string_equal(cfg->floating_ip_name, "b");
	assert_int_equal(cfg->node_health_port, 99);
	/* the value of "--flag v" is taken whatever it looks like */
	OK(FIP, "--identity", "--dry-run");
	assert_string_equal(cfg->identity, "--dry-run");
	assert_int_equal(cfg->dry_run, 0);
	/* repeated: the last one wins, as in Go */
	OK(FIP, "--resync-interval=1s", "--resync-interval=2s");
	assert_int_equal(cfg->resync_interval_ms, 2000);
	/* an empty value is a value */
	OK(FIP, "--prepared-pod-label=");
	assert_string_equal(cfg->prepared_pod_label, "");
	OK(FIP, "--prepared-pod-label", "");
	assert_string_equal(cfg->prepared_pod_label, "");
	/* "--" ends the flags */
	OK(FIP, "--");
}

static void
test_booleans(void **state)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true",
		"True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false",
		"False" };
	char arg[64];
	size_t i;

	(void)state;
	OK(FIP, "--dry-run");
	assert_int_equal(cfg->dry_run, 1);
	OK(FIP, "-dry-run", "--check-config");
	assert_int_equal(cfg->dry_run, 1);
	assert_int_equal(cfg->check_config, 1);
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(arg, sizeof(arg), "--leader-elect=%s", no[i]);
		OK(FIP, arg);
		assert_int_equal(cfg->leader_elect, 0);
		snprintf(arg, sizeof(arg), "--dry-run=%s", yes[i]);
		OK(FIP, arg);
		assert_int_equal(cfg->dry_run, 1);
	}
	/* a boolean never takes the next argument (Go) */
	BAD("unexpected argument \"false\"", FIP, "--leader-elect", "false");
	BAD("--dry-run: invalid boolean \"yes\"", FIP, "--dry-run=yes");
	BAD("--leader-elect: invalid boolean \"\"", FIP, "--leader-elect=");
}

static void
test_help_version(void **state)
{
	(void)state;
	assert_int_equal(parse("", "--help", NULL), CFG_HELP);
	assert_int_equal(parse("", "-h", NULL), CFG_HELP);
	assert_int_equal(parse("", "-help", NULL), CFG_HELP);
	assert_int_equal(parse("", "--version", NULL), CFG_VERSION);
	assert_int_equal(parse("", "-version", NULL), CFG_VERSION);
	/* they win over what is wrong elsewhere on the line */
	assert_int_equal(parse("", "--bogus", "--help", NULL), CFG_HELP);
	assert_int_equal(parse("", "--resync-interval=9x", "--version", NULL),
	    CFG_VERSION);
	assert_int_equal(parse("", "--config=/nonexistent/x.yaml", "--help",
			     NULL),
	    CFG_HELP);
	assert_int_equal(parse("", "--help=true", NULL), CFG_HELP);
	/* false is no request; after "--" it is an argument */
	OK(FIP, "--help=false", "--version=0");
	BAD("unexpected argument \"--help\"", FIP, "--", "--help");
	BAD("--help: invalid boolean \"x\"", FIP, "--help=x");
}

static void
test_command_line_errors(void **state)
{
	(void)state;
	BAD("stable-egressd: unknown flag \"--nope\"", FIP, "--nope");
	BAD("unknown flag \"-nope=1\"", FIP, "-nope=1");
	BAD("unknown flag \"--FLOATING-IP-NAME=x\"", "--FLOATING-IP-NAME=x");
	BAD("stable-egressd: --floating-ip-name: missing value",
	    "--floating-ip-name");
	BAD("--resync-interval: missing value", FIP, "--resync-interval");
	BAD("stable-egressd: unexpected argument \"foo\"", FIP, "foo");
	BAD("unexpected argument \"foo\"", "foo", FIP);
	BAD("unexpected argument \"foo\"", FIP, "--", "foo");
	BAD("unexpected argument \"-\"", FIP, "-");
	BAD("bad flag syntax \"---x\"", FIP, "---x");
	BAD("bad flag syntax \"--=x\"", FIP, "--=x");
	/* untrusted text is escaped: the error stays one line */
	BAD("unknown flag \"--a\\x0ab\"", FIP, "--a\nb");
}

static void
test_durations(void **state)
{
	(void)state;
	OK(FIP, "--resync-interval=1m30s", "--node-health-timeout=300ms",
	    "--node-health-interval=1.5s", "--node-unhealthy-grace-period=0",
	    "--node-unprepared-grace-period=1h",
	    "--leader-elect-lease-duration", "60s",
	    "--leader-elect-renew-deadline=40s",
	    "--leader-elect-retry-period=5s");
	assert_int_equal(cfg->resync_interval_ms, 90000);
	assert_int_equal(cfg->node_health_timeout_ms, 300);
	assert_int_equal(cfg->node_health_interval_ms, 1500);
	assert_int_equal(cfg->node_unhealthy_grace_ms, 0);
	assert_int_equal(cfg->node_unprepared_grace_ms, 3600000);
	assert_int_equal(cfg->lease_duration_ms, 60000);
	assert_int_equal(cfg->renew_deadline_ms, 40000);
	assert_int_equal(cfg->retry_period_ms, 5000);
	assert_int_equal(parse("", FIP, "--node-unhealthy-grace-period=9x",
			     NULL),
	    CFG_ERR);
	assert_string_equal(err,
	    "stable-egressd: "
	    "--node-unhealthy-grace-period: invalid duration \"9x\"");
	BAD("--resync-interval: must be at least 1ms, not \"0\"", FIP,
	    "--resync-interval=0");
	BAD("--resync-interval: must be at least 1ms", FIP,
	    "--resync-interval=-1s");
	BAD("--resync-interval: must be at least 1ms", FIP,
	    "--resync-interval=500us");
	BAD("--node-health-timeout: must be at least 1ms", FIP,
	    "--node-health-timeout=0s");
	BAD("--node-health-interval: must be at least 1ms", FIP,
	    "--node-health-interval=0");
	BAD("--node-unprepared-grace-period: must be 0 or more", FIP,
	    "--node-unprepared-grace-period=-1m");
	BAD("--node-health-timeout: invalid duration \"2\"", FIP,
	    "--node-health-timeout=2");
	BAD("--leader-elect-retry-period: invalid duration \"\"", FIP,
	    "--leader-elect-retry-period=");
	BAD("--resync-interval: invalid duration \"9999999999h\"", FIP,
	    "--resync-interval=9999999999h");
}

static void
test_ports(void **state)
{
	(void)state;
	OK(FIP, "--node-health-port=1");
	assert_int_equal(cfg->node_health_port, 1);
	OK(FIP, "--node-health-port=65535");
	assert_int_equal(cfg->node_health_port, 65535);
	BAD("--node-health-port: invalid port \"0\" (1-65535)", FIP,
	    "--node-health-port=0");
	BAD("--node-health-port: invalid port", FIP,
	    "--node-health-port=65536");
	BAD("--node-health-port: invalid port", FIP, "--node-health-port=-1");
	BAD("--node-health-port: invalid port", FIP, "--node-health-port=x");
	BAD("--node-health-port: invalid port", FIP, "--node-health-port=");
	BAD("--node-health-port: invalid port", FIP, "--node-health-port= 80");
	BAD("--node-health-port: invalid port", FIP, "--node-health-port=8a");
}

static void
test_labels(void **state)
{
	(void)state;
	OK(FIP, "--candidate-label=role=egress", "--active-label",
	    "example.com/Gate_1.x=A-1.b_c", "--prepared-pod-label=app=");
	assert_string_equal(cfg->candidate_label, "role=egress");
	assert_string_equal(cfg->active_label, "example.com/Gate_1.x=A-1.b_c");
	assert_string_equal(cfg->prepared_pod_label, "app=");
	BAD("--candidate-label: invalid label \"role\": want key=value", FIP,
	    "--candidate-label=role");
	BAD("--active-label: invalid label \"=x\": bad key", FIP,
	    "--active-label==x");
	BAD("--active-label: invalid label", FIP, "--active-label=-a=x");
	BAD("--active-label: invalid label", FIP, "--active-label=a b=x");
	BAD("--active-label: invalid label", FIP,
	    "--active-label=Example.com/a=x");
	BAD("--active-label: invalid label", FIP, "--active-label=a/b/c=x");
	BAD("--active-label: invalid label", FIP, "--active-label=/a=x");
	BAD("--active-label: invalid label", FIP, "--active-label=a/=x");
	BAD("--active-label: invalid label", FIP, "--active-label=a..b/c=x");
	BAD("--active-label: invalid label", FIP,
	    "--active-label=a"
	    "123456789012345678901234567890123456789012345678901234567890123"
	    "=x");
	BAD("--prepared-pod-label: invalid label \"a=b c\": bad value", FIP,
	    "--prepared-pod-label=a=b c");
	BAD("--prepared-pod-label: invalid label \"a=-b\": bad value", FIP,
	    "--prepared-pod-label=a=-b");
	BAD("--prepared-pod-label: invalid label \"a=b=c\": bad value", FIP,
	    "--prepared-pod-label=a=b=c");
	BAD("--candidate-label: invalid label \"a=", FIP,
	    "--candidate-label=a="
	    "1234567890123456789012345678901234567890123456789012345678901234");
	/* 63 is the limit of a name and a value */
	OK(FIP,
	    "--candidate-label="
	    "a23456789012345678901234567890123456789012345678901234567890123="
	    "b23456789012345678901234567890123456789012345678901234567890123");
}

static void
test_names_and_paths(void **state)
{
	(void)state;
	OK(FIP, "--prepared-pod-namespace=egress-system",
	    "--leader-elect-resource-name=lease.example.com",
	    "--leader-elect-resource-namespace=ops",
	    "--hcloud-token-path=/run/token", "--hcloud-ca-file=/run/ca.pem",
	    "--kubeconfig=/k/config", "--identity=me");
	assert_string_equal(cfg->prepared_pod_namespace, "egress-system");
	assert_string_equal(cfg->lease_name, "lease.example.com");
	assert_string_equal(cfg->lease_namespace, "ops");
	assert_string_equal(cfg->hcloud_token_path, "/run/token");
	assert_string_equal(cfg->hcloud_ca_file, "/run/ca.pem");
	assert_string_equal(cfg->kubeconfig, "/k/config");
	assert_string_equal(cfg->identity, "me");
	BAD("--prepared-pod-namespace: invalid namespace", FIP,
	    "--prepared-pod-namespace=Kube");
	BAD("--leader-elect-resource-namespace: invalid namespace", FIP,
	    "--leader-elect-resource-namespace=a.b");
	BAD("--leader-elect-resource-name: invalid name", FIP,
	    "--leader-elect-resource-name=Lease");
	BAD("--leader-elect-resource-name: invalid name", FIP,
	    "--leader-elect-resource-name=");
	BAD("--hcloud-token-path: must not be empty", FIP,
	    "--hcloud-token-path=");
	BAD("--identity: must not be empty", FIP, "--identity=");
	BAD("--config: must not be empty", FIP, "--config=");
	BAD("--kubeconfig: invalid value \"a\\x0ab\" (control character)", FIP,
	    "--kubeconfig=a\nb");
	BAD("--identity: too long", FIP,
	    "--identity="
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "x");
}

static void
test_allowlist(void **state)
{
	char buf[256];

	(void)state;
	OK(FIP, "--egress-ip-allowlist=203.0.113.7/32, 2001:db8::/48");
	assert_string_equal(cfg->allowlist_text,
	    "203.0.113.7/32, 2001:db8::/48");
	assert_int_equal(cfg->allowlist.set, 1);
	assert_int_equal(cfg->allowlist.n, 2);
	assert_int_equal(allowlist_format(&cfg->allowlist, buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "203.0.113.7/32,2001:db8::/48");
	BAD("stable-egressd: --egress-ip-allowlist: bad entry \"10.0.0.300/8\"",
	    FIP, "--egress-ip-allowlist=10.0.0.300/8");
	BAD("--egress-ip-allowlist: bad entry \"nope\"", FIP,
	    "--egress-ip-allowlist", "203.0.113.7/32,nope");
	/* the message names the flag once */
	BAD("stable-egressd: --egress-ip-allowlist: bad", FIP,
	    "--egress-ip-allowlist=x");
	assert_null(strstr(err + 20, "--egress-ip-allowlist"));
	/* the additional guard is its own flag, unset by default */
	assert_int_equal(cfg->additional_allowlist.set, 0);
	OK(FIP, "--additional-egress-ip-allowlist=198.51.100.0/24");
	assert_int_equal(cfg->additional_allowlist.set, 1);
	assert_int_equal(cfg->allowlist.set, 0);
	BAD("stable-egressd: --additional-egress-ip-allowlist: bad entry "
	    "\"nope\"",
	    FIP, "--additional-egress-ip-allowlist=nope");
}

static void
test_additional(void **state)
{
	(void)state;
	OK(FIP, "--additional-floating-ip-names= b , c,d");
	assert_int_equal(cfg->n_additional, 3);
	assert_string_equal(cfg->additional[0], "b");
	assert_string_equal(cfg->additional[1], "c");
	assert_string_equal(cfg->additional[2], "d");
	OK(FIP, "--additional-floating-ip-names=  ");
	assert_int_equal(cfg->n_additional, 0);
	OK(FIP,
	    "--additional-floating-ip-names=a1,a2,a3,a4,a5,a6,a7,a8,a9,"
	    "a10,a11,a12,a13,a14,a15,a16");
	assert_int_equal(cfg->n_additional, 16);
	BAD("--additional-floating-ip-names: more than 16 names", FIP,
	    "--additional-floating-ip-names=a1,a2,a3,a4,a5,a6,a7,a8,a9,a10,"
	    "a11,a12,a13,a14,a15,a16,a17");
	BAD("--additional-floating-ip-names: empty entry", FIP,
	    "--additional-floating-ip-names=a,,b");
	BAD("--additional-floating-ip-names: empty entry", FIP,
	    "--additional-floating-ip-names=a,");
	BAD("--additional-floating-ip-names: empty entry", FIP,
	    "--additional-floating-ip-names=,");
	BAD("--additional-floating-ip-names: empty entry", FIP,
	    "--additional-floating-ip-names=a, ,b");
	BAD("--additional-floating-ip-names: duplicate name \"a\"", FIP,
	    "--additional-floating-ip-names=a,b,a");
	BAD("--additional-floating-ip-names: \"egress\" repeats "
	    "--floating-ip-name",
	    FIP, "--additional-floating-ip-names=b,egress");
	/* the order of the flags does not matter */
	BAD("\"egress\" repeats --floating-ip-name",
	    "--additional-floating-ip-names=egress", FIP);
}

static void
test_endpoint(void **state)
{
	static const char *const good[][2] = {
		{ "https://api.example.com/v1", "https://api.example.com/v1" },
		{ "https://api.example.com/v1/", "https://api.example.com/v1" },
		{ "HTTPS://h:8443/", "HTTPS://h:8443" },
		{ "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1" },
		{ "http://127.9.8.7", "http://127.9.8.7" },
		{ "http://[::1]:9000/v1/", "http://[::1]:9000/v1" },
		{ "http://localhost:1/", "http://localhost:1" },
		{ "https://[2001:db8::1]/v1", "https://[2001:db8::1]/v1" },
	};
	static const char *const refused[] = { "http://example.com/v1",
		"http://10.0.0.1/v1", "http://127.0.0.1.example.com/",
		"http://[::2]/", "http://127.0.0.1@example.com/",
		"https://user@example.com/", "ftp://127.0.0.1/", "127.0.0.1",
		"https://", "https:///v1", "https://h:0/", "https://h:x/",
		"https://h/?q", "https://h/#f", "https://a b/", "https://[zz]/",
		"http://localhostx/", "http://0x7f000001/" };
	char arg[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(arg, sizeof(arg), "--hcloud-endpoint=%s", good[i][0]);
		OK(FIP, arg);
		assert_string_equal(cfg->hcloud_endpoint, good[i][1]);
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(arg, sizeof(arg), "--hcloud-endpoint=%s", refused[i]);
		BAD("stable-egressd: --hcloud-endpoint: ", FIP, arg);
	}
	BAD("--hcloud-endpoint: http:// is only allowed to a loopback host "
	    "(127.0.0.0/8, ::1, localhost), not \"example.com\"",
	    FIP, "--hcloud-endpoint=http://example.com:80/v1");
}

static void
test_env_endpoint(void **state)
{
	(void)state;
	setenv("HCLOUD_ENDPOINT", "http://127.0.0.1:4000/v1/", 1);
	OK(FIP);
	assert_string_equal(cfg->hcloud_endpoint, "http://127.0.0.1:4000/v1");
	OK(FIP, "--hcloud-endpoint=https://x.example/v1");
	assert_string_equal(cfg->hcloud_endpoint, "https://x.example/v1");
	setenv("HCLOUD_ENDPOINT", "", 1);
	OK(FIP);
	assert_string_equal(cfg->hcloud_endpoint,
	    "https://api.hetzner.cloud/v1");
	setenv("HCLOUD_ENDPOINT", "http://example.com/v1", 1);
	BAD("stable-egressd: $HCLOUD_ENDPOINT: http:// is only allowed", FIP);
	/* a flag that is given makes the variable irrelevant */
	OK(FIP, "--hcloud-endpoint=https://api.hetzner.cloud/v1");
}

static void
test_env_kubeconfig(void **state)
{
	(void)state;
	OK(FIP);
	assert_string_equal(cfg->kubeconfig, "");
	setenv("KUBECONFIG", "/a/config", 1);
	OK(FIP);
	assert_string_equal(cfg->kubeconfig, "/a/config");
	setenv("KUBECONFIG", "/a/one:/b/two", 1);
	OK(FIP);
	assert_string_equal(cfg->kubeconfig, "/a/one");
	setenv("KUBECONFIG", "::/b/two:", 1);
	OK(FIP);
	assert_string_equal(cfg->kubeconfig, "/b/two");
	OK(FIP, "--kubeconfig=/flag/config");
	assert_string_equal(cfg->kubeconfig, "/flag/config");
	/* given empty: in-cluster, whatever the environment says */
	OK(FIP, "--kubeconfig=");
	assert_string_equal(cfg->kubeconfig, "");
	setenv("KUBECONFIG", "/a\tb", 1);
	BAD("stable-egressd: $KUBECONFIG: invalid value", FIP);
}

static void
test_env_namespace(void **state)
{
	(void)state;
	write_file(in_dir("sa/namespace"), " from-file\n", 11);
	OK(FIP);
	assert_string_equal(cfg->lease_namespace, "from-file");
	setenv("POD_NAMESPACE", "from-env", 1);
	OK(FIP);
	assert_string_equal(cfg->lease_namespace, "from-env");
	OK(FIP, "--leader-elect-resource-namespace=from-flag");
	assert_string_equal(cfg->lease_namespace, "from-flag");
	setenv("POD_NAMESPACE", "Bad_NS", 1);
	BAD("stable-egressd: $POD_NAMESPACE: invalid namespace \"Bad_NS\"",
	    FIP);
	unsetenv("POD_NAMESPACE");
	write_file(in_dir("sa/namespace"), "\n", 1);
	OK(FIP);
	assert_string_equal(cfg->lease_namespace, "kube-system");
	write_file(in_dir("sa/namespace"), "no/way", 6);
	BAD("sa/namespace: invalid namespace \"no/way\"", FIP);
	unlink(in_dir("sa/namespace"));
	OK(FIP);
	assert_string_equal(cfg->lease_namespace, "kube-system");
	/* the directory the in-cluster default would be */
	unsetenv("STABLE_EGRESSD_SA_DIR");
	OK(FIP, "--leader-elect-resource-namespace=x");
	assert_string_equal(cfg->sa_dir,
	    "/var/run/secrets/kubernetes.io/serviceaccount");
	/* unreadable is not absent: replicas must agree on the Lease */
	setenv("STABLE_EGRESSD_SA_DIR", in_dir("d"), 1);
	assert_int_equal(mkdir(in_dir("d/namespace"), 0700), 0);
	BAD("/namespace: Is a directory", FIP);
	rmdir(in_dir("d/namespace"));
}

static void
test_identity(void **state)
{
	char host[256], first[CFG_IDENT_MAX];
	size_t n, i;

	(void)state;
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	OK(FIP);
	n = strlen(cfg->identity);
	assert_true(n > 9);
	assert_int_equal(cfg->identity[n - 9], '_');
	assert_int_equal(strncmp(cfg->identity, host, n - 9), 0);
	for (i = n - 8; i < n; i++)
		assert_true(isxdigit((unsigned char)cfg->identity[i]) &&
		    !isupper((unsigned char)cfg->identity[i]));
	snprintf(first, sizeof(first), "%s", cfg->identity);
	OK(FIP);
	/* random per process start: two replicas on one host differ */
	assert_string_not_equal(first, cfg->identity);
	OK(FIP, "--identity", "pod-a");
	assert_string_equal(cfg->identity, "pod-a");
}

static void
test_lease_rule(void **state)
{
	(void)state;
	BAD("stable-egressd: --leader-elect-lease-duration (10s) must be "
	    "greater than --leader-elect-renew-deadline (10s)",
	    FIP, "--leader-elect-lease-duration=10s");
	BAD("--leader-elect-renew-deadline (2.4s) must be greater than 1.2 x "
	    "--leader-elect-retry-period (2s)",
	    FIP, "--leader-elect-renew-deadline=2.4s");
	OK(FIP, "--leader-elect-renew-deadline=2401ms");
	BAD("--leader-elect-retry-period: must be at least 1ms", FIP,
	    "--leader-elect-retry-period=0");
	BAD("--leader-elect-lease-duration: must be at least 1ms", FIP,
	    "--leader-elect-lease-duration=-15s");
	/* without election the timings are not used, as in client-go */
	OK(FIP, "--leader-elect=false", "--leader-elect-lease-duration=1s");
	assert_int_equal(cfg->lease_duration_ms, 1000);
}

static void
test_bind_addresses(void **state)
{
	static const char *const refused[] = { "8080", "host", "[::1]", "a:b",
		":70000", "[zz]:1", "::1:8080", "[::1]x:1", ":", "h_st:80",
		":-1", "[::1]:", "host:http" };
	char arg[128];
	size_t i;

	(void)state;
	OK(FIP, "--metrics-bind-address=127.0.0.1:9090",
	    "--health-probe-bind-address", "[::1]:9091");
	assert_true(cfg->metrics_addr.enabled);
	assert_string_equal(cfg->metrics_addr.host, "127.0.0.1");
	assert_int_equal(cfg->metrics_addr.port, 9090);
	assert_string_equal(cfg->metrics_addr.text, "127.0.0.1:9090");
	assert_true(cfg->health_addr.enabled);
	assert_string_equal(cfg->health_addr.host, "::1");
	assert_int_equal(cfg->health_addr.port, 9091);
	OK(FIP, "--metrics-bind-address=0", "--health-probe-bind-address=");
	assert_false(cfg->metrics_addr.enabled);
	assert_false(cfg->health_addr.enabled);
	OK(FIP, "--metrics-bind-address=localhost:0");
	assert_int_equal(cfg->metrics_addr.port, 0);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(arg, sizeof(arg), "--metrics-bind-address=%s",
		    refused[i]);
		BAD("stable-egressd: --metrics-bind-address: invalid address",
		    FIP, arg);
	}
	BAD("--health-probe-bind-address: invalid address", FIP,
	    "--health-probe-bind-address=8081");
}

static void
test_logging(void **state)
{
	(void)state;
	OK(FIP, "--log-format=text", "--log-level=debug");
	assert_int_equal(cfg->log_json, 0);
	assert_int_equal(cfg->log_level, LOG_DEBUG);
	OK(FIP, "--log-format", "json", "--log-level", "error");
	assert_int_equal(cfg->log_json, 1);
	assert_int_equal(cfg->log_level, LOG_ERROR);
	OK(FIP, "--log-level=warn");
	assert_int_equal(cfg->log_level, LOG_WARN);
	BAD("--log-format: invalid log format \"xml\" (json or text)", FIP,
	    "--log-format=xml");
	BAD("--log-level: invalid log level", FIP, "--log-level=INFO");
	BAD("--log-level: invalid log level", FIP, "--log-level=trace");
}

static void
test_config_file(void **state)
{
	(void)state;
	yaml("# settings\n"
	     "floating-ip-name: egress\n"
	     "node-health-port: 1234\n"
	     "leader-elect: false\n"
	     "dry-run: true\n"
	     "resync-interval: 1m\n"
	     "candidate-label: \"a=b\"\n"
	     "prepared-pod-label:\n"
	     "hcloud-ca-file: ~\n"
	     "identity: 'x: y'\n"
	     "log-format: text\n"
	     "egress-ip-allowlist: 203.0.113.0/24\n");
	OK("--config", path);
	assert_string_equal(cfg->config_path, path);
	assert_string_equal(cfg->floating_ip_name, "egress");
	assert_int_equal(cfg->node_health_port, 1234);
	assert_int_equal(cfg->leader_elect, 0);
	assert_int_equal(cfg->dry_run, 1);
	assert_int_equal(cfg->resync_interval_ms, 60000);
	assert_string_equal(cfg->candidate_label, "a=b");
	assert_string_equal(cfg->prepared_pod_label, "");
	assert_string_equal(cfg->hcloud_ca_file, "");
	assert_string_equal(cfg->identity, "x: y");
	assert_int_equal(cfg->log_json, 0);
	assert_int_equal(cfg->allowlist.set, 1);
	/* a key in the file counts as given: no environment fallback */
	setenv("KUBECONFIG", "/env/config", 1);
	yaml("floating-ip-name: egress\nkubeconfig: /file/config\n");
	OK("-config", path);
	assert_string_equal(cfg->kubeconfig, "/file/config");
}

static void
test_config_sequences(void **state)
{
	(void)state;
	yaml("floating-ip-name: egress\n"
	     "additional-floating-ip-names:\n"
	     "  - b\n"
	     "  - c\n"
	     "egress-ip-allowlist: [203.0.113.0/24, \"2001:db8::/48\"]\n");
	OK("--config", path);
	assert_int_equal(cfg->n_additional, 2);
	assert_string_equal(cfg->additional[0], "b");
	assert_string_equal(cfg->additional[1], "c");
	assert_int_equal(cfg->allowlist.n, 2);
	assert_string_equal(cfg->allowlist_text,
	    "203.0.113.0/24,2001:db8::/48");
	yaml("floating-ip-name: egress\n"
	     "additional-floating-ip-names: b, c\n"
	     "egress-ip-allowlist: []\n");
	OK("--config", path);
	assert_int_equal(cfg->n_additional, 2);
	assert_int_equal(cfg->allowlist.set, 0);
	yaml("floating-ip-name: egress\n"
	     "additional-floating-ip-names: [b, b]\n");
	BAD("additional-floating-ip-names: duplicate name \"b\" (line 2)",
	    "--config", path);
	yaml("floating-ip-name: egress\n"
	     "additional-floating-ip-names: [b, '']\n");
	BAD("additional-floating-ip-names: list item empty", "--config", path);
	yaml("floating-ip-name: egress\n"
	     "additional-floating-ip-names: [b, [c]]\n");
	BAD("additional-floating-ip-names: list items must be plain values",
	    "--config", path);
	yaml("floating-ip-name: [a, b]\n");
	BAD("floating-ip-name: takes one value, not a list", "--config", path);
	yaml("egress-ip-allowlist: [10.0.0.0/8, nope]\n");
	BAD("egress-ip-allowlist: bad entry \"nope\"", "--config", path);
}

static void
test_config_flags_win(void **state)
{
	(void)state;
	yaml("floating-ip-name: from-file\n"
	     "node-health-port: 1111\n"
	     "dry-run: true\n"
	     "additional-floating-ip-names: [x, y]\n");
	OK("--node-health-port=2222", "--config", path, "--dry-run=false");
	assert_string_equal(cfg->floating_ip_name, "from-file");
	assert_int_equal(cfg->node_health_port, 2222);
	assert_int_equal(cfg->dry_run, 0);
	assert_int_equal(cfg->n_additional, 2);
	OK("--config", path, "--floating-ip-name=flag",
	    "--additional-floating-ip-names=z");
	assert_string_equal(cfg->floating_ip_name, "flag");
	assert_int_equal(cfg->n_additional, 1);
	assert_string_equal(cfg->additional[0], "z");
	/* the file may be wrong about a key the command line sets again */
	yaml("floating-ip-name: egress\nnode-health-port: 0\n");
	BAD("node-health-port: invalid port", "--config", path,
	    "--node-health-port=1");
}

static void
test_config_errors(void **state)
{
	char want[600];

	(void)state;
	yaml("floating-ip-name: egress\nfoo: 1\n");
	assert_int_equal(parse("", "--config", path, NULL), CFG_ERR);
	snprintf(want, sizeof(want),
	    "stable-egressd: config %s: unknown key "
	    "\"foo\" (line 2)",
	    path);
	assert_string_equal(err, want);
	yaml("floating-ip-name: egress\nnode-health-port: 0\n");
	snprintf(want, sizeof(want),
	    "stable-egressd: config %s: "
	    "node-health-port: invalid port \"0\" (1-65535) (line 2)",
	    path);
	assert_int_equal(parse("", "--config", path, NULL), CFG_ERR);
	assert_string_equal(err, want);
	yaml("floating-ip-name: egress\n  bad: indent\n");
	BAD("c.yaml: malformed YAML at line 2", "--config", path);
	yaml("additional-floating-ip-names: [a, b\n");
	BAD("c.yaml: malformed YAML at line", "--config", path);
	yaml("floating-ip-name: egress\nleader-elect:\n  enabled: true\n");
	BAD("c.yaml: leader-elect: nested mappings are not supported (line 3)",
	    "--config", path);
	yaml("floating-ip-name: a\nfloating-ip-name: b\n");
	BAD("c.yaml: duplicate key \"floating-ip-name\" (line 2)", "--config",
	    path);
	yaml("- floating-ip-name\n");
	BAD("c.yaml: want a mapping of flag names to values (line 1)",
	    "--config", path);
	yaml("just text\n");
	BAD("c.yaml: want a mapping", "--config", path);
	yaml("floating-ip-name: a\n---\nfloating-ip-name: b\n");
	BAD("c.yaml: only one YAML document is allowed (line 2)", "--config",
	    path);
	yaml("floating-ip-name: &x a\nidentity: *x\n");
	BAD("c.yaml: aliases are not supported (line 2)", "--config", path);
	yaml("? [a]\n: b\n");
	BAD("c.yaml: keys must be flag names (line 1)", "--config", path);
	yaml("config: other.yaml\n");
	BAD("c.yaml: key \"config\" is a command-line flag only", "--config",
	    path);
	yaml("help: true\n");
	BAD("c.yaml: key \"help\" is a command-line flag only", "--config",
	    path);
	yaml("identity: \"a\\0b\"\n");
	BAD("c.yaml: NUL byte in a value (line 1)", "--config", path);
	yaml("\"\\0\": x\n");
	BAD("c.yaml: unknown key \"\"", "--config", path);
	yaml("floating-ip-name: \"a\\nb\"\n");
	BAD("c.yaml: floating-ip-name: invalid name \"a\\x0ab\"", "--config",
	    path);
}

/* Reading the file: missing, not a file, not UTF-8, odd bytes. */
static void
test_config_read_errors(void **state)
{
	(void)state;
	yaml("floating-ip-name: egress\n\x01\n");
	BAD("c.yaml: malformed YAML at byte 25", "--config", path);
	BAD("stable-egressd: config /nonexistent/x.yaml: No such file",
	    "--config", "/nonexistent/x.yaml");
	BAD("d: not a regular file", "--config", in_dir("d"));
	BAD("unknown key \"\\x01\" (line 1)", "--config", yaml("\"\\x01\": 1"));
	yaml("\xff\xfe");
	BAD("c.yaml: malformed YAML at byte 0", "--config", path);
}

static void
test_config_size_cap(void **state)
{
	char *big = malloc(CFG_FILE_MAX + 2);

	(void)state;
	assert_non_null(big);
	memset(big, '#', CFG_FILE_MAX + 1);
	big[0] = 'a';
	big[1] = ':';
	big[2] = ' ';
	big[3] = 'b';
	big[4] = '\n';
	big[CFG_FILE_MAX + 1] = '\0';
	yaml(big);
	BAD("c.yaml: larger than 64 KiB", "--config", path);
	/* exactly the cap is fine (a comment, after a valid mapping) */
	big[CFG_FILE_MAX] = '\0';
	memcpy(big, "floating-ip-name: x\n", 20);
	yaml(big);
	OK("--config", path);
	free(big);
}

static void
test_config_empty(void **state)
{
	static const char *const empty[] = { "", "# nothing\n", "---\n",
		"---\n...\n", "{}\n" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		yaml(empty[i]);
		OK(FIP, "--config", path);
		assert_string_equal(cfg->floating_ip_name, "egress");
	}
	yaml("");
	BAD("--floating-ip-name is required", "--config", path);
}

static void
test_load_yaml_buffer(void **state)
{
	static const char doc[] = "floating-ip-name: a\nnode-health-port: 78";

	(void)state;
	cfg_defaults(cfg);
	/* not NUL-terminated: only len bytes are read */
	assert_int_equal(cfg_load_yaml(cfg, "mem", doc, sizeof(doc) - 2, err,
			     sizeof(err)),
	    0);
	assert_string_equal(cfg->floating_ip_name, "a");
	assert_int_equal(cfg->node_health_port, 7);
	assert_int_equal(cfg_load_yaml(cfg, "m\nem", "x: 1", 4, err,
			     sizeof(err)),
	    -1);
	assert_string_equal(err,
	    "stable-egressd: config m?em: unknown key "
	    "\"x\" (line 1)");
}

static char *
capture(void (*fn)(const struct cfg *, FILE *), size_t *len)
{
	char *out = NULL;
	FILE *fp = open_memstream(&out, len);

	assert_non_null(fp);
	fn(cfg, fp);
	fclose(fp);
	return out;
}

static void
print_cfg(const struct cfg *c, FILE *fp)
{
	cfg_print(c, fp);
}

static void
print_usage(const struct cfg *c, FILE *fp)
{
	(void)c;
	cfg_usage(fp);
}

static void
print_version(const struct cfg *c, FILE *fp)
{
	(void)c;
	cfg_version(fp);
}

/* --check-config output is a --config file that gives the same result. */
static void
test_print_round_trip(void **state)
{
	struct cfg *first = malloc(sizeof(*first));
	size_t len;
	char *out;

	(void)state;
	assert_non_null(first);
	OK(FIP, "--additional-floating-ip-names=b,c",
	    "--egress-ip-allowlist=203.0.113.9/24", "--identity=a\"b\\c",
	    "--resync-interval=90s", "--metrics-bind-address=0",
	    "--prepared-pod-label=", "--leader-elect=false", "--dry-run",
	    "--log-level=warn", "--check-config");
	*first = *cfg;
	out = capture(print_cfg, &len);
	assert_non_null(strstr(out, "floating-ip-name: \"egress\"\n"));
	assert_non_null(strstr(out, "additional-floating-ip-names: \"b,c\"\n"));
	assert_non_null(
	    strstr(out, "egress-ip-allowlist: \"203.0.113.0/24\"\n"));
	assert_non_null(strstr(out, "resync-interval: 1m30s\n"));
	assert_non_null(strstr(out, "node-unprepared-grace-period: 5m0s\n"));
	assert_non_null(strstr(out, "node-health-port: 9962\n"));
	assert_non_null(strstr(out, "leader-elect: false\n"));
	assert_non_null(strstr(out, "metrics-bind-address: \"0\"\n"));
	assert_non_null(strstr(out, "identity: \"a\\\"b\\\\c\"\n"));
	assert_null(strstr(out, "check-config"));
	assert_null(strstr(out, "help"));
	assert_null(strstr(out, "\nconfig:"));
	/* flag-name order */
	assert_true(strstr(out, "active-label") < strstr(out, "dry-run"));
	assert_true(strstr(out, "dry-run") < strstr(out, "resync-interval"));
	write_file(in_dir("c.yaml"), out, len);
	free(out);
	snprintf(path, sizeof(path), "%s", in_dir("c.yaml"));
	OK("--config", path);
	assert_string_equal(cfg->identity, first->identity);
	assert_string_equal(cfg->allowlist_text, "203.0.113.0/24");
	assert_int_equal(cfg->n_additional, 2);
	assert_int_equal(cfg->resync_interval_ms, 90000);
	assert_int_equal(cfg->metrics_addr.enabled, 0);
	assert_int_equal(cfg->leader_elect, 0);
	assert_int_equal(cfg->dry_run, 1);
	assert_int_equal(cfg->log_level, LOG_WARN);
	assert_string_equal(cfg->prepared_pod_label, "");
	assert_string_equal(cfg->lease_namespace, first->lease_namespace);
	assert_int_equal(cfg->node_unprepared_grace_ms, 300000);
	free(first);
}

static void
test_usage_and_version(void **state)
{
	char want[128];
	size_t len, i;
	char *out;

	(void)state;
	out = capture(print_usage, &len);
	for (i = 0; i < cfg_nflags; i++) {
		snprintf(want, sizeof(want), "  --%s", cfg_flags[i].name);
		if (strstr(out, want) == NULL)
			fail_msg("usage lacks %s", want);
	}
	assert_non_null(
	    strstr(out, "(default \"https://api.hetzner.cloud/v1\")"));
	assert_non_null(strstr(out, "(default 90s)"));
	assert_non_null(strstr(out, "(default 9962)"));
	assert_non_null(strstr(out, "(default \":8080\")"));
	assert_non_null(strstr(out,
	    "(default \"stable-egress-controller."
	    "tuist.dev\")"));
	assert_null(strstr(out, "(default false)"));
	free(out);
	out = capture(print_version, &len);
	assert_int_equal(strncmp(out, "stable-egressd ", 15), 0);
	assert_int_equal(out[len - 1], '\n');
	free(out);
}

static const char *
arg(struct cfg_worker_args *a, const char *key)
{
	return str_arg(a->argc, a->argv, key);
}

/* controller-runtime's --zap-* flags map onto ours (DESIGN.md). */
static void
test_zap_flags(void **state)
{
	(void)state;
	OK(FIP, "--zap-encoder=console", "--zap-log-level=error",
	    "--zap-stacktrace-level=panic", "--zap-time-encoding=RFC3339");
	assert_int_equal(cfg->log_json, 0);
	assert_int_equal(cfg->log_level, LOG_ERROR);
	assert_int_equal(cfg->log_time, LOG_TS_RFC3339);
	OK(FIP, "--zap-log-level=3", "--zap-encoder=JSON");
	assert_int_equal(cfg->log_level, LOG_DEBUG);
	assert_int_equal(cfg->log_json, 1);
	/* --zap-devel: zap's development defaults where nothing else says */
	OK(FIP, "--zap-devel");
	assert_int_equal(cfg->log_json, 0);
	assert_int_equal(cfg->log_level, LOG_DEBUG);
	assert_int_equal(cfg->log_time, LOG_TS_ISO8601);
	OK(FIP, "--zap-devel", "--zap-encoder=json", "--log-level=warn",
	    "--zap-time-encoding=nano");
	assert_int_equal(cfg->log_json, 1);
	assert_int_equal(cfg->log_level, LOG_WARN);
	assert_int_equal(cfg->log_time, LOG_TS_NANOS);
	OK(FIP, "--zap-devel=false");
	assert_int_equal(cfg->log_json, 1);
	assert_int_equal(cfg->log_time, LOG_TS_DEFAULT);
	BAD("stable-egressd: --zap-encoder: invalid encoder \"xml\"", FIP,
	    "--zap-encoder=xml");
	BAD("stable-egressd: --zap-log-level: invalid log level \"0\"", FIP,
	    "--zap-log-level=0");
	BAD("stable-egressd: --zap-stacktrace-level: invalid stacktrace", FIP,
	    "--zap-stacktrace-level=debug");
	BAD("stable-egressd: --zap-time-encoding: invalid time encoding", FIP,
	    "--zap-time-encoding=unix");
}

static void
test_worker_args(void **state)
{
	struct cfg_worker_args *a = malloc(sizeof(*a));

	(void)state;
	assert_non_null(a);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	OK(FIP, "--additional-floating-ip-names=b,c", "--identity=me",
	    "--check-config", "--log-format=text", "--log-level=debug",
	    "--prepared-pod-label=", "--node-health-timeout=1500ms");
	assert_int_equal(cfg_worker_args(cfg, CFG_WORKER_K8S, a), 0);
	assert_int_equal(a->argc, 15);
	assert_null(a->argv[a->argc]);
	assert_string_equal(arg(a, "log_format"), "text");
	assert_string_equal(arg(a, "log_time"), "");
	assert_string_equal(arg(a, "log_level"), "debug");
	assert_string_equal(arg(a, "check"), "1");
	assert_string_equal(arg(a, "kubeconfig"), "");
	assert_string_equal(arg(a, "service_host"), "10.96.0.1");
	assert_string_equal(arg(a, "service_port"), "443");
	assert_string_equal(arg(a, "sa_dir"), in_dir("sa"));
	assert_string_equal(arg(a, "candidate_label"),
	    "tuist.dev/stable-egress-candidate=server");
	assert_string_equal(arg(a, "active_label"),
	    "tuist.dev/stable-egress-gateway=server");
	assert_string_equal(arg(a, "prepared_label"), "");
	assert_string_equal(arg(a, "prepared_namespace"), "kube-system");
	assert_string_equal(arg(a, "lease_namespace"), "kube-system");
	assert_string_equal(arg(a, "lease_name"),
	    "stable-egress-controller.tuist.dev");
	assert_string_equal(arg(a, "identity"), "me");
	assert_int_equal(cfg_worker_args(cfg, CFG_WORKER_HCLOUD, a), 0);
	assert_int_equal(a->argc, 9);
	assert_string_equal(arg(a, "token_path"), "/etc/hcloud/token");
	assert_string_equal(arg(a, "server_selector"), "");
	assert_string_equal(arg(a, "endpoint"), "https://api.hetzner.cloud/v1");
	assert_string_equal(arg(a, "ca_file"), "");
	assert_string_equal(arg(a, "fips"), "egress,b,c");
	assert_null(arg(a, "identity"));
	assert_int_equal(cfg_worker_args(cfg, CFG_WORKER_PROBE, a), 0);
	assert_int_equal(a->argc, 7);
	assert_string_equal(arg(a, "port"), "9962");
	assert_string_equal(arg(a, "timeout_ms"), "1500");
	assert_string_equal(arg(a, "interval_ms"), "1000");
	assert_string_equal(arg(a, "check"), "1");
	OK(FIP);
	assert_int_equal(cfg_worker_args(cfg, CFG_WORKER_HCLOUD, a), 0);
	assert_string_equal(arg(a, "fips"), "egress");
	assert_string_equal(arg(a, "check"), "0");
	assert_string_equal(arg(a, "log_format"), "json");
	errno = 0;
	assert_int_equal(cfg_worker_args(cfg, (enum cfg_worker)9, a), -1);
	assert_int_equal(errno, EINVAL);
	free(a);
}

/* The largest values still fit the workers' argument buffer. */
static void
test_worker_args_worst_case(void **state)
{
	struct cfg_worker_args *a = malloc(sizeof(*a));
	size_t i;

	(void)state;
	assert_non_null(a);
	OK(FIP);
	memset(cfg->kubeconfig, 'k', sizeof(cfg->kubeconfig) - 1);
	memset(cfg->sa_dir, 's', sizeof(cfg->sa_dir) - 1);
	memset(cfg->hcloud_token_path, 't', sizeof(cfg->hcloud_token_path) - 1);
	memset(cfg->hcloud_ca_file, 'c', sizeof(cfg->hcloud_ca_file) - 1);
	memset(cfg->hcloud_endpoint, 'e', sizeof(cfg->hcloud_endpoint) - 1);
	memset(cfg->hcloud_server_selector, 'l',
	    sizeof(cfg->hcloud_server_selector) - 1);
	memset(cfg->floating_ip_name, 'f', sizeof(cfg->floating_ip_name) - 1);
	cfg->n_additional = CFG_ADDITIONAL_MAX;
	for (i = 0; i < CFG_ADDITIONAL_MAX; i++) {
		memset(cfg->additional[i], 'a', sizeof(cfg->additional[i]) - 1);
		cfg->additional[i][sizeof(cfg->additional[i]) - 1] = '\0';
	}
	assert_int_equal(cfg_worker_args(cfg, CFG_WORKER_K8S, a), 0);
	assert_int_equal(cfg_worker_args(cfg, CFG_WORKER_HCLOUD, a), 0);
	assert_int_equal(strlen(arg(a, "fips")),
	    (CFG_FIPNAME_MAX - 1) * (CFG_ADDITIONAL_MAX + 1) +
		CFG_ADDITIONAL_MAX);
	free(a);
}

static void
test_quote(void **state)
{
	char q[CFG_QUOTE_MAX], small[8];
	char long_in[300];

	(void)state;
	cfg_quote(q, sizeof(q), "a\"b\\c\n\x7f\xff");
	assert_string_equal(q, "\"a\\\"b\\\\c\\x0a\\x7f\\xff\"");
	memset(long_in, 'x', sizeof(long_in) - 1);
	long_in[sizeof(long_in) - 1] = '\0';
	cfg_quote(q, sizeof(q), long_in);
	assert_int_equal(strlen(q), 64 + 5);
	assert_string_equal(q + 65, "...\"");
	cfg_quote(small, sizeof(small), "abcdefgh");
	assert_true(strlen(small) < sizeof(small));
	cfg_quote(small, 3, "x");
	assert_string_equal(small, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_table_defaults_valid, setup),
		cmocka_unit_test_setup(test_defaults, setup),
		cmocka_unit_test_setup(test_required, setup),
		cmocka_unit_test_setup(test_flag_forms, setup),
		cmocka_unit_test_setup(test_booleans, setup),
		cmocka_unit_test_setup(test_help_version, setup),
		cmocka_unit_test_setup(test_command_line_errors, setup),
		cmocka_unit_test_setup(test_durations, setup),
		cmocka_unit_test_setup(test_ports, setup),
		cmocka_unit_test_setup(test_labels, setup),
		cmocka_unit_test_setup(test_names_and_paths, setup),
		cmocka_unit_test_setup(test_allowlist, setup),
		cmocka_unit_test_setup(test_additional, setup),
		cmocka_unit_test_setup(test_endpoint, setup),
		cmocka_unit_test_setup(test_env_endpoint, setup),
		cmocka_unit_test_setup(test_env_kubeconfig, setup),
		cmocka_unit_test_setup(test_env_namespace, setup),
		cmocka_unit_test_setup(test_identity, setup),
		cmocka_unit_test_setup(test_lease_rule, setup),
		cmocka_unit_test_setup(test_bind_addresses, setup),
		cmocka_unit_test_setup(test_logging, setup),
		cmocka_unit_test_setup(test_config_file, setup),
		cmocka_unit_test_setup(test_config_sequences, setup),
		cmocka_unit_test_setup(test_config_flags_win, setup),
		cmocka_unit_test_setup(test_config_errors, setup),
		cmocka_unit_test_setup(test_config_read_errors, setup),
		cmocka_unit_test_setup(test_config_size_cap, setup),
		cmocka_unit_test_setup(test_config_empty, setup),
		cmocka_unit_test_setup(test_load_yaml_buffer, setup),
		cmocka_unit_test_setup(test_print_round_trip, setup),
		cmocka_unit_test_setup(test_usage_and_version, setup),
		cmocka_unit_test_setup(test_zap_flags, setup),
		cmocka_unit_test_setup(test_worker_args, setup),
		cmocka_unit_test_setup(test_worker_args_worst_case, setup),
		cmocka_unit_test_setup(test_quote, setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
