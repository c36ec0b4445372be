/* prom.c: a writer for the Prometheus text exposition format 0.0.4 */
#include <errno.h>
#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "prom.h"

/* Integers below this print exactly through long long. */
#define PROM_INT_LIMIT 9.0e18

static const char *const type_names[] = {
	[PROM_COUNTER] = "counter",
	[PROM_GAUGE] = "gauge",
	[PROM_HISTOGRAM] = "histogram",
	[PROM_UNTYPED] = "untyped",
};

void
prom_init(struct prom *p, struct buf *out)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->seen[0] = '\n';
	p->seenlen = 1;
}

int
prom_error(const struct prom *p)
{
	if (p->err == 0)
		return 0;
	errno = p->err;
	return -1;
}

static int
prom_fail(struct prom *p, int e)
{
	if (p->err == 0)
		p->err = e;
	errno = p->err;
	return -1;
}

static void
put(struct prom *p, const char *s, size_t n)
{
	if (p->err == 0 && buf_append(p->out, s, n) != 0)
		p->err = errno;
}

static void
put_str(struct prom *p, const char *s)
{
	put(p, s, strlen(s));
}

/* HELP escapes backslash and newline; label values also the quote. */
static void
put_escaped(struct prom *p, const char *s, int quote)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		if (*s != '\\' && *s != '\n' && !(quote && *s == '"'))
			continue;
		put(p, run, (size_t)(s - run));
		put_str(p, *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : "\\\"");
		run = s + 1;
	}
	put(p, run, (size_t)(s - run));
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metrics, the same without ':' for labels. */
static int
name_ok(const char *s, int colon)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (c == ':' && colon) ||
		    (i > 0 && c >= '0' && c <= '9'))
			continue;
		return 0;
	}
	return 1;
}

int
prom_format_value(char *out, size_t outlen, double v)
{
	const char *word = NULL;
	int n, prec;

	if (v != v)
		word = "NaN";
	else if (v > DBL_MAX)
		word = "+Inf";
	else if (v < -DBL_MAX)
		word = "-Inf";
	if (word != NULL)
		n = snprintf(out, outlen, "%s", word);
	else if (v > -PROM_INT_LIMIT && v < PROM_INT_LIMIT &&
	    (double)(long long)v == v)
		n = snprintf(out, outlen, "%lld", (long long)v);
	else {
		/* Shortest of 15..17 digits that reads back exactly. */
		for (prec = 15; prec <= 17; prec++) {
			n = snprintf(out, outlen, "%.*g", prec, v);
			if (n < 0 || (size_t)n >= outlen ||
			    strtod(out, NULL) == v)
				break;
		}
	}
	if (n < 0 || (size_t)n >= outlen) {
		errno = ERANGE;
		return -1;
	}
	return 0;
}

static void
put_value(struct prom *p, double v)
{
	char num[PROM_NUM_MAX];

	if (prom_format_value(num, sizeof(num), v) != 0) {
		prom_fail(p, ERANGE);
		return;
	}
	put_str(p, num);
}

/* Is name among the families begun so far? */
static int
seen(const struct prom *p, const char *name)
{
	char key[PROM_NAME_MAX + 2];
	int n;

	n = snprintf(key, sizeof(key), "\n%s\n", name);
	if (n < 0 || (size_t)n >= sizeof(key))
		return 1;
	return memmem(p->seen, p->seenlen, key, (size_t)n) != NULL;
}

int
prom_family(struct prom *p, const char *name, enum prom_type type,
    const char *help)
{
	size_t len;

	if (p->err != 0)
		return prom_fail(p, p->err);
	if (!name_ok(name, 1) || (len = strlen(name)) >= PROM_NAME_MAX ||
	    (unsigned)type > PROM_UNTYPED)
		return prom_fail(p, EINVAL);
	if (strcmp(name, p->family) == 0)
		return type == p->type ? 0 : prom_fail(p, EINVAL);
	if (seen(p, name))
		return prom_fail(p, EINVAL);
	if (len + 1 > sizeof(p->seen) - p->seenlen)
		return prom_fail(p, ERANGE);
	memcpy(p->seen + p->seenlen, name, len);
	p->seen[p->seenlen + len] = '\n';
	p->seenlen += len + 1;
	memcpy(p->family, name, len + 1);
	p->type = type;
	put_str(p, "# HELP ");
	put_str(p, name);
	put_str(p, " ");
	put_escaped(p, help != NULL ? help : "", 0);
	put_str(p, "\n# TYPE ");
	put_str(p, name);
	put_str(p, " ");
	put_str(p, type_names[type]);
	put_str(p, "\n");
	return prom_error(p);
}

/* Collect the NULL-terminated label pairs into kv; *n gets the pairs. */
static int
labels_collect(struct prom *p, va_list ap, const char **kv, size_t *n)
{
	const char *k;

	for (*n = 0; (k = va_arg(ap, const char *)) != NULL; (*n)++) {
		if (*n == PROM_LABELS_MAX || !name_ok(k, 0))
			return prom_fail(p, EINVAL);
		kv[2 * *n] = k;
		if ((kv[2 * *n + 1] = va_arg(ap, const char *)) == NULL)
			return prom_fail(p, EINVAL);
	}
	return 0;
}

/* name{k="v",...,le="x"} value: one line; le may be NULL. */
static void
put_line(struct prom *p, const char *suffix, const char **kv, size_t n,
    const char *le, double v)
{
	size_t i;

	put_str(p, p->family);
	put_str(p, suffix);
	for (i = 0; i < n; i++) {
		put_str(p, i == 0 ? "{" : ",");
		put_str(p, kv[2 * i]);
		put_str(p, "=\"");
		put_escaped(p, kv[2 * i + 1], 1);
		put_str(p, "\"");
	}
	if (le != NULL) {
		put_str(p, n == 0 ? "{le=\"" : ",le=\"");
		put_str(p, le);
		put_str(p, "\"");
	}
	if (n > 0 || le != NULL)
		put_str(p, "}");
	put_str(p, " ");
	put_value(p, v);
	put_str(p, "\n");
}

int
prom_sample(struct prom *p, double v, ...)
{
	const char *kv[2 * PROM_LABELS_MAX];
	va_list ap;
	size_t n;
	int r;

	if (p->err != 0)
		return prom_fail(p, p->err);
	if (p->family[0] == '\0' || p->type == PROM_HISTOGRAM)
		return prom_fail(p, EINVAL);
	va_start(ap, v);
	r = labels_collect(p, ap, kv, &n);
	va_end(ap);
	if (r != 0)
		return r;
	put_line(p, "", kv, n, NULL, v);
	return prom_error(p);
}

int
prom_hist_init(struct prom_hist *h, const double *le, size_t n)
{
	size_t i;

	memset(h, 0, sizeof(*h));
	if (n > PROM_HIST_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++) {
		/* Written so that NaN fails too; +Inf is implied, not given. */
		if (!(le[i] >= -DBL_MAX && le[i] <= DBL_MAX) ||
		    (i > 0 && !(le[i] > le[i - 1]))) {
			errno = EINVAL;
			return -1;
		}
		h->le[i] = le[i];
	}
	h->n = n;
	return 0;
}

void
prom_hist_observe(struct prom_hist *h, double v)
{
	size_t i;

	for (i = 0; i < h->n && !(v <= h->le[i]); i++)
		;
	h->bucket[i]++;
	h->sum += v;
	h->count++;
}

int
prom_histogram(struct prom *p, const struct prom_hist *h, ...)
{
	const char *kv[2 * PROM_LABELS_MAX];
	char le[PROM_NUM_MAX];
	uint64_t cum = 0;
	va_list ap;
	size_t n, i;
	int r;

	if (p->err != 0)
		return prom_fail(p, p->err);
	if (p->family[0] == '\0' || p->type != PROM_HISTOGRAM ||
	    h->n > PROM_HIST_MAX)
		return prom_fail(p, EINVAL);
	va_start(ap, h);
	r = labels_collect(p, ap, kv, &n);
	va_end(ap);
	if (r != 0)
		return r;
	for (i = 0; i < h->n; i++) {
		cum += h->bucket[i];
		if (prom_format_value(le, sizeof(le), h->le[i]) != 0)
			return prom_fail(p, ERANGE);
		put_line(p, "_bucket", kv, n, le, (double)cum);
	}
	put_line(p, "_bucket", kv, n, "+Inf", (double)h->count);
	put_line(p, "_sum", kv, n, NULL, h->sum);
	put_line(p, "_count", kv, n, NULL, (double)h->count);
	return prom_error(p);
}
