/* str.h: bounded string copies and checked number parsing */
#ifndef STR_H
#define STR_H

#include <stddef.h>
#include <stdint.h>

/* Copy src into dst[dstlen] with NUL: 0, or -1 (ERANGE) if it did not
 * fit, in which case dst holds a truncated copy. */
int str_copy(char *dst, size_t dstlen, const char *src);
/* Decimal integer, whole string, no sign for unsigned, in [min, max]:
 * 0 or -1 with errno EINVAL/ERANGE. */
int str_to_u64(const char *s, uint64_t max, uint64_t *out);
int str_to_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* Trim ASCII whitespace at both ends in place; returns s. */
char *str_trim(char *s);
/* 1 if s starts with prefix */
int str_prefix(const char *s, const char *prefix);

/* snprintf that reports truncation: 0, or -1 (ERANGE) when the text
 * was cut to fit (dst is still NUL-terminated). */
int str_fmt(char *dst, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* One line for an error message: like str_fmt, but a text that does
 * not fit ends in "..." so the cut is visible; never fails. */
void str_line(char *dst, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Copy untrusted text into dst[dstlen] as one printable ASCII line:
 * control bytes, DEL and non-ASCII become '?', so a peer's text can
 * neither split a log line nor drive a terminal. */
void str_printable(char *dst, size_t dstlen, const char *src);
/* Value of "key=value" among argv[0..argc-1], or NULL: how a worker
 * reads the settings the supervisor passes at exec. */
const char *str_arg(int argc, char **argv, const char *key);

#endif /* STR_H */
