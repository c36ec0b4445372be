/* cfg_print.c: --help, --version, --check-config and the workers' args */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

#ifndef SE_VERSION
#define SE_VERSION "unknown"
#endif

#define USAGE_INDENT 8

/* Large enough for any shown value: a comma list or a path. */
#define SHOW_MAX (CFG_LIST_MAX + CFG_PATH_MAX)

void
cfg_version(FILE *fp)
{
	fprintf(fp, "stable-egressd %s\n", SE_VERSION);
}

static int
quoted_default(const struct cfg_flag *f)
{
	return f->type == CFG_T_STR || f->type == CFG_T_LIST;
}

/* One word at *col, on a new indented line if it would pass column 79. */
static void
put_word(FILE *fp, size_t *col, const char *w, size_t n)
{
	if (*col > USAGE_INDENT && *col + 1 + n >= 80) {
		fprintf(fp, "\n%*s", USAGE_INDENT, "");
		*col = USAGE_INDENT;
	} else if (*col > USAGE_INDENT) {
		fputc(' ', fp);
		(*col)++;
	}
	fprintf(fp, "%.*s", (int)n, w);
	*col += n;
}

/* The help text wrapped word by word; the default is never split. */
static void
usage_flag(FILE *fp, const struct cfg_flag *f)
{
	size_t col = USAGE_INDENT, n;
	const char *p = f->help;
	char tail[256];
	int r = -1;

	fprintf(fp, "  --%s%s%s\n%*s", f->name, f->arg != NULL ? " " : "",
	    f->arg != NULL ? f->arg : "", USAGE_INDENT, "");
	for (; *p != '\0'; p += strspn(p, " ")) {
		n = strcspn(p, " ");
		put_word(fp, &col, p, n);
		p += n;
	}
	/* As Go prints them: no default for "", false or none. */
	if (f->def != NULL && f->def[0] != '\0' && strcmp(f->def, "false") != 0)
		r = snprintf(tail, sizeof(tail),
		    quoted_default(f) ? "(default \"%s\")" : "(default %s)",
		    f->def);
	if (r > 0 && (size_t)r < sizeof(tail))
		put_word(fp, &col, tail, (size_t)r);
	fputc('\n', fp);
}

void
cfg_usage(FILE *fp)
{
	size_t i;

	fprintf(fp,
	    "Usage: stable-egressd --floating-ip-name NAME [flags]\n"
	    "\n"
	    "Keeps a Hetzner Cloud Floating IP and the active node label "
	    "together on\n"
	    "exactly one healthy node, and fails over on its own.\n"
	    "\n"
	    "Flags take --flag=value or --flag value; -flag works too. "
	    "Booleans are\n"
	    "--flag or --flag=true|false. Durations use Go's syntax: 300ms, "
	    "2s, 1m30s.\n"
	    "--config FILE reads the same settings from YAML, keyed by flag "
	    "name;\n"
	    "flags on the command line win. A usage or configuration error "
	    "exits 2.\n"
	    "\n");
	for (i = 0; i < cfg_nflags; i++)
		usage_flag(fp, &cfg_flags[i]);
}

/* YAML double-quoted: the values hold no control bytes (checked). */
static void
put_quoted(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}

void
cfg_print(const struct cfg *c, FILE *fp)
{
	char buf[SHOW_MAX];
	const struct cfg_flag *f;
	size_t i;

	for (i = 0; i < cfg_nflags; i++) {
		f = &cfg_flags[i];
		if ((f->flags & CFG_F_NOPRINT) || f->show == NULL)
			continue;
		if (f->show(c, f, buf, sizeof(buf)) == -1)
			buf[0] = '\0';
		fprintf(fp, "%s: ", f->name);
		if (quoted_default(f))
			put_quoted(fp, buf);
		else
			fputs(buf, fp);
		fputc('\n', fp);
	}
}

/* Appends "key=value" to a; *used is how much of a->buf is taken. */
static int
add(struct cfg_worker_args *a, size_t *used, const char *key, const char *val)
{
	size_t room = sizeof(a->buf) - *used;
	int n;

	if (a->argc >= CFG_WORKER_ARGC_MAX) {
		errno = ERANGE;
		return -1;
	}
	n = snprintf(a->buf + *used, room, "%s=%s", key, val);
	if (n < 0 || (size_t)n >= room) {
		errno = ERANGE;
		return -1;
	}
	a->argv[a->argc++] = a->buf + *used;
	a->argv[a->argc] = NULL;
	*used += (size_t)n + 1;
	return 0;
}

/* A value as cfg_print() shows it ("json", "info"). */
static int
add_shown(const struct cfg *c, struct cfg_worker_args *a, size_t *used,
    const char *key, const char *flag)
{
	char buf[64];
	int i = cfg_flag_find(flag);

	if (i < 0 ||
	    cfg_flags[i].show(c, &cfg_flags[i], buf, sizeof(buf)) == -1) {
		errno = ERANGE;
		return -1;
	}
	return add(a, used, key, buf);
}

static int
add_i64(struct cfg_worker_args *a, size_t *used, const char *key, int64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRId64, v);

	if (n < 0 || (size_t)n >= sizeof(buf)) {
		errno = ERANGE;
		return -1;
	}
	return add(a, used, key, buf);
}

static int
args_k8s(const struct cfg *c, struct cfg_worker_args *a, size_t *used)
{
	if (add(a, used, "kubeconfig", c->kubeconfig) == -1 ||
	    add(a, used, "service_host", c->service_host) == -1 ||
	    add(a, used, "service_port", c->service_port) == -1 ||
	    add(a, used, "sa_dir", c->sa_dir) == -1 ||
	    add(a, used, "candidate_label", c->candidate_label) == -1 ||
	    add(a, used, "active_label", c->active_label) == -1 ||
	    add(a, used, "prepared_label", c->prepared_pod_label) == -1 ||
	    add(a, used, "prepared_namespace", c->prepared_pod_namespace) ==
		-1 ||
	    add(a, used, "lease_namespace", c->lease_namespace) == -1 ||
	    add(a, used, "lease_name", c->lease_name) == -1 ||
	    add(a, used, "identity", c->identity) == -1)
		return -1;
	return 0;
}

static int
args_hcloud(const struct cfg *c, struct cfg_worker_args *a, size_t *used)
{
	char fips[CFG_FIPNAME_MAX * (CFG_ADDITIONAL_MAX + 1)];
	size_t i, o, n;

	/* Names hold no commas (checked), so the list splits back. */
	o = strlen(c->floating_ip_name);
	memcpy(fips, c->floating_ip_name, o + 1);
	for (i = 0; i < c->n_additional && i < CFG_ADDITIONAL_MAX; i++) {
		n = strlen(c->additional[i]);
		fips[o++] = ',';
		memcpy(fips + o, c->additional[i], n + 1);
		o += n;
	}
	if (add(a, used, "token_path", c->hcloud_token_path) == -1 ||
	    add(a, used, "endpoint", c->hcloud_endpoint) == -1 ||
	    add(a, used, "ca_file", c->hcloud_ca_file) == -1 ||
	    add(a, used, "fips", fips) == -1 ||
	    add(a, used, "server_selector", c->hcloud_server_selector) == -1)
		return -1;
#ifdef SE_TEST_HOOKS
	/* Test builds only: a shorter assign deadline, so a test reaches
	 * the unknown result in seconds instead of a minute. */
	{
		const char *d =
		    getenv("STABLE_EGRESSD_TEST_ASSIGN_DEADLINE_MS");

		if (d != NULL &&
		    add(a, used, "test_assign_deadline_ms", d) == -1)
			return -1;
	}
#endif
	return 0;
}

static int
args_probe(const struct cfg *c, struct cfg_worker_args *a, size_t *used)
{
	if (add_i64(a, used, "port", c->node_health_port) == -1 ||
	    add_i64(a, used, "timeout_ms", c->node_health_timeout_ms) == -1 ||
	    add_i64(a, used, "interval_ms", c->node_health_interval_ms) == -1)
		return -1;
	return 0;
}

int
cfg_worker_args(const struct cfg *c, enum cfg_worker w,
    struct cfg_worker_args *out)
{
	size_t used = 0;
	int r;

	out->argc = 0;
	out->argv[0] = NULL;
	if (add_shown(c, out, &used, "log_format", "log-format") == -1 ||
	    add_shown(c, out, &used, "log_level", "log-level") == -1 ||
	    add(out, &used, "log_time", log_time_name(c->log_time)) == -1 ||
	    add(out, &used, "check", c->check_config ? "1" : "0") == -1)
		return -1;
	switch (w) {
	case CFG_WORKER_K8S:
		r = args_k8s(c, out, &used);
		break;
	case CFG_WORKER_HCLOUD:
		r = args_hcloud(c, out, &used);
		break;
	case CFG_WORKER_PROBE:
		r = args_probe(c, out, &used);
		break;
	default:
		errno = EINVAL;
		r = -1;
	}
	return r;
}
