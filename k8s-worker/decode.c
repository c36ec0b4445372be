/* decode.c: Kubernetes JSON (nodes, pods, leases, Status, watch events) */
#include <arpa/inet.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kube.h"

const char *
kube_strerror(int err)
{
	static const char *const msgs[] = {
		"ok",
		"not JSON or truncated",
		"wrong JSON type",
		"required field missing",
		"number out of range",
		"longer than the protocol allows",
		"malformed value",
		"not valid UTF-8",
		"unknown watch event type",
		"over the JSON memory budget",
	};

	if (err > 0 || err < KUBE_ERR_MIN)
		return "unknown decode error";
	return msgs[-err];
}

/* ---- field access ---- */

#define FIELD_REQUIRED 1

static int
get_obj(const cJSON *o, const char *key, int req, const cJSON **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v))
		return req ? KUBE_ERR_MISSING : 0;
	if (!cJSON_IsObject(v))
		return KUBE_ERR_TYPE;
	*out = v;
	return 0;
}

static int
get_arr(const cJSON *o, const char *key, const cJSON **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v))
		return KUBE_ERR_TYPE;
	*out = v;
	return 0;
}

/* A string field copied into out[outlen]; absent/null gives "". */
static int
get_str(const cJSON *o, const char *key, int req, char *out, size_t outlen)
{
	const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
	size_t n;

	out[0] = '\0';
	if (v == NULL || cJSON_IsNull(v))
		return req ? KUBE_ERR_MISSING : 0;
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return KUBE_ERR_TYPE;
	n = strlen(v->valuestring);
	if (n >= outlen)
		return KUBE_ERR_LONG;
	if (!kube_utf8_valid(v->valuestring, n))
		return KUBE_ERR_UTF8;
	memcpy(out, v->valuestring, n + 1);
	return 0;
}

/* A borrowed string; absent/null gives NULL. */
static int
peek_str(const cJSON *o, const char *key, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return KUBE_ERR_TYPE;
	*out = v->valuestring;
	return 0;
}

static int
get_uint(const cJSON *o, const char *key, uint32_t max, uint32_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	double d;

	*out = 0;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v))
		return KUBE_ERR_TYPE;
	d = v->valuedouble;
	if (!isfinite(d) || d < 0 || d > (double)max || floor(d) != d)
		return KUBE_ERR_RANGE;
	*out = (uint32_t)d;
	return 0;
}

static int
get_bool(const cJSON *o, const char *key, int *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = 0;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return KUBE_ERR_TYPE;
	*out = cJSON_IsTrue(v);
	return 0;
}

static int
get_name(const cJSON *meta, char *out, size_t outlen)
{
	int r;

	if ((r = get_str(meta, "name", FIELD_REQUIRED, out, outlen)) != 0)
		return r;
	return kube_name_valid(out) ? 0 : KUBE_ERR_SYNTAX;
}

static int
get_rv(const cJSON *meta, uint64_t *rv)
{
	char s[PROTO_RV_MAX];
	int r;

	if ((r = get_str(meta, "resourceVersion", 0, s, sizeof(s))) != 0)
		return r;
	*rv = kube_rv_number(s);
	return 0;
}

/* status.conditions[type == Ready].status == "True" */
static int
ready_condition(const cJSON *status, int *ready)
{
	const cJSON *conds, *c;
	const char *type, *st;
	int r;

	*ready = 0;
	if (status == NULL)
		return 0;
	if ((r = get_arr(status, "conditions", &conds)) != 0 || conds == NULL)
		return r;
	cJSON_ArrayForEach(c, conds)
	{
		if (!cJSON_IsObject(c))
			return KUBE_ERR_TYPE;
		if ((r = peek_str(c, "type", &type)) != 0 ||
		    (r = peek_str(c, "status", &st)) != 0)
			return r;
		if (type != NULL && strcmp(type, "Ready") == 0) {
			*ready = st != NULL && strcmp(st, "True") == 0;
			return 0;
		}
	}
	return 0;
}

/* labels[key] == value; a label that is not a string is malformed. */
static int
label_is(const cJSON *labels, const struct kube_sel *sel, int *is)
{
	const char *v;
	int r;

	*is = 0;
	if (labels == NULL || sel == NULL || sel->key[0] == '\0')
		return 0;
	if ((r = peek_str(labels, sel->key, &v)) != 0)
		return r;
	*is = v != NULL && strcmp(v, sel->value) == 0;
	return 0;
}

static int
ip_valid(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* Append ip to the space-separated list unless it is there already;
 * past PROTO_ADDRS_MAX addresses the rest are dropped. */
static void
addrs_add(char *list, const char *ip, unsigned int *n)
{
	size_t len = strlen(list), il = strlen(ip);
	const char *p;

	for (p = list; (p = strstr(p, ip)) != NULL; p += il)
		if ((p == list || p[-1] == ' ') &&
		    (p[il] == ' ' || p[il] == '\0'))
			return;
	if (*n >= PROTO_ADDRS_MAX)
		return;
	if (len > 0)
		list[len++] = ' ';
	memcpy(list + len, ip, il + 1);
	(*n)++;
}

/*
 * Every InternalIP, then every ExternalIP, in the API's order: the probe
 * dials them all.  An address string that is not a numeric IP is left
 * out and counted in *bad rather than failing the node: the node's other
 * facts (cordoned, being deleted) must still arrive, and its other
 * addresses still carry its probe.  A wrong shape (not an object, no
 * address string) makes the node malformed, as any bad field does.
 * Other address types (Hostname, InternalDNS...) are not dialled and not
 * checked.
 */
static int
node_addresses(const cJSON *status, struct msg_kube_node *m, unsigned int *bad,
    const char **where)
{
	static const char *const types[] = { "InternalIP", "ExternalIP" };
	const cJSON *addrs, *a;
	char type[32], ip[PROTO_ADDR_LEN];
	unsigned int n = 0;
	size_t i;
	int r;

	*where = "status.addresses";
	m->addrs[0] = '\0';
	if (status == NULL)
		return 0;
	if ((r = get_arr(status, "addresses", &addrs)) != 0 || addrs == NULL)
		return r;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		cJSON_ArrayForEach(a, addrs)
		{
			if (!cJSON_IsObject(a))
				return KUBE_ERR_TYPE;
			if ((r = get_str(a, "type", 0, type, sizeof(type))) !=
				0 &&
			    r != KUBE_ERR_LONG)
				return r;
			if (r != 0 || strcmp(type, types[i]) != 0)
				continue;
			r = get_str(a, "address", FIELD_REQUIRED, ip,
			    sizeof(ip));
			if (r == 0 && ip_valid(ip))
				addrs_add(m->addrs, ip, &n);
			else if (r == 0 || r == KUBE_ERR_LONG)
				(*bad)++;
			else
				return r;
		}
	return 0;
}

/* *is: metadata.deletionTimestamp is set (the object is going away). */
static int
terminating(const cJSON *meta, int *is)
{
	const cJSON *del;

	del = cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp");
	*is = del != NULL && !cJSON_IsNull(del);
	return *is && !cJSON_IsString(del) ? KUBE_ERR_TYPE : 0;
}

static int
node_meta(const cJSON *meta, const struct kube_sel *cand,
    const struct kube_sel *active, struct kube_node_obj *out,
    const char **where)
{
	const cJSON *labels;
	int r, is;

	*where = "metadata.resourceVersion";
	if ((r = get_rv(meta, &out->rv)) != 0)
		return r;
	*where = "metadata.deletionTimestamp";
	if ((r = terminating(meta, &is)) != 0)
		return r;
	out->m.flags |= is ? NODE_F_DELETING : 0;
	*where = "metadata.labels";
	if ((r = get_obj(meta, "labels", 0, &labels)) != 0)
		return r;
	if ((r = label_is(labels, cand, &is)) != 0)
		return r;
	out->m.flags |= is ? NODE_F_CANDIDATE : 0;
	if ((r = label_is(labels, active, &is)) != 0)
		return r;
	out->m.flags |= is ? NODE_F_ACTIVE : 0;
	return 0;
}

int
kube_decode_node(const cJSON *o, const struct kube_sel *cand,
    const struct kube_sel *active, struct kube_node_obj *out,
    const char **where)
{
	const cJSON *meta, *spec, *status;
	const char *pid;
	int r, v;

	memset(out, 0, sizeof(*out));
	*where = "object";
	if (!cJSON_IsObject(o))
		return KUBE_ERR_TYPE;
	*where = "metadata";
	if ((r = get_obj(o, "metadata", FIELD_REQUIRED, &meta)) != 0)
		return r;
	*where = "metadata.name";
	if ((r = get_name(meta, out->m.name, sizeof(out->m.name))) != 0)
		return r;
	if ((r = node_meta(meta, cand, active, out, where)) != 0)
		return r;
	*where = "spec";
	if ((r = get_obj(o, "spec", 0, &spec)) != 0)
		return r;
	if (spec != NULL) {
		*where = "spec.unschedulable";
		if ((r = get_bool(spec, "unschedulable", &v)) != 0)
			return r;
		out->m.flags |= v ? NODE_F_UNSCHED : 0;
		*where = "spec.providerID";
		if ((r = peek_str(spec, "providerID", &pid)) != 0)
			return r;
		out->m.server_id = pid ? kube_provider_id(pid) : 0;
	}
	*where = "status";
	if ((r = get_obj(o, "status", 0, &status)) != 0)
		return r;
	*where = "status.conditions";
	if ((r = ready_condition(status, &v)) != 0)
		return r;
	out->m.flags |= v ? NODE_F_READY : 0;
	return node_addresses(status, &out->m, &out->bad_addrs, where);
}

int
kube_decode_pod(const cJSON *o, struct kube_pod_obj *out, const char **where)
{
	const cJSON *meta, *spec, *status;
	int r, ready, term;

	memset(out, 0, sizeof(*out));
	*where = "object";
	if (!cJSON_IsObject(o))
		return KUBE_ERR_TYPE;
	*where = "metadata";
	if ((r = get_obj(o, "metadata", FIELD_REQUIRED, &meta)) != 0)
		return r;
	*where = "metadata.name";
	if ((r = get_name(meta, out->m.name, sizeof(out->m.name))) != 0)
		return r;
	*where = "metadata.resourceVersion";
	if ((r = get_rv(meta, &out->rv)) != 0)
		return r;
	*where = "spec";
	if ((r = get_obj(o, "spec", 0, &spec)) != 0)
		return r;
	*where = "spec.nodeName";
	if (spec != NULL &&
	    (r = get_str(spec, "nodeName", 0, out->m.node,
		 sizeof(out->m.node))) != 0)
		return r;
	if (out->m.node[0] != '\0' && !kube_name_valid(out->m.node))
		return KUBE_ERR_SYNTAX;
	*where = "status";
	if ((r = get_obj(o, "status", 0, &status)) != 0)
		return r;
	*where = "status.conditions";
	if ((r = ready_condition(status, &ready)) != 0)
		return r;
	/* As the reference: a terminating host agent (deletionTimestamp
	 * set) no longer prepares its node, Ready or not. */
	*where = "metadata.deletionTimestamp";
	if ((r = terminating(meta, &term)) != 0)
		return r;
	out->m.ready = (uint8_t)(ready && !term);
	return 0;
}

static int
lease_time(const cJSON *spec, const char *key, char *out, size_t outlen)
{
	int r;

	if ((r = get_str(spec, key, 0, out, outlen)) != 0)
		return r;
	return out[0] == '\0' || kube_microtime_valid(out) ? 0
							   : KUBE_ERR_SYNTAX;
}

int
kube_decode_lease(const cJSON *o, struct msg_lease *out, const char **where)
{
	const cJSON *meta, *spec;
	int r;

	memset(out, 0, sizeof(*out));
	*where = "object";
	if (!cJSON_IsObject(o))
		return KUBE_ERR_TYPE;
	*where = "metadata";
	if ((r = get_obj(o, "metadata", FIELD_REQUIRED, &meta)) != 0)
		return r;
	*where = "metadata.resourceVersion";
	if ((r = get_str(meta, "resourceVersion", FIELD_REQUIRED, out->rv,
		 sizeof(out->rv))) != 0)
		return r;
	*where = "spec";
	if ((r = get_obj(o, "spec", 0, &spec)) != 0 || spec == NULL)
		return r;
	*where = "spec.holderIdentity";
	if ((r = get_str(spec, "holderIdentity", 0, out->holder,
		 sizeof(out->holder))) != 0)
		return r;
	*where = "spec.leaseDurationSeconds";
	if ((r = get_uint(spec, "leaseDurationSeconds", INT32_MAX,
		 &out->duration_s)) != 0)
		return r;
	*where = "spec.acquireTime";
	if ((r = lease_time(spec, "acquireTime", out->acquire_time,
		 sizeof(out->acquire_time))) != 0)
		return r;
	*where = "spec.renewTime";
	if ((r = lease_time(spec, "renewTime", out->renew_time,
		 sizeof(out->renew_time))) != 0)
		return r;
	*where = "spec.leaseTransitions";
	return get_uint(spec, "leaseTransitions", INT32_MAX, &out->transitions);
}

/* cJSON turns "\u0000" into a NUL that would silently cut a string:
 * a Lease is small, so look for it in the raw text. */
static int
has_escaped_nul(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i + 6 <= n; i++)
		if (s[i] == '\\' && s[i + 1] == 'u' &&
		    memcmp(s + i + 2, "0000", 4) == 0)
			return 1;
	return 0;
}

int
kube_decode_lease_body(const char *body, size_t n, struct msg_lease *out,
    const char **where)
{
	cJSON *root;
	int r;

	*where = "body";
	memset(out, 0, sizeof(*out));
	if (has_escaped_nul(body, n))
		return KUBE_ERR_SYNTAX;
	if ((r = kube_json_parse(body, n, &root)) != 0)
		return r;
	r = kube_decode_lease(root, out, where);
	cJSON_Delete(root);
	return r;
}

/* Keep printable ASCII and valid UTF-8 sequences; control bytes and
 * broken sequences become '?'.  Cut at a character boundary. */
static void
sanitize(const char *s, char *out, size_t outlen)
{
	size_t i = 0, o = 0, k, len;
	unsigned char c;

	while (s[i] != '\0' && o + 1 < outlen) {
		c = (unsigned char)s[i];
		len = c < 0x80		 ? 1
		    : (c & 0xe0) == 0xc0 ? 2
		    : (c & 0xf0) == 0xe0 ? 3
		    : (c & 0xf8) == 0xf0 ? 4
					 : 0;
		for (k = 1; len > 1 && k < len; k++)
			if (s[i + k] == '\0')
				len = 0;
		if (len == 0 || (len > 1 && !kube_utf8_valid(s + i, len)) ||
		    (len == 1 && (c < 0x20 || c == 0x7f))) {
			out[o++] = '?';
			i += len == 0 ? 1 : len;
			continue;
		}
		if (o + len >= outlen)
			break;
		memcpy(out + o, s + i, len);
		o += len;
		i += len;
	}
	out[o] = '\0';
}

int
kube_decode_status(const cJSON *o, struct kube_status *out)
{
	const cJSON *details;
	const char *s;
	uint32_t code;
	int r;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(o))
		return KUBE_ERR_TYPE;
	if ((r = get_uint(o, "code", 999, &code)) != 0)
		return r;
	out->code = (int)code;
	if ((r = peek_str(o, "reason", &s)) != 0)
		return r;
	if (s != NULL)
		sanitize(s, out->reason, sizeof(out->reason));
	if ((r = peek_str(o, "message", &s)) != 0)
		return r;
	if (s != NULL)
		sanitize(s, out->message, sizeof(out->message));
	if ((r = get_obj(o, "details", 0, &details)) != 0)
		return r;
	if (details != NULL)
		return get_uint(details, "retryAfterSeconds", 86400,
		    &out->retry_after_s);
	return 0;
}

int
kube_decode_status_body(const char *body, size_t n, struct kube_status *out)
{
	cJSON *root;
	int r;

	memset(out, 0, sizeof(*out));
	if (body == NULL)
		return KUBE_ERR_JSON;
	if ((r = kube_json_parse(body, n, &root)) != 0)
		return r;
	r = kube_decode_status(root, out);
	cJSON_Delete(root);
	return r;
}

void
kube_doc_free(struct kube_doc *d)
{
	cJSON_Delete(d->root);
	free(d->cont);
	memset(d, 0, sizeof(*d));
}

static int
event_type(const char *s)
{
	static const struct {
		const char *name;
		int type;
	} types[] = {
		{ "ADDED", KUBE_EV_ADDED },
		{ "MODIFIED", KUBE_EV_MODIFIED },
		{ "DELETED", KUBE_EV_DELETED },
		{ "BOOKMARK", KUBE_EV_BOOKMARK },
		{ "ERROR", KUBE_EV_ERROR },
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(s, types[i].name) == 0)
			return types[i].type;
	return 0;
}

int
kube_decode_event(const char *line, size_t n, struct kube_doc *d)
{
	const cJSON *meta, *obj;
	char type[16];
	int r;

	memset(d, 0, sizeof(*d));
	if ((r = kube_json_parse(line, n, &d->root)) != 0)
		return r;
	if (!cJSON_IsObject(d->root))
		return KUBE_ERR_TYPE;
	if ((r = get_str(d->root, "type", FIELD_REQUIRED, type,
		 sizeof(type))) != 0)
		return r == KUBE_ERR_LONG ? KUBE_ERR_EVENT : r;
	if ((d->type = event_type(type)) == 0)
		return KUBE_ERR_EVENT;
	if ((r = get_obj(d->root, "object", FIELD_REQUIRED, &obj)) != 0)
		return r;
	d->object = obj;
	if (d->type == KUBE_EV_ERROR)
		return 0;
	if ((r = get_obj(obj, "metadata", FIELD_REQUIRED, &meta)) != 0)
		return r;
	if ((r = get_str(meta, "resourceVersion", FIELD_REQUIRED, d->rv,
		 sizeof(d->rv))) != 0)
		return r;
	return d->rv[0] == '\0' ? KUBE_ERR_MISSING : 0;
}

int
kube_decode_list(const char *body, size_t n, struct kube_doc *d)
{
	const cJSON *meta, *items;
	const char *cont;
	int r;

	memset(d, 0, sizeof(*d));
	if ((r = kube_json_parse(body, n, &d->root)) != 0)
		return r;
	if (!cJSON_IsObject(d->root))
		return KUBE_ERR_TYPE;
	if ((r = get_obj(d->root, "metadata", FIELD_REQUIRED, &meta)) != 0)
		return r;
	if ((r = get_str(meta, "resourceVersion", FIELD_REQUIRED, d->rv,
		 sizeof(d->rv))) != 0)
		return r;
	if (d->rv[0] == '\0')
		return KUBE_ERR_MISSING;
	if ((r = peek_str(meta, "continue", &cont)) != 0)
		return r;
	if (cont != NULL && cont[0] != '\0') {
		if (strlen(cont) >= KUBE_CONTINUE_MAX)
			return KUBE_ERR_LONG;
		if ((d->cont = strdup(cont)) == NULL)
			return KUBE_ERR_JSON;
	}
	/* Go encodes an empty slice as null in some versions. */
	if ((r = get_arr(d->root, "items", &items)) != 0)
		return r;
	if (cJSON_GetObjectItemCaseSensitive(d->root, "items") == NULL)
		return KUBE_ERR_MISSING;
	d->object = items;
	return 0;
}
