/* log.c: one-line structured logs (json or key=value text) */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 4096
#define LOG_VALUE_MAX 512 /* untrusted values are cut here */
#define LOG_HOLD_MAX (64 * 1024)
#define LOG_CUT_MARK ",\"truncated\":\"true\""

static struct {
	char component[32];
	int json;
	enum log_level level;
	int holding;
	char *held;
	size_t held_len;
} lc = { "supervisor", 1, LOG_INFO, 0, NULL, 0 };

static const char *const level_names[] = { "debug", "info", "warn", "error" };

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

static void
emit(enum log_level l, const char *msg, va_list ap, const char *err)
{
	/* Room kept at the end for the truncation mark, "}" and "\n". */
	const size_t max = LOG_LINE_MAX - sizeof(LOG_CUT_MARK) - 2;
	char line[LOG_LINE_MAX], ts[40];
	const char *k, *v;
	struct timespec now;
	struct tm tm;
	size_t pos = 0;
	int cut = 0;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + 19, sizeof(ts) - 19, ".%03ldZ", now.tv_nsec / 1000000);
	if (lc.json) {
		pos = put_raw(line, pos, max, "{\"ts\":\"");
		pos = put_raw(line, pos, max, ts);
		pos = put_raw(line, pos, max, "\",\"level\":\"");
		pos = put_raw(line, pos, max, level_names[l]);
		pos = put_raw(line, pos, max, "\",\"component\":\"");
		pos = put_escaped(line, pos, max, lc.component);
		pos = put_raw(line, pos, max, "\",\"msg\":\"");
		pos = put_escaped(line, pos, max, msg);
		pos = put_raw(line, pos, max, "\"");
	} else {
		pos = put_raw(line, pos, max, ts);
		pos = put_raw(line, pos, max, " ");
		pos = put_raw(line, pos, max, level_names[l]);
		pos = put_raw(line, pos, max, " ");
		pos = put_escaped(line, pos, max, lc.component);
		pos = put_raw(line, pos, max, ": ");
		pos = put_escaped(line, pos, max, msg);
	}
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
