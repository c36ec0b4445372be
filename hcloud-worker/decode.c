/* decode.c: Hetzner Cloud API replies (JSON, headers) into typed records */
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/str.h"
#include "hc.h"

const char *
hc_decode_strerror(int err)
{
	static const char *const msgs[] = {
		"ok",
		"not JSON, truncated or trailing bytes",
		"wrong JSON type",
		"required key missing",
		"id not an integer in 1..2^53-1",
		"value outside its allowed set",
		"string too long",
		"reply too large",
		"more items than requested",
		"one name twice in a list",
	};

	if (err > 0 || err < HC_DERR_MIN)
		return "unknown decode error";
	return msgs[-err];
}

int
hc_json_parse(const void *body, size_t len, cJSON **out)
{
	const char *p = body, *end = NULL;
	size_t i, nodes = 1;
	cJSON *root;

	if (len > HC_REPLY_MAX)
		return HC_DERR_SIZE;
	if (len == 0)
		return HC_DERR_JSON;
	/* Every value but the first follows '[', '{' or ',': counting
	 * them (strings included) bounds the nodes cJSON would allocate. */
	for (i = 0; i < len; i++) {
		if (p[i] == '\0')
			return HC_DERR_JSON;
		if (p[i] == ',' || p[i] == '[' || p[i] == '{')
			nodes++;
	}
	if (nodes > HC_JSON_NODES_MAX)
		return HC_DERR_SIZE;
	/* cJSON cuts a string at an escaped NUL: "egress-v4\u0000x" would
	 * compare equal to "egress-v4".  The API never sends one. */
	if (memmem(p, len, "\\u0000", 6) != NULL)
		return HC_DERR_JSON;
	if ((root = cJSON_ParseWithLengthOpts(p, len, &end, 0)) == NULL)
		return HC_DERR_JSON;
	while (end < p + len &&
	    (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end != p + len) {
		cJSON_Delete(root);
		return HC_DERR_JSON;
	}
	*out = root;
	return 0;
}

int
hc_decode_id(const cJSON *j, uint64_t *out)
{
	double d;

	if (!cJSON_IsNumber(j))
		return HC_DERR_TYPE;
	/* valuedouble, never valueint (saturates at INT_MAX); every id up
	 * to 2^53-1 is exact in a double, so the round trip is exact. */
	d = j->valuedouble;
	if (!(d >= 1.0) || d > (double)HC_ID_MAX)
		return HC_DERR_ID;
	if ((double)(uint64_t)d != d)
		return HC_DERR_ID;
	*out = (uint64_t)d;
	return 0;
}

/* An integral number in 0..max (pagination fields). */
static int
get_uint(const cJSON *j, uint32_t max, uint32_t *out)
{
	double d;

	if (!cJSON_IsNumber(j))
		return HC_DERR_TYPE;
	d = j->valuedouble;
	if (!(d >= 0.0) || d > (double)max || (double)(uint32_t)d != d)
		return HC_DERR_VALUE;
	*out = (uint32_t)d;
	return 0;
}

/* Required string key copied whole into out[outlen]. */
static int
get_str(const cJSON *o, const char *key, char *out, size_t outlen)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);

	if (j == NULL)
		return HC_DERR_MISSING;
	if (!cJSON_IsString(j) || j->valuestring == NULL)
		return HC_DERR_TYPE;
	if (str_copy(out, outlen, j->valuestring) != 0)
		return HC_DERR_LONG;
	return 0;
}

/* Optional display text: absent or null gives def; cut to fit. */
static int
get_text(const cJSON *o, const char *key, char *out, size_t outlen,
    const char *def)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);

	if (j == NULL || cJSON_IsNull(j)) {
		(void)str_copy(out, outlen, def);
		return 0;
	}
	if (!cJSON_IsString(j) || j->valuestring == NULL)
		return HC_DERR_TYPE;
	(void)str_copy(out, outlen, j->valuestring);
	return 0;
}

static int
get_id(const cJSON *o, const char *key, uint64_t *out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);

	if (j == NULL)
		return HC_DERR_MISSING;
	return hc_decode_id(j, out);
}

/* Required key, id or null (0). */
static int
get_id_or_null(const cJSON *o, const char *key, uint64_t *out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);

	if (j == NULL)
		return HC_DERR_MISSING;
	if (cJSON_IsNull(j)) {
		*out = 0;
		return 0;
	}
	return hc_decode_id(j, out);
}

static int
get_bool(const cJSON *o, const char *key, int *out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);

	if (j == NULL)
		return HC_DERR_MISSING;
	if (!cJSON_IsBool(j))
		return HC_DERR_TYPE;
	*out = cJSON_IsTrue(j) ? 1 : 0;
	return 0;
}

/* ipv4: a dotted quad; ipv6: an address, normally with "/len". */
static int
check_ip(const char *ip, int v6)
{
	unsigned char a[16];
	char addr[INET6_ADDRSTRLEN];
	const char *slash;
	uint64_t plen;
	size_t n;

	if (!v6)
		return inet_pton(AF_INET, ip, a) == 1 ? 0 : HC_DERR_VALUE;
	if ((slash = strchr(ip, '/')) == NULL)
		n = strlen(ip);
	else
		n = (size_t)(slash - ip);
	if (n >= sizeof(addr))
		return HC_DERR_VALUE;
	memcpy(addr, ip, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET6, addr, a) != 1)
		return HC_DERR_VALUE;
	if (slash != NULL &&
	    (str_to_u64(slash + 1, 128, &plen) != 0 || plen == 0))
		return HC_DERR_VALUE;
	return 0;
}

int
hc_decode_fip(const cJSON *o, struct hc_fip *out)
{
	struct hc_fip f;
	char type[8];
	int r;

	if (!cJSON_IsObject(o))
		return HC_DERR_TYPE;
	memset(&f, 0, sizeof(f));
	if ((r = get_id(o, "id", &f.id)) != 0 ||
	    (r = get_str(o, "name", f.name, sizeof(f.name))) != 0 ||
	    (r = get_str(o, "type", type, sizeof(type))) != 0 ||
	    (r = get_str(o, "ip", f.ip, sizeof(f.ip))) != 0 ||
	    (r = get_id_or_null(o, "server", &f.server)) != 0 ||
	    (r = get_bool(o, "blocked", &f.blocked)) != 0)
		return r;
	if (strcmp(type, "ipv4") == 0)
		f.is_v6 = 0;
	else if (strcmp(type, "ipv6") == 0)
		f.is_v6 = 1;
	else
		return HC_DERR_VALUE;
	if ((r = check_ip(f.ip, f.is_v6)) != 0)
		return r;
	*out = f;
	return 0;
}

/* Pagination field: required key, integer or (when nullable) null. */
static int
get_page_field(const cJSON *o, const char *key, int nullable, uint32_t *out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);

	if (j == NULL)
		return HC_DERR_MISSING;
	if (nullable && cJSON_IsNull(j)) {
		*out = 0;
		return 0;
	}
	return get_uint(j, INT32_MAX, out);
}

int
hc_decode_page(const cJSON *root, struct hc_page *out)
{
	const cJSON *meta, *pg;
	struct hc_page p;
	int r;

	meta = cJSON_GetObjectItemCaseSensitive(root, "meta");
	if (meta == NULL)
		return HC_DERR_MISSING;
	if (!cJSON_IsObject(meta))
		return HC_DERR_TYPE;
	if ((pg = cJSON_GetObjectItemCaseSensitive(meta, "pagination")) == NULL)
		return HC_DERR_MISSING;
	if (!cJSON_IsObject(pg))
		return HC_DERR_TYPE;
	memset(&p, 0, sizeof(p));
	if ((r = get_page_field(pg, "page", 0, &p.page)) != 0 ||
	    (r = get_page_field(pg, "next_page", 1, &p.next_page)) != 0 ||
	    (r = get_page_field(pg, "last_page", 1, &p.last_page)) != 0 ||
	    (r = get_page_field(pg, "total_entries", 1, &p.total_entries)) != 0)
		return r;
	/* A next page that does not move forward would loop forever. */
	if (p.page == 0 || (p.next_page != 0 && p.next_page <= p.page) ||
	    (p.last_page != 0 && p.next_page > p.last_page))
		return HC_DERR_VALUE;
	*out = p;
	return 0;
}

int
hc_decode_action(const cJSON *o, struct hc_action *out)
{
	struct hc_action a;
	const cJSON *e;
	char status[16];
	int r;

	if (!cJSON_IsObject(o))
		return HC_DERR_TYPE;
	memset(&a, 0, sizeof(a));
	if ((r = get_id(o, "id", &a.id)) != 0)
		return r;
	if ((r = get_str(o, "status", status, sizeof(status))) != 0)
		return r == HC_DERR_LONG ? HC_DERR_VALUE : r;
	if (strcmp(status, "running") == 0)
		a.status = HC_ACTION_RUNNING;
	else if (strcmp(status, "success") == 0)
		a.status = HC_ACTION_SUCCESS;
	else if (strcmp(status, "error") == 0)
		a.status = HC_ACTION_ERROR;
	else
		return HC_DERR_VALUE;
	e = cJSON_GetObjectItemCaseSensitive(o, "error");
	if (e != NULL && !cJSON_IsNull(e) && !cJSON_IsObject(e))
		return HC_DERR_TYPE;
	/* Doc samples fill "error" on success too: only read it when the
	 * action failed; hcloud-go's defaults when it is missing. */
	if (a.status == HC_ACTION_ERROR) {
		if (e == NULL || cJSON_IsNull(e))
			e = NULL;
		if ((r = get_text(e, "code", a.code, sizeof(a.code),
			 "<unknown>")) != 0 ||
		    (r = get_text(e, "message", a.message, sizeof(a.message),
			 "Unknown error")) != 0)
			return r;
	}
	*out = a;
	return 0;
}

/* The top-level object of a reply and its key; root freed by caller. */
static int
reply_member(const void *body, size_t len, const char *key, int array,
    cJSON **root, const cJSON **member)
{
	const cJSON *m;
	int r;

	if ((r = hc_json_parse(body, len, root)) != 0)
		return r;
	if (!cJSON_IsObject(*root)) {
		r = HC_DERR_TYPE;
		goto out_free;
	}
	if ((m = cJSON_GetObjectItemCaseSensitive(*root, key)) == NULL) {
		r = HC_DERR_MISSING;
		goto out_free;
	}
	if (array ? !cJSON_IsArray(m) : !cJSON_IsObject(m)) {
		r = HC_DERR_TYPE;
		goto out_free;
	}
	*member = m;
	return 0;
out_free:
	cJSON_Delete(*root);
	*root = NULL;
	return r;
}

int
hc_decode_fip_reply(const void *body, size_t len, struct hc_fip *out)
{
	const cJSON *m;
	cJSON *root;
	int r;

	if ((r = reply_member(body, len, "floating_ip", 0, &root, &m)) != 0)
		return r;
	r = hc_decode_fip(m, out);
	cJSON_Delete(root);
	return r;
}

/* Index of name among names, or -1. */
static int
name_index(const char *name, const char *const *names, size_t nnames)
{
	size_t i;

	for (i = 0; i < nnames; i++)
		if (strcmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

/* One list item: only the ones we asked for are decoded in full, so an
 * unrelated Floating IP (a long name, a new type) cannot break us. */
static int
list_item(const cJSON *it, const char *const *names, size_t nnames,
    struct hc_fip_list *l)
{
	const cJSON *n;
	int i, r;

	if (!cJSON_IsObject(it))
		return HC_DERR_TYPE;
	if ((n = cJSON_GetObjectItemCaseSensitive(it, "name")) == NULL)
		return HC_DERR_MISSING;
	if (!cJSON_IsString(n) || n->valuestring == NULL)
		return HC_DERR_TYPE;
	if ((i = name_index(n->valuestring, names, nnames)) < 0)
		return 0;
	if (l->found[i])
		return HC_DERR_DUP;
	if ((r = hc_decode_fip(it, &l->fips[i])) != 0)
		return r;
	l->found[i] = 1;
	return 0;
}

int
hc_decode_fip_list(const void *body, size_t len, const char *const *names,
    size_t nnames, struct hc_fip_list *out)
{
	struct hc_fip_list *l;
	const cJSON *arr, *it;
	cJSON *root;
	int r;

	if (nnames > PROTO_FIPS_MAX)
		return HC_DERR_COUNT;
	if ((r = reply_member(body, len, "floating_ips", 1, &root, &arr)) != 0)
		return r;
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		r = HC_DERR_SIZE;
		goto out_free_root;
	}
	for (it = arr->child; it != NULL; it = it->next) {
		if (++l->items > HC_PER_PAGE) {
			r = HC_DERR_COUNT;
			goto out_free_list;
		}
		if ((r = list_item(it, names, nnames, l)) != 0)
			goto out_free_list;
	}
	if ((r = hc_decode_page(root, &l->page)) != 0)
		goto out_free_list;
	*out = *l;
out_free_list:
	free(l);
out_free_root:
	cJSON_Delete(root);
	return r;
}

int
hc_decode_action_reply(const void *body, size_t len, struct hc_action *out)
{
	const cJSON *m;
	cJSON *root;
	int r;

	if ((r = reply_member(body, len, "action", 0, &root, &m)) != 0)
		return r;
	r = hc_decode_action(m, out);
	cJSON_Delete(root);
	return r;
}

int
hc_decode_action_list(const void *body, size_t len, struct hc_action_list *out)
{
	struct hc_action_list l;
	struct hc_action a;
	const cJSON *arr, *it;
	cJSON *root;
	int r = 0;

	if ((r = reply_member(body, len, "actions", 1, &root, &arr)) != 0)
		return r;
	memset(&l, 0, sizeof(l));
	for (it = arr->child; it != NULL; it = it->next) {
		if (++l.count > HC_PER_PAGE) {
			r = HC_DERR_COUNT;
			break;
		}
		if ((r = hc_decode_action(it, &a)) != 0)
			break;
		if (a.status == HC_ACTION_RUNNING && l.running++ == 0)
			l.running_id = a.id;
	}
	cJSON_Delete(root);
	if (r == 0)
		*out = l;
	return r;
}

int
hc_decode_error(const void *body, size_t len, struct hc_error *out)
{
	const cJSON *e, *d, *an;
	struct hc_error x;
	cJSON *root;
	int r;

	if ((r = reply_member(body, len, "error", 0, &root, &e)) != 0)
		return r;
	memset(&x, 0, sizeof(x));
	if ((r = get_str(e, "code", x.code, sizeof(x.code))) != 0 ||
	    (r = get_text(e, "message", x.message, sizeof(x.message), "")) != 0)
		goto out_free;
	if (x.code[0] == '\0') {
		r = HC_DERR_VALUE;
		goto out_free;
	}
	d = cJSON_GetObjectItemCaseSensitive(e, "details");
	if (cJSON_IsObject(d) &&
	    (an = cJSON_GetObjectItemCaseSensitive(d, "announcement")) !=
		NULL &&
	    cJSON_IsString(an) && an->valuestring != NULL)
		(void)str_copy(x.announcement, sizeof(x.announcement),
		    an->valuestring);
	*out = x;
out_free:
	cJSON_Delete(root);
	return r;
}

static const struct {
	const char *word;
	int status;
} server_statuses[] = {
	{ "running", SERVER_ST_RUNNING },
	{ "off", SERVER_ST_OFF },
	{ "stopping", SERVER_ST_STOPPING },
	{ "deleting", SERVER_ST_DELETING },
};

static int
decode_labels(const cJSON *o, struct hc_labels *out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, "labels"), *it;

	out->n = 0;
	if (j == NULL || cJSON_IsNull(j))
		return 0;
	if (!cJSON_IsObject(j))
		return HC_DERR_TYPE;
	cJSON_ArrayForEach(it, j)
	{
		if (out->n == HC_LABELS_MAX)
			return HC_DERR_COUNT;
		if (!cJSON_IsString(it) || it->valuestring == NULL ||
		    it->string == NULL)
			return HC_DERR_TYPE;
		if (str_copy(out->kv[out->n].key, HC_LABEL_KEY_MAX,
			it->string) != 0 ||
		    str_copy(out->kv[out->n].val, HC_LABEL_VAL_MAX,
			it->valuestring) != 0)
			return HC_DERR_LONG;
		out->n++;
	}
	return 0;
}

int
hc_decode_server_reply(const void *body, size_t len, struct hc_server *out)
{
	struct hc_server s;
	char status[32];
	const cJSON *m;
	cJSON *root;
	size_t i;
	int r;

	if ((r = reply_member(body, len, "server", 0, &root, &m)) != 0)
		return r;
	memset(&s, 0, sizeof(s));
	if ((r = get_id(m, "id", &s.id)) != 0 ||
	    (r = get_str(m, "status", status, sizeof(status))) != 0 ||
	    (r = decode_labels(m, &s.labels)) != 0)
		goto out_free;
	s.status = SERVER_ST_OTHER;
	for (i = 0; i < sizeof(server_statuses) / sizeof(server_statuses[0]);
	     i++)
		if (strcmp(status, server_statuses[i].word) == 0)
			s.status = server_statuses[i].status;
	*out = s;
out_free:
	cJSON_Delete(root);
	return r;
}
