/* client.c: the Hetzner Cloud HTTPS client, one keep-alive handle on the
 * libcurl multi interface */
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/str.h"
#include "hc.h"

#define HC_CONNECT_TIMEOUT_MS 5000
#define HC_TIMEOUT_MS 10000
#define HC_BODY_INIT (16 * 1024)
/* A body buffer grown past this is dropped after the request, so one
 * big reply does not pin its memory for the life of the worker. */
#define HC_BODY_KEEP (64 * 1024)

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct hc_client *c = arg;

	/* size is 1 by libcurl's contract; the cap is the buffer's max,
	 * so nothing past HC_REPLY_MAX is ever allocated. */
	if (buf_append(c->body, p, size * n) != 0) {
		c->reply.oversize = errno == ERANGE;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	return size * n;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct hc_client *c = arg;

	/* A new status line (after a 1xx) starts a new header set: only
	 * the final reply's rate-limit figures count. */
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		memset(&c->reply.rl, 0, sizeof(c->reply.rl));
		c->reply.corr[0] = '\0';
		return size * n;
	}
	hc_parse_header(p, size * n, &c->reply.rl, c->reply.corr);
	return size * n;
}

static int
is_loopback(const char *host)
{
	unsigned char a[16];
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' &&
	    n - 2 < sizeof(tmp)) {
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		host = tmp;
	}
	if (inet_pton(AF_INET6, host, a) == 1)
		return memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
	return 0;
}

static int
url_part(CURLU *u, CURLUPart what, char *out, size_t outlen)
{
	char *v = NULL;
	int r = 0;

	if (curl_url_get(u, what, &v, 0) != CURLUE_OK)
		return 1; /* absent */
	if (out != NULL && str_copy(out, outlen, v) != 0)
		r = -1;
	curl_free(v);
	return r;
}

int
hc_endpoint_check(const char *url, char *host, size_t hostlen, char *err,
    size_t errlen)
{
	char scheme[16];
	const char *why = NULL;
	CURLU *u;

	if ((u = curl_url()) == NULL) {
		snprintf(err, errlen, "hcloud endpoint: out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		why = "not a URL";
	else if (url_part(u, CURLUPART_SCHEME, scheme, sizeof(scheme)) != 0 ||
	    url_part(u, CURLUPART_HOST, host, hostlen) != 0)
		why = "no scheme or host";
	else if (url_part(u, CURLUPART_USER, NULL, 0) != 1 ||
	    url_part(u, CURLUPART_PASSWORD, NULL, 0) != 1)
		why = "credentials in the URL";
	else if (url_part(u, CURLUPART_QUERY, NULL, 0) != 1 ||
	    url_part(u, CURLUPART_FRAGMENT, NULL, 0) != 1)
		why = "query or fragment in the base URL";
	else if (strcmp(scheme, "https") != 0 &&
	    (strcmp(scheme, "http") != 0 || !is_loopback(host)))
		why = "must be https:// (http:// only for a loopback host)";
	curl_url_cleanup(u);
	if (why == NULL)
		return 0;
	/* Credentials are not echoed back into a log line. */
	if (strcmp(why, "credentials in the URL") == 0)
		snprintf(err, errlen, "hcloud endpoint: %s", why);
	else
		snprintf(err, errlen, "hcloud endpoint \"%.200s\": %s", url,
		    why);
	return -1;
}

/* Header lists carry the token: wipe every copy before freeing it. */
static void
slist_wipe_free(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next)
		if (p->data != NULL)
			explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static int
slist_add(struct curl_slist **l, const char *s)
{
	struct curl_slist *t;

	if ((t = curl_slist_append(*l, s)) == NULL)
		return -1;
	*l = t;
	return 0;
}

static int
build_headers(struct hc_client *c, const struct buf *token)
{
	static const char pre[] = "Authorization: Bearer ";
	struct curl_slist *g = NULL, *p = NULL;
	const char *auth_line;
	struct buf *auth;
	int r = -1;

	if ((auth = buf_new(0, sizeof(pre) + token->len + 1)) == NULL)
		return -1;
	buf_set_secret(auth);
	if (buf_append(auth, pre, sizeof(pre) - 1) != 0 ||
	    buf_append(auth, token->data, token->len) != 0 ||
	    buf_put_u8(auth, 0) != 0)
		goto out_free;
	auth_line = (const char *)auth->data;
	/* No Expect: 100-continue round trip before a tiny POST body. */
	if (slist_add(&g, auth_line) != 0 ||
	    slist_add(&g, "Accept: application/json") != 0 ||
	    slist_add(&p, auth_line) != 0 ||
	    slist_add(&p, "Accept: application/json") != 0 ||
	    slist_add(&p, "Content-Type: application/json") != 0 ||
	    slist_add(&p, "Expect:") != 0)
		goto out_free;
	c->hdr_get = g;
	c->hdr_post = p;
	g = p = NULL;
	r = 0;
out_free:
	slist_wipe_free(g);
	slist_wipe_free(p);
	buf_free(auth);
	return r;
}

static int
set_options(struct hc_client *c, const struct buf *ca)
{
	CURL *e = c->easy;
	struct curl_blob blob;
	CURLcode r = CURLE_OK;

#define SET(o, v) \
	do { \
		if (r == CURLE_OK) \
			r = curl_easy_setopt(e, o, v); \
	} while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_VERBOSE, 0L); /* it would print Authorization */
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_PROXY, ""); /* no *_proxy from the environment */
	SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)HC_CONNECT_TIMEOUT_MS);
	SET(CURLOPT_TIMEOUT_MS, (long)HC_TIMEOUT_MS);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HC_REPLY_MAX);
	SET(CURLOPT_USERAGENT, "stable-egressd/" SE_VERSION);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	/* Only the blob read before the sandbox: no CA file or directory
	 * lookups inside it. */
	SET(CURLOPT_CAPATH, NULL);
	SET(CURLOPT_CAINFO, NULL);
	if (ca != NULL) {
		blob.data = ca->data;
		blob.len = ca->len;
		blob.flags = CURL_BLOB_COPY;
		SET(CURLOPT_CAINFO_BLOB, &blob);
	}
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, c);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, c);
	SET(CURLOPT_ERRORBUFFER, c->reply.errbuf);
#undef SET
	return r == CURLE_OK ? 0 : -1;
}

int
hc_client_init(struct hc_client *c, const char *base, const struct buf *token,
    const struct buf *ca, char *err, size_t errlen)
{
	size_t n;

	memset(c, 0, sizeof(*c));
	if (str_copy(c->base, sizeof(c->base), base) != 0) {
		snprintf(err, errlen, "hcloud endpoint: too long");
		return -1;
	}
	n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	if ((c->body = buf_new(HC_BODY_INIT, HC_REPLY_MAX)) == NULL ||
	    (c->easy = curl_easy_init()) == NULL ||
	    build_headers(c, token) != 0 || set_options(c, ca) != 0) {
		snprintf(err, errlen, "hcloud client: libcurl set-up failed");
		hc_client_free(c);
		return -1;
	}
	return 0;
}

int
hc_client_start(struct hc_client *c)
{
	if ((c->multi = curl_multi_init()) == NULL)
		return -1;
	/* One request at a time: one connection, plus the fresh one a
	 * POST opens, is all the cache needs. */
	if (curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 2L) != CURLM_OK)
		return -1;
	return 0;
}

/* Method, headers and connection policy of the next request. */
static int
set_method(struct hc_client *c, int method, const char *body)
{
	CURLcode r;
	int n;

	if (method != HC_POST) {
		if ((r = curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L)) ==
			CURLE_OK &&
		    (r = curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER,
			 c->hdr_get)) == CURLE_OK)
			r = curl_easy_setopt(c->easy, CURLOPT_FRESH_CONNECT,
			    0L);
		return r == CURLE_OK ? 0 : -1;
	}
	n = snprintf(c->post, sizeof(c->post), "%s", body);
	if (n < 0 || (size_t)n >= sizeof(c->post))
		return -1;
	/* A fresh connection: libcurl silently resends a request whose
	 * reused connection died before any reply, and an assign must
	 * never go out twice. */
	if ((r = curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->post)) ==
		CURLE_OK &&
	    (r = curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdr_post)) ==
		CURLE_OK)
		r = curl_easy_setopt(c->easy, CURLOPT_FRESH_CONNECT, 1L);
	return r == CURLE_OK ? 0 : -1;
}

int
hc_client_request(struct hc_client *c, int method, const char *path,
    const char *body)
{
	int n;

	if (c->busy || c->multi == NULL) {
		errno = EBUSY;
		return -1;
	}
	n = snprintf(c->url, sizeof(c->url), "%s%s", c->base, path);
	if (n < 0 || (size_t)n >= sizeof(c->url)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&c->reply, 0, sizeof(c->reply));
	if (c->body->cap > HC_BODY_KEEP) {
		buf_free(c->body);
		if ((c->body = buf_new(HC_BODY_INIT, HC_REPLY_MAX)) == NULL)
			return -1;
	}
	buf_reset(c->body);
	if (curl_easy_setopt(c->easy, CURLOPT_URL, c->url) != CURLE_OK ||
	    set_method(c, method, body) != 0 ||
	    curl_multi_add_handle(c->multi, c->easy) != CURLM_OK) {
		errno = EIO;
		return -1;
	}
	c->method = method;
	c->started_us = clock_us();
	c->busy = 1;
	return 0;
}

/* Could the server have seen the request?  Only failures before the
 * first byte went out say no; with a fresh connection for the POST,
 * that is every connect-phase error. */
static int
maybe_sent(CURL *e, CURLcode cr)
{
	curl_off_t pre = 0;

	switch (cr) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return 0;
	default:
		break;
	}
	if (curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &pre) ==
		CURLE_OK &&
	    pre == 0 && cr == CURLE_OPERATION_TIMEDOUT)
		return 0;
	return 1;
}

int
hc_client_poll(struct hc_client *c, const struct hc_reply **out)
{
	struct hc_reply *rp = &c->reply;
	CURLcode cr = CURLE_OK;
	CURLMsg *m;
	int running, left, done = 0;
	int64_t us;

	if (!c->busy)
		return 0;
	(void)curl_multi_perform(c->multi, &running);
	while ((m = curl_multi_info_read(c->multi, &left)) != NULL)
		if (m->msg == CURLMSG_DONE && m->easy_handle == c->easy) {
			cr = m->data.result;
			done = 1;
		}
	if (!done)
		return 0;
	(void)curl_multi_remove_handle(c->multi, c->easy);
	c->busy = 0;
	rp->cerr = cr;
	(void)curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &rp->status);
	if (cr == CURLE_FILESIZE_EXCEEDED)
		rp->oversize = 1;
	if (cr != CURLE_OK && !rp->oversize)
		rp->status = 0;
	rp->sent = cr == CURLE_OK || maybe_sent(c->easy, cr);
	if (rp->errbuf[0] == '\0')
		(void)str_copy(rp->errbuf, sizeof(rp->errbuf),
		    curl_easy_strerror(cr));
	rp->body = c->body->data;
	rp->len = c->body->len;
	us = clock_us() - c->started_us;
	rp->usec = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	*out = rp;
	return 1;
}

int
hc_client_wait(struct hc_client *c, int fd, int timeout_ms, int *readable)
{
	struct curl_waitfd w;

	w.fd = fd;
	w.events = CURL_WAIT_POLLIN;
	w.revents = 0;
	if (curl_multi_poll(c->multi, &w, 1, timeout_ms, NULL) != CURLM_OK)
		return -1;
	*readable = (w.revents & CURL_WAIT_POLLIN) != 0;
	return 0;
}

void
hc_client_free(struct hc_client *c)
{
	if (c->multi != NULL && c->easy != NULL && c->busy)
		(void)curl_multi_remove_handle(c->multi, c->easy);
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	slist_wipe_free(c->hdr_get);
	slist_wipe_free(c->hdr_post);
	buf_free(c->body);
	memset(c, 0, sizeof(*c));
}
