/* httpd.h: the strict HTTP/1.1 listener for /metrics, /healthz, /readyz */
#ifndef HTTPD_H
#define HTTPD_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/*
 * Limits.  Every scraper and probe we serve sends a few hundred bytes,
 * so anything near these is a mistake or an attack and is refused.
 */
#define HTTPD_LINE_MAX 1024 /* request line, without its CRLF */
#define HTTPD_HEAD_MAX 8192 /* header fields + final CRLF, total */
#define HTTPD_HEADERS_MAX 32 /* header fields per request */
#define HTTPD_IN_MAX (HTTPD_LINE_MAX + 2 + HTTPD_HEAD_MAX)
#define HTTPD_BODY_MAX (4 * 1024 * 1024) /* response body */
#define HTTPD_CONN_MAX 16 /* concurrent connections */
#define HTTPD_POLLFDS_MAX (1 + HTTPD_CONN_MAX)
#define HTTPD_READ_TIMEOUT_MS 5000 /* accept to complete headers */
#define HTTPD_WRITE_TIMEOUT_MS 10000 /* response ready to fully sent */
#define HTTPD_LINGER_MS 1000 /* drain the peer after our FIN */

/* ---- request parser (httpreq.c): pure, no I/O ------------------------ */

enum httpd_method {
	HTTPD_GET = 1,
	HTTPD_HEAD,
};

enum httpd_parse_result {
	HTTPD_REQ_ERROR = -1, /* refuse: answer req->status, then close */
	HTTPD_REQ_MORE = 0, /* valid so far, the head is incomplete */
	HTTPD_REQ_DONE = 1, /* complete head, method and path set */
};

struct httpd_req {
	enum httpd_method method; /* also on an error after the line */
	int minor; /* HTTP/1.<minor> */
	char path[HTTPD_LINE_MAX]; /* target up to '?', starts with '/' */
	size_t head_len; /* bytes up to and with the blank line */
	int status; /* on HTTPD_REQ_ERROR: 400, 405, ... */
	const char *reason; /* on HTTPD_REQ_ERROR: static text */
};

/*
 * Parse the start of a request in p[0..n): the whole bytes received so
 * far, not just the newest read.  Returns an enum httpd_parse_result and
 * fills *req.  Decisions depend only on the bytes before the point of
 * decision, so a prefix that fails fails the same way with more data.
 */
int httpd_req_parse(const void *p, size_t n, struct httpd_req *req);

/* ---- server (httpd.c): driven by the caller's poll() loop ------------ */

struct httpd;

/*
 * Appends the response for path (query removed) to body, which the
 * server owns and frees; sets *content_type to a static string (left
 * NULL: text/plain) and returns the HTTP status: 200, 404 or 503, else
 * the client gets a 500.  HEAD calls it too, for Content-Length.  It
 * runs inside the loop, so it must not block; appends past
 * HTTPD_BODY_MAX fail with ERANGE.
 */
typedef int httpd_handler_fn(void *arg, const char *path, struct buf *body,
    const char **content_type);

/*
 * Listen on bind: "host:port", ":port" (every address; IPv6 dual-stack
 * where the kernel has it, else IPv4) or "[v6]:port"; port 0 picks a
 * free one.  A host name is resolved here, once, so call it at
 * start-up.  Returns a server to free with httpd_close(), or NULL with
 * a message in err[errlen].  handler and arg are kept, not copied.
 *
 * Each connection carries one request: the answer has Content-Type,
 * Content-Length and "Connection: close", then the server half-closes
 * and drains the peer for up to HTTPD_LINGER_MS.  A head not complete
 * HTTPD_READ_TIMEOUT_MS after accept gets a best-effort 408 and is
 * closed; an answer not sent within HTTPD_WRITE_TIMEOUT_MS is dropped.
 */
struct httpd *httpd_open(const char *bind, httpd_handler_fn *handler, void *arg,
    char *err, size_t errlen);

/* The bound port (useful after port 0). */
int httpd_port(const struct httpd *);

/*
 * Fill fds[0..max) with the listener and every connection, each with
 * the events it waits for; returns how many were filled.  max =
 * HTTPD_POLLFDS_MAX always covers all.
 */
int httpd_pollfds(struct httpd *, struct pollfd *fds, size_t max);

/*
 * Handle the result of poll() on fds[0..n) as filled by httpd_pollfds()
 * just before, then expire connections whose deadline is at or before
 * now_ms (CLOCK_MONOTONIC).  Call it after every poll() return, with
 * n = 0 after a timeout, so deadlines run.  Never blocks.  Beyond
 * HTTPD_CONN_MAX, a new connection evicts the oldest one (one still
 * reading its request first): the
 * client learns at once instead of waiting in the backlog.
 */
void httpd_dispatch(struct httpd *, const struct pollfd *fds, size_t n,
    int64_t now_ms);

/* The earliest deadline in CLOCK_MONOTONIC ms at which httpd_dispatch()
 * must run even without readiness, or INT64_MAX if there is none. */
int64_t httpd_next_deadline(const struct httpd *);

/* Number of open connections (for tests and metrics). */
int httpd_nconns(const struct httpd *);

/* Close the listener and every connection, free everything; NULL ok. */
void httpd_close(struct httpd *);

#endif /* HTTPD_H */
