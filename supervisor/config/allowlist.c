/* allowlist.c: parse --egress-ip-allowlist and test Floating IPs against it */

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "allowlist.h"

#define ALLOWLIST_FLAG "--egress-ip-allowlist"

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f';
}

/*
 * The entry comes from argv or a config file: cap it and replace control
 * bytes so the error stays one printable line.
 */
static void
entry_error(char *err, size_t errlen, const char *entry, size_t len,
    const char *why)
{
	char shown[ALLOWLIST_ENTRY_MAX + 4];
	size_t i, n;
	int r;

	if (err == NULL || errlen == 0)
		return;
	n = len > ALLOWLIST_ENTRY_MAX ? ALLOWLIST_ENTRY_MAX : len;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)entry[i];

		shown[i] = (c < 0x20 || c >= 0x7f || c == '"') ? '?' : (char)c;
	}
	if (n < len) {
		memcpy(shown + n, "...", 3);
		n += 3;
	}
	shown[n] = '\0';
	r = snprintf(err, errlen, "%s: bad entry \"%s\": %s", ALLOWLIST_FLAG,
	    shown, why);
	if (r < 0)
		err[0] = '\0';
}

static void
plain_error(char *err, size_t errlen, const char *why)
{
	if (err == NULL || errlen == 0)
		return;
	if (snprintf(err, errlen, "%s: %s", ALLOWLIST_FLAG, why) < 0)
		err[0] = '\0';
}

/* Decimal 0..max without sign, blanks or leading zeros; -1 otherwise. */
static int
parse_prefix(const char *s, unsigned int max)
{
	unsigned int v = 0;
	size_t i;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 3)
			return -1;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	return v > max ? -1 : (int)v;
}

static void
clear_host_bits(unsigned char *addr, size_t alen, unsigned int prefix)
{
	size_t i;

	for (i = 0; i < alen; i++) {
		unsigned int first = (unsigned int)i * 8;

		if (first >= prefix)
			addr[i] = 0;
		else if (prefix - first < 8)
			addr[i] &=
			    (unsigned char)(0xff << (8 - (prefix - first)));
	}
}

static int
same_prefix(const unsigned char *a, const unsigned char *b, unsigned int bits)
{
	unsigned int whole = bits / 8, rest = bits % 8;
	unsigned char mask;

	if (memcmp(a, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/*
 * Splits "addr/len" in place and parses both halves. A bare address is
 * refused, as Go's net.ParseCIDR does. Returns NULL or why it is bad.
 */
static const char *
parse_cidr(char *text, struct allowlist_entry *e)
{
	char *slash = strchr(text, '/');
	int len;

	if (slash == NULL)
		return "missing /prefix length";
	*slash = '\0';
	e->is_v6 = strchr(text, ':') != NULL;
	if (inet_pton(e->is_v6 ? AF_INET6 : AF_INET, text, e->addr) != 1)
		return e->is_v6 ? "not an IPv6 address" : "not an IPv4 address";
	if ((len = parse_prefix(slash + 1, e->is_v6 ? 128 : 32)) < 0)
		return e->is_v6 ? "prefix length must be 0-128"
				: "prefix length must be 0-32";
	e->prefix = (unsigned int)len;
	clear_host_bits(e->addr, e->is_v6 ? 16 : 4, e->prefix);
	return NULL;
}

/* Parses one trimmed entry of len bytes into the next free slot. */
static int
add_entry(struct allowlist *al, const char *entry, size_t len, char *err,
    size_t errlen)
{
	char text[ALLOWLIST_ENTRY_MAX + 1];
	const char *why;

	if (len == 0) {
		plain_error(err, errlen, "empty entry in the list");
		return -1;
	}
	if (len > ALLOWLIST_ENTRY_MAX) {
		entry_error(err, errlen, entry, len, "too long");
		return -1;
	}
	if (al->n == ALLOWLIST_MAX) {
		entry_error(err, errlen, entry, len,
		    "more than 64 entries in the list");
		return -1;
	}
	memcpy(text, entry, len);
	text[len] = '\0';
	memset(&al->e[al->n], 0, sizeof(al->e[al->n]));
	if ((why = parse_cidr(text, &al->e[al->n])) != NULL) {
		entry_error(err, errlen, entry, len, why);
		return -1;
	}
	al->n++;
	return 0;
}

int
allowlist_parse(struct allowlist *al, const char *list, char *err,
    size_t errlen)
{
	const char *p, *start, *end;

	if (al == NULL) {
		errno = EINVAL;
		return -1;
	}
	al->set = 0;
	al->n = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	for (p = list; p != NULL && is_blank(*p); p++)
		;
	if (p == NULL || *p == '\0')
		return 0;
	al->set = 1;
	for (;;) {
		for (start = p; is_blank(*start); start++)
			;
		for (end = start; *end != '\0' && *end != ','; end++)
			;
		p = end;
		while (end > start && is_blank(end[-1]))
			end--;
		if (add_entry(al, start, (size_t)(end - start), err, errlen) !=
		    0) {
			/* set with no entries: allows nothing */
			al->n = 0;
			errno = EINVAL;
			return -1;
		}
		if (*p == '\0')
			return 0;
		p++;
	}
}

static int
contains_v4(const struct allowlist *al, const char *ip)
{
	unsigned char a[4];
	size_t i;

	if (inet_pton(AF_INET, ip, a) != 1)
		return 0;
	for (i = 0; i < al->n; i++)
		if (!al->e[i].is_v6 &&
		    same_prefix(a, al->e[i].addr, al->e[i].prefix))
			return 1;
	return 0;
}

/* The Floating IP is a whole network: every address of it must be listed. */
static int
contains_v6(const struct allowlist *al, const char *ip)
{
	char text[ALLOWLIST_ENTRY_MAX + 1];
	struct allowlist_entry net;
	size_t len = strlen(ip), i;

	if (len > ALLOWLIST_ENTRY_MAX)
		return 0;
	memcpy(text, ip, len + 1);
	if (parse_cidr(text, &net) != NULL || !net.is_v6)
		return 0;
	for (i = 0; i < al->n; i++) {
		const struct allowlist_entry *e = &al->e[i];

		if (e->is_v6 && e->prefix <= net.prefix &&
		    same_prefix(net.addr, e->addr, e->prefix))
			return 1;
	}
	return 0;
}

int
allowlist_contains_fip(const struct allowlist *al, const char *ip, int is_v6)
{
	if (al == NULL || !al->set)
		return 1;
	if (ip == NULL)
		return 0;
	return is_v6 ? contains_v6(al, ip) : contains_v4(al, ip);
}

int
allowlist_format(const struct allowlist *al, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	size_t i, off = 0;
	int n;

	if (buf == NULL || len == 0) {
		errno = ERANGE;
		return -1;
	}
	buf[0] = '\0';
	for (i = 0; al != NULL && al->set && i < al->n; i++) {
		const struct allowlist_entry *e = &al->e[i];

		if (inet_ntop(e->is_v6 ? AF_INET6 : AF_INET, e->addr, addr,
			sizeof(addr)) == NULL)
			return -1;
		n = snprintf(buf + off, len - off, "%s%s/%u", i ? "," : "",
		    addr, e->prefix);
		if (n < 0 || (size_t)n >= len - off) {
			buf[0] = '\0';
			errno = ERANGE;
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}
