/* kname.c: Kubernetes name and label syntax, checked the apiserver's way */
#include <string.h>

#include "kname.h"

/*
 * One copy for every process: the supervisor checks the labels and
 * names it is configured with, the k8s worker the names the API sends,
 * and both must agree on what is valid.
 */

static int
lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int
alnum(char c)
{
	return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int
dns_label(const char *s, size_t n, size_t max)
{
	size_t i;

	if (n == 0 || n > max || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
		return 0;
	for (i = 1; i + 1 < n; i++)
		if (!lower_alnum(s[i]) && s[i] != '-')
			return 0;
	return 1;
}

int
kname_label(const char *s, size_t n)
{
	return dns_label(s, n, 63);
}

int
kname_subdomain(const char *s, size_t n)
{
	size_t start = 0, i;

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != '.')
			continue;
		if (!dns_label(s + start, i - start, 253))
			return 0;
		start = i + 1;
	}
	return 1;
}

int
kname_label_value(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 63 || !alnum(s[0]) || !alnum(s[n - 1]))
		return 0;
	for (i = 1; i + 1 < n; i++)
		if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

int
kname_label_key(const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);
	size_t p;

	if (slash == NULL)
		return kname_label_value(s, n);
	p = (size_t)(slash - s);
	return kname_subdomain(s, p) && kname_label_value(slash + 1, n - p - 1);
}
