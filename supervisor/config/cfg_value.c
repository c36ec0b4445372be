/* cfg_value.c: syntax checks of configuration values */
#include <netinet/in.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "common/kname.h"
#include "common/str.h"

void
cfg_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	if (vsnprintf(err, errlen, fmt, ap) < 0)
		err[0] = '\0';
	va_end(ap);
}

void
cfg_quote(char *dst, size_t len, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (len < 8) {
		if (len > 0)
			dst[0] = '\0';
		return;
	}
	dst[o++] = '"';
	for (i = 0; s[i] != '\0' && o + 8 < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i == 64) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 0xf];
		} else
			dst[o++] = (char)ch;
	}
	dst[o++] = '"';
	dst[o] = '\0';
}

/* Go's strconv.ParseBool spellings. */
int
cfg_parse_bool(const char *s)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true",
		"True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false",
		"False" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0)
			return 1;
		if (strcmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* Control bytes would split the one-line errors that name the value. */
int
cfg_has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

int
cfg_refuse(char *why, size_t whylen, const char *what, const char *val,
    const char *hint)
{
	char q[CFG_QUOTE_MAX];

	cfg_quote(q, sizeof(q), val);
	if (hint != NULL)
		cfg_errf(why, whylen, "invalid %s %s (%s)", what, q, hint);
	else
		cfg_errf(why, whylen, "invalid %s %s", what, q);
	return -1;
}

/* Namespace: a DNS-1123 label. */
int
cfg_check_ns(const char *val, char *why, size_t whylen)
{
	if (kname_label(val, strlen(val)))
		return 0;
	return cfg_refuse(why, whylen, "namespace", val,
	    "a DNS-1123 label: a-z, 0-9 and '-', at most 63");
}

/* Object name (the Lease): a DNS-1123 subdomain. */
int
cfg_check_dnsname(const char *val, char *why, size_t whylen)
{
	if (kname_subdomain(val, strlen(val)))
		return 0;
	return cfg_refuse(why, whylen, "name", val,
	    "a DNS-1123 subdomain: a-z, 0-9, '-' and '.', at most 253");
}

int
cfg_check_label(const char *val, char *why, size_t whylen)
{
	const char *eq = strchr(val, '=');
	char q[CFG_QUOTE_MAX];
	const char *bad = NULL;

	if (eq == NULL)
		bad = "want key=value";
	else if (!kname_label_key(val, (size_t)(eq - val)))
		bad = "bad key: [prefix/]name, name at most 63 characters";
	else if (eq[1] != '\0' && !kname_label_value(eq + 1, strlen(eq + 1)))
		bad = "bad value: at most 63 of [A-Za-z0-9-_.], alphanumeric "
		      "at both ends";
	if (bad == NULL)
		return 0;
	cfg_quote(q, sizeof(q), val);
	cfg_errf(why, whylen, "invalid label %s: %s", q, bad);
	return -1;
}

/*
 * A Floating IP name: what Hetzner accepts, minus what our comma lists
 * and one-line messages cannot carry.  "" is stored: cfg_finish() says
 * the flag is required.
 */
int
cfg_check_fip(const char *s, size_t n, char *why, size_t whylen)
{
	char q[CFG_QUOTE_MAX], name[CFG_FIPNAME_MAX];
	size_t i;

	if (n >= sizeof(name)) {
		cfg_errf(why, whylen, "name too long (at most %zu bytes)",
		    sizeof(name) - 1);
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == ',')
			break;
	if (i == n)
		return 0;
	memcpy(name, s, n);
	name[n] = '\0';
	cfg_quote(q, sizeof(q), name);
	cfg_errf(why, whylen,
	    "invalid name %s (no commas or control characters)", q);
	return -1;
}

static int
is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	    ch == '\v' || ch == '\f';
}

/* One comma-separated entry of p, blanks trimmed; returns what follows. */
static const char *
list_entry(const char *p, const char **s, size_t *n)
{
	const char *end = strchr(p, ',');
	const char *e = end != NULL ? end : p + strlen(p);

	while (p < e && is_blank(*p))
		p++;
	while (e > p && is_blank(e[-1]))
		e--;
	*s = p;
	*n = (size_t)(e - p);
	return end != NULL ? end + 1 : NULL;
}

int
cfg_parse_names(const char *list, char names[][CFG_FIPNAME_MAX], size_t *np,
    char *why, size_t whylen)
{
	char q[CFG_QUOTE_MAX];
	const char *p = list, *s;
	size_t n = 0, len, i;

	while (is_blank(*p))
		p++;
	/* An all-blank list is the default: no names. */
	for (p = *p == '\0' ? NULL : list; p != NULL; n++) {
		p = list_entry(p, &s, &len);
		if (len == 0) {
			cfg_errf(why, whylen, "empty entry in the list");
			return -1;
		}
		if (n == CFG_ADDITIONAL_MAX) {
			cfg_errf(why, whylen, "more than %d names",
			    CFG_ADDITIONAL_MAX);
			return -1;
		}
		if (cfg_check_fip(s, len, why, whylen) == -1)
			return -1;
		memcpy(names[n], s, len);
		names[n][len] = '\0';
		for (i = 0; i < n; i++) {
			if (strcmp(names[i], names[n]) != 0)
				continue;
			cfg_quote(q, sizeof(q), names[n]);
			cfg_errf(why, whylen, "duplicate name %s", q);
			return -1;
		}
	}
	*np = n;
	return 0;
}

static int
is_loopback(const char *host)
{
	struct in6_addr a6;
	unsigned char a4[4];

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a4) == 1)
		return a4[0] == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static int
host_name(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.')
			return 0;
	return 1;
}

/* Inside brackets only an IPv6 address; outside, a name or IPv4. */
static int
host_ok(const char *host, int bracketed)
{
	unsigned char a[16];

	if (bracketed)
		return inet_pton(AF_INET6, host, a) == 1;
	return host_name(host);
}

/*
 * "host", "host:port", "[v6]" or "[v6]:port" in s[0..n-1]: host without
 * brackets, *port -1 when absent.  Hostnames are [A-Za-z0-9.-] (IPv4
 * included); no zone ids, user info or service names.
 */
int
cfg_split_hostport(const char *s, size_t n, char *host, size_t hostlen,
    int *port)
{
	const char *hs = s, *he, *p, *close;
	char num[8];
	int64_t v;

	if (n > 0 && s[0] == '[') {
		if ((close = memchr(s, ']', n)) == NULL)
			return -1;
		hs = s + 1;
		he = close;
		p = close + 1;
	} else {
		he = memchr(s, ':', n);
		p = he = he != NULL ? he : s + n;
	}
	if ((size_t)(he - hs) >= hostlen)
		return -1;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	if (!host_ok(host, hs != s))
		return -1;
	*port = -1;
	if (p == s + n)
		return 0;
	if (*p != ':' || (size_t)(s + n - p - 1) >= sizeof(num) || p[1] < '0' ||
	    p[1] > '9')
		return -1;
	memcpy(num, p + 1, (size_t)(s + n - p - 1));
	num[s + n - p - 1] = '\0';
	if (str_to_i64(num, 0, 65535, &v) == -1)
		return -1;
	*port = (int)v;
	return 0;
}

/*
 * https:// to any host; http:// only to a loopback host, so the token
 * never crosses a network in clear.  User info is refused: it would hide
 * the real host ("http://127.0.0.1@example.com").
 */
int
cfg_check_endpoint(const char *val, char *why, size_t whylen)
{
	char host[CFG_HOST_MAX], q[CFG_QUOTE_MAX];
	const char *rest;
	size_t alen;
	int https = 0, port;

	if (strncasecmp(val, "https://", 8) == 0) {
		https = 1;
		rest = val + 8;
	} else if (strncasecmp(val, "http://", 7) == 0)
		rest = val + 7;
	else
		return cfg_refuse(why, whylen, "URL", val,
		    "want https://, or http:// to a loopback host");
	alen = strcspn(rest, "/");
	if (cfg_has_ctl(val) || strpbrk(val, " ?#\\\"") != NULL ||
	    memchr(rest, '@', alen) != NULL)
		return cfg_refuse(why, whylen, "URL", val,
		    "no user info, query, fragment or blanks");
	if (cfg_split_hostport(rest, alen, host, sizeof(host), &port) == -1 ||
	    host[0] == '\0' || port == 0)
		return cfg_refuse(why, whylen, "URL", val, "bad host or port");
	if (!https && !is_loopback(host)) {
		cfg_quote(q, sizeof(q), host);
		cfg_errf(why, whylen,
		    "http:// is only allowed to a loopback "
		    "host (127.0.0.0/8, ::1, localhost), not %s",
		    q);
		return -1;
	}
	return 0;
}
