/* test_httpd.c: request parser rejections, the listener end to end */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "supervisor/net/httpd.h"
#include "supervisor/net/prom.h"

#define BIG_BODY (2 * 1024 * 1024)

/* ---- parser ------------------------------------------------------------ */

static struct httpd_req req;

static int
parse_n(const void *p, size_t n)
{
	return httpd_req_parse(p, n, &req);
}

static int
parse(const char *s)
{
	return parse_n(s, strlen(s));
}

/* Expect a refusal with status, and the same for every longer input. */
static void
refused(const char *s, int status)
{
	assert_int_equal(parse(s), HTTPD_REQ_ERROR);
	assert_int_equal(req.status, status);
	assert_non_null(req.reason);
}

/* A string of n copies of c, freed by the caller. */
static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static char *
concat(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 1);

	assert_non_null(s);
	memcpy(s, a, la);
	memcpy(s + la, b, lb);
	memcpy(s + la + lb, c, lc + 1);
	return s;
}

static void
test_parse_get(void **state)
{
	const char *s = "GET /metrics HTTP/1.1\r\nHost: a:8080\r\n"
			"User-Agent: Prometheus/2.45\r\nAccept: */*\r\n\r\n";

	(void)state;
	assert_int_equal(parse(s), HTTPD_REQ_DONE);
	assert_int_equal(req.method, HTTPD_GET);
	assert_int_equal(req.minor, 1);
	assert_string_equal(req.path, "/metrics");
	assert_int_equal(req.head_len, strlen(s));
}

static void
test_parse_head_http10(void **state)
{
	(void)state;
	/* HTTP/1.0 needs no Host. */
	assert_int_equal(parse("HEAD /healthz HTTP/1.0\r\n\r\n"),
	    HTTPD_REQ_DONE);
	assert_int_equal(req.method, HTTPD_HEAD);
	assert_int_equal(req.minor, 0);
	assert_string_equal(req.path, "/healthz");
}

static void
test_parse_query_ignored(void **state)
{
	(void)state;
	assert_int_equal(parse("GET /readyz?verbose=1&x=%20 HTTP/1.1\r\n"
			       "Host: x\r\n\r\n"),
	    HTTPD_REQ_DONE);
	assert_string_equal(req.path, "/readyz");
	assert_int_equal(parse("GET /? HTTP/1.1\r\nHost: x\r\n\r\n"),
	    HTTPD_REQ_DONE);
	assert_string_equal(req.path, "/");
}

static void
test_parse_fields_tolerated(void **state)
{
	(void)state;
	/* Case-insensitive names, OWS, a zero length, obs-text, empty Host. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nhOsT:\r\n"
			       "content-length: 0 \r\nCONTENT-LENGTH:\t000\r\n"
			       "X-Name: caf\xc3\xa9\r\nX-Empty:\r\n\r\n"),
	    HTTPD_REQ_DONE);
}

static void
test_parse_trailing_bytes(void **state)
{
	const char *head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	char *s = concat(head, "GET /again HTTP/1.1\r\n", "");

	(void)state;
	/* A pipelined second request is left alone: we answer one. */
	assert_int_equal(parse(s), HTTPD_REQ_DONE);
	assert_int_equal(req.head_len, strlen(head));
	free(s);
}

static void
test_parse_split_reads(void **state)
{
	const char *s = "GET /metrics?a=b HTTP/1.1\r\nHost: x\r\n"
			"Accept: text/plain\r\n\r\n";
	size_t i, n = strlen(s);

	(void)state;
	for (i = 0; i < n; i++)
		assert_int_equal(parse_n(s, i), HTTPD_REQ_MORE);
	assert_int_equal(parse_n(s, n), HTTPD_REQ_DONE);
	assert_string_equal(req.path, "/metrics");
}

static void
test_parse_line_limit(void **state)
{
	/* "GET " + target + " HTTP/1.1" is exactly the limit. */
	size_t tlen = HTTPD_LINE_MAX - 4 - 9;
	char *t = repeat('a', tlen), *s;
	char line[HTTPD_LINE_MAX + 64];
	int n;

	(void)state;
	t[0] = '/';
	n = snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
	    t);
	assert_true(n > 0 && (size_t)n < sizeof(line));
	assert_int_equal(parse(line), HTTPD_REQ_DONE);
	assert_int_equal(strlen(req.path), tlen);
	/* One byte more: the target is too long. */
	n = snprintf(line, sizeof(line), "GET %sa HTTP/1.1\r\nHost: x\r\n\r\n",
	    t);
	assert_true(n > 0 && (size_t)n < sizeof(line));
	refused(line, 414);
	free(t);
	/* Refused as soon as the limit passes, not when the line ends. */
	t = repeat('b', 2 * HTTPD_LINE_MAX);
	s = concat("GET /", t, "");
	refused(s, 414);
	free(s);
	free(t);
}

static void
test_parse_long_method(void **state)
{
	char *s = repeat('A', HTTPD_LINE_MAX + 1);

	(void)state;
	refused(s, 400);
	free(s);
}

/* A request whose header section is exactly size bytes. */
static char *
head_of_size(size_t size)
{
	const char *line = "GET / HTTP/1.1\r\n";
	const char *host = "Host: x\r\n";
	size_t fill = size - strlen(host) - strlen("X: \r\n") - 2;
	char *v = repeat('v', fill), *a, *s;

	a = concat(line, host, "X: ");
	s = concat(a, v, "\r\n\r\n");
	free(a);
	free(v);
	return s;
}

static void
test_parse_header_limit(void **state)
{
	char *s;

	(void)state;
	s = head_of_size(HTTPD_HEAD_MAX);
	assert_int_equal(parse(s), HTTPD_REQ_DONE);
	assert_int_equal(req.head_len, strlen(s));
	free(s);
	s = head_of_size(HTTPD_HEAD_MAX + 1);
	refused(s, 431);
	free(s);
	/* And without ever ending the line. */
	s = head_of_size(HTTPD_HEAD_MAX * 2);
	s[HTTPD_HEAD_MAX + 100] = '\0';
	refused(s, 431);
	free(s);
}

static char *
with_fields(int nfields)
{
	size_t size = 64 + (size_t)nfields * 16, off;
	char *s = malloc(size);
	int i, n;

	assert_non_null(s);
	n = snprintf(s, size, "GET / HTTP/1.1\r\nHost: x\r\n");
	assert_true(n > 0 && (size_t)n < size);
	off = (size_t)n;
	for (i = 1; i < nfields; i++) {
		n = snprintf(s + off, size - off, "X-%d: %d\r\n", i, i);
		assert_true(n > 0 && (size_t)n < size - off);
		off += (size_t)n;
	}
	assert_true(size - off >= 3);
	memcpy(s + off, "\r\n", 3);
	return s;
}

static void
test_parse_too_many_fields(void **state)
{
	char *s;

	(void)state;
	s = with_fields(HTTPD_HEADERS_MAX);
	assert_int_equal(parse(s), HTTPD_REQ_DONE);
	free(s);
	s = with_fields(HTTPD_HEADERS_MAX + 1);
	refused(s, 431);
	free(s);
}

static void
test_parse_bad_method(void **state)
{
	(void)state;
	refused("POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405);
	refused("DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 405);
	refused("OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n", 405);
	/* Methods are case-sensitive. */
	refused("get / HTTP/1.1\r\nHost: x\r\n\r\n", 405);
	refused("GETS / HTTP/1.1\r\nHost: x\r\n\r\n", 405);
	/* Not a token at all. */
	refused("GE(T / HTTP/1.1\r\n", 400);
	refused(" GET / HTTP/1.1\r\n", 400);
	refused("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

static void
test_parse_bad_version(void **state)
{
	(void)state;
	refused("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
	refused("GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505);
	refused("GET / HTTP/0.9\r\n\r\n", 505);
	refused("GET / HTTP/1.10\r\n", 400);
	refused("GET / HTTP/1\r\n", 400);
	refused("GET / http/1.1\r\n", 400);
	refused("GET / HTTPS/1.1\r\n", 400);
	refused("GET /\r\n", 400);
	refused("GET / HTTP/1.1 \r\n", 400);
	refused("GET  / HTTP/1.1\r\n", 400);
}

static void
test_parse_bad_target(void **state)
{
	(void)state;
	refused("GET http://x/ HTTP/1.1\r\n", 400);
	refused("GET * HTTP/1.1\r\n", 400);
	refused("GET /a#frag HTTP/1.1\r\n", 400);
	refused("GET /a b HTTP/1.1\r\n", 400);
	refused("GET /caf\xc3\xa9 HTTP/1.1\r\n", 400);
	refused("GET /\x7f HTTP/1.1\r\n", 400);
	refused("GET /\t HTTP/1.1\r\n", 400);
}

static void
test_parse_body_on_get(void **state)
{
	(void)state;
	refused("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
	    400);
	refused("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0010\r\n\r\n",
	    400);
	refused("GET / HTTP/1.1\r\nHost: x\r\n"
		"Transfer-Encoding: chunked\r\n\r\n",
	    400);
	refused("HEAD / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 400);
	/* The server must know a refused HEAD gets no body. */
	assert_int_equal(req.method, HTTPD_HEAD);
	refused("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nContent-Length: 0, 0\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400);
}

static void
test_parse_nul_bytes(void **state)
{
	static const char in_method[] = "G\0T / HTTP/1.1\r\n\r\n";
	static const char in_path[] = "GET /a\0b HTTP/1.1\r\n\r\n";
	static const char in_version[] = "GET / HTTP/1\0.1\r\n\r\n";
	static const char in_name[] = "GET / HTTP/1.0\r\nX\0Y: 1\r\n\r\n";
	static const char in_value[] = "GET / HTTP/1.0\r\nX: a\0b\r\n\r\n";

	(void)state;
	assert_int_equal(parse_n(in_method, sizeof(in_method) - 1),
	    HTTPD_REQ_ERROR);
	assert_int_equal(req.status, 400);
	assert_int_equal(parse_n(in_path, sizeof(in_path) - 1),
	    HTTPD_REQ_ERROR);
	assert_int_equal(req.status, 400);
	assert_int_equal(parse_n(in_version, sizeof(in_version) - 1),
	    HTTPD_REQ_ERROR);
	assert_int_equal(req.status, 400);
	assert_int_equal(parse_n(in_name, sizeof(in_name) - 1),
	    HTTPD_REQ_ERROR);
	assert_int_equal(req.status, 400);
	assert_int_equal(parse_n(in_value, sizeof(in_value) - 1),
	    HTTPD_REQ_ERROR);
	assert_int_equal(req.status, 400);
	/* Refused at once, without waiting for the end of the line. */
	assert_int_equal(parse_n(in_path, 7), HTTPD_REQ_ERROR);
}

static void
test_parse_missing_crlf(void **state)
{
	(void)state;
	refused("GET / HTTP/1.1\nHost: x\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: x\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: x\r\n\n", 400);
	refused("GET / HTTP/1.1\rHost: x\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: x\r\n\rX", 400);
	refused("GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n", 400);
	/* A lone CR at the end may still be followed by its LF. */
	assert_int_equal(parse("GET / HTTP/1.1\r"), HTTPD_REQ_MORE);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n\r"),
	    HTTPD_REQ_MORE);
}

static void
test_parse_bad_fields(void **state)
{
	(void)state;
	/* Obsolete line folding, whitespace before the colon, no name. */
	refused("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\n: x\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nX(: 1\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nX: \x01\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nX: \x7f\r\n\r\n", 400);
}

static void
test_parse_host(void **state)
{
	(void)state;
	refused("GET / HTTP/1.1\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	assert_int_equal(parse("GET / HTTP/1.0\r\nHost: a\r\n\r\n"),
	    HTTPD_REQ_DONE);
}

/* Every prefix of a refused request is incomplete or refused alike. */
static void
test_parse_prefix_monotone(void **state)
{
	static const char *const bad[] = {
		"POST / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
		"GET /a#b HTTP/1.1\r\n\r\n",
	};
	size_t i, k, n;
	int status;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = strlen(bad[i]);
		assert_int_equal(parse_n(bad[i], n), HTTPD_REQ_ERROR);
		status = req.status;
		for (k = 0; k < n; k++) {
			int r = parse_n(bad[i], k);

			assert_true(r == HTTPD_REQ_MORE ||
			    (r == HTTPD_REQ_ERROR && req.status == status));
		}
	}
}

/* ---- server, end to end on 127.0.0.1 ------------------------------------ */

struct srv {
	struct httpd *h;
	int calls;
	char last[64];
};

static int
handler(void *arg, const char *path, struct buf *body,
    const char **content_type)
{
	struct srv *s = arg;
	static const char ready[] = "not ready: k8s api unreachable\n";
	uint8_t chunk[4096];
	size_t i;

	s->calls++;
	snprintf(s->last, sizeof(s->last), "%s", path);
	if (strcmp(path, "/metrics") == 0) {
		*content_type = PROM_CONTENT_TYPE;
		return buf_append(body, "m 1\n", 4) == 0 ? 200 : 500;
	}
	if (strcmp(path, "/healthz") == 0)
		return buf_append(body, "ok\n", 3) == 0 ? 200 : 500;
	if (strcmp(path, "/readyz") == 0)
		return buf_append(body, ready, sizeof(ready) - 1) == 0 ? 503
								       : 500;
	if (strcmp(path, "/big") == 0) {
		memset(chunk, 'x', sizeof(chunk));
		for (i = 0; i < BIG_BODY / sizeof(chunk); i++)
			if (buf_append(body, chunk, sizeof(chunk)) != 0)
				return 500;
		return 200;
	}
	if (strcmp(path, "/teapot") == 0)
		return 418;
	return 404;
}

static int
srv_setup(void **state)
{
	struct srv *s = calloc(1, sizeof(*s));
	char err[256];

	assert_non_null(s);
	s->h = httpd_open("127.0.0.1:0", handler, s, err, sizeof(err));
	if (s->h == NULL)
		fail_msg("httpd_open: %s", err);
	assert_true(httpd_port(s->h) > 0);
	*state = s;
	return 0;
}

static int
srv_teardown(void **state)
{
	struct srv *s = *state;

	httpd_close(s->h);
	free(s);
	return 0;
}

/* One poll() round of the server, as the supervisor's loop does it. */
static void
pump_at(struct httpd *h, int64_t now, int timeout_ms)
{
	struct pollfd fds[HTTPD_POLLFDS_MAX];
	int n;

	n = httpd_pollfds(h, fds, HTTPD_POLLFDS_MAX);
	assert_true(n >= 1);
	assert_true(poll(fds, (nfds_t)n, timeout_ms) >= 0);
	httpd_dispatch(h, fds, (size_t)n, now);
}

static void
pump(struct httpd *h)
{
	pump_at(h, clock_ms(), 5);
}

/* A connected client; rcvbuf > 0 shrinks its receive window. */
static int
client_rcvbuf(struct httpd *h, int rcvbuf)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)httpd_port(h));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (rcvbuf > 0)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				     sizeof(rcvbuf)),
		    0);
	/* Loopback connects complete in the kernel, before any accept. */
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static int
client(struct httpd *h)
{
	return client_rcvbuf(h, 0);
}

/* How many of the server's descriptors wait to write. */
static int
writers(struct httpd *h)
{
	struct pollfd fds[HTTPD_POLLFDS_MAX];
	int i, n, w = 0;

	n = httpd_pollfds(h, fds, HTTPD_POLLFDS_MAX);
	for (i = 0; i < n; i++)
		if (fds[i].events & POLLOUT)
			w++;
	return w;
}

static void
send_str(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL),
	    (ssize_t)strlen(s));
}

/*
 * Pump the server until the client sees the end of the response (EOF
 * or reset); returns its length in out, NUL-terminated.  Bounded: at
 * most ~5 s of pumping.
 */
static size_t
collect(struct httpd *h, int fd, char *out, size_t outlen)
{
	size_t len = 0;
	ssize_t r;
	int i;

	for (i = 0; i < 1000; i++) {
		pump(h);
		r = recv(fd, out + len, outlen - 1 - len, MSG_DONTWAIT);
		if (r > 0) {
			len += (size_t)r;
			assert_true(len < outlen - 1);
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			break;
	}
	assert_true(i < 1000);
	out[len] = '\0';
	return len;
}

static size_t
exchange(struct httpd *h, const char *request, char *out, size_t outlen)
{
	int fd = client(h);
	size_t n;

	send_str(fd, request);
	n = collect(h, fd, out, outlen);
	close(fd);
	return n;
}

/* Pump until every connection has closed (the peers closed theirs). */
static void
settle(struct httpd *h)
{
	int i;

	for (i = 0; i < 200 && httpd_nconns(h) > 0; i++)
		pump(h);
	assert_int_equal(httpd_nconns(h), 0);
}

static void
test_srv_metrics(void **state)
{
	struct srv *s = *state;
	char out[4096];

	exchange(s->h, "GET /metrics?x=1 HTTP/1.1\r\nHost: t\r\n\r\n", out,
	    sizeof(out));
	assert_string_equal(out,
	    "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Content-Length: 4\r\n"
	    "Connection: close\r\n"
	    "\r\n"
	    "m 1\n");
	assert_string_equal(s->last, "/metrics");
	settle(s->h);
	assert_true(httpd_next_deadline(s->h) == INT64_MAX);
}

static void
test_srv_head(void **state)
{
	struct srv *s = *state;
	char out[4096];

	exchange(s->h, "HEAD /healthz HTTP/1.0\r\n\r\n", out, sizeof(out));
	assert_string_equal(out,
	    "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 3\r\n"
	    "Connection: close\r\n"
	    "\r\n");
	settle(s->h);
}

static void
test_srv_statuses(void **state)
{
	struct srv *s = *state;
	char out[4096];

	exchange(s->h, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", out,
	    sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
	exchange(s->h, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n", out,
	    sizeof(out));
	assert_true(
	    strncmp(out, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0);
	assert_non_null(
	    strstr(out, "\r\n\r\nnot ready: k8s api unreachable\n"));
	/* A status the server does not know is the handler's bug: 500. */
	exchange(s->h, "GET /teapot HTTP/1.1\r\nHost: t\r\n\r\n", out,
	    sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 500 ", 13) == 0);
	settle(s->h);
}

static void
test_srv_405(void **state)
{
	struct srv *s = *state;
	char out[4096];

	exchange(s->h,
	    "POST /metrics HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 2\r\n\r\nhi",
	    out, sizeof(out));
	assert_true(
	    strncmp(out, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
	assert_non_null(strstr(out, "\r\nAllow: GET, HEAD\r\n"));
	assert_non_null(strstr(out, "\r\nConnection: close\r\n"));
	assert_int_equal(s->calls, 0);
	settle(s->h);
}

static void
test_srv_refusals(void **state)
{
	struct srv *s = *state;
	char out[4096], *req431, *t, *req414;

	req431 = with_fields(HTTPD_HEADERS_MAX + 1);
	exchange(s->h, req431, out, sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 431 ", 13) == 0);
	free(req431);
	t = repeat('a', HTTPD_LINE_MAX);
	req414 = concat("GET /", t, " HTTP/1.1\r\n\r\n");
	exchange(s->h, req414, out, sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 414 ", 13) == 0);
	free(req414);
	free(t);
	exchange(s->h, "HEAD / HTTP/1.1\r\n\r\n", out, sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 400 ", 13) == 0);
	assert_non_null(strstr(out, "\r\nContent-Length: "));
	assert_true(
	    strlen(out) > 4 && strcmp(out + strlen(out) - 4, "\r\n\r\n") == 0);
	exchange(s->h, "GET / HTTP/3.0\r\n\r\n", out, sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 505 ", 13) == 0);
	exchange(s->h,
	    "GET / HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	    out, sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 400 ", 13) == 0);
	assert_int_equal(s->calls, 0);
	settle(s->h);
}

static void
test_srv_split_request(void **state)
{
	struct srv *s = *state;
	char out[4096];
	int fd, i;

	fd = client(s->h);
	send_str(fd, "GET /hea");
	for (i = 0; i < 5; i++)
		pump(s->h);
	assert_int_equal(httpd_nconns(s->h), 1);
	assert_int_equal(s->calls, 0);
	send_str(fd, "lthz HTTP/1.1\r\nHo");
	pump(s->h);
	send_str(fd, "st: t\r\n\r\n");
	collect(s->h, fd, out, sizeof(out));
	close(fd);
	assert_true(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_string_equal(s->last, "/healthz");
	settle(s->h);
}

static void
test_srv_read_timeout(void **state)
{
	struct srv *s = *state;
	char out[4096];
	int64_t t0, d;
	int fd, i;

	fd = client(s->h);
	send_str(fd, "GET / HT");
	t0 = clock_ms();
	for (i = 0; i < 200 && httpd_nconns(s->h) == 0; i++)
		pump_at(s->h, t0, 5);
	assert_int_equal(httpd_nconns(s->h), 1);
	d = httpd_next_deadline(s->h);
	assert_true(d == t0 + HTTPD_READ_TIMEOUT_MS);
	/* Just before the deadline nothing happens... */
	pump_at(s->h, d - 1, 0);
	assert_int_equal(httpd_nconns(s->h), 1);
	/* ...at it the connection is answered 408 and closed. */
	pump_at(s->h, d, 0);
	assert_int_equal(httpd_nconns(s->h), 0);
	collect(s->h, fd, out, sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0);
	close(fd);
	assert_int_equal(s->calls, 0);
}

/* A full listener evicts its oldest idle connection: a client holding
 * every slot cannot keep a new probe from being answered. */
static void
test_srv_connection_cap(void **state)
{
	struct srv *s = *state;
	int fds[HTTPD_CONN_MAX], extra, i;
	char out[4096];
	ssize_t r;

	for (i = 0; i < HTTPD_CONN_MAX; i++)
		fds[i] = client(s->h);
	for (i = 0; i < 200 && httpd_nconns(s->h) < HTTPD_CONN_MAX; i++)
		pump(s->h);
	assert_int_equal(httpd_nconns(s->h), HTTPD_CONN_MAX);
	/* One more, with its request: answered. */
	extra = client(s->h);
	send_str(extra, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
	collect(s->h, extra, out, sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	close(extra);
	/* The oldest idle one paid for it: closed by the server. */
	for (i = 0; i < 200; i++) {
		pump(s->h);
		r = recv(fds[0], out, sizeof(out), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			break;
		assert_true(r < 0 && errno == EAGAIN);
	}
	assert_true(i < 200);
	/* A younger one holding a slot is still served. */
	send_str(fds[HTTPD_CONN_MAX - 1],
	    "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
	collect(s->h, fds[HTTPD_CONN_MAX - 1], out, sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	for (i = 0; i < HTTPD_CONN_MAX; i++)
		close(fds[i]);
	settle(s->h);
}

static void
test_srv_slow_reader(void **state)
{
	struct srv *s = *state;
	char out[4096];
	int64_t start, d;
	int slow, i;

	slow = client_rcvbuf(s->h, 4096);
	send_str(slow, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
	start = clock_ms();
	for (i = 0; i < 20; i++)
		pump(s->h);
	/* 2 MiB exceed the socket buffers: the rest waits for POLLOUT,
	 * and the loop never blocked on it. */
	assert_int_equal(httpd_nconns(s->h), 1);
	assert_int_equal(writers(s->h), 1);
	assert_true(clock_ms() - start < 2000);
	/* Meanwhile others are served. */
	exchange(s->h, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", out,
	    sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	for (i = 0; i < 200 && httpd_nconns(s->h) > 1; i++)
		pump(s->h);
	assert_int_equal(httpd_nconns(s->h), 1);
	assert_int_equal(writers(s->h), 1);
	/* The write deadline ends the slow one. */
	d = httpd_next_deadline(s->h);
	assert_true(d <= clock_ms() + HTTPD_WRITE_TIMEOUT_MS);
	pump_at(s->h, d, 0);
	assert_int_equal(httpd_nconns(s->h), 0);
	close(slow);
}

/* A response read piecewise: the head, then a count of the body. */
struct reading {
	char head[512];
	size_t total, headlen, body;
	int bad;
};

static void
reading_add(struct reading *rd, const char *p, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++, rd->total++) {
		if (rd->headlen != 0) {
			rd->body++;
			rd->bad += p[k] != 'x';
			continue;
		}
		assert_true(rd->total < sizeof(rd->head) - 1);
		rd->head[rd->total] = p[k];
		rd->head[rd->total + 1] = '\0';
		if (strstr(rd->head, "\r\n\r\n") != NULL)
			rd->headlen = rd->total + 1;
	}
}

/* A reader slower than the loop still gets every byte, in order. */
static void
test_srv_big_body_complete(void **state)
{
	struct srv *s = *state;
	struct reading rd;
	char chunk[65536];
	ssize_t r;
	int fd, i;

	memset(&rd, 0, sizeof(rd));
	fd = client_rcvbuf(s->h, 4096);
	send_str(fd, "GET /big HTTP/1.0\r\n\r\n");
	for (i = 0; i < 20000; i++) {
		pump_at(s->h, clock_ms(), 0);
		r = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r < 0)
			assert_true(errno == EAGAIN);
		else
			reading_add(&rd, chunk, (size_t)r);
	}
	assert_true(i < 20000);
	close(fd);
	assert_true(rd.headlen > 0);
	assert_non_null(strstr(rd.head, "\r\nContent-Length: 2097152\r\n"));
	assert_int_equal(rd.body, BIG_BODY);
	assert_int_equal(rd.bad, 0);
	settle(s->h);
}

static void
test_srv_peer_gives_up(void **state)
{
	struct srv *s = *state;
	int fd, i;

	fd = client(s->h);
	send_str(fd, "GET /metr");
	for (i = 0; i < 200 && httpd_nconns(s->h) == 0; i++)
		pump(s->h);
	assert_int_equal(httpd_nconns(s->h), 1);
	close(fd);
	settle(s->h);
	assert_int_equal(s->calls, 0);
}

/* Out of descriptors: the listener is left alone for a moment instead of
 * spinning on a readable socket it cannot accept from. */
static void
test_srv_emfile_pause(void **state)
{
	struct srv *s = *state;
	struct pollfd fds[HTTPD_POLLFDS_MAX];
	struct rlimit old, low;
	int fd, spare[64], nspare = 0, i;
	int64_t now = clock_ms();
	char out[4096];

	fd = client(s->h);
	send_str(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)fd + 16;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nspare < 64 && (spare[nspare] = dup(fd)) >= 0)
		nspare++;
	assert_true(nspare < 64 && errno == EMFILE);
	pump_at(s->h, now, 100);
	assert_int_equal(httpd_nconns(s->h), 0);
	assert_true(httpd_next_deadline(s->h) == now + 100);
	httpd_pollfds(s->h, fds, HTTPD_POLLFDS_MAX);
	assert_int_equal(fds[0].events, 0);
	for (i = 0; i < nspare; i++)
		close(spare[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* Still paused just before the end, listening again at it. */
	pump_at(s->h, now + 99, 0);
	assert_int_equal(httpd_nconns(s->h), 0);
	pump_at(s->h, now + 100, 0);
	collect(s->h, fd, out, sizeof(out));
	assert_true(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	close(fd);
	settle(s->h);
}

static void
test_srv_pollfds_bounds(void **state)
{
	struct srv *s = *state;
	struct pollfd fds[2];
	int fd, i;

	assert_int_equal(httpd_pollfds(s->h, fds, 0), 0);
	assert_int_equal(httpd_pollfds(s->h, fds, 2), 1);
	assert_int_equal(fds[0].events, POLLIN);
	fd = client(s->h);
	for (i = 0; i < 200 && httpd_nconns(s->h) == 0; i++)
		pump(s->h);
	assert_int_equal(httpd_pollfds(s->h, fds, 1), 1);
	assert_int_equal(httpd_pollfds(s->h, fds, 2), 2);
	assert_int_equal(fds[1].events, POLLIN);
	close(fd);
	settle(s->h);
}

static void
test_open_errors(void **state)
{
	static const char *const bad[] = {
		"8080",
		"",
		":",
		"127.0.0.1:",
		"127.0.0.1:65536",
		"127.0.0.1:-1",
		"127.0.0.1:http",
		"::1:8080",
		"[::1]8080",
		"[::1:8080",
	};
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(
		    httpd_open(bad[i], handler, NULL, err, sizeof(err)));
		assert_true(strlen(err) > 0);
	}
	httpd_close(NULL);
}

static void
test_open_port_in_use(void **state)
{
	struct srv *s = *state;
	char bind[32], err[256];

	snprintf(bind, sizeof(bind), "127.0.0.1:%d", httpd_port(s->h));
	assert_null(httpd_open(bind, handler, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "in use"));
}

#define SRV_TEST(f) cmocka_unit_test_setup_teardown(f, srv_setup, srv_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_get),
		cmocka_unit_test(test_parse_head_http10),
		cmocka_unit_test(test_parse_query_ignored),
		cmocka_unit_test(test_parse_fields_tolerated),
		cmocka_unit_test(test_parse_trailing_bytes),
		cmocka_unit_test(test_parse_split_reads),
		cmocka_unit_test(test_parse_line_limit),
		cmocka_unit_test(test_parse_long_method),
		cmocka_unit_test(test_parse_header_limit),
		cmocka_unit_test(test_parse_too_many_fields),
		cmocka_unit_test(test_parse_bad_method),
		cmocka_unit_test(test_parse_bad_version),
		cmocka_unit_test(test_parse_bad_target),
		cmocka_unit_test(test_parse_body_on_get),
		cmocka_unit_test(test_parse_nul_bytes),
		cmocka_unit_test(test_parse_missing_crlf),
		cmocka_unit_test(test_parse_bad_fields),
		cmocka_unit_test(test_parse_host),
		cmocka_unit_test(test_parse_prefix_monotone),
		SRV_TEST(test_srv_metrics),
		SRV_TEST(test_srv_head),
		SRV_TEST(test_srv_statuses),
		SRV_TEST(test_srv_405),
		SRV_TEST(test_srv_refusals),
		SRV_TEST(test_srv_split_request),
		SRV_TEST(test_srv_read_timeout),
		SRV_TEST(test_srv_connection_cap),
		SRV_TEST(test_srv_slow_reader),
		SRV_TEST(test_srv_big_body_complete),
		SRV_TEST(test_srv_peer_gives_up),
		SRV_TEST(test_srv_emfile_pause),
		SRV_TEST(test_srv_pollfds_bounds),
		cmocka_unit_test(test_open_errors),
		SRV_TEST(test_open_port_in_use),
	};

	/* Refusals log at debug and a failing handler at warn: keep the
	 * test output to cmocka's own lines. */
	log_init("supervisor", 0, LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
