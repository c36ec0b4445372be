/* dur.h: Go time.ParseDuration syntax, in milliseconds */
#ifndef SUPERVISOR_DUR_H
#define SUPERVISOR_DUR_H

#include <stddef.h>
#include <stdint.h>

/* Room for any dur_format() output, "-2562047788015h12m55.808s" included. */
#define DUR_STR_MAX 32

/*
 * Parses Go duration syntax: an optional sign, then one or more decimal
 * numbers with optional fraction and a unit each ("300ms", "1m30s",
 * "1.5h", "-2m3.4s"), units ns, us, µs/μs, ms, s, m, h; a bare "0" is
 * zero.  The range is Go's (int64 nanoseconds, about 292 years) so what
 * Go accepts we accept; the result is then converted to milliseconds
 * with the sub-millisecond part dropped (the magnitude rounds down:
 * "1500us" is 1, "-1500us" is -1, "999us" is 0).  Negative values are
 * returned: callers that need > 0 check.  Returns 0, or -1 with errno
 * EINVAL (syntax) or ERANGE (outside Go's range).
 */
int dur_parse(const char *s, int64_t *ms_out);

/*
 * Formats like Go's Duration.String() for a whole number of
 * milliseconds: "0s", "300ms", "2s", "1.5s", "1m30s", "1h0m0s".
 * Returns 0, or -1 (ERANGE) when buf is too small (DUR_STR_MAX is
 * always enough); buf then holds "".
 */
int dur_format(int64_t ms, char *buf, size_t len);

#endif /* SUPERVISOR_DUR_H */
