/* http.c: libcurl multi transport for the k8s worker (one poll loop) */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/str.h"
#include "kube.h"

#define CONNECT_TIMEOUT_S 10
#define KEEPALIVE_S 30
#define LOW_SPEED_TIME_S 60 /* non-watch: 60 s below 1 B/s */
#define RETRY_AFTER_MAX_S 600
#define LINE_KEEP (64u << 10) /* line buffer kept between events */
#define AUTH_PREFIX "Authorization: Bearer "
#define USER_AGENT "stable-egressd/" SE_VERSION " (k8s-worker)"

/* ---- libcurl's socket and timer callbacks: our poll set ---- */

static int
on_socket(CURL *e, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct kube_ctx *c = arg;
	struct pollfd *n;
	size_t i;

	(void)e;
	(void)sockp;
	for (i = 0; i < c->ncfds; i++)
		if (c->cfds[i].fd == s)
			break;
	if (what == CURL_POLL_REMOVE) {
		if (i < c->ncfds)
			c->cfds[i] = c->cfds[--c->ncfds];
		return 0;
	}
	if (i == c->ncfds) {
		if (c->ncfds == c->capfds) {
			n = reallocarray(c->cfds, c->capfds ? c->capfds * 2 : 8,
			    sizeof(*n));
			if (n == NULL)
				return -1;
			c->cfds = n;
			c->capfds = c->capfds ? c->capfds * 2 : 8;
		}
		c->cfds[c->ncfds++].fd = s;
	}
	c->cfds[i].events = (short)((what & CURL_POLL_IN ? POLLIN : 0) |
	    (what & CURL_POLL_OUT ? POLLOUT : 0));
	c->cfds[i].revents = 0;
	return 0;
}

static int
on_timer(CURLM *m, long timeout_ms, void *arg)
{
	struct kube_ctx *c = arg;

	(void)m;
	c->curl_due = timeout_ms < 0 ? -1 : clock_ms() + timeout_ms;
	return 0;
}

/* With no CA in the kubeconfig, libcurl's own bundle, read now: after
 * the sandbox no file but the token's directory can be opened. */
static int
system_ca(struct kube_ctx *c, char *err, size_t errlen)
{
	const char *path = "/etc/ssl/certs/ca-certificates.crt";
	char *p = NULL;
	CURL *e;

#if LIBCURL_VERSION_NUM >= 0x075400
	if ((e = curl_easy_init()) != NULL &&
	    curl_easy_getinfo(e, CURLINFO_CAINFO, &p) == CURLE_OK && p != NULL)
		path = p;
#else
	e = NULL;
#endif
	if (buf_read_file(path, 4 * KUBE_FILE_MAX, 0, &c->auth.ca) == -1) {
		snprintf(err, errlen,
		    "%s: no certificate-authority and the "
		    "system CA bundle %s is unreadable: %s",
		    c->auth.source, path, strerror(errno));
		curl_easy_cleanup(e);
		return -1;
	}
	curl_easy_cleanup(e);
	return 0;
}

int
kube_http_init(struct kube_ctx *c, char *err, size_t errlen)
{
	if (c->auth.ca == NULL && system_ca(c, err, errlen) == -1)
		return -1;
	if ((c->multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "curl_multi_init failed");
		return -1;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	c->curl_due = -1;
	if (c->auth.connect_to != NULL &&
	    (c->connect_to = curl_slist_append(NULL, c->auth.connect_to)) ==
		NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- one request ---- */

static void
wipe_headers(struct curl_slist *h)
{
	for (; h != NULL; h = h->next)
		if (strncasecmp(h->data, "Authorization:", 14) == 0)
			explicit_bzero(h->data, strlen(h->data));
}

static void
req_free(struct kube_req *r)
{
	if (r == NULL)
		return;
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	wipe_headers(r->hdrs);
	curl_slist_free_all(r->hdrs);
	free(r->body);
	buf_free(r->reply);
	buf_free(r->line);
	free(r);
}

static void
req_unlink(struct kube_req *r)
{
	struct kube_req **pp;

	for (pp = &r->ctx->reqs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			return;
		}
}

static int
deliver(struct kube_req *r, const char *p, size_t n)
{
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' '))
		n--;
	if (n == 0)
		return 0;
	return r->on_line(r, p, n);
}

/* A watch body: split on '\n', never on read boundaries. */
static int
watch_bytes(struct kube_req *r, const char *p, size_t n)
{
	const char *nl;
	size_t len;
	int rc;

	while (n > 0) {
		if ((nl = memchr(p, '\n', n)) == NULL)
			len = n;
		else
			len = (size_t)(nl - p);
		if (nl == NULL || (r->line != NULL && r->line->len > 0)) {
			if (r->line == NULL &&
			    (r->line = buf_new(0, KUBE_LINE_MAX)) == NULL) {
				r->stop = KUBE_STOP_NOMEM;
				return -1;
			}
			if (buf_append(r->line, p, len) == -1) {
				r->stop = errno == ERANGE ? KUBE_STOP_LINE
							  : KUBE_STOP_NOMEM;
				return -1;
			}
			if (nl == NULL)
				return 0;
			rc = deliver(r, (const char *)r->line->data,
			    r->line->len);
			buf_reset(r->line);
			if (r->line->cap > LINE_KEEP) {
				buf_free(r->line);
				r->line = NULL;
			}
		} else
			rc = deliver(r, p, len);
		if (rc == -1) {
			r->stop = KUBE_STOP_WATCH;
			return -1;
		}
		p = nl + 1;
		n -= len + 1;
	}
	return 0;
}

static size_t
on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct kube_req *r = arg;
	size_t n = size * nmemb;

	if (r->code == 0)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->code);
	if (r->watch && r->code == 200)
		return watch_bytes(r, p, n) == 0 ? n : 0;
	if (r->reply == NULL &&
	    (r->reply = buf_new(0,
		 r->watch ? KUBE_ERRBODY_MAX : KUBE_REPLY_MAX)) == NULL) {
		r->stop = KUBE_STOP_NOMEM;
		return 0;
	}
	if (buf_append(r->reply, p, n) == -1) {
		r->stop = errno == ERANGE ? KUBE_STOP_TOOBIG : KUBE_STOP_NOMEM;
		return 0;
	}
	return n;
}

/* Value of header name (lower case, with ':') in line p[0..n), or -1. */
static int
header_u64(const char *p, size_t n, const char *name, uint64_t max,
    uint64_t *out)
{
	size_t k = strlen(name), i;
	char v[24];

	if (n <= k || strncasecmp(p, name, k) != 0)
		return -1;
	p += k;
	n -= k;
	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (
	    n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
		n--;
	if (n == 0 || n >= sizeof(v))
		return -2;
	for (i = 0; i < n; i++)
		v[i] = p[i];
	v[n] = '\0';
	if (str_to_u64(v, UINT64_MAX, out) == -1)
		return -2;
	if (*out > max)
		*out = max;
	return 0;
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct kube_req *r = arg;
	size_t n = size * nmemb;
	uint64_t v;
	int rc;

	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		r->retry_after_ms = 0;
		return n;
	}
	/* End of a header block: a watch that got its 200 is established
	 * (the API answered), whatever happens to the stream later. */
	if ((n == 2 && p[0] == '\r') || (n == 1 && p[0] == '\n')) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->code);
		if (r->watch && r->code == 200 && !r->ok_seen) {
			r->ok_seen = 1;
			kube_api_success(r->ctx);
		}
		return n;
	}
	rc = header_u64(p, n, "retry-after:", RETRY_AFTER_MAX_S, &v);
	if (rc == 0)
		r->retry_after_ms = (uint32_t)(v * 1000);
	else if (rc == -2) /* an HTTP date: wait a little anyway */
		r->retry_after_ms = 1000;
	if (!r->watch &&
	    header_u64(p, n, "content-length:", UINT64_MAX, &v) == 0 &&
	    v > KUBE_REPLY_MAX) {
		r->stop = KUBE_STOP_TOOBIG;
		return 0;
	}
	return n;
}

static int
auth_header(struct kube_req *r)
{
	const struct buf *tok = r->ctx->auth.token;
	struct curl_slist *h;
	struct buf *line;
	int rc = -1;

	if (tok == NULL)
		return 0;
	if ((line = buf_new(0, sizeof(AUTH_PREFIX) + tok->len)) == NULL)
		return -1;
	buf_set_secret(line);
	if (buf_append(line, AUTH_PREFIX, strlen(AUTH_PREFIX)) == 0 &&
	    buf_append(line, tok->data, tok->len) == 0 &&
	    buf_append(line, "", 1) == 0 &&
	    (h = curl_slist_append(r->hdrs, (char *)line->data)) != NULL) {
		r->hdrs = h;
		rc = 0;
	}
	buf_free(line);
	return rc;
}

static int
req_headers(struct kube_req *r, const char *ctype)
{
	char ct[96];
	struct curl_slist *h;
	int n;

	/* "Expect:" off: a 100-continue round trip buys nothing here. */
	if ((h = curl_slist_append(NULL, "Accept: application/json")) == NULL)
		return -1;
	r->hdrs = h;
	if ((h = curl_slist_append(r->hdrs, "Expect:")) == NULL)
		return -1;
	if (ctype != NULL) {
		n = snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		if (n < 0 || (size_t)n >= sizeof(ct) ||
		    curl_slist_append(r->hdrs, ct) == NULL)
			return -1;
	}
	return auth_header(r);
}

static int
req_tls(struct kube_req *r)
{
	const struct kube_auth *a = &r->ctx->auth;
	struct curl_blob ca = { a->ca->data, a->ca->len, CURL_BLOB_NOCOPY };
	struct curl_blob cert, key;
	CURL *e = r->easy;

	/* Only the cluster's CA: no default bundle or directory beside it. */
	if (curl_easy_setopt(e, CURLOPT_CAINFO, NULL) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CAPATH, NULL) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK)
		return -1;
	if (a->cert == NULL)
		return 0;
	cert =
	    (struct curl_blob){ a->cert->data, a->cert->len, CURL_BLOB_NOCOPY };
	key = (struct curl_blob){ a->key->data, a->key->len, CURL_BLOB_NOCOPY };
	if (curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK)
		return -1;
	return 0;
}

static int
req_opts(struct kube_req *r, const char *url, const char *method,
    long timeout_s)
{
	struct kube_ctx *c = r->ctx;
	CURL *e = r->easy;
	int bad = 0;

#define SET(opt, v) (bad |= curl_easy_setopt(e, opt, v) != CURLE_OK)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_VERBOSE, 0L);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PROXY, ""); /* no proxy from the environment */
	/* HTTP/2 would put every watch and the lease on one connection
	 * that can die silently; one connection per transfer instead. */
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_USERAGENT, USER_AGENT);
	SET(CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	SET(CURLOPT_TIMEOUT, timeout_s);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_KEEPIDLE, (long)KEEPALIVE_S);
	SET(CURLOPT_TCP_KEEPINTVL, (long)KEEPALIVE_S);
	/* A backstop behind our own stall timer: bookmarks arrive each
	 * minute, so a silent minute and more is a dead connection. */
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME,
	    r->watch ? (long)(c->stall_ms / 1000 + 30)
		     : (long)LOW_SPEED_TIME_S);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, r);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_HTTPHEADER, r->hdrs);
	/* A watch's connection has been idle for minutes at its end; new
	 * watches get a fresh one, other requests share the pool. */
	SET(CURLOPT_FORBID_REUSE, r->watch ? 1L : 0L);
	if (c->connect_to != NULL)
		SET(CURLOPT_CONNECT_TO, c->connect_to);
	if (r->body != NULL) {
		SET(CURLOPT_POSTFIELDS, r->body);
		SET(CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		SET(CURLOPT_CUSTOMREQUEST, method);
#undef SET
	return bad || req_tls(r) == -1 ? -1 : 0;
}

struct kube_req *
kube_http_new(struct kube_ctx *c, const char *method, const char *path,
    const char *ctype, char *body, int watch, long timeout_s)
{
	char url[KUBE_URL_MAX];
	struct kube_req *r;
	int n;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		free(body);
		log_error("out of memory", NULL);
		return NULL;
	}
	r->ctx = c;
	r->body = body;
	r->watch = watch;
	n = snprintf(url, sizeof(url), "%s%s", c->auth.base_url, path);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		log_error("request URL too long", "path", path, NULL);
		goto out_free;
	}
	if ((r->easy = curl_easy_init()) == NULL ||
	    req_headers(r, ctype) == -1 ||
	    req_opts(r, url, method, timeout_s) == -1) {
		log_error("cannot set up a request", "path", path, NULL);
		goto out_free;
	}
	return r;
out_free:
	req_free(r);
	return NULL;
}

int
kube_http_start(struct kube_req *r)
{
	struct kube_ctx *c = r->ctx;

	r->t0_us = clock_us();
	if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
		log_error("curl_multi_add_handle failed", NULL);
		req_free(r);
		return -1;
	}
	r->next = c->reqs;
	c->reqs = r;
	return 0;
}

static void
api_stat(struct kube_req *r)
{
	struct msg_api_stat st;
	int64_t us = clock_us() - r->t0_us;

	memset(&st, 0, sizeof(st));
	st.api = API_KUBE;
	st.code =
	    (uint16_t)(r->rc == CURLE_OK || r->stop != KUBE_STOP_NONE ? r->code
								      : 0);
	st.usec = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	kube_send(r->ctx, MSG_API_STAT, 0, &st);
}

void
kube_http_cancel(struct kube_req *r)
{
	struct kube_ctx *c = r->ctx;

	curl_multi_remove_handle(c->multi, r->easy);
	req_unlink(r);
	r->rc = CURLE_ABORTED_BY_CALLBACK;
	r->stop = KUBE_STOP_WATCH;
	api_stat(r);
	req_free(r);
}

static void
finish(struct kube_req *r, CURLcode rc)
{
	struct kube_ctx *c = r->ctx;

	curl_multi_remove_handle(c->multi, r->easy);
	req_unlink(r);
	r->rc = rc;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->code);
	api_stat(r);
	/* A watch that ran and then broke is a normal end, not an outage. */
	if ((rc != CURLE_OK && r->stop == KUBE_STOP_NONE && !r->ok_seen) ||
	    r->code >= 500 || r->code == 401)
		kube_set_api(c, 0);
	else if (r->code >= 200 && r->code < 300 && !r->watch)
		kube_api_success(c);
	if (r->code == 401)
		kube_token_refresh(c, 1);
	r->on_done(r);
	req_free(r);
}

size_t
kube_http_pollfds(struct kube_ctx *c, struct pollfd *p, size_t max)
{
	size_t i;

	for (i = 0; i < c->ncfds && i < max; i++) {
		p[i] = c->cfds[i];
		p[i].revents = 0;
	}
	return i;
}

void
kube_http_run(struct kube_ctx *c, const struct pollfd *p, size_t n)
{
	struct CURLMsg *m;
	struct kube_req *r;
	int running, left, ev;
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i].revents == 0)
			continue;
		ev = (p[i].revents & (POLLIN | POLLHUP) ? CURL_CSELECT_IN : 0) |
		    (p[i].revents & POLLOUT ? CURL_CSELECT_OUT : 0) |
		    (p[i].revents & (POLLERR | POLLNVAL) ? CURL_CSELECT_ERR
							 : 0);
		curl_multi_socket_action(c->multi, p[i].fd, ev, &running);
	}
	if (c->curl_due >= 0 && clock_ms() >= c->curl_due) {
		c->curl_due = -1;
		curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0,
		    &running);
	}
	while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &r);
		if (r != NULL)
			finish(r, m->data.result);
	}
}

int64_t
kube_http_due(const struct kube_ctx *c)
{
	return c->curl_due;
}

void
kube_http_errtext(const struct kube_req *r, char *out, size_t outlen)
{
	static const char *const stops[] = { "", "reply larger than 4 MiB",
		"watch event larger than 2 MiB", "watch ended by the worker",
		"out of memory" };
	const char *s;
	size_t i;

	if (r->stop > KUBE_STOP_NONE && r->stop <= KUBE_STOP_NOMEM)
		s = stops[r->stop];
	else if (r->errbuf[0] != '\0')
		s = r->errbuf;
	else if (r->rc != CURLE_OK)
		s = curl_easy_strerror(r->rc);
	else
		s = "";
	snprintf(out, outlen, "%s", s);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
}

void
kube_http_cleanup(struct kube_ctx *c)
{
	struct kube_req *r;

	while ((r = c->reqs) != NULL) {
		curl_multi_remove_handle(c->multi, r->easy);
		c->reqs = r->next;
		req_free(r);
	}
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	c->multi = NULL;
	curl_slist_free_all(c->connect_to);
	c->connect_to = NULL;
	free(c->cfds);
	c->cfds = NULL;
	c->ncfds = c->capfds = 0;
}
