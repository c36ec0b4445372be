/* syntax.c: names, label selectors, MicroTimes, providerIDs, UTF-8 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/kname.h"
#include "common/str.h"
#include "kube.h"

#define RV_NUM_MAX UINT64_C(0xffffffffffffffff)
#define SERVER_ID_MAX ((UINT64_C(1) << 53) - 1)

int
kube_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, len;
	uint32_t cp, min;

	while (i < n) {
		if (p[i] == 0)
			return 0;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			len = 2, cp = p[i] & 0x1f, min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			len = 3, cp = p[i] & 0x0f, min = 0x800;
		} else if ((p[i] & 0xf8) == 0xf0) {
			len = 4, cp = p[i] & 0x07, min = 0x10000;
		} else
			return 0;
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and beyond U+10FFFF. */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

int
kube_name_valid(const char *s)
{
	return kname_subdomain(s, strlen(s));
}

int
kube_label_name_valid(const char *s)
{
	return kname_label(s, strlen(s));
}

int
kube_sel_parse(const char *s, struct kube_sel *out)
{
	const char *eq = strchr(s, '='), *slash, *name;
	size_t klen;

	memset(out, 0, sizeof(*out));
	if (eq == NULL)
		return -1;
	klen = (size_t)(eq - s);
	if (klen >= sizeof(out->key))
		return -1;
	slash = memchr(s, '/', klen);
	name = slash == NULL ? s : slash + 1;
	if (slash != NULL && !kname_subdomain(s, (size_t)(slash - s)))
		return -1;
	if (!kname_label_value(name, (size_t)(eq - name)) ||
	    (eq[1] != '\0' && !kname_label_value(eq + 1, strlen(eq + 1))))
		return -1;
	memcpy(out->key, s, klen);
	out->key[klen] = '\0';
	return str_copy(out->value, sizeof(out->value), eq + 1);
}

int
kube_urlenc(const char *src, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	unsigned char c;

	for (; *src != '\0'; src++) {
		c = (unsigned char)*src;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)c;
			continue;
		}
		if (o + 3 >= outlen)
			return -1;
		out[o++] = '%';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 0xf];
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

int
kube_sel_query(const struct kube_sel *sel, char *out, size_t outlen)
{
	char raw[KUBE_KEY_MAX + KUBE_VALUE_MAX + 1];
	int n;

	n = snprintf(raw, sizeof(raw), "%s=%s", sel->key, sel->value);
	if (n < 0 || (size_t)n >= sizeof(raw))
		return -1;
	return kube_urlenc(raw, out, outlen);
}

static int
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int
num2(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

int
kube_microtime_valid(const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };
	int year, mon, day, leap;

	/* 2026-03-01T10:04:58.517204Z: the API server's fixed layout. */
	if (strlen(s) != 27 || !digits(s, 4) || s[4] != '-' ||
	    !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2) ||
	    s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' ||
	    !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2) ||
	    s[19] != '.' || !digits(s + 20, 6) || s[26] != 'Z')
		return 0;
	year = num2(s) * 100 + num2(s + 2);
	mon = num2(s + 5);
	day = num2(s + 8);
	if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1])
		return 0;
	leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (mon == 2 && day == 29 && !leap)
		return 0;
	return num2(s + 11) < 24 && num2(s + 14) < 60 && num2(s + 17) < 60;
}

/* Canonical decimal: digits only, no leading zero, at most 20 digits. */
static int
decimal(const char *s, uint64_t max, uint64_t *out)
{
	size_t n = strlen(s);

	if (n == 0 || n > 20 || !digits(s, n) || (s[0] == '0' && n > 1))
		return -1;
	return str_to_u64(s, max, out);
}

uint64_t
kube_provider_id(const char *s)
{
	uint64_t id;

	/* hcloud://bm-<n> (legacy Robot), hrobot://, trailing bytes: not
	 * a cloud server we could move a Floating IP to. */
	if (!str_prefix(s, "hcloud://"))
		return 0;
	if (decimal(s + 9, SERVER_ID_MAX, &id) != 0 || id == 0)
		return 0;
	return id;
}

uint64_t
kube_rv_number(const char *rv)
{
	uint64_t v;

	return decimal(rv, RV_NUM_MAX, &v) == 0 ? v : 0;
}

int
kube_host_valid(const char *h, size_t n, int v6)
{
	size_t i;

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-')
			continue;
		if (v6 && c == ':')
			continue;
		return 0;
	}
	return 1;
}
