/* log.h: one-line structured logs (json or key=value text) */
#ifndef LOG_H
#define LOG_H

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

/* How "ts" is written: zap's time encodings (controller-runtime's
 * --zap-time-encoding).  DEFAULT is epoch in json, iso8601 in text. */
enum log_time {
	LOG_TS_DEFAULT = 0,
	LOG_TS_EPOCH, /* float seconds since the epoch */
	LOG_TS_MILLIS, /* float milliseconds */
	LOG_TS_NANOS, /* integer nanoseconds */
	LOG_TS_ISO8601, /* 2026-03-01T10:04:58.517Z */
	LOG_TS_RFC3339, /* 2026-03-01T10:04:58Z */
	LOG_TS_RFC3339NANO, /* 2026-03-01T10:04:58.517204Z, zeros cut */
};

/* Process-wide log settings: the one piece of global state besides the
 * loop's context and signal flags.  component is "supervisor" or a
 * worker's name; output goes to fd 2. */
void log_init(const char *component, int json, enum log_level level);
/* "json"/"text" -> 1/0, or -1 */
int log_parse_format(const char *);
/* "debug".. "error" -> level, or -1 */
int log_parse_level(const char *);
int log_enabled(enum log_level);
/* zap's names, any case ("nano" too) -> enum log_time, or -1. */
int log_parse_time(const char *);
/* The canonical name of a log_time ("epoch"...; "" for DEFAULT). */
const char *log_time_name(enum log_time);
void log_set_time(enum log_time);
/*
 * A worker's "log_time=<name>" argument (cfg_worker_args()): applies it
 * when present.  0, or -1 when the value is not a time encoding.
 */
int log_time_arg(int argc, char **argv);

/* Hold lines in memory until log_release() (start-up chatter must not
 * precede a one-line configuration error); log_discard() drops them.
 * Releasing when nothing is held is a cheap no-op. */
void log_hold(void);
void log_release(void);
void log_discard(void);

/* msg, then key, value string pairs, NULL-terminated.  Values are
 * length-capped and escaped, so untrusted strings are safe to pass. */
void log_debug(const char *msg, ...);
void log_info(const char *msg, ...);
void log_warn(const char *msg, ...);
void log_error(const char *msg, ...);

/* Log at error level and exit 1; fatal() adds strerror(errno) as err.
 * Only for main.c and start-up, never for input from a peer. */
void fatal(const char *msg, ...) __attribute__((noreturn));
void fatalx(const char *msg, ...) __attribute__((noreturn));

#endif /* LOG_H */
