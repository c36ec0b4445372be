/* str.c: bounded string copies and checked number parsing */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"

int
str_copy(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (dstlen == 0) {
		errno = ERANGE;
		return -1;
	}
	if (n >= dstlen) {
		memcpy(dst, src, dstlen - 1);
		dst[dstlen - 1] = '\0';
		errno = ERANGE;
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int
str_to_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull accepts "-1" and leading space; we do not. */
	if (s == NULL || !isdigit((unsigned char)s[0])) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}

int
str_to_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	long long v;
	char *end;

	if (s == NULL || (!isdigit((unsigned char)s[0]) && s[0] != '-')) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0)
		return -1;
	if (end == s || *end != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (v < min || v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}

char *
str_trim(char *s)
{
	size_t n;
	char *p = s;

	while (*p != '\0' && isspace((unsigned char)*p))
		p++;
	n = strlen(p);
	while (n > 0 && isspace((unsigned char)p[n - 1]))
		n--;
	memmove(s, p, n);
	s[n] = '\0';
	return s;
}

int
str_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *
str_arg(int argc, char **argv, const char *key)
{
	size_t n = strlen(key);
	int i;

	for (i = 0; i < argc; i++)
		if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=')
			return argv[i] + n + 1;
	return NULL;
}

int
str_fmt(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		errno = ERANGE;
		return -1;
	}
	return 0;
}

void
str_line(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (dst == NULL || len == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(dst, len, fmt, ap);
	va_end(ap);
	if (n < 0)
		dst[0] = '\0';
	else if ((size_t)n >= len && len > 4)
		memcpy(dst + len - 4, "...", 4);
}

void
str_printable(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	if (dstlen == 0)
		return;
	for (i = 0; src[i] != '\0' && i + 1 < dstlen; i++)
		dst[i] = (unsigned char)src[i] < 0x20 ||
			(unsigned char)src[i] >= 0x7f
		    ? '?'
		    : src[i];
	dst[i] = '\0';
}
