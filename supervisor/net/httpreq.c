/* httpreq.c: the HTTP request-head parser, a pure function over bytes */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "httpd.h"

/*
 * One left-to-right scan that stops at the first error.  Every decision
 * looks only at bytes before the point where it is taken, so feeding
 * more bytes never turns an error into success or changes the status:
 * the server re-parses its whole buffer after each read, and the fuzzer
 * checks exactly this property.
 */
struct scan {
	const uint8_t *p;
	size_t n;
	size_t i; /* start of the next line */
	int nhdr; /* header fields seen */
	int nhost; /* Host fields seen */
	struct httpd_req *req;
};

static int
req_fail(struct httpd_req *req, int status, const char *reason)
{
	req->status = status;
	req->reason = reason;
	return HTTPD_REQ_ERROR;
}

/* RFC 9110 token characters: what a method or field name may hold. */
static int
is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field values: visible ASCII, obs-text, SP and HTAB; no controls. */
static int
is_field_char(uint8_t c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

/* The version is exactly "HTTP/" DIGIT "." DIGIT: check position k. */
static int
version_char_ok(size_t k, uint8_t c)
{
	static const char pat[] = "HTTP/0.0";

	if (k >= sizeof(pat) - 1)
		return 0;
	if (pat[k] == '0')
		return c >= '0' && c <= '9';
	return c == (uint8_t)pat[k];
}

/*
 * Check the request line's characters in p[0..n) as far as they go;
 * on success *cr is the index of its CR (or n if not there yet) and
 * *tgt, *ver are where the target and the version start.
 */
static int
line_chars(const uint8_t *p, size_t n, struct httpd_req *req, size_t *cr,
    size_t *tgt, size_t *ver)
{
	size_t i;

	*tgt = *ver = 0;
	for (i = 0; i < n && p[i] != '\r'; i++) {
		if (p[i] == '\n')
			return req_fail(req, 400, "LF without CR");
		if (*tgt == 0) {
			if (p[i] == ' ' && i > 0)
				*tgt = i + 1;
			else if (!is_tchar(p[i]))
				return req_fail(req, 400, "bad method");
		} else if (*ver == 0) {
			if (p[i] == ' ' && i > *tgt)
				*ver = i + 1;
			else if (i == *tgt && p[i] != '/')
				return req_fail(req, 400, "target not a path");
			else if (p[i] < 0x21 || p[i] > 0x7e || p[i] == '#')
				return req_fail(req, 400, "bad target");
		} else if (!version_char_ok(i - *ver, p[i]))
			return req_fail(req, 400, "bad version");
	}
	*cr = i;
	return HTTPD_REQ_MORE;
}

/* What a complete request line means: version, then method, then path. */
static int
line_meaning(const uint8_t *p, size_t cr, size_t tgt, size_t ver,
    struct httpd_req *req)
{
	size_t plen;

	if (ver == 0 || cr - ver != 8)
		return req_fail(req, 400, "malformed request line");
	if (p[ver + 5] != '1' || p[ver + 7] > '1')
		return req_fail(req, 505, "unsupported version");
	req->minor = p[ver + 7] - '0';
	if (tgt - 1 == 3 && memcmp(p, "GET", 3) == 0)
		req->method = HTTPD_GET;
	else if (tgt - 1 == 4 && memcmp(p, "HEAD", 4) == 0)
		req->method = HTTPD_HEAD;
	else
		return req_fail(req, 405, "method not allowed");
	/* Routing ignores the query; the line limit bounds the copy. */
	for (plen = 0; tgt + plen < ver - 1 && p[tgt + plen] != '?'; plen++)
		;
	memcpy(req->path, p + tgt, plen);
	req->path[plen] = '\0';
	return HTTPD_REQ_DONE;
}

static int
req_line(struct scan *s)
{
	size_t lim, cr, tgt, ver;
	int r;

	/* Look at no more than the limit plus the CR that may end it. */
	lim = s->n < HTTPD_LINE_MAX + 1 ? s->n : HTTPD_LINE_MAX + 1;
	if ((r = line_chars(s->p, lim, s->req, &cr, &tgt, &ver)) != 0)
		return r;
	if (cr == lim) {
		if (lim <= HTTPD_LINE_MAX)
			return HTTPD_REQ_MORE;
		/* Method and version are short by now: the target is long. */
		if (tgt != 0)
			return req_fail(s->req, 414, "target too long");
		return req_fail(s->req, 400, "request line too long");
	}
	if (cr + 1 == s->n)
		return HTTPD_REQ_MORE;
	if (s->p[cr + 1] != '\n')
		return req_fail(s->req, 400, "CR without LF");
	if ((r = line_meaning(s->p, cr, tgt, ver, s->req)) != HTTPD_REQ_DONE)
		return r;
	s->i = cr + 2;
	return HTTPD_REQ_DONE;
}

/* A field whose name (case-insensitive) is name, n its length. */
static int
field_is(const uint8_t *f, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp((const char *)f, name, n) == 0;
}

/*
 * The fields we act on.  We never read a body, so one announced on a
 * GET or HEAD would be parsed as the next request by anything in front
 * of us: refuse it rather than guess (request smuggling).
 */
static int
field_meaning(struct scan *s, const uint8_t *f, size_t nlen, const uint8_t *v,
    size_t vlen)
{
	size_t k;

	if (field_is(f, nlen, "transfer-encoding"))
		return req_fail(s->req, 400, "body not allowed");
	if (field_is(f, nlen, "host") && ++s->nhost > 1)
		return req_fail(s->req, 400, "duplicate host");
	if (!field_is(f, nlen, "content-length"))
		return 0;
	if (vlen == 0)
		return req_fail(s->req, 400, "bad content-length");
	for (k = 0; k < vlen; k++)
		if (v[k] < '0' || v[k] > '9')
			return req_fail(s->req, 400, "bad content-length");
	for (k = 0; k < vlen; k++)
		if (v[k] != '0')
			return req_fail(s->req, 400, "body not allowed");
	return 0;
}

/*
 * Check one header line starting at s->i within p[0..lim): *colon gets
 * the index of its ':' and *cr of its CR (lim if not there yet).
 */
static int
field_chars(struct scan *s, size_t lim, size_t *colon, size_t *cr)
{
	size_t i;

	*colon = 0;
	for (i = s->i; i < lim && s->p[i] != '\r'; i++) {
		if (s->p[i] == '\n')
			return req_fail(s->req, 400, "LF without CR");
		if (*colon != 0) {
			if (!is_field_char(s->p[i]))
				return req_fail(s->req, 400, "bad field value");
		} else if (s->p[i] == ':' && i > s->i) {
			*colon = i;
		} else if (!is_tchar(s->p[i])) {
			/* Also a leading SP/HTAB: obsolete line folding. */
			return req_fail(s->req, 400, "bad field name");
		} else if (i == s->i && s->nhdr == HTTPD_HEADERS_MAX) {
			return req_fail(s->req, 431, "too many header fields");
		}
	}
	*cr = i;
	return 0;
}

/* field_line() read one field and the caller goes on to the next. */
#define FIELD_NEXT 2

/*
 * One header line: FIELD_NEXT after a field, HTTPD_REQ_DONE after the
 * blank line, HTTPD_REQ_MORE if the line is not all there yet.
 */
static int
field_line(struct scan *s, size_t lim)
{
	size_t colon, cr, vs, ve;
	int r;

	if ((r = field_chars(s, lim, &colon, &cr)) != 0)
		return r;
	if (cr + 1 >= lim)
		return HTTPD_REQ_MORE;
	if (s->p[cr + 1] != '\n')
		return req_fail(s->req, 400, "CR without LF");
	if (cr == s->i) {
		s->i = cr + 2;
		return HTTPD_REQ_DONE;
	}
	if (colon == 0)
		return req_fail(s->req, 400, "field without colon");
	for (vs = colon + 1; vs < cr && (s->p[vs] == ' ' || s->p[vs] == '\t');
	     vs++)
		;
	for (ve = cr; ve > vs && (s->p[ve - 1] == ' ' || s->p[ve - 1] == '\t');
	     ve--)
		;
	s->nhdr++;
	if ((r = field_meaning(s, s->p + s->i, colon - s->i, s->p + vs,
		 ve - vs)) != 0)
		return r;
	s->i = cr + 2;
	return FIELD_NEXT;
}

static int
req_fields(struct scan *s)
{
	size_t start = s->i, lim;
	int r;

	/* The section may use HTTPD_HEAD_MAX bytes, final CRLF included. */
	lim = s->n - start < HTTPD_HEAD_MAX ? s->n : start + HTTPD_HEAD_MAX;
	while ((r = field_line(s, lim)) == FIELD_NEXT)
		;
	/* Unfinished at the limit: no further byte can complete it. */
	if (r == HTTPD_REQ_MORE && lim - start == HTTPD_HEAD_MAX)
		return req_fail(s->req, 431, "header section too large");
	return r;
}

int
httpd_req_parse(const void *p, size_t n, struct httpd_req *req)
{
	struct scan s;
	int r;

	memset(req, 0, sizeof(*req));
	memset(&s, 0, sizeof(s));
	s.p = p;
	s.n = n;
	s.req = req;
	if ((r = req_line(&s)) != HTTPD_REQ_DONE)
		return r;
	if ((r = req_fields(&s)) != HTTPD_REQ_DONE)
		return r;
	/* HTTP/1.1 requires exactly one Host (RFC 9112, section 3.2). */
	if (req->minor == 1 && s.nhost == 0)
		return req_fail(req, 400, "missing host");
	req->head_len = s.i;
	return HTTPD_REQ_DONE;
}
