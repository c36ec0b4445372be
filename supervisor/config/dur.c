/* dur.c: Go time.ParseDuration syntax, in milliseconds */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dur.h"

/* Go keeps durations as int64 nanoseconds; magnitudes up to 2^63 parse. */
#define DUR_NS_LIMIT ((uint64_t)1 << 63)
#define DUR_NS_PER_MS UINT64_C(1000000)

struct dur_unit {
	const char *name;
	uint64_t ns;
};

/* Go's unitMap: both spellings of micro (U+00B5 and U+03BC) included. */
static const struct dur_unit dur_units[] = {
	{ "ns", 1 },
	{ "us", UINT64_C(1000) },
	{ "\xc2\xb5s", UINT64_C(1000) },
	{ "\xce\xbcs", UINT64_C(1000) },
	{ "ms", UINT64_C(1000000) },
	{ "s", UINT64_C(1000000000) },
	{ "m", UINT64_C(60000000000) },
	{ "h", UINT64_C(3600000000000) },
};

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Leading [0-9]*; overflow past 2^63 is an error, as in Go. */
static int
leading_int(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t x = 0;

	for (; is_digit(*s); s++) {
		if (x > DUR_NS_LIMIT / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
		if (x > DUR_NS_LIMIT)
			return -1;
	}
	*out = x;
	*sp = s;
	return 0;
}

/*
 * Leading [0-9]* after the point: digits past what fits only stop adding
 * precision, so "0.100000000000000000000h" is six minutes, as in Go.
 */
static void
leading_fraction(const char **sp, uint64_t *out, double *scale)
{
	const char *s = *sp;
	uint64_t x = 0, y;
	int overflow = 0;

	*scale = 1;
	for (; is_digit(*s); s++) {
		if (overflow)
			continue;
		if (x > (DUR_NS_LIMIT - 1) / 10) {
			overflow = 1;
			continue;
		}
		y = x * 10 + (uint64_t)(*s - '0');
		if (y > DUR_NS_LIMIT) {
			overflow = 1;
			continue;
		}
		x = y;
		*scale *= 10;
	}
	*out = x;
	*sp = s;
}

/* The unit runs up to the next digit, point or the end. */
static const struct dur_unit *
lookup_unit(const char **sp)
{
	const char *s = *sp;
	size_t n = 0, i;

	while (s[n] != '\0' && s[n] != '.' && !is_digit(s[n]))
		n++;
	for (i = 0; i < sizeof(dur_units) / sizeof(dur_units[0]); i++) {
		if (strlen(dur_units[i].name) == n &&
		    memcmp(dur_units[i].name, s, n) == 0) {
			*sp = s + n;
			return &dur_units[i];
		}
	}
	return NULL;
}

/* One "<number>[.<fraction>]<unit>" in nanoseconds. */
static int
component(const char **sp, uint64_t *ns)
{
	const struct dur_unit *u;
	const char *s = *sp, *mark;
	uint64_t v, f = 0;
	double scale = 1;
	int pre, post = 0;

	if (*s != '.' && !is_digit(*s))
		return EINVAL;
	mark = s;
	if (leading_int(&s, &v) == -1)
		return ERANGE;
	pre = s != mark;
	if (*s == '.') {
		mark = ++s;
		leading_fraction(&s, &f, &scale);
		post = s != mark;
	}
	if (!pre && !post)
		return EINVAL;
	if ((u = lookup_unit(&s)) == NULL)
		return EINVAL;
	if (v > DUR_NS_LIMIT / u->ns)
		return ERANGE;
	v *= u->ns;
	/* Double, as Go does: nanosecond-exact for fractions of hours. */
	if (f > 0) {
		v += (uint64_t)((double)f * ((double)u->ns / scale));
		if (v > DUR_NS_LIMIT)
			return ERANGE;
	}
	*ns = v;
	*sp = s;
	return 0;
}

int
dur_parse(const char *s, int64_t *ms_out)
{
	uint64_t d = 0, v;
	int neg = 0, r;

	if (s == NULL || ms_out == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*ms_out = 0;
		return 0;
	}
	if (*s == '\0') {
		errno = EINVAL;
		return -1;
	}
	while (*s != '\0') {
		if ((r = component(&s, &v)) != 0) {
			errno = r;
			return -1;
		}
		/* Checked before adding: the sum must not wrap. */
		if (v > DUR_NS_LIMIT - d) {
			errno = ERANGE;
			return -1;
		}
		d += v;
	}
	if (!neg && d > DUR_NS_LIMIT - 1) {
		errno = ERANGE;
		return -1;
	}
	*ms_out =
	    neg ? -(int64_t)(d / DUR_NS_PER_MS) : (int64_t)(d / DUR_NS_PER_MS);
	return 0;
}

/* ".5", ".05", ".001" or "" for the milliseconds of a second. */
static void
fraction(uint64_t ms, char out[5])
{
	int digits = 3;

	if (ms == 0) {
		out[0] = '\0';
		return;
	}
	while (ms % 10 == 0) {
		ms /= 10;
		digits--;
	}
	out[0] = '.';
	out[digits + 1] = '\0';
	for (; digits > 0; digits--) {
		out[digits] = (char)('0' + ms % 10);
		ms /= 10;
	}
}

int
dur_format(int64_t ms, char *buf, size_t len)
{
	const char *sign = ms < 0 ? "-" : "";
	/* Unsigned negation: INT64_MIN has no positive int64. */
	uint64_t u = ms < 0 ? -(uint64_t)ms : (uint64_t)ms;
	uint64_t secs = u / 1000, mins = secs / 60;
	char frac[5];
	int n;

	if (u == 0)
		n = snprintf(buf, len, "0s");
	else if (u < 1000)
		n = snprintf(buf, len, "%s%" PRIu64 "ms", sign, u);
	else {
		fraction(u % 1000, frac);
		if (mins == 0)
			n = snprintf(buf, len, "%s%" PRIu64 "%ss", sign, secs,
			    frac);
		else if (mins < 60)
			n = snprintf(buf, len, "%s%" PRIu64 "m%" PRIu64 "%ss",
			    sign, mins, secs % 60, frac);
		else
			n = snprintf(buf, len,
			    "%s%" PRIu64 "h%" PRIu64 "m%" PRIu64 "%ss", sign,
			    mins / 60, mins % 60, secs % 60, frac);
	}
	if (n < 0 || (size_t)n >= len) {
		if (len > 0)
			buf[0] = '\0';
		errno = ERANGE;
		return -1;
	}
	return 0;
}
