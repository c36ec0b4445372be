/* cfg.c: the command line, the environment fallbacks and cfg_parse() */
#include <sys/random.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sandbox.h"
#include "common/str.h"
#include "cfg.h"
#include "dur.h"

#define PROG "stable-egressd: "
#define SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"
#define NS_FALLBACK "kube-system"

enum walk_mode {
	WALK_SCAN, /* find --help, --version, --config; check shape */
	WALK_APPLY /* set every flag (after the file) */
};

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* err = "stable-egressd: " and the message: every error is one line. */
static void
fail(char *err, size_t errlen, const char *fmt, ...)
{
	char msg[CFG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	cfg_errf(err, errlen, PROG "%s", msg);
}

struct cfg_arg {
	int flag; /* index into cfg_flags */
	const char *val;
};

static int
bad_flag(char *err, size_t errlen, const char *what, const char *arg)
{
	char q[CFG_QUOTE_MAX];

	cfg_quote(q, sizeof(q), arg);
	fail(err, errlen, "%s %s", what, q);
	return -1;
}

/*
 * The flag at argv[*ip]: 1 with *a filled, 0 where the flags end, -1 with
 * err (*ip then moves on, so a later --help is still seen).  Go's flag
 * package rules: "-x" is "--x", "--" ends the flags and so does the
 * first non-flag, a boolean never takes the next argument.
 */
static int
next_arg(int argc, char **argv, int *ip, struct cfg_arg *a, char *err,
    size_t errlen)
{
	const char *arg = argv[*ip], *s = arg + 1, *eq;
	char name[64];
	size_t n;

	if (arg[0] != '-' || arg[1] == '\0')
		return 0;
	(*ip)++;
	if (*s == '-' && *++s == '\0')
		return 0;
	if (*s == '-' || *s == '=')
		return bad_flag(err, errlen, "bad flag syntax", arg);
	eq = strchr(s, '=');
	n = eq != NULL ? (size_t)(eq - s) : strlen(s);
	a->flag = -1;
	if (n < sizeof(name)) {
		memcpy(name, s, n);
		name[n] = '\0';
		a->flag = cfg_flag_find(strcmp(name, "h") == 0 ? "help" : name);
	}
	if (a->flag == -1)
		return bad_flag(err, errlen, "unknown flag", arg);
	if (eq != NULL)
		a->val = eq + 1;
	else if (cfg_flags[a->flag].type == CFG_T_BOOL ||
	    cfg_flags[a->flag].type == CFG_T_ACTION)
		a->val = "true";
	else if (*ip >= argc) {
		fail(err, errlen, "--%s: missing value",
		    cfg_flags[a->flag].name);
		return -1;
	} else
		a->val = argv[(*ip)++];
	return 1;
}

/* First pass: --help and --version win; --config is needed first. */
static enum cfg_result
scan_one(struct cfg *c, const struct cfg_arg *a, char *err, size_t errlen)
{
	const struct cfg_flag *f = &cfg_flags[a->flag];
	char why[CFG_ERR_MAX];

	if (f->type != CFG_T_ACTION && strcmp(f->name, "config") != 0)
		return CFG_OK;
	if (cfg_flag_apply(c, a->flag, a->val, why, sizeof(why)) == -1) {
		fail(err, errlen, "--%s: %s", f->name, why);
		return CFG_ERR;
	}
	if (f->type != CFG_T_ACTION || cfg_parse_bool(a->val) != 1)
		return CFG_OK;
	return strcmp(f->name, "help") == 0 ? CFG_HELP : CFG_VERSION;
}

static enum cfg_result
walk(struct cfg *c, int argc, char **argv, enum walk_mode mode, char *err,
    size_t errlen)
{
	const struct cfg_flag *f;
	enum cfg_result r, first = CFG_OK;
	struct cfg_arg a;
	char why[CFG_ERR_MAX];
	int i = 1, got;

	while (i < argc &&
	    (got = next_arg(argc, argv, &i, &a, why, sizeof(why))) != 0) {
		r = got == -1 ? CFG_ERR : CFG_OK;
		if (r == CFG_OK && mode == WALK_SCAN)
			r = scan_one(c, &a, why, sizeof(why));
		if (r == CFG_HELP || r == CFG_VERSION)
			return r;
		/* Keep scanning after an error: --help later still wins. */
		if (r == CFG_ERR && first == CFG_OK) {
			first = CFG_ERR;
			cfg_errf(err, errlen, "%s", why);
		}
		if (r != CFG_OK || mode == WALK_SCAN)
			continue;
		f = &cfg_flags[a.flag];
		if (f->type != CFG_T_ACTION &&
		    cfg_flag_apply(c, a.flag, a.val, why, sizeof(why)) == -1) {
			fail(err, errlen, "--%s: %s", f->name, why);
			return CFG_ERR;
		}
	}
	if (first == CFG_OK && i < argc) {
		bad_flag(err, errlen, "unexpected argument", argv[i]);
		first = CFG_ERR;
	}
	return first;
}

enum cfg_result
cfg_parse(struct cfg *c, int argc, char **argv, char *err, size_t errlen)
{
	enum cfg_result r;

	cfg_errf(err, errlen, "%s", "");
	cfg_defaults(c);
	if ((r = walk(c, argc, argv, WALK_SCAN, err, errlen)) != CFG_OK)
		return r;
	/* The file first, then the command line again: flags win. */
	if (c->config_path[0] != '\0' &&
	    cfg_load_file(c, c->config_path, err, errlen) == -1)
		return CFG_ERR;
	if (walk(c, argc, argv, WALK_APPLY, err, errlen) != CFG_OK)
		return CFG_ERR;
	if (cfg_finish(c, err, errlen) == -1)
		return CFG_ERR;
	return CFG_OK;
}

static int
given(const struct cfg *c, const char *name)
{
	int i = cfg_flag_find(name);

	return i >= 0 && (c->given & (UINT64_C(1) << i)) != 0;
}

/* Sets flag name from an environment variable, errors naming it. */
static int
from_env(struct cfg *c, const char *name, const char *var, const char *val,
    char *err, size_t errlen)
{
	const struct cfg_flag *f = &cfg_flags[cfg_flag_find(name)];
	char why[CFG_ERR_MAX];

	if (f->set(c, f, val, why, sizeof(why)) == 0)
		return 0;
	fail(err, errlen, "$%s: %s", var, why);
	return -1;
}

/* Copies an environment value that is not a flag (service, SA dir). */
static int
env_copy(char *dst, size_t len, const char *var, const char *def, char *err,
    size_t errlen)
{
	const char *v = getenv(var);

	if (v == NULL || v[0] == '\0')
		v = def;
	if (cfg_has_ctl(v) || str_copy(dst, len, v) == -1) {
		fail(err, errlen, "$%s: invalid or too long", var);
		return -1;
	}
	return 0;
}

static int
env_kubeconfig(struct cfg *c, char *err, size_t errlen)
{
	const char *env = getenv("KUBECONFIG");
	char path[CFG_PATH_MAX];
	size_t n;

	if (given(c, "kubeconfig") || env == NULL)
		return 0;
	/* kubectl merges a colon list; one file is read here: the first. */
	while (*env == ':')
		env++;
	n = strcspn(env, ":");
	if (n >= sizeof(path)) {
		fail(err, errlen, "$KUBECONFIG: path too long");
		return -1;
	}
	memcpy(path, env, n);
	path[n] = '\0';
	return from_env(c, "kubeconfig", "KUBECONFIG", path, err, errlen);
}

/*
 * Reads at most len - 1 bytes of path into buf, NUL-terminated.  A
 * missing file reads as "".  0, or -1 with errno.
 */
static int
read_small(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n = 0;
	int fd, saved;

	buf[0] = '\0';
	/* O_NONBLOCK: a FIFO planted there must not hang the start. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	while (got < len - 1) {
		n = read(fd, buf + got, len - 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	saved = errno;
	close(fd);
	errno = saved;
	buf[got] = '\0';
	return n == -1 ? -1 : 0;
}

/*
 * --leader-elect-resource-namespace, else $POD_NAMESPACE, else the
 * service-account file, else kube-system.  A file that exists but cannot
 * be read is an error: replicas guessing different namespaces would each
 * hold their own Lease.
 */
static int
lease_namespace(struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_flag *f;
	const char *env = getenv("POD_NAMESPACE");
	char path[CFG_PATH_MAX + 16], ns[128], why[CFG_ERR_MAX];
	int r;

	if (given(c, "leader-elect-resource-namespace"))
		return 0;
	if (env != NULL && env[0] != '\0')
		return from_env(c, "leader-elect-resource-namespace",
		    "POD_NAMESPACE", env, err, errlen);
	r = snprintf(path, sizeof(path), "%s/namespace", c->sa_dir);
	if (r < 0 || (size_t)r >= sizeof(path) ||
	    read_small(path, ns, sizeof(ns)) == -1) {
		fail(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	str_trim(ns);
	f = &cfg_flags[cfg_flag_find("leader-elect-resource-namespace")];
	if (f->set(c, f, ns[0] != '\0' ? ns : NS_FALLBACK, why, sizeof(why)) ==
	    -1) {
		fail(err, errlen, "%s: %s", path, why);
		return -1;
	}
	return 0;
}

/* client-go's default: "<hostname>_<random>", unique per process. */
static int
default_identity(struct cfg *c, char *err, size_t errlen)
{
	char host[65];
	uint32_t rnd;
	int n;

	if (given(c, "identity"))
		return 0;
	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0' ||
	    cfg_has_ctl(host))
		(void)str_copy(host, sizeof(host), "stable-egressd");
	host[sizeof(host) - 1] = '\0';
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		fail(err, errlen, "--identity: no default: getrandom: %s",
		    strerror(errno));
		return -1;
	}
	n = snprintf(c->identity, sizeof(c->identity), "%s_%08x", host,
	    (unsigned int)rnd);
	if (n < 0 || (size_t)n >= sizeof(c->identity)) {
		fail(err, errlen, "--identity: no default");
		return -1;
	}
	return 0;
}

static int
check_fips(const struct cfg *c, char *err, size_t errlen)
{
	char q[CFG_QUOTE_MAX];
	size_t i;

	if (c->floating_ip_name[0] == '\0') {
		fail(err, errlen, "--floating-ip-name is required");
		return -1;
	}
	for (i = 0; i < c->n_additional; i++) {
		if (strcmp(c->additional[i], c->floating_ip_name) != 0)
			continue;
		cfg_quote(q, sizeof(q), c->additional[i]);
		fail(err, errlen,
		    "--additional-floating-ip-names: %s repeats "
		    "--floating-ip-name",
		    q);
		return -1;
	}
	return 0;
}

/*
 * client-go's rule: lease > renew > 1.2 x retry > 0 (each > 0 is the
 * setters' job).  In tenths, so no float: values are at most ~9.2e12.
 */
static int
check_lease(const struct cfg *c, char *err, size_t errlen)
{
	char a[DUR_STR_MAX], b[DUR_STR_MAX];

	if (!c->leader_elect)
		return 0;
	if (c->lease_duration_ms <= c->renew_deadline_ms) {
		(void)dur_format(c->lease_duration_ms, a, sizeof(a));
		(void)dur_format(c->renew_deadline_ms, b, sizeof(b));
		fail(err, errlen,
		    "--leader-elect-lease-duration (%s) must be "
		    "greater than --leader-elect-renew-deadline (%s)",
		    a, b);
		return -1;
	}
	if (c->renew_deadline_ms * 10 <= c->retry_period_ms * 12) {
		(void)dur_format(c->renew_deadline_ms, a, sizeof(a));
		(void)dur_format(c->retry_period_ms, b, sizeof(b));
		fail(err, errlen,
		    "--leader-elect-renew-deadline (%s) must be "
		    "greater than 1.2 x --leader-elect-retry-period (%s)",
		    a, b);
		return -1;
	}
	return 0;
}

/*
 * --user NAME (or a numeric uid, for images without a passwd entry):
 * every process switches to it after start-up.  Resolved here, while
 * /etc/passwd can still be read; whether it is required (started as
 * root) is the supervisor's check, so parsing stays free of uid
 * policy.  Switching to another user needs root; naming ourselves is
 * allowed and changes nothing.
 */
static int
resolve_user(struct cfg *c, char *err, size_t errlen)
{
	struct passwd *pw;
	char q[CFG_QUOTE_MAX];
	long long n;
	char *end;

	if (c->user[0] == '\0')
		return 0;
	cfg_quote(q, sizeof(q), c->user);
	errno = 0;
	if ((pw = getpwnam(c->user)) != NULL) {
		c->uid = pw->pw_uid;
		c->gid = pw->pw_gid;
	} else {
		errno = 0;
		n = strtoll(c->user, &end, 10);
		if (errno != 0 || *end != '\0' || end == c->user || n < 1 ||
		    n > 0x7fffffffLL) {
			fail(err, errlen, "--user: no such user %s", q);
			return -1;
		}
		c->uid = c->gid = (uint32_t)n;
	}
	if (c->uid == 0 || c->gid == 0) {
		fail(err, errlen,
		    "--user: %s is root; name an unprivileged user", q);
		return -1;
	}
	if (geteuid() != 0 && c->uid != geteuid()) {
		fail(err, errlen,
		    "--user: switching to %s needs starting as root", q);
		return -1;
	}
	c->drop = geteuid() == 0;
	return 0;
}

int
cfg_finish(struct cfg *c, char *err, size_t errlen)
{
	const char *env = getenv("HCLOUD_ENDPOINT");

	if (env_kubeconfig(c, err, errlen) == -1)
		return -1;
	if (!given(c, "hcloud-endpoint") && env != NULL && env[0] != '\0' &&
	    from_env(c, "hcloud-endpoint", "HCLOUD_ENDPOINT", env, err,
		errlen) == -1)
		return -1;
	if (env_copy(c->sa_dir, sizeof(c->sa_dir), "STABLE_EGRESSD_SA_DIR",
		SA_DIR_DEFAULT, err, errlen) == -1 ||
	    env_copy(c->service_host, sizeof(c->service_host),
		"KUBERNETES_SERVICE_HOST", "", err, errlen) == -1 ||
	    env_copy(c->service_port, sizeof(c->service_port),
		"KUBERNETES_SERVICE_PORT", "", err, errlen) == -1)
		return -1;
	if (lease_namespace(c, err, errlen) == -1 ||
	    default_identity(c, err, errlen) == -1 ||
	    resolve_user(c, err, errlen) == -1)
		return -1;
	cfg_zap_finish(c);
	if (check_fips(c, err, errlen) == -1 ||
	    check_lease(c, err, errlen) == -1)
		return -1;
	/* Probed here, before any process is sandboxed: the supervisor
	 * exports it, and an operator who requires it is refused now. */
	if ((c->landlock_abi = sandbox_landlock_abi()) == 0 &&
	    c->require_landlock) {
		fail(err, errlen,
		    "--require-landlock: this kernel has no Landlock (not "
		    "built, or not in the lsm= list)");
		return -1;
	}
	return 0;
}
