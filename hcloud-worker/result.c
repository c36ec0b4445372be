/* result.c: what a reply means: rate-limit headers, typed results and
 * the err text sent to the supervisor */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/result.h"
#include "common/str.h"
#include "hc.h"

/* Header value as a whole decimal number, or -1. */
static int
header_uint(const char *v, size_t n, uint64_t max, uint64_t *out)
{
	char tmp[24];

	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 &&
	    (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' ||
		v[n - 1] == '\n'))
		n--;
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	return str_to_u64(tmp, max, out);
}

void
hc_parse_header(const char *line, size_t len, struct msg_ratelimit *rl,
    char *corr)
{
	static const char *const names[] = {
		"ratelimit-limit",
		"ratelimit-remaining",
		"ratelimit-reset",
		"x-correlation-id",
	};
	const char *colon, *v;
	uint64_t u;
	size_t i, nl, n;

	if ((colon = memchr(line, ':', len)) == NULL)
		return;
	nl = (size_t)(colon - line);
	v = colon + 1;
	n = len - nl - 1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == nl &&
		    strncasecmp(line, names[i], nl) == 0)
			break;
	switch (i) {
	case 0:
	case 1:
		if (header_uint(v, n, UINT32_MAX, &u) == 0) {
			if (i == 0)
				rl->limit = (uint32_t)u;
			else
				rl->remaining = (uint32_t)u;
		}
		break;
	case 2:
		/* Unix seconds; anything past year 9999 is nonsense. */
		if (header_uint(v, n, 253402300799ULL, &u) == 0)
			rl->reset = u;
		break;
	case 3:
		while (n > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			n--;
		}
		while (n > 0 &&
		    (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
			n--;
		if (n >= HC_CORR_MAX)
			n = HC_CORR_MAX - 1;
		for (i = 0; i < n; i++)
			corr[i] = v[i] > 0x20 && v[i] < 0x7f ? v[i] : '?';
		corr[n] = '\0';
		break;
	}
}

uint32_t
hc_retry_after_ms(const struct msg_ratelimit *rl, int64_t now)
{
	uint64_t limit = rl->limit != 0 ? rl->limit : 3600, per, until;

	/* The bucket refills Limit tokens per hour, one at a time: the
	 * next one is due 3600/Limit s after the last; Reset is when it is
	 * full, up to an hour away, and only matters when sooner. */
	per = (3600000 + limit - 1) / limit;
	if (rl->reset != 0 && now > 0 && rl->reset > (uint64_t)now) {
		until = (rl->reset - (uint64_t)now) * 1000;
		if (until < per)
			per = until;
	}
	return per > UINT32_MAX ? UINT32_MAX : (uint32_t)per;
}

static const struct {
	const char *code;
	int result;
} code_results[] = {
	{ "unauthorized", RES_UNAUTHORIZED },
	{ "token_readonly", RES_UNAUTHORIZED },
	{ "forbidden", RES_FORBIDDEN },
	{ "resource_limit_exceeded", RES_FORBIDDEN },
	{ "maintenance", RES_TRANSIENT }, /* blocked for now, not for good */
	{ "not_found", RES_NOT_FOUND },
	{ "locked", RES_LOCKED },
	{ "protected", RES_REFUSED },
	{ "resource_locked", RES_REFUSED }, /* "contact support" */
	{ "rate_limit_exceeded", RES_THROTTLED },
	{ "limit_reached", RES_THROTTLED },
	{ "json_error", RES_INVALID },
	{ "invalid_input", RES_INVALID },
	{ "floating_ip_assigned", RES_INVALID },
	{ "unsupported_error", RES_INVALID },
	{ "conflict", RES_CONFLICT },
	{ "uniqueness_error", RES_REFUSED },
	{ "method_not_allowed", RES_REFUSED },
	{ "deprecated_api_endpoint", RES_REFUSED },
	{ "resource_unavailable", RES_REFUSED },
	{ "service_error", RES_TRANSIENT },
	{ "server_error", RES_TRANSIENT },
	{ "bad_gateway", RES_TRANSIENT },
	{ "unavailable", RES_TRANSIENT },
	{ "timeout", RES_TRANSIENT },
	{ "unknown_error", RES_TRANSIENT },
	{ "robot_unavailable", RES_TRANSIENT },
};

int
hc_result_for(long status, const char *code)
{
	size_t i;
	int r;

	for (i = 0; code != NULL && code[0] != '\0' &&
	     i < sizeof(code_results) / sizeof(code_results[0]);
	     i++)
		if (strcmp(code, code_results[i].code) == 0)
			return code_results[i].result;
	r = result_of_http(status);
	return r >= 0 ? r : RES_MALFORMED; /* 1xx/3xx or nonsense */
}

/* Length of the longest run at s that also occurs in secret. */
static size_t
secret_run(const char *s, const char *secret, size_t slen)
{
	size_t j, m, best = 0;

	for (j = 0; j < slen; j++) {
		for (m = 0; j + m < slen && s[m] == secret[j + m]; m++)
			;
		if (m > best)
			best = m;
	}
	return best;
}

void
hc_sanitize(char *out, size_t outlen, const char *s, const char *secret)
{
	static const char red[] = "REDACTED";
	size_t o = 0, slen = secret != NULL ? strlen(secret) : 0, m, k;

	if (outlen == 0)
		return;
	while (*s != '\0' && o + 1 < outlen) {
		/* Any run of 8+ characters of the secret (or all of a short
		 * one) is cut out, so a server echoing part of it leaks
		 * nothing either. */
		m = slen > 0 ? secret_run(s, secret, slen) : 0;
		if (m > 0 && (m == slen || m >= 8)) {
			for (k = 0; k < sizeof(red) - 1 && o + 1 < outlen; k++)
				out[o++] = red[k];
			s += m;
			continue;
		}
		out[o++] = (unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f
		    ? *s
		    : ' ';
		s++;
	}
	out[o] = '\0';
}
