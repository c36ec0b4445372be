/* fuzz_httpreq.c: libFuzzer target for the HTTP request-head parser */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "supervisor/net/httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
status_ok(int s)
{
	return s == 400 || s == 405 || s == 414 || s == 431 || s == 505;
}

/* What every result must satisfy on its own. */
static void
check_alone(const uint8_t *data, size_t size, int r, const struct httpd_req *q)
{
	if (r == HTTPD_REQ_ERROR &&
	    (!status_ok(q->status) || q->reason == NULL))
		__builtin_trap();
	/* The server's buffer is HTTPD_IN_MAX: it must never fill up while
	 * the parser still asks for more. */
	if (r == HTTPD_REQ_MORE && size >= HTTPD_IN_MAX)
		__builtin_trap();
	if (r != HTTPD_REQ_DONE)
		return;
	if (q->head_len < 18 || q->head_len > size ||
	    memcmp(data + q->head_len - 4, "\r\n\r\n", 4) != 0)
		__builtin_trap();
	if (q->path[0] != '/' || strlen(q->path) >= HTTPD_LINE_MAX ||
	    strchr(q->path, '?') != NULL)
		__builtin_trap();
	if ((q->method != HTTPD_GET && q->method != HTTPD_HEAD) ||
	    (q->minor != 0 && q->minor != 1))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct httpd_req whole, part;
	int rw, rp;
	size_t k;

	rw = httpd_req_parse(data, size, &whole);
	check_alone(data, size, rw, &whole);
	/*
	 * The server re-parses after every read, so a prefix must never
	 * decide otherwise than the whole: an error stays the same error,
	 * a complete head stays the same head.
	 */
	k = size == 0 ? 0 : (size_t)data[0] * size / 256;
	rp = httpd_req_parse(data, k, &part);
	check_alone(data, k, rp, &part);
	if (rp == HTTPD_REQ_ERROR &&
	    (rw != HTTPD_REQ_ERROR || part.status != whole.status))
		__builtin_trap();
	if (rp == HTTPD_REQ_DONE &&
	    (rw != HTTPD_REQ_DONE || part.head_len != whole.head_len ||
		strcmp(part.path, whole.path) != 0))
		__builtin_trap();
	/* Nothing after the head matters. */
	if (rw == HTTPD_REQ_DONE &&
	    (httpd_req_parse(data, whole.head_len, &part) != HTTPD_REQ_DONE ||
		part.head_len != whole.head_len))
		__builtin_trap();
	return 0;
}
