/* log.h: one-line structured logs (json or key=value text) */
#ifndef LOG_H
#define LOG_H

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
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
