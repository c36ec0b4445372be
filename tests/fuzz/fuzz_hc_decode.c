/* fuzz_hc_decode.c: libFuzzer target for the hcloud worker's decoders */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hcloud-worker/hc.h"

static const char *const names[] = { "egress-v4", "egress-v4-b", "egress-v6" };

/* A decoded record must hold what its checks promise, or we abort. */
static void
check_fip(const struct hc_fip *f)
{
	if (f->id == 0 || f->id > HC_ID_MAX || f->server > HC_ID_MAX ||
	    memchr(f->name, '\0', sizeof(f->name)) == NULL ||
	    memchr(f->ip, '\0', sizeof(f->ip)) == NULL ||
	    (f->is_v6 != 0 && f->is_v6 != 1) ||
	    (f->blocked != 0 && f->blocked != 1))
		abort();
}

/* The server decoder, and the selector parser on the same bytes. */
static void
server(const uint8_t *data, size_t size)
{
	static struct hc_server srv;
	static struct hc_selector sel;
	char text[512], err[256];
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;

	if (hc_decode_server_reply(data, size, &srv) == 0 &&
	    (srv.id == 0 || srv.id > HC_ID_MAX ||
		srv.status < SERVER_ST_RUNNING || srv.status > SERVER_ST_MAX ||
		srv.labels.n > HC_LABELS_MAX))
		abort();
	memcpy(text, data, n);
	text[n] = '\0';
	if (hc_selector_parse(text, &sel, err, sizeof(err)) == 0) {
		if (sel.n > HC_SEL_MAX)
			abort();
		(void)hc_selector_match(&sel, &srv.labels);
	} else if (err[0] == '\0')
		abort();
}

static void
decode_all(const uint8_t *data, size_t size)
{
	struct hc_fip_list l;
	struct hc_action_list al;
	struct hc_action a;
	struct hc_error e;
	struct hc_fip f;
	size_t i;

	if (hc_decode_fip_reply(data, size, &f) == 0)
		check_fip(&f);
	if (hc_decode_fip_list(data, size, names, 3, &l) == 0) {
		for (i = 0; i < 3; i++)
			if (l.found[i]) {
				check_fip(&l.fips[i]);
				if (strcmp(l.fips[i].name, names[i]) != 0)
					abort();
			}
		if (l.page.next_page != 0 && l.page.next_page <= l.page.page)
			abort();
	}
	if (hc_decode_action_reply(data, size, &a) == 0 &&
	    (a.id == 0 || a.id > HC_ID_MAX || a.status < HC_ACTION_RUNNING ||
		a.status > HC_ACTION_ERROR))
		abort();
	if (hc_decode_action_list(data, size, &al) == 0 &&
	    (al.running > al.count || al.count > HC_PER_PAGE))
		abort();
	if (hc_decode_error(data, size, &e) == 0 && e.code[0] == '\0')
		abort();
	server(data, size);
}

/* Every line of the input as a reply header. */
static void
headers(const uint8_t *data, size_t size)
{
	struct msg_ratelimit rl;
	char corr[HC_CORR_MAX];
	const uint8_t *p = data, *nl;
	size_t i;

	memset(&rl, 0, sizeof(rl));
	corr[0] = '\0';
	while (p < data + size) {
		nl = memchr(p, '\n', (size_t)(data + size - p));
		nl = nl != NULL ? nl + 1 : data + size;
		hc_parse_header((const char *)p, (size_t)(nl - p), &rl, corr);
		p = nl;
	}
	for (i = 0; corr[i] != '\0'; i++)
		if (corr[i] <= 0x20 || corr[i] >= 0x7f || i >= HC_CORR_MAX - 1)
			abort();
	(void)hc_retry_after_ms(&rl, 1795680000);
}

static void
sanitize(const uint8_t *data, size_t size)
{
	char in[1024], out[PROTO_TEXT_MAX];
	size_t i;

	if (size >= sizeof(in))
		size = sizeof(in) - 1;
	memcpy(in, data, size);
	in[size] = '\0';
	hc_sanitize(out, sizeof(out), in, "SecretTokenValue0123456789");
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 ||
		    (unsigned char)out[i] >= 0x7f)
			abort();
	if (strstr(out, "SecretTo") != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_all(data, size);
	headers(data, size);
	sanitize(data, size);
	return 0;
}
