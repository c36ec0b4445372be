/* selector.c: Hetzner label selectors (k=v, k!=v, k, !k, k in (..),
 * k notin (..); comma = AND), parsed once at start-up */
#include <stdio.h>
#include <string.h>

#include "common/str.h"
#include "hc.h"

#define FLAG "--hcloud-server-label-selector"

static int
key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
	    c == '/';
}

/* s[0..n) trimmed of spaces into out[outlen]; keys need one character
 * at least, values may be empty.  0 or -1. */
static int
word(const char *s, size_t n, char *out, size_t outlen, int is_key)
{
	size_t i;

	while (n > 0 && *s == ' ') {
		s++;
		n--;
	}
	while (n > 0 && s[n - 1] == ' ')
		n--;
	if ((is_key && n == 0) || n >= outlen)
		return -1;
	for (i = 0; i < n; i++)
		if (!key_char(s[i]) || (!is_key && s[i] == '/'))
			return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* "(a, b)" at s[0..n) into the requirement's values. */
static int
set_values(struct hc_sel_req *r, const char *s, size_t n)
{
	const char *c, *end;

	while (n > 0 && s[n - 1] == ' ')
		n--;
	if (n < 2 || s[0] != '(' || s[n - 1] != ')')
		return -1;
	end = s + n - 1;
	for (s++;; s = c + 1) {
		if ((c = memchr(s, ',', (size_t)(end - s))) == NULL)
			c = end;
		if (r->nvals == HC_SEL_VALS ||
		    word(s, (size_t)(c - s), r->vals[r->nvals],
			HC_LABEL_VAL_MAX, 1) != 0)
			return -1;
		r->nvals++;
		if (c == end)
			return 0;
	}
}

/* "key in (..)" or "key notin (..)": 1 parsed, 0 not this form, -1. */
static int
set_set(struct hc_sel_req *r, const char *s, size_t n)
{
	const char *p = memchr(s, '(', n), *k;
	size_t kn;

	if (p == NULL)
		return 0;
	for (k = p; k > s && k[-1] == ' '; k--)
		;
	if (k - s > 6 && memcmp(k - 6, " notin", 6) == 0) {
		r->op = HC_SEL_NOTIN;
		kn = (size_t)(k - 6 - s);
	} else if (k - s > 3 && memcmp(k - 3, " in", 3) == 0) {
		r->op = HC_SEL_IN;
		kn = (size_t)(k - 3 - s);
	} else
		return -1;
	if (word(s, kn, r->key, sizeof(r->key), 1) != 0)
		return -1;
	return set_values(r, p, n - (size_t)(p - s)) == 0 ? 1 : -1;
}

static int
requirement(struct hc_sel_req *r, const char *s, size_t n)
{
	const char *eq;
	size_t kn;
	int rc;

	memset(r, 0, sizeof(*r));
	while (n > 0 && *s == ' ') {
		s++;
		n--;
	}
	if ((rc = set_set(r, s, n)) != 0)
		return rc > 0 ? 0 : -1;
	if (n > 0 && s[0] == '!' && memchr(s, '=', n) == NULL) {
		r->op = HC_SEL_ABSENT;
		return word(s + 1, n - 1, r->key, sizeof(r->key), 1);
	}
	if ((eq = memchr(s, '=', n)) == NULL) {
		r->op = HC_SEL_EXISTS;
		return word(s, n, r->key, sizeof(r->key), 1);
	}
	kn = (size_t)(eq - s);
	r->op = HC_SEL_EQ;
	if (kn > 0 && s[kn - 1] == '!') {
		r->op = HC_SEL_NE;
		kn--;
	} else if ((size_t)(eq - s) + 1 < n && eq[1] == '=')
		eq++; /* k==v */
	r->nvals = 1;
	if (word(s, kn, r->key, sizeof(r->key), 1) != 0)
		return -1;
	return word(eq + 1, n - (size_t)(eq + 1 - s), r->vals[0],
	    HC_LABEL_VAL_MAX, 0);
}

/* End of the requirement at s: the next comma outside parentheses. */
static const char *
req_end(const char *s)
{
	int depth = 0;

	for (; *s != '\0'; s++) {
		if (*s == '(')
			depth++;
		else if (*s == ')')
			depth--;
		else if (*s == ',' && depth == 0)
			break;
	}
	return s;
}

int
hc_selector_parse(const char *text, struct hc_selector *sel, char *err,
    size_t errlen)
{
	const char *s = text, *e;

	memset(sel, 0, sizeof(*sel));
	if (s == NULL || s[0] == '\0')
		return 0;
	for (;; s = e + 1) {
		e = req_end(s);
		if (sel->n == HC_SEL_MAX ||
		    requirement(&sel->req[sel->n], s, (size_t)(e - s)) != 0) {
			str_line(err, errlen,
			    FLAG
			    " \"%.200s\": not a label selector "
			    "(k=v, k!=v, k, !k, k in (a,b), k notin (a,b); "
			    "at most %d, comma-separated)",
			    text, HC_SEL_MAX);
			memset(sel, 0, sizeof(*sel));
			return -1;
		}
		sel->n++;
		if (*e == '\0')
			return 0;
	}
}

static const char *
label(const struct hc_labels *l, const char *key)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->kv[i].key, key) == 0)
			return l->kv[i].val;
	return NULL;
}

static int
in_values(const struct hc_sel_req *r, const char *v)
{
	size_t i;

	for (i = 0; v != NULL && i < r->nvals; i++)
		if (strcmp(r->vals[i], v) == 0)
			return 1;
	return 0;
}

int
hc_selector_match(const struct hc_selector *sel, const struct hc_labels *l)
{
	const struct hc_sel_req *r;
	const char *v;
	size_t i;
	int ok;

	for (i = 0; i < sel->n; i++) {
		r = &sel->req[i];
		v = label(l, r->key);
		switch (r->op) {
		case HC_SEL_EQ:
		case HC_SEL_IN:
			ok = in_values(r, v);
			break;
		case HC_SEL_NE:
		case HC_SEL_NOTIN:
			ok = !in_values(r, v);
			break;
		case HC_SEL_EXISTS:
			ok = v != NULL;
			break;
		default:
			ok = v == NULL;
			break;
		}
		if (!ok)
			return 0;
	}
	return 1;
}
