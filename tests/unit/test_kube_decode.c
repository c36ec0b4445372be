/* test_kube_decode.c: the k8s worker's JSON decoders and syntax checks */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s-worker/kube.h"

/* A string literal and its length. */
#define LIT(s) (s), sizeof(s) - 1

static const struct kube_sel cand = { "tuist.dev/stable-egress-candidate",
	"server" };
static const struct kube_sel active = { "tuist.dev/stable-egress-gateway",
	"server" };

/* A Node as the API server sends it in a list (no kind/apiVersion). */
static const char node_json[] =
    "{\"metadata\":{\"name\":\"worker-1\",\"uid\":\"6c1a1c2e-8f4b-4c4e-9d"
    "2a-1b2c3d4e5f60\",\"resourceVersion\":\"81234\",\"creationTimestamp"
    "\":\"2026-03-01T09:00:00Z\",\"labels\":{\"kubernetes.io/hostname\":"
    "\"worker-1\",\"node.kubernetes.io/instance-type\":\"cx22\",\"tuist.d"
    "ev/stable-egress-candidate\":\"server\"},\"annotations\":{\"node.alp"
    "ha.kubernetes.io/ttl\":\"0\"},\"managedFields\":[{\"manager\":\"kube"
    "let\",\"operation\":\"Update\",\"fieldsV1\":{\"f:status\":{}}}]},"
    "\"spec\":{\"podCIDR\":\"10.244.1.0/24\",\"providerID\":\"hcloud://4"
    "2424242\",\"taints\":[{\"key\":\"node.kubernetes.io/unreachable\","
    "\"effect\":\"NoSchedule\",\"timeAdded\":\"2026-03-01T10:00:00Z\"}]},"
    "\"status\":{\"capacity\":{\"cpu\":\"2\"},\"conditions\":[{\"type\":"
    "\"MemoryPressure\",\"status\":\"False\"},{\"type\":\"Ready\",\"statu"
    "s\":\"True\",\"reason\":\"KubeletReady\",\"lastHeartbeatTime\":\"202"
    "6-03-01T10:04:58Z\"}],\"addresses\":[{\"type\":\"Hostname\",\"addres"
    "s\":\"worker-1\"},{\"type\":\"ExternalIP\",\"address\":\"203.0.113.7"
    "\"},{\"type\":\"ExternalIP\",\"address\":\"2001:db8::1\"},{\"type\":"
    "\"InternalIP\",\"address\":\"10.0.0.3\"},{\"type\":\"InternalIP\",\""
    "address\":\"10.0.0.99\"}],\"images\":[{\"names\":[\"docker.io/cilium"
    "/cilium@sha256:0000\"],\"sizeBytes\":212345678}],\"nodeInfo\":{\"kub"
    "eletVersion\":\"v1.31.4\"}}}";

static int
node_decode(const char *json, struct kube_node_obj *n, const char **where)
{
	cJSON *o = cJSON_Parse(json);
	int r;

	assert_non_null(o);
	r = kube_decode_node(o, &cand, &active, n, where);
	cJSON_Delete(o);
	return r;
}

/* Replace the first occurrence of from in node_json by to. */
static char *
node_with(const char *from, const char *to)
{
	const char *p = strstr(node_json, from);
	size_t n;
	char *out;

	assert_non_null(p);
	n = strlen(node_json) - strlen(from) + strlen(to) + 1;
	out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, "%.*s%s%s", (int)(p - node_json), node_json, to,
	    p + strlen(from));
	return out;
}

static int
node_variant(const char *from, const char *to, const char **where)
{
	struct kube_node_obj n;
	char *j = node_with(from, to);
	cJSON *o = cJSON_Parse(j);
	int r;

	free(j);
	if (o == NULL)
		return KUBE_ERR_JSON;
	r = kube_decode_node(o, &cand, &active, &n, where);
	cJSON_Delete(o);
	return r;
}

static void
test_node_real(void **state)
{
	struct kube_node_obj n;
	const char *where;

	(void)state;
	assert_int_equal(node_decode(node_json, &n, &where), 0);
	assert_string_equal(n.m.name, "worker-1");
	assert_true(n.m.server_id == 42424242);
	/* Every InternalIP, then every ExternalIP; Hostname is not one. */
	assert_string_equal(n.m.addrs,
	    "10.0.0.3 10.0.0.99 203.0.113.7 2001:db8::1");
	assert_int_equal(n.m.flags, NODE_F_READY | NODE_F_CANDIDATE);
	assert_true(n.rv == 81234);
}

static void
test_node_flags(void **state)
{
	struct kube_node_obj n;
	const char *where;
	char *j;
	cJSON *o;

	(void)state;
	j = node_with("\"podCIDR\"", "\"unschedulable\":true,\"podCIDR\"");
	assert_int_equal(node_decode(j, &n, &where), 0);
	assert_true(n.m.flags & NODE_F_UNSCHED);
	free(j);
	j = node_with("\"uid\"",
	    "\"deletionTimestamp\":\"2026-03-01T10:00"
	    ":00Z\",\"uid\"");
	assert_int_equal(node_decode(j, &n, &where), 0);
	assert_true(n.m.flags & NODE_F_DELETING);
	free(j);
	j = node_with("\"kubernetes.io/hostname\"",
	    "\"tuist.dev/stable-egre"
	    "ss-gateway\":\"server\",\"kubernetes.io/hostname\"");
	assert_int_equal(node_decode(j, &n, &where), 0);
	assert_int_equal(n.m.flags,
	    NODE_F_READY | NODE_F_CANDIDATE | NODE_F_ACTIVE);
	free(j);
	/* Another value of the key is not the label. */
	j = node_with("candidate\":\"server\"", "candidate\":\"agent\"");
	assert_int_equal(node_decode(j, &n, &where), 0);
	assert_false(n.m.flags & NODE_F_CANDIDATE);
	free(j);
	j = node_with("\"Ready\",\"status\":\"True\"",
	    "\"Ready\",\"status\":\"Unknown\"");
	assert_int_equal(node_decode(j, &n, &where), 0);
	assert_false(n.m.flags & NODE_F_READY);
	free(j);
	/* A bare node: name only, every flag clear, no addresses. */
	o = cJSON_Parse("{\"metadata\":{\"name\":\"n1\"}}");
	assert_int_equal(kube_decode_node(o, &cand, &active, &n, &where), 0);
	assert_int_equal(n.m.flags, 0);
	assert_true(n.m.server_id == 0);
	assert_string_equal(n.m.addrs, "");
	assert_true(n.rv == 0);
	cJSON_Delete(o);
}

static void
test_node_malformed(void **state)
{
	static const struct {
		const char *from, *to;
		int err;
		const char *where;
	} cases[] = {
		{ "\"name\":\"worker-1\"", "\"name\":7", KUBE_ERR_TYPE,
		    "metadata.name" },
		{ "\"name\":\"worker-1\"", "\"nome\":\"x\"", KUBE_ERR_MISSING,
		    "metadata.name" },
		{ "\"name\":\"worker-1\"", "\"name\":\"Worker_1\"",
		    KUBE_ERR_SYNTAX, "metadata.name" },
		{ "\"name\":\"worker-1\"", "\"name\":\"w\xff\"", KUBE_ERR_UTF8,
		    "metadata.name" },
		{ "\"resourceVersion\":\"81234\"", "\"resourceVersion\":81234",
		    KUBE_ERR_TYPE, "metadata.resourceVersion" },
		{ "\"labels\":{", "\"labels\":[{", KUBE_ERR_JSON, NULL },
		{ "candidate\":\"server\"", "candidate\":true", KUBE_ERR_TYPE,
		    "metadata.labels" },
		{ "\"uid\"", "\"deletionTimestamp\":1,\"uid\"", KUBE_ERR_TYPE,
		    "metadata.deletionTimestamp" },
		{ "\"podCIDR\"", "\"unschedulable\":\"true\",\"podCIDR\"",
		    KUBE_ERR_TYPE, "spec.unschedulable" },
		{ "\"providerID\":\"hcloud://42424242\"", "\"providerID\":4",
		    KUBE_ERR_TYPE, "spec.providerID" },
		{ "\"spec\":{", "\"spec\":[{\"a\":1}],\"x\":{", KUBE_ERR_TYPE,
		    "spec" },
		{ "\"conditions\":[", "\"conditions\":\"x\",\"c2\":[",
		    KUBE_ERR_TYPE, "status.conditions" },
		{ "{\"type\":\"MemoryPressure\"", "7,{\"type\":\"M\"",
		    KUBE_ERR_TYPE, "status.conditions" },
		{ "\"Ready\",\"status\":\"True\"", "\"Ready\",\"status\":true",
		    KUBE_ERR_TYPE, "status.conditions" },
		{ "\"address\":\"10.0.0.3\"", "\"address\":7", KUBE_ERR_TYPE,
		    "status.addresses" },
		{ "\"address\":\"10.0.0.3\"", "\"address\":null",
		    KUBE_ERR_MISSING, "status.addresses" },
		{ "\"addresses\":[", "\"addresses\":[\"x\",", KUBE_ERR_TYPE,
		    "status.addresses" },
		{ "\"status\":{\"capacity\"",
		    "\"status\":7,\"x\":{\"capacity\"", KUBE_ERR_TYPE,
		    "status" },
	};
	const char *where;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		where = NULL;
		r = node_variant(cases[i].from, cases[i].to, &where);
		if (r != cases[i].err)
			fail_msg("case %zu (%s): %d, not %d", i, cases[i].to, r,
			    cases[i].err);
		if (cases[i].where != NULL)
			assert_string_equal(where, cases[i].where);
	}
}

/* An address that is not a numeric IP is left out and counted; the node
 * and its other addresses still arrive. */
static void
test_node_bad_address_left_out(void **state)
{
	static const struct {
		const char *from, *to, *addrs;
	} cases[] = {
		{ "\"10.0.0.3\"", "\"10.0.0.300\"",
		    "10.0.0.99 203.0.113.7 2001:db8::1" },
		{ "\"10.0.0.99\"", "\"10.0.0.99 \"",
		    "10.0.0.3 203.0.113.7 2001:db8::1" },
		{ "\"203.0.113.7\"", "\"eth0\"",
		    "10.0.0.3 10.0.0.99 2001:db8::1" },
		{ "\"203.0.113.7\"",
		    "\"2001:0db8:0000:0000:0000:0000:0000:0"
		    "001:0000:0000:0000:0000:0000:0000:0000:1\"",
		    "10.0.0.3 10.0.0.99 2001:db8::1" },
	};
	struct kube_node_obj n;
	const char *where;
	size_t i;
	char *j;
	cJSON *o;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		j = node_with(cases[i].from, cases[i].to);
		o = cJSON_Parse(j);
		free(j);
		assert_non_null(o);
		assert_int_equal(kube_decode_node(o, &cand, &active, &n,
				     &where),
		    0);
		cJSON_Delete(o);
		assert_string_equal(n.m.addrs, cases[i].addrs);
		assert_int_equal(n.bad_addrs, 1);
		assert_int_equal(n.m.flags, NODE_F_READY | NODE_F_CANDIDATE);
	}
	assert_int_equal(node_decode(node_json, &n, &where), 0);
	assert_int_equal(n.bad_addrs, 0);
}

/* A list past the cap keeps the first PROTO_ADDRS_MAX distinct ones,
 * InternalIPs first, whatever their order in the object. */
static void
test_node_addresses_capped(void **state)
{
	struct kube_node_obj n;
	const char *where;
	char json[2048], *p = json;
	cJSON *o;
	int i;

	(void)state;
	p += sprintf(p,
	    "{\"metadata\":{\"name\":\"n1\"},\"status\":"
	    "{\"addresses\":[{\"type\":\"ExternalIP\","
	    "\"address\":\"2001:db8::7\"}");
	for (i = 0; i < 12; i++)
		p += sprintf(p,
		    ",{\"type\":\"InternalIP\",\"address\":\"10.0.0.%d\"}",
		    i < 2 ? 1 : i);
	sprintf(p, "]}}");
	o = cJSON_Parse(json);
	assert_non_null(o);
	assert_int_equal(kube_decode_node(o, &cand, &active, &n, &where), 0);
	cJSON_Delete(o);
	assert_string_equal(n.m.addrs,
	    "10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6 "
	    "10.0.0.7 10.0.0.8");
	/* The longest addresses fill the field exactly. */
	p = json;
	p += sprintf(p,
	    "{\"metadata\":{\"name\":\"n1\"},\"status\":"
	    "{\"addresses\":[");
	for (i = 0; i < PROTO_ADDRS_MAX; i++)
		p += sprintf(p,
		    "%s{\"type\":\"ExternalIP\",\"address\":"
		    "\"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.%d\"}",
		    i ? "," : "", 240 + i);
	sprintf(p, "]}}");
	o = cJSON_Parse(json);
	assert_non_null(o);
	assert_int_equal(kube_decode_node(o, &cand, &active, &n, &where), 0);
	cJSON_Delete(o);
	assert_int_equal(strlen(n.m.addrs), sizeof(n.m.addrs) - 1);
}

static void
test_node_names(void **state)
{
	struct kube_node_obj n;
	const char *where;
	char name[300], json[400];
	cJSON *o;

	(void)state;
	/* 253 is the longest name the protocol carries; 254 is refused. */
	memset(name, 'a', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	name[253] = '\0';
	snprintf(json, sizeof(json), "{\"metadata\":{\"name\":\"%s\"}}", name);
	o = cJSON_Parse(json);
	assert_int_equal(kube_decode_node(o, &cand, &active, &n, &where), 0);
	cJSON_Delete(o);
	name[253] = 'a';
	name[254] = '\0';
	snprintf(json, sizeof(json), "{\"metadata\":{\"name\":\"%s\"}}", name);
	o = cJSON_Parse(json);
	assert_int_equal(kube_decode_node(o, &cand, &active, &n, &where),
	    KUBE_ERR_LONG);
	cJSON_Delete(o);
	o = cJSON_Parse("[1]");
	assert_int_equal(kube_decode_node(o, &cand, &active, &n, &where),
	    KUBE_ERR_TYPE);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"metadata\":\"x\"}");
	assert_int_equal(kube_decode_node(o, &cand, &active, &n, &where),
	    KUBE_ERR_TYPE);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"kind\":\"Node\"}");
	assert_int_equal(kube_decode_node(o, &cand, &active, &n, &where),
	    KUBE_ERR_MISSING);
	cJSON_Delete(o);
}

/* Every prefix of a node is rejected as incomplete JSON. */
static void
test_node_truncated(void **state)
{
	size_t n = strlen(node_json), i;
	cJSON *o;

	(void)state;
	for (i = 0; i < n; i++) {
		o = cJSON_ParseWithLength(node_json, i);
		assert_null(o);
	}
}

static void
test_provider_id(void **state)
{
	static const struct {
		const char *s;
		uint64_t id;
	} cases[] = {
		{ "hcloud://1", 1 },
		{ "hcloud://42424242", 42424242 },
		{ "hcloud://9007199254740991", 9007199254740991ULL },
		{ "hcloud://9007199254740992", 0 },
		{ "hcloud://99999999999999999999999", 0 },
		{ "hcloud://0", 0 },
		{ "hcloud://0123", 0 },
		{ "hcloud://", 0 },
		{ "hcloud://-1", 0 },
		{ "hcloud://+1", 0 },
		{ "hcloud:// 1", 0 },
		{ "hcloud://123x", 0 },
		{ "hcloud://123 ", 0 },
		{ "hcloud://123/", 0 },
		{ "hcloud://bm-123", 0 },
		{ "hrobot://123", 0 },
		{ "HCLOUD://123", 0 },
		{ "aws:///eu-central-1a/i-0123", 0 },
		{ "", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_true(kube_provider_id(cases[i].s) == cases[i].id);
}

static void
test_pod(void **state)
{
	static const char pod[] =
	    "{\"metadata\":{\"name\":\"host-configurer-"
	    "x7k2p\",\"namespace\":\"kube-system\",\"resourceVersion\":\"9\","
	    "\"labels\":{\"tuist.dev/stable-egress-host-configurer\":\"true\""
	    "}},\"spec\":{\"nodeName\":\"worker-1\",\"containers\":[]},\"statu"
	    "s\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Initializ"
	    "ed\",\"status\":\"True\"},{\"type\":\"Ready\",\"status\":\"True\""
	    "}]}}";
	struct kube_pod_obj p;
	const char *where;
	cJSON *o;

	(void)state;
	o = cJSON_Parse(pod);
	assert_int_equal(kube_decode_pod(o, &p, &where), 0);
	assert_string_equal(p.m.name, "host-configurer-x7k2p");
	assert_string_equal(p.m.node, "worker-1");
	assert_int_equal(p.m.ready, 1);
	assert_true(p.rv == 9);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"metadata\":{\"name\":\"p\"},\"status\":{\"condit"
			"ions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}");
	assert_int_equal(kube_decode_pod(o, &p, &where), 0);
	assert_string_equal(p.m.node, "");
	assert_int_equal(p.m.ready, 0);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"nodeName"
			"\":\"Bad Name\"}}");
	assert_int_equal(kube_decode_pod(o, &p, &where), KUBE_ERR_SYNTAX);
	assert_string_equal(where, "spec.nodeName");
	cJSON_Delete(o);
	o = cJSON_Parse("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"nodeName"
			"\":[]}}");
	assert_int_equal(kube_decode_pod(o, &p, &where), KUBE_ERR_TYPE);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"metadata\":{}}");
	assert_int_equal(kube_decode_pod(o, &p, &where), KUBE_ERR_MISSING);
	cJSON_Delete(o);
	/* terminating: Ready but not prepared, as the reference counts */
	o = cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"deletionTimestamp\""
			":\"2026-03-01T10:00:00Z\"},\"status\":{\"conditions\""
			":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
	assert_int_equal(kube_decode_pod(o, &p, &where), 0);
	assert_int_equal(p.m.ready, 0);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"deletionTimestamp\""
			":null},\"status\":{\"conditions\":[{\"type\":\"Rea"
			"dy\",\"status\":\"True\"}]}}");
	assert_int_equal(kube_decode_pod(o, &p, &where), 0);
	assert_int_equal(p.m.ready, 1);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"deletionTimestamp\""
			":7}}");
	assert_int_equal(kube_decode_pod(o, &p, &where), KUBE_ERR_TYPE);
	assert_string_equal(where, "metadata.deletionTimestamp");
	cJSON_Delete(o);
}

static const char lease_json[] =
    "{\"apiVersion\":\"coordination.k8s.io/v1"
    "\",\"kind\":\"Lease\",\"metadata\":{\"name\":\"stable-egress-controller."
    "tuist.dev\",\"namespace\":\"kube-system\",\"resourceVersion\":\"9031\""
    "},\"spec\":{\"holderIdentity\":\"pod-a_3f2c9e1b\",\"leaseDurationSeco"
    "nds\":15,\"acquireTime\":\"2026-03-01T10:00:00.000000Z\",\"renewTime"
    "\":\"2026-03-01T10:04:58.517204Z\",\"leaseTransitions\":3}}";

static int
lease_variant(const char *from, const char *to, struct msg_lease *l)
{
	const char *p = strstr(lease_json, from), *where;
	char buf[1024];

	assert_non_null(p);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - lease_json),
	    lease_json, to, p + strlen(from));
	return kube_decode_lease_body(buf, strlen(buf), l, &where);
}

static void
test_lease(void **state)
{
	static const struct {
		const char *from, *to;
		int err;
	} bad[] = {
		{ "\"resourceVersion\":\"9031\"", "\"x\":1", KUBE_ERR_MISSING },
		{ "\"resourceVersion\":\"9031\"", "\"resourceVersion\":9031",
		    KUBE_ERR_TYPE },
		{ "15", "-1", KUBE_ERR_RANGE },
		{ "15", "1.5", KUBE_ERR_RANGE },
		{ "15", "1e300", KUBE_ERR_RANGE },
		{ "15", "\"15\"", KUBE_ERR_TYPE },
		{ ":3}", ":4294967296}", KUBE_ERR_RANGE },
		{ ":3}", ":\"3\"}", KUBE_ERR_TYPE },
		{ "10:00:00.000000Z", "10:00:00.000Z", KUBE_ERR_SYNTAX },
		{ "10:04:58.517204Z", "10:04:58.517204123Z", KUBE_ERR_SYNTAX },
		{ "10:04:58.517204Z", "10:04:58.517204+01:00", KUBE_ERR_LONG },
		{ "pod-a_3f2c9e1b", "a\\u0000b", KUBE_ERR_SYNTAX },
		{ "\"pod-a_3f2c9e1b\"", "7", KUBE_ERR_TYPE },
		{ "\"spec\":{", "\"spec\":[{", KUBE_ERR_JSON },
		{ "{\"apiVersion\"", "[{\"apiVersion\"", KUBE_ERR_JSON },
	};
	struct msg_lease l;
	const char *where;
	char holder[200];
	size_t i;
	int n;

	(void)state;
	assert_int_equal(kube_decode_lease_body(lease_json, strlen(lease_json),
			     &l, &where),
	    0);
	assert_string_equal(l.holder, "pod-a_3f2c9e1b");
	assert_int_equal(l.duration_s, 15);
	assert_string_equal(l.acquire_time, "2026-03-01T10:00:00.000000Z");
	assert_string_equal(l.renew_time, "2026-03-01T10:04:58.517204Z");
	assert_int_equal(l.transitions, 3);
	assert_string_equal(l.rv, "9031");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = lease_variant(bad[i].from, bad[i].to, &l);
		if (n != bad[i].err)
			fail_msg("case %zu (%s): %d, not %d", i, bad[i].to, n,
			    bad[i].err);
	}
	/* Absent and null fields read as "" / 0. */
	assert_int_equal(kube_decode_lease_body(
			     LIT("{\"metadata\":{\"resourceVer"
				 "sion\":\"1\"},\"spec\":{\"holderIdentity\":"
				 "null,\"renewTime\":nu"
				 "ll}}"),
			     &l, &where),
	    0);
	assert_string_equal(l.holder, "");
	assert_string_equal(l.renew_time, "");
	assert_int_equal(l.duration_s, 0);
	assert_int_equal(kube_decode_lease_body(LIT("{\"metadata\":{"
						    "\"resourceVer"
						    "sion\":\"1\"}}"),
			     &l, &where),
	    0);
	/* 128 bytes of holder fit, 129 do not. */
	memset(holder, 'h', sizeof(holder));
	holder[128] = '\0';
	assert_int_equal(lease_variant("pod-a_3f2c9e1b", holder, &l), 0);
	holder[128] = 'h';
	holder[129] = '\0';
	assert_int_equal(lease_variant("pod-a_3f2c9e1b", holder, &l),
	    KUBE_ERR_LONG);
	/* Truncated bodies never decode. */
	n = (int)strlen(lease_json);
	for (i = 0; i < (size_t)n; i++)
		assert_int_not_equal(kube_decode_lease_body(lease_json, i, &l,
					 &where),
		    0);
}

static void
test_status(void **state)
{
	static const char gone[] =
	    "{\"kind\":\"Status\",\"apiVersion\":\"v1\","
	    "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old res"
	    "ource version: 100 (250)\",\"reason\":\"Expired\",\"code\":410}";
	static const char exists[] =
	    "{\"kind\":\"Status\",\"apiVersion\":\"v1"
	    "\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"leases.coo"
	    "rdination.k8s.io \\\"x\\\" already exists\",\"reason\":\"Already"
	    "Exists\",\"details\":{\"name\":\"x\",\"group\":\"coordination.k8s"
	    ".io\",\"kind\":\"leases\",\"retryAfterSeconds\":3},\"code\":409}";
	static const char apf[] =
	    "Too many requests, please try again later.\n";
	struct kube_status st;

	(void)state;
	assert_int_equal(kube_decode_status_body(gone, strlen(gone), &st), 0);
	assert_int_equal(st.code, 410);
	assert_string_equal(st.reason, "Expired");
	assert_string_equal(st.message, "too old resource version: 100 (250)");
	assert_int_equal(kube_decode_status_body(exists, strlen(exists), &st),
	    0);
	assert_string_equal(st.reason, "AlreadyExists");
	assert_int_equal(st.retry_after_s, 3);
	assert_int_equal(kube_result_of(409, st.reason), RES_EXISTS);
	assert_int_equal(kube_decode_status_body(apf, strlen(apf), &st),
	    KUBE_ERR_JSON);
	assert_int_equal(kube_decode_status_body(NULL, 0, &st), KUBE_ERR_JSON);
	/* Control bytes and broken UTF-8 never reach a frame or a log. */
	assert_int_equal(
	    kube_decode_status_body(LIT("{\"message\":\"a\\nb\\u0001c"
					"\xff\xc3\xa9\",\"code\":500}"),
		&st),
	    0);
	assert_string_equal(st.message, "a?b?c?\xc3\xa9");
	assert_int_equal(kube_decode_status_body(LIT("{\"code\":\"500\"}"),
			     &st),
	    KUBE_ERR_TYPE);
}

static void
test_event(void **state)
{
	static const char added[] =
	    "{\"type\":\"ADDED\",\"object\":{\"kind\":"
	    "\"Node\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"n1\",\"res"
	    "ourceVersion\":\"812\"}}}";
	static const char bookmark[] =
	    "{\"type\":\"BOOKMARK\",\"object\":{\"ki"
	    "nd\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersio"
	    "n\":\"900\"}}}";
	static const char error[] =
	    "{\"type\":\"ERROR\",\"object\":{\"kind\":"
	    "\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Fail"
	    "ure\",\"message\":\"too old resource version: 100 (250)\",\"reas"
	    "on\":\"Expired\",\"code\":410}}";
	static const struct {
		const char *s;
		int err;
	} bad[] = {
		{ "{\"type\":\"FOO\",\"object\":{}}", KUBE_ERR_EVENT },
		{ "{\"type\":\"ADDEDADDEDADDEDADDED\",\"object\":{}}",
		    KUBE_ERR_EVENT },
		{ "{\"object\":{}}", KUBE_ERR_MISSING },
		{ "{\"type\":1,\"object\":{}}", KUBE_ERR_TYPE },
		{ "{\"type\":\"ADDED\"}", KUBE_ERR_MISSING },
		{ "{\"type\":\"ADDED\",\"object\":[]}", KUBE_ERR_TYPE },
		{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}",
		    KUBE_ERR_MISSING },
		{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVers"
		  "ion\":\"\"}}}",
		    KUBE_ERR_MISSING },
		{ "{\"type\":\"BOOKMARK\",\"object\":{}}", KUBE_ERR_MISSING },
		{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVers"
		  "ion\":\"1234567890123456789012345678901234567890123456789012"
		  "345678901234567890\"}}}",
		    KUBE_ERR_LONG },
		{ "[]", KUBE_ERR_TYPE },
		{ "", KUBE_ERR_JSON },
		{ "{\"type\":\"ADDED\",\"obj", KUBE_ERR_JSON },
		{ "Too many requests", KUBE_ERR_JSON },
	};
	struct kube_doc d;
	struct kube_status st;
	size_t i;

	(void)state;
	assert_int_equal(kube_decode_event(added, strlen(added), &d), 0);
	assert_int_equal(d.type, KUBE_EV_ADDED);
	assert_string_equal(d.rv, "812");
	kube_doc_free(&d);
	assert_int_equal(kube_decode_event(bookmark, strlen(bookmark), &d), 0);
	assert_int_equal(d.type, KUBE_EV_BOOKMARK);
	assert_string_equal(d.rv, "900");
	kube_doc_free(&d);
	assert_int_equal(kube_decode_event(error, strlen(error), &d), 0);
	assert_int_equal(d.type, KUBE_EV_ERROR);
	assert_int_equal(kube_decode_status(d.object, &st), 0);
	assert_int_equal(st.code, 410);
	kube_doc_free(&d);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(kube_decode_event(bad[i].s, strlen(bad[i].s),
				     &d),
		    bad[i].err);
		kube_doc_free(&d);
	}
	/* A line read in two pieces is not two events. */
	assert_int_equal(kube_decode_event(added, 20, &d), KUBE_ERR_JSON);
	kube_doc_free(&d);
}

static void
test_list(void **state)
{
	static const char page[] =
	    "{\"kind\":\"NodeList\",\"apiVersion\":\"v1"
	    "\",\"metadata\":{\"resourceVersion\":\"812\",\"continue\":\"eyJ2Ij"
	    "oibWV0YS5rOHMuaW8vdjEiLCJydiI6ODEyfQ==\",\"remainingItemCount\":"
	    "3},\"items\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"na"
	    "me\":\"b\"}}]}";
	struct kube_doc d;
	char *big;

	(void)state;
	assert_int_equal(kube_decode_list(page, strlen(page), &d), 0);
	assert_string_equal(d.rv, "812");
	assert_string_equal(d.cont,
	    "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6ODEy"
	    "fQ==");
	assert_int_equal(cJSON_GetArraySize(d.object), 2);
	kube_doc_free(&d);
	assert_int_equal(
	    kube_decode_list(LIT("{\"metadata\":{\"resourceVersion\":"
				 "\"5\",\"continue\":\"\"},\"items\":null}"),
		&d),
	    0);
	assert_null(d.cont);
	assert_null(d.object);
	kube_doc_free(&d);
	assert_int_equal(kube_decode_list(LIT("{\"metadata\":{"
					      "\"resourceVersion\":"
					      "\"5\"}}"),
			     &d),
	    KUBE_ERR_MISSING);
	kube_doc_free(&d);
	assert_int_equal(kube_decode_list(LIT("{\"metadata\":{},\"items\":[]}"),
			     &d),
	    KUBE_ERR_MISSING);
	kube_doc_free(&d);
	assert_int_equal(kube_decode_list(LIT("{\"metadata\":{"
					      "\"resourceVersion\":"
					      "\"5\"},\"items\":{}}"),
			     &d),
	    KUBE_ERR_TYPE);
	kube_doc_free(&d);
	assert_int_equal(kube_decode_list(page, strlen(page) - 1, &d),
	    KUBE_ERR_JSON);
	kube_doc_free(&d);
	big = malloc(KUBE_CONTINUE_MAX + 100);
	assert_non_null(big);
	memset(big, 'c', KUBE_CONTINUE_MAX + 100);
	memcpy(big, "{\"metadata\":{\"resourceVersion\":\"5\",\"continue\":\"",
	    47);
	memcpy(big + KUBE_CONTINUE_MAX + 100 - 16, "\"},\"items\":[]}\0\0", 16);
	assert_int_equal(kube_decode_list(big, strlen(big), &d), KUBE_ERR_LONG);
	kube_doc_free(&d);
	free(big);
}

static void
test_syntax(void **state)
{
	struct kube_sel s;
	char q[256];

	(void)state;
	assert_int_equal(kube_sel_parse("tuist.dev/stable-egress-gateway=serv"
					"er",
			     &s),
	    0);
	assert_string_equal(s.key, "tuist.dev/stable-egress-gateway");
	assert_string_equal(s.value, "server");
	assert_int_equal(kube_sel_query(&s, q, sizeof(q)), 0);
	assert_string_equal(q, "tuist.dev%2Fstable-egress-gateway%3Dserver");
	assert_int_equal(kube_sel_parse("k=", &s), 0);
	assert_int_equal(kube_sel_parse("a_b.c-d=A.b_c-9", &s), 0);
	assert_int_equal(kube_sel_parse("k", &s), -1);
	assert_int_equal(kube_sel_parse("=v", &s), -1);
	assert_int_equal(kube_sel_parse("k=v,x=y", &s), -1);
	assert_int_equal(kube_sel_parse("k=-v", &s), -1);
	assert_int_equal(kube_sel_parse("Bad_Prefix/k=v", &s), -1);
	assert_int_equal(kube_sel_parse("a/b/c=v", &s), -1);
	assert_int_equal(kube_sel_parse("k!=v", &s), -1);
	assert_int_equal(kube_sel_parse("k=v v", &s), -1);
	assert_int_equal(kube_urlenc("a b&c=d/~", q, sizeof(q)), 0);
	assert_string_equal(q, "a%20b%26c%3Dd%2F~");
	assert_int_equal(kube_urlenc("abc", q, 3), -1);
	assert_true(kube_name_valid("worker-1.example.com"));
	assert_false(kube_name_valid("Worker"));
	assert_false(kube_name_valid("a..b"));
	assert_false(kube_name_valid("-a"));
	assert_false(kube_name_valid("a/b"));
	assert_false(kube_name_valid("../x"));
	assert_false(kube_name_valid(""));
	assert_true(kube_label_name_valid("kube-system"));
	assert_false(kube_label_name_valid("kube.system"));
	assert_true(kube_microtime_valid("2026-03-01T10:04:58.517204Z"));
	assert_true(kube_microtime_valid("2024-02-29T23:59:59.999999Z"));
	assert_false(kube_microtime_valid("2026-02-29T00:00:00.000000Z"));
	assert_false(kube_microtime_valid("2026-13-01T00:00:00.000000Z"));
	assert_false(kube_microtime_valid("2026-03-01T24:00:00.000000Z"));
	assert_false(kube_microtime_valid("2026-03-01T10:04:58.517Z"));
	assert_false(kube_microtime_valid("2026-03-01T10:04:58.517204"));
	assert_false(kube_microtime_valid("2026-03-01 10:04:58.517204Z"));
	assert_false(kube_microtime_valid(""));
	assert_true(kube_utf8_valid("h\xc3\xa9llo", 6));
	assert_false(kube_utf8_valid("\xc0\xaf", 2));
	assert_false(kube_utf8_valid("\xed\xa0\x80", 3));
	assert_false(kube_utf8_valid("\xf4\x90\x80\x80", 4));
	assert_false(kube_utf8_valid("\xe2\x82", 2));
	assert_false(kube_utf8_valid("a\0b", 3));
	assert_true(kube_rv_number("81234") == 81234);
	assert_true(kube_rv_number("0x10") == 0);
	assert_true(kube_rv_number("") == 0);
}

static void
test_results(void **state)
{
	(void)state;
	assert_int_equal(kube_result_of(200, NULL), RES_OK);
	assert_int_equal(kube_result_of(201, NULL), RES_OK);
	assert_int_equal(kube_result_of(400, NULL), RES_INVALID);
	assert_int_equal(kube_result_of(422, "Invalid"), RES_INVALID);
	assert_int_equal(kube_result_of(401, NULL), RES_UNAUTHORIZED);
	assert_int_equal(kube_result_of(403, NULL), RES_FORBIDDEN);
	assert_int_equal(kube_result_of(404, NULL), RES_NOT_FOUND);
	assert_int_equal(kube_result_of(409, "Conflict"), RES_CONFLICT);
	assert_int_equal(kube_result_of(409, ""), RES_CONFLICT);
	assert_int_equal(kube_result_of(409, "AlreadyExists"), RES_EXISTS);
	assert_int_equal(kube_result_of(429, NULL), RES_THROTTLED);
	assert_int_equal(kube_result_of(500, NULL), RES_TRANSIENT);
	assert_int_equal(kube_result_of(503, NULL), RES_TRANSIENT);
	assert_int_equal(kube_result_of(0, NULL), RES_TRANSIENT);
	assert_int_equal(kube_result_of(415, NULL), RES_REFUSED);
	assert_int_equal(kube_result_of(302, NULL), RES_REFUSED);
}

static void
test_store(void **state)
{
	struct kube_store st;
	struct kube_rec *r, *r2;
	struct kube_iter it = { 0, NULL };
	char name[32];
	int changed, i, n = 0;

	(void)state;
	assert_int_equal(kube_store_init(&st), 0);
	assert_int_equal(kube_store_put(&st, "n1", "10.0.0.1", 7, 1, &r,
			     &changed),
	    0);
	assert_true(changed);
	assert_int_equal(kube_store_put(&st, "n1", "10.0.0.1", 7, 1, &r2,
			     &changed),
	    0);
	assert_false(changed);
	assert_ptr_equal(r, r2);
	r->member = 3;
	r->rv = 99;
	assert_int_equal(kube_store_put(&st, "n1", "10.0.0.1", 7, 3, &r,
			     &changed),
	    0);
	assert_true(changed);
	assert_int_equal(kube_store_put(&st, "n1", "10.0.0.2 2001:db8::1", 7, 3,
			     &r, &changed),
	    0);
	assert_true(changed);
	assert_string_equal(KUBE_REC_A(r), "10.0.0.2 2001:db8::1");
	assert_int_equal(r->member, 3);
	assert_true(r->rv == 99);
	for (i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "node-%d", i);
		assert_int_equal(kube_store_put(&st, name, "", (uint64_t)i, 0,
				     &r, &changed),
		    0);
	}
	assert_int_equal(st.count, 501);
	assert_non_null(kube_store_get(&st, "node-499"));
	/* Deleting while iterating. */
	while ((r = kube_store_iter(&st, &it)) != NULL) {
		n++;
		if (r->id % 2 == 1)
			kube_store_del(&st, r);
	}
	assert_int_equal(n, 501);
	assert_int_equal(st.count, 250);
	assert_null(kube_store_get(&st, "node-1"));
	kube_store_free(&st);
}

static void
test_backoff(void **state)
{
	struct kube_refl f;
	uint64_t rng = 12345;
	int64_t d, now = 1000000;
	int i;

	(void)state;
	memset(&f, 0, sizeof(f));
	d = kube_backoff_next(&f, now, &rng, 0);
	assert_true(d >= 800 && d <= 1600);
	d = kube_backoff_next(&f, now + 1000, &rng, 0);
	assert_true(d >= 1600 && d <= 3200);
	for (i = 0; i < 10; i++)
		d = kube_backoff_next(&f, now + 2000 + i, &rng, 0);
	assert_true(d <= 30000 && d >= 15000);
	/* Retry-After wins when longer. */
	assert_true(kube_backoff_next(&f, now + 3000, &rng, 45000) == 45000);
	/* Two quiet minutes: from the start again. */
	d = kube_backoff_next(&f, now + 3000 + 120001, &rng, 0);
	assert_true(d >= 800 && d <= 1600);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_real),
		cmocka_unit_test(test_node_flags),
		cmocka_unit_test(test_node_malformed),
		cmocka_unit_test(test_node_bad_address_left_out),
		cmocka_unit_test(test_node_addresses_capped),
		cmocka_unit_test(test_node_names),
		cmocka_unit_test(test_node_truncated),
		cmocka_unit_test(test_provider_id),
		cmocka_unit_test(test_pod),
		cmocka_unit_test(test_lease),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_event),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
