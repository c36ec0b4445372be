/* log.c: one-line structured logs (json or key=value text) */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "str.h"

#define LOG_LINE_MAX 4096
#define LOG_VALUE_MAX 512 /* untrusted values are cut here */
#define LOG_HOLD_MAX (64 * 1024)
#define LOG_CUT_MARK ",\"truncated\":\"true\""

static struct {
	char component[32];
	int json;
	enum log_level level;
	enum log_time time;
	int holding;
	char *held;
	size_t held_len;
} lc = { "supervisor", 1, LOG_INFO, LOG_TS_DEFAULT, 0, NULL, 0 };

static const char *const level_names[] = { "debug", "info", "warn", "error" };
/* Indexed by enum log_time; zap's flag values. */
static const char *const time_names[] = { "", "epoch", "millis", "nanos",
	"iso8601", "rfc3339", "rfc3339nano" };

void
log_init(const char *component, int json, enum log_level level)
{
	/* gmtime_r may load the time zone on first use: do it now, before
	 * a worker's sandbox forbids opening files. */
	tzset();
	snprintf(lc.component, sizeof(lc.component), "%s", component);
	lc.json = json;
	lc.level = level;
}

int
log_parse_format(const char *s)
{
	if (strcmp(s, "json") == 0)
		return 1;
	if (strcmp(s, "text") == 0)
		return 0;
	return -1;
}

int
log_parse_level(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

int
log_parse_time(const char *s)
{
	size_t i;

	/* controller-runtime spells it "nanos"; its help once said "nano". */
	if (strcasecmp(s, "nano") == 0)
		return LOG_TS_NANOS;
	for (i = 1; i < sizeof(time_names) / sizeof(time_names[0]); i++)
		if (strcasecmp(s, time_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
log_time_name(enum log_time t)
{
	if ((unsigned int)t >= sizeof(time_names) / sizeof(time_names[0]))
		return "";
	return time_names[t];
}

void
log_set_time(enum log_time t)
{
	lc.time = t;
}

int
log_time_arg(int argc, char **argv)
{
	const char *v = str_arg(argc, argv, "log_time");
	int t;

	if (v == NULL || v[0] == '\0')
		return 0;
	if ((t = log_parse_time(v)) < 0)
		return -1;
	lc.time = (enum log_time)t;
	return 0;
}

int
log_enabled(enum log_level l)
{
	return l >= lc.level;
}

void
log_hold(void)
{
	lc.holding = 1;
}

void
log_discard(void)
{
	free(lc.held);
	lc.held = NULL;
	lc.held_len = 0;
	lc.holding = 0;
}

static void
write_all(const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(STDERR_FILENO, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere left to report it */
		p += w;
		n -= (size_t)w;
	}
}

void
log_release(void)
{
	if (lc.held != NULL)
		write_all(lc.held, lc.held_len);
	log_discard();
}

/* Append s escaped to out; JSON escapes in both formats keep one event
 * on one line whatever the value holds. */
static size_t
put_escaped(char *out, size_t pos, size_t max, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	unsigned char c;

	for (; *s != '\0' && n < LOG_VALUE_MAX; s++, n++) {
		c = (unsigned char)*s;
		if (pos + 7 >= max)
			break;
		if (c == '"' || c == '\\') {
			out[pos++] = '\\';
			out[pos++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(out + pos, "\\u00", 4);
			out[pos + 4] = hex[c >> 4];
			out[pos + 5] = hex[c & 0xf];
			pos += 6;
		} else
			out[pos++] = (char)c;
	}
	if (*s != '\0' && pos + 4 < max) {
		memcpy(out + pos, "...", 3);
		pos += 3;
	}
	return pos;
}

/* All or nothing: s goes in whole or not at all, and pos never passes
 * max (no size arithmetic can wrap). */
static size_t
put_raw(char *out, size_t pos, size_t max, const char *s)
{
	size_t n = strlen(s);

	if (pos >= max || n > max - pos)
		return pos;
	memcpy(out + pos, s, n);
	return pos + n;
}

/* One key and value, whole or not at all, so a line that runs out of
 * room still parses: the pair is dropped and *cut set instead. */
static size_t
put_kv(char *out, size_t pos, size_t max, const char *k, const char *v,
    int *cut)
{
	char kv[2 * LOG_VALUE_MAX * 6 + 16];
	size_t n = 0;

	n = put_raw(kv, n, sizeof(kv), lc.json ? ",\"" : " ");
	n = put_escaped(kv, n, sizeof(kv), k);
	n = put_raw(kv, n, sizeof(kv), lc.json ? "\":\"" : "=\"");
	n = put_escaped(kv, n, sizeof(kv), v);
	n = put_raw(kv, n, sizeof(kv), "\"");
	if (pos >= max || n > max - pos) {
		*cut = 1;
		return pos;
	}
	memcpy(out + pos, kv, n);
	return pos + n;
}

/* "<int>.<frac>" with the fraction's trailing zeros cut, as Go's
 * strconv.FormatFloat(f, 'f', -1, 64) prints zap's epoch floats. */
static void
fmt_decimal(char *out, size_t len, long long whole, long frac, int digits)
{
	char f[16];
	int n;

	snprintf(f, sizeof(f), "%0*ld", digits, frac);
	for (n = digits; n > 0 && f[n - 1] == '0'; n--)
		;
	f[n] = '\0';
	snprintf(out, len, "%lld%s%s", whole, n > 0 ? "." : "", f);
}

/* ts as zap's time encoders write it, UTC; *quote: a JSON string. */
static void
fmt_time(char *out, size_t len, const struct timespec *now, int *quote)
{
	enum log_time t = lc.time;
	long long s = (long long)now->tv_sec;
	struct tm tm;
	char d[24];
	int n;

	if (t == LOG_TS_DEFAULT)
		t = lc.json ? LOG_TS_EPOCH : LOG_TS_ISO8601;
	*quote = t >= LOG_TS_ISO8601;
	switch (t) {
	case LOG_TS_EPOCH:
		fmt_decimal(out, len, s, now->tv_nsec, 9);
		return;
	case LOG_TS_MILLIS:
		fmt_decimal(out, len, s * 1000 + now->tv_nsec / 1000000,
		    now->tv_nsec % 1000000, 6);
		return;
	case LOG_TS_NANOS:
		snprintf(out, len, "%lld", s * 1000000000LL + now->tv_nsec);
		return;
	default:
		break;
	}
	gmtime_r(&now->tv_sec, &tm);
	strftime(d, sizeof(d), "%Y-%m-%dT%H:%M:%S", &tm);
	if (t == LOG_TS_ISO8601)
		snprintf(out, len, "%s.%03ldZ", d, now->tv_nsec / 1000000);
	else if (t == LOG_TS_RFC3339 || now->tv_nsec == 0)
		snprintf(out, len, "%sZ", d);
	else {
		snprintf(out, len, "%s.%09ld", d, now->tv_nsec);
		for (n = (int)strlen(out); out[n - 1] == '0'; n--)
			;
		snprintf(out + n, len - (size_t)n, "Z");
	}
}

/* zap's production JSON keys first (level, ts, logger, msg), ours after. */
static size_t
put_head(char *line, size_t max, enum log_level l, const char *msg)
{
	struct timespec now;
	char ts[48];
	size_t pos = 0;
	int quote;

	clock_gettime(CLOCK_REALTIME, &now);
	fmt_time(ts, sizeof(ts), &now, &quote);
	if (!lc.json) {
		pos = put_raw(line, pos, max, ts);
		pos = put_raw(line, pos, max, " ");
		pos = put_raw(line, pos, max, level_names[l]);
		pos = put_raw(line, pos, max, " ");
		pos = put_escaped(line, pos, max, lc.component);
		pos = put_raw(line, pos, max, ": ");
		return put_escaped(line, pos, max, msg);
	}
	pos = put_raw(line, pos, max, "{\"level\":\"");
	pos = put_raw(line, pos, max, level_names[l]);
	pos = put_raw(line, pos, max, quote ? "\",\"ts\":\"" : "\",\"ts\":");
	pos = put_raw(line, pos, max, ts);
	pos = put_raw(line, pos, max,
	    quote ? "\",\"logger\":\"" : ",\"logger\":\"");
	pos = put_escaped(line, pos, max, lc.component);
	pos = put_raw(line, pos, max, "\",\"msg\":\"");
	pos = put_escaped(line, pos, max, msg);
	pos = put_raw(line, pos, max, "\",\"component\":\"");
	pos = put_escaped(line, pos, max, lc.component);
	return put_raw(line, pos, max, "\"");
}

static void
emit(enum log_level l, const char *msg, va_list ap, const char *err)
{
	/* Room kept at the end for the truncation mark, "}" and "\n". */
	const size_t max = LOG_LINE_MAX - sizeof(LOG_CUT_MARK) - 2;
	char line[LOG_LINE_MAX];
	const char *k, *v;
	size_t pos;
	int cut = 0;

	pos = put_head(line, max, l, msg);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		pos = put_kv(line, pos, max, k, v ? v : "", &cut);
	}
	if (err != NULL)
		pos = put_kv(line, pos, max, "err", err, &cut);
	if (cut)
		pos = put_raw(line, pos, sizeof(line) - 2,
		    lc.json ? LOG_CUT_MARK : " truncated=\"true\"");
	if (lc.json)
		pos = put_raw(line, pos, sizeof(line) - 1, "}");
	line[pos++] = '\n';
	if (lc.holding && l < LOG_ERROR) {
		char *n;

		if (lc.held_len + pos > LOG_HOLD_MAX)
			return;
		if ((n = realloc(lc.held, lc.held_len + pos)) == NULL)
			return;
		memcpy(n + lc.held_len, line, pos);
		lc.held = n;
		lc.held_len += pos;
		return;
	}
	write_all(line, pos);
}

#define LOG_FN(name, lvl) \
	void name(const char *msg, ...) \
	{ \
		va_list ap; \
\
		if (!log_enabled(lvl)) \
			return; \
		va_start(ap, msg); \
		emit(lvl, msg, ap, NULL); \
		va_end(ap); \
	}

LOG_FN(log_debug, LOG_DEBUG)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_warn, LOG_WARN)
LOG_FN(log_error, LOG_ERROR)

void
fatal(const char *msg, ...)
{
	const char *err = strerror(errno);
	va_list ap;

	va_start(ap, msg);
	emit(LOG_ERROR, msg, ap, err);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	emit(LOG_ERROR, msg, ap, NULL);
	va_end(ap);
	exit(1);
}
