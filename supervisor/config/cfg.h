/* cfg.h: command line, --config file and the effective configuration */
#ifndef SUPERVISOR_CFG_H
#define SUPERVISOR_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/log.h"
#include "common/proto.h"
#include "allowlist.h"

/* Field sizes, each including the terminating NUL. */
#define CFG_FIPNAME_MAX PROTO_FIPNAME_MAX
#define CFG_ADDITIONAL_MAX 16
#define CFG_LABEL_MAX 384 /* prefix/name (253+1+63) = value (63) */
#define CFG_NS_MAX 64 /* DNS-1123 label */
#define CFG_DNSNAME_MAX PROTO_NAME_MAX /* DNS-1123 subdomain */
#define CFG_PATH_MAX 4096
#define CFG_URL_MAX 2048
#define CFG_LIST_MAX 4096 /* a comma list, as given */
#define CFG_IDENT_MAX PROTO_IDENT_MAX
#define CFG_HOST_MAX 256
#define CFG_BIND_MAX (CFG_HOST_MAX + 8)
#define CFG_PORT_MAX 8
/* Enough for any message cfg_parse() writes; longer errlen is fine. */
#define CFG_ERR_MAX 640
/* --config is read whole, up to this, before any parsing. */
#define CFG_FILE_MAX (64 * 1024)

/* A listen address: "host:port", ":port", "[v6]:port"; "0" or "" = off. */
struct cfg_bind {
	int enabled;
	char host[CFG_HOST_MAX]; /* "" = every address; no [] */
	int port; /* 0..65535 */
	char text[CFG_BIND_MAX]; /* as given */
};

/*
 * The effective configuration: defaults, then the --config file, then the
 * command line, then the environment fallbacks (DESIGN.md).  Durations
 * are milliseconds.  Labels are "key=value" text, validated.
 */
struct cfg {
	/* Floating IPs and the allowlist guard */
	char floating_ip_name[CFG_FIPNAME_MAX];
	size_t n_additional;
	char additional[CFG_ADDITIONAL_MAX][CFG_FIPNAME_MAX];
	char allowlist_text[CFG_LIST_MAX]; /* as given */
	struct allowlist allowlist; /* .set 0: no guard */
	/* --additional-egress-ip-allowlist: the additional ones only */
	char additional_allowlist_text[CFG_LIST_MAX];
	struct allowlist additional_allowlist; /* .set 0: not checked */

	/* Kubernetes */
	char candidate_label[CFG_LABEL_MAX];
	char active_label[CFG_LABEL_MAX];
	char prepared_pod_label[CFG_LABEL_MAX]; /* "": no gate */
	char prepared_pod_namespace[CFG_NS_MAX];
	char kubeconfig[CFG_PATH_MAX]; /* "": in-cluster */
	char service_host[CFG_HOST_MAX]; /* $KUBERNETES_SERVICE_HOST */
	char service_port[CFG_PORT_MAX]; /* $KUBERNETES_SERVICE_PORT */
	char sa_dir[CFG_PATH_MAX]; /* service-account dir */

	/* Hetzner Cloud */
	char hcloud_token_path[CFG_PATH_MAX];
	char hcloud_endpoint[CFG_URL_MAX]; /* no trailing '/' */
	char hcloud_ca_file[CFG_PATH_MAX]; /* "": system CAs */
	char hcloud_server_selector[1024]; /* "": no server check */

	/* Decisions and probes */
	int64_t resync_interval_ms; /* > 0 */
	int node_health_port; /* 1..65535 */
	int64_t node_health_timeout_ms; /* > 0 */
	int64_t node_health_interval_ms; /* > 0 */
	int64_t node_unhealthy_grace_ms; /* >= 0 */
	int64_t node_unprepared_grace_ms; /* >= 0 */

	/* Leader election */
	int leader_elect;
	int64_t lease_duration_ms;
	int64_t renew_deadline_ms;
	int64_t retry_period_ms;
	char lease_name[CFG_DNSNAME_MAX];
	char lease_namespace[CFG_NS_MAX];
	char identity[CFG_IDENT_MAX];

	/* Listeners, logs and modes */
	struct cfg_bind metrics_addr;
	struct cfg_bind health_addr;
	int log_json; /* 1 json, 0 text */
	enum log_level log_level;
	enum log_time log_time; /* --zap-time-encoding */
	int zap_devel; /* --zap-devel: text, debug, iso8601 unless given */
	char zap_stacktrace_level[8]; /* accepted; no stack traces here */
	int dry_run;
	int check_config;
	int require_landlock;
	int landlock_abi; /* the kernel's, probed by cfg_finish(); 0: none */
	char config_path[CFG_PATH_MAX]; /* "": no file */

	/* Privileges: --user resolved by cfg_finish() */
	char user[CFG_NS_MAX]; /* "": stay as started */
	int drop; /* 1: switch to uid/gid below */
	uint32_t uid, gid;

	/* Bit i: cfg_flags[i] was set by the file or the command line. */
	uint64_t given;
};

enum cfg_result {
	CFG_OK = 0,
	CFG_HELP, /* print cfg_usage() to stdout, exit 0 */
	CFG_VERSION, /* print cfg_version() to stdout, exit 0 */
	CFG_ERR /* print err and a newline to stderr, exit 2 */
};

/*
 * Parses argv[1..argc-1] (argv[0] is the program) into c: defaults, the
 * --config file if any, then every flag again so flags win over the file
 * whatever their order, then the environment fallbacks and the checks
 * across flags.  --help/-h and --version win over everything else on the
 * line.  On CFG_ERR err holds exactly one line, without newline, that
 * starts "stable-egressd: " and names the flag, key or variable at fault.
 * Never exits, never prints.  Reads the environment, the --config file
 * and the service-account namespace file; allocates nothing that outlives
 * the call.
 */
enum cfg_result
cfg_parse(struct cfg *c, int argc, char **argv, char *err, size_t errlen);

/* Fills c with the defaults of DESIGN.md (no environment is read). */
void cfg_defaults(struct cfg *c);

/*
 * Applies a --config document held in buf[0..len-1] (need not be NUL
 * terminated) to c; file names it in errors.  Returns 0, or -1 with one
 * line in err ("stable-egressd: config FILE: ...").  The file loader and
 * the fuzzer both come through here.
 */
int cfg_load_yaml(struct cfg *c, const char *file, const char *buf, size_t len,
    char *err, size_t errlen);

/*
 * Reads path (a regular file of at most CFG_FILE_MAX bytes) and applies it
 * with cfg_load_yaml().  Returns 0, or -1 with one line in err.
 */
int cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen);

/*
 * The last step of cfg_parse(): fills what flags did not set from the
 * environment ($KUBECONFIG, $HCLOUD_ENDPOINT, $POD_NAMESPACE, the
 * service-account namespace file, $KUBERNETES_SERVICE_HOST/PORT,
 * $STABLE_EGRESSD_SA_DIR), makes the default identity, and checks what
 * involves more than one flag.  Returns 0, or -1 with one line in err.
 */
int cfg_finish(struct cfg *c, char *err, size_t errlen);

/* --help text: every flag, its default and what it does. */
void cfg_usage(FILE *fp);
/* --version line: "stable-egressd <version>". */
void cfg_version(FILE *fp);

/*
 * The effective configuration for --check-config: one "key: value" line
 * per flag in flag-name order, strings double-quoted; the output is a
 * valid --config file.  Holds no secret (paths only).
 */
void cfg_print(const struct cfg *c, FILE *fp);

/*
 * The key=value arguments a worker gets at exec (common/workers.h):
 *   every worker: log_format, log_level, log_time, check (1 under
 *     --check-config);
 *   CFG_WORKER_K8S: kubeconfig, service_host, service_port, sa_dir,
 *     candidate_label, active_label, prepared_label, prepared_namespace,
 *     lease_namespace, lease_name, identity;
 *   CFG_WORKER_HCLOUD: token_path, endpoint, ca_file, fips (comma list,
 *     primary first);
 *   CFG_WORKER_PROBE: port, timeout_ms, interval_ms.
 * The caller puts "stable-egressd --worker <name>" in front of argv.
 */
enum cfg_worker { CFG_WORKER_K8S, CFG_WORKER_HCLOUD, CFG_WORKER_PROBE };

#define CFG_WORKER_ARGC_MAX 16
#define CFG_WORKER_ARGS_LEN (16 * 1024)

struct cfg_worker_args {
	int argc;
	char *argv[CFG_WORKER_ARGC_MAX + 1]; /* NULL-terminated */
	char buf[CFG_WORKER_ARGS_LEN]; /* argv points here */
};

/*
 * Fills out (self-contained: argv points into out->buf, nothing to free).
 * Returns 0, or -1 with errno EINVAL (unknown worker) or ERANGE.
 */
int cfg_worker_args(const struct cfg *c, enum cfg_worker w,
    struct cfg_worker_args *out);

/*
 * Below: the flag table (cfg_flags.c) and value checks (cfg_value.c),
 * shared by the cfg*.c files; other modules need only the above.  Each flag
 * has one setter that validates a value (from argv or the file) and
 * stores it; setters write why a value was refused into why ("invalid
 * duration \"9x\"") and the caller adds who gave it.
 */
enum cfg_type {
	CFG_T_BOOL, /* "--x" alone is true; never takes the next arg */
	CFG_T_DUR, /* int64_t ms */
	CFG_T_INT, /* int */
	CFG_T_STR, /* char[], shown double-quoted */
	CFG_T_LIST, /* comma list; a YAML sequence also works */
	CFG_T_ACTION /* --help, --version: command line only */
};

#define CFG_F_NOFILE 0x01 /* not a --config key */
#define CFG_F_NOPRINT 0x02 /* not in cfg_print() */

struct cfg_flag {
	const char *name; /* without dashes */
	enum cfg_type type;
	unsigned int flags; /* CFG_F_* */
	const char *arg; /* usage placeholder */
	const char *def; /* applied by cfg_defaults(); NULL none */
	const char *help; /* one line */
	int (*set)(struct cfg *, const struct cfg_flag *, const char *val,
	    char *why, size_t whylen);
	/* The value for cfg_print(): 0, or -1 if it did not fit. */
	int (*show)(const struct cfg *, const struct cfg_flag *, char *buf,
	    size_t len);
	size_t off; /* field used by the generic setters */
	size_t size;
	int64_t min; /* CFG_T_DUR: smallest accepted */
};

extern const struct cfg_flag cfg_flags[];
extern const size_t cfg_nflags;

/* Index of the flag called name (no dashes), or -1. */
int cfg_flag_find(const char *name);
/* Sets flag i from val; marks it given.  0, or -1 with why filled. */
int
cfg_flag_apply(struct cfg *c, int i, const char *val, char *why, size_t whylen);

/* Room for any cfg_quote() output. */
#define CFG_QUOTE_MAX (64 * 4 + 8)

/*
 * Writes s double-quoted for an error message: capped at 64 bytes, with
 * control bytes, quotes and backslashes escaped, so the line stays one
 * printable line whatever the input.
 */
void cfg_quote(char *dst, size_t len, const char *s);
/* why = "invalid <what> \"<val>\" (<hint>)"; hint may be NULL; -1. */
int cfg_refuse(char *why, size_t whylen, const char *what, const char *val,
    const char *hint);
/* Go's strconv.ParseBool spellings: 1, 0, or -1. */
int cfg_parse_bool(const char *s);
/* 1 if s holds an ASCII control byte. */
int cfg_has_ctl(const char *s);

/*
 * controller-runtime's --zap-* flags (cfg_zap.c), mapped onto
 * --log-format, --log-level and the ts encoding; cfg_zap_finish() applies
 * --zap-devel's defaults to what no flag set.
 */
int cfg_set_zap_encoder(struct cfg *, const struct cfg_flag *, const char *,
    char *why, size_t whylen);
int cfg_set_zap_level(struct cfg *, const struct cfg_flag *, const char *,
    char *why, size_t whylen);
int cfg_set_zap_stacktrace(struct cfg *, const struct cfg_flag *, const char *,
    char *why, size_t whylen);
int cfg_set_zap_time(struct cfg *, const struct cfg_flag *, const char *,
    char *why, size_t whylen);
int cfg_show_zap_time(const struct cfg *, const struct cfg_flag *, char *buf,
    size_t len);
void cfg_zap_finish(struct cfg *);

/* Value checks (cfg_value.c): 0, or -1 with why filled. */
int cfg_check_label(const char *key_value, char *why, size_t whylen);
int cfg_check_ns(const char *ns, char *why, size_t whylen);
int cfg_check_dnsname(const char *name, char *why, size_t whylen);
int cfg_check_fip(const char *name, size_t len, char *why, size_t whylen);
int cfg_check_endpoint(const char *url, char *why, size_t whylen);
/*
 * A comma list of Floating IP names, blanks around entries trimmed; an
 * all-blank list is empty.  Empty entries, duplicates and more than
 * CFG_ADDITIONAL_MAX names are refused.
 */
int cfg_parse_names(const char *list, char names[][CFG_FIPNAME_MAX], size_t *n,
    char *why, size_t whylen);
/*
 * "host", "host:port", "[v6]" or "[v6]:port" in s[0..n-1]: host without
 * brackets, *port -1 when absent.
 */
int cfg_split_hostport(const char *s, size_t n, char *host, size_t hostlen,
    int *port);
/*
 * snprintf into err; a message cut short at errlen is still one line, so
 * truncation is accepted here (and only here).
 */
void cfg_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* SUPERVISOR_CFG_H */
