/* test_hc_decode.c: the hcloud worker's reply decoders, header parsing,
 * error mapping, redaction and action polling schedule */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hcloud-worker/hc.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* A Floating IP as the API reference shows it, every key present. */
static const char *const fip_keys[][2] = {
	{ "id", "1099511627877" },
	{ "name", "\"egress-v4\"" },
	{ "description", "\"Web Frontend\"" },
	{ "ip", "\"203.0.113.10\"" },
	{ "type", "\"ipv4\"" },
	{ "server", "1099511627777" },
	{ "dns_ptr",
	    "[{\"ip\":\"203.0.113.10\",\"dns_ptr\":\"e.example.com\"}]" },
	{ "home_location",
	    "{\"id\":1,\"name\":\"fsn1\",\"description\":\"Falkenstein DC "
	    "Park 1\",\"country\":\"DE\",\"city\":\"Falkenstein\","
	    "\"latitude\":50.47612,\"longitude\":12.370071,"
	    "\"network_zone\":\"eu-central\"}" },
	{ "blocked", "false" },
	{ "protection", "{\"delete\":false}" },
	{ "labels", "{\"env\":\"prod\"}" },
	{ "created", "\"2016-01-30T23:55:00+00:00\"" },
};

/* The FIP object with key `key` replaced by `val` (NULL: left out). */
static char *
fip_json(const char *key, const char *val)
{
	char *out = calloc(1, 8192);
	size_t i, n = 0;
	const char *v;

	assert_non_null(out);
	n += (size_t)snprintf(out + n, 8192 - n, "{");
	for (i = 0; i < NITEMS(fip_keys); i++) {
		v = fip_keys[i][1];
		if (key != NULL && strcmp(key, fip_keys[i][0]) == 0) {
			if (val == NULL)
				continue;
			v = val;
		}
		n += (size_t)snprintf(out + n, 8192 - n, "%s\"%s\":%s",
		    n > 1 ? "," : "", fip_keys[i][0], v);
	}
	snprintf(out + n, 8192 - n, "}");
	return out;
}

static char *
wrap(const char *pre, const char *mid, const char *post)
{
	size_t n = strlen(pre) + strlen(mid) + strlen(post) + 1;
	char *out = malloc(n);

	assert_non_null(out);
	snprintf(out, n, "%s%s%s", pre, mid, post);
	return out;
}

static int
fip_reply(const char *key, const char *val, struct hc_fip *f)
{
	char *o = fip_json(key, val), *b = wrap("{\"floating_ip\":", o, "}");
	int r = hc_decode_fip_reply(b, strlen(b), f);

	free(o);
	free(b);
	return r;
}

/* ---- ids -------------------------------------------------------------- */

static int
id_of(const char *text, uint64_t *out)
{
	cJSON *j;
	int r;

	if ((r = hc_json_parse(text, strlen(text), &j)) != 0)
		return r;
	r = hc_decode_id(j, out);
	cJSON_Delete(j);
	return r;
}

static void
test_ids(void **state)
{
	uint64_t id = 0;

	(void)state;
	assert_int_equal(id_of("9007199254740991", &id), 0);
	assert_true(id == 9007199254740991ULL);
	assert_int_equal(id_of("1", &id), 0);
	assert_true(id == 1);
	assert_int_equal(id_of("4294967297", &id), 0);
	assert_true(id == 4294967297ULL);
	assert_int_equal(id_of("504538401287250", &id), 0);
	assert_true(id == 504538401287250ULL);
	/* 1e+15 is the same JSON number as 1000000000000000. */
	assert_int_equal(id_of("1e+15", &id), 0);
	assert_true(id == 1000000000000000ULL);
	assert_int_equal(id_of("1000000000000000", &id), 0);
	assert_true(id == 1000000000000000ULL);

	id = 77;
	assert_int_equal(id_of("9007199254740992", &id), HC_DERR_ID);
	assert_int_equal(id_of("9007199254740993", &id), HC_DERR_ID);
	assert_int_equal(id_of("18446744073709551615", &id), HC_DERR_ID);
	assert_int_equal(id_of("1e+16", &id), HC_DERR_ID);
	assert_int_equal(id_of("1e400", &id), HC_DERR_ID);
	assert_int_equal(id_of("0", &id), HC_DERR_ID);
	assert_int_equal(id_of("-1", &id), HC_DERR_ID);
	assert_int_equal(id_of("-9007199254740991", &id), HC_DERR_ID);
	assert_int_equal(id_of("1.5", &id), HC_DERR_ID);
	assert_int_equal(id_of("0.999", &id), HC_DERR_ID);
	assert_int_equal(id_of("4711.0001", &id), HC_DERR_ID);
	assert_int_equal(id_of("\"42\"", &id), HC_DERR_TYPE);
	assert_int_equal(id_of("true", &id), HC_DERR_TYPE);
	assert_int_equal(id_of("null", &id), HC_DERR_TYPE);
	assert_int_equal(id_of("[1]", &id), HC_DERR_TYPE);
	assert_true(id == 77); /* untouched on every failure */
}

/* ---- JSON framing ----------------------------------------------------- */

static void
test_json_parse(void **state)
{
	static const char nul[] = "{\"a\":\"b\0c\"}";
	cJSON *j = NULL;
	char *big;
	size_t i;

	(void)state;
	assert_int_equal(hc_json_parse("{}", 2, &j), 0);
	cJSON_Delete(j);
	assert_int_equal(hc_json_parse("{} \r\n\t", 6, &j), 0);
	cJSON_Delete(j);
	assert_int_equal(hc_json_parse("", 0, &j), HC_DERR_JSON);
	assert_int_equal(hc_json_parse("   ", 3, &j), HC_DERR_JSON);
	assert_int_equal(hc_json_parse("<html>502</html>", 16, &j),
	    HC_DERR_JSON);
	assert_int_equal(hc_json_parse("{\"a\":", 5, &j), HC_DERR_JSON);
	assert_int_equal(hc_json_parse("{\"a\":1", 6, &j), HC_DERR_JSON);
	assert_int_equal(hc_json_parse("{} x", 4, &j), HC_DERR_JSON);
	assert_int_equal(hc_json_parse("{}{}", 4, &j), HC_DERR_JSON);
	assert_int_equal(hc_json_parse(nul, sizeof(nul) - 1, &j), HC_DERR_JSON);
	assert_int_equal(hc_json_parse("{\"n\":\"a\\u0000b\"}", 16, &j),
	    HC_DERR_JSON);
	/* Over the byte cap, and under it but with too many values. */
	big = malloc(HC_REPLY_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', HC_REPLY_MAX + 1);
	big[0] = '1';
	assert_int_equal(hc_json_parse(big, HC_REPLY_MAX + 1, &j),
	    HC_DERR_SIZE);
	big[0] = '[';
	for (i = 1; i < 2 * HC_JSON_NODES_MAX; i += 2) {
		big[i] = '0';
		big[i + 1] = ',';
	}
	big[i] = '0';
	big[i + 1] = ']';
	assert_int_equal(hc_json_parse(big, i + 2, &j), HC_DERR_SIZE);
	/* Nesting deeper than cJSON's limit is refused, not recursed. */
	memset(big, '[', 5000);
	memset(big + 5000, ']', 5000);
	assert_int_equal(hc_json_parse(big, 10000, &j), HC_DERR_JSON);
	free(big);
}

/* ---- Floating IP ------------------------------------------------------ */

static void
test_fip_good(void **state)
{
	struct hc_fip f;

	(void)state;
	assert_int_equal(fip_reply(NULL, NULL, &f), 0);
	assert_true(f.id == 1099511627877ULL);
	assert_string_equal(f.name, "egress-v4");
	assert_string_equal(f.ip, "203.0.113.10");
	assert_int_equal(f.is_v6, 0);
	assert_true(f.server == 1099511627777ULL);
	assert_int_equal(f.blocked, 0);

	assert_int_equal(fip_reply("server", "null", &f), 0);
	assert_true(f.server == 0);
	assert_int_equal(fip_reply("server", "1000000000000000", &f), 0);
	assert_true(f.server == 1000000000000000ULL);
	assert_int_equal(fip_reply("blocked", "true", &f), 0);
	assert_int_equal(f.blocked, 1);
	/* Unknown keys come and go: ignored. */
	assert_int_equal(fip_reply("created", "\"x\",\"new_key\":[1,{}]", &f),
	    0);
}

static int
fip_v6(const char *ip, struct hc_fip *f)
{
	char obj[512], *b;
	int r;

	snprintf(obj, sizeof(obj),
	    "{\"id\":7,\"name\":\"egress-v6\",\"description\":null,"
	    "\"ip\":%s,\"type\":\"ipv6\",\"server\":null,\"dns_ptr\":[],"
	    "\"blocked\":false,\"labels\":{}}",
	    ip);
	b = wrap("{\"floating_ip\":", obj, "}");
	r = hc_decode_fip_reply(b, strlen(b), f);
	free(b);
	return r;
}

static void
test_fip_v6(void **state)
{
	struct hc_fip f;

	(void)state;
	assert_int_equal(fip_v6("\"2001:db8:1:2::/64\"", &f), 0);
	assert_string_equal(f.ip, "2001:db8:1:2::/64");
	assert_int_equal(f.is_v6, 1);
	assert_true(f.server == 0);
	assert_int_equal(fip_v6("\"2001:db8::1\"", &f), 0);
	assert_int_equal(fip_v6("\"2001:db8::/129\"", &f), HC_DERR_VALUE);
	assert_int_equal(fip_v6("\"2001:db8::/0\"", &f), HC_DERR_VALUE);
	assert_int_equal(fip_v6("\"2001:db8::/\"", &f), HC_DERR_VALUE);
	assert_int_equal(fip_v6("\"2001:db8::/64x\"", &f), HC_DERR_VALUE);
	assert_int_equal(fip_v6("\"203.0.113.7\"", &f), HC_DERR_VALUE);
	assert_int_equal(fip_v6("\"zz::1/64\"", &f), HC_DERR_VALUE);
	assert_int_equal(fip_v6("\"2001:db8:0:0:0:0:0:0:0:0:0:0:0:0:0:0:"
				"0:0:0:0:0:0:0:0:1/64\"",
			     &f),
	    HC_DERR_VALUE);
}

static void
test_fip_bad(void **state)
{
	static const char *const missing[] = { "id", "name", "ip", "type",
		"server", "blocked" };
	static const struct {
		const char *key, *val;
		int err;
	} bad[] = {
		{ "id", "\"1099511627877\"", HC_DERR_TYPE },
		{ "id", "0", HC_DERR_ID },
		{ "id", "-5", HC_DERR_ID },
		{ "id", "1.5", HC_DERR_ID },
		{ "id", "9007199254740992", HC_DERR_ID },
		{ "id", "null", HC_DERR_TYPE },
		{ "name", "42", HC_DERR_TYPE },
		{ "name", "null", HC_DERR_TYPE },
		{ "ip", "null", HC_DERR_TYPE },
		{ "ip", "\"203.0.113\"", HC_DERR_VALUE },
		{ "ip", "\"203.0.113.256\"", HC_DERR_VALUE },
		{ "ip", "\"2001:db8::/64\"", HC_DERR_VALUE },
		{ "ip", "\" 203.0.113.1\"", HC_DERR_VALUE },
		{ "type", "\"ipv5\"", HC_DERR_VALUE },
		{ "type", "\"IPV4\"", HC_DERR_VALUE },
		{ "type", "4", HC_DERR_TYPE },
		{ "server", "\"1099511627777\"", HC_DERR_TYPE },
		{ "server", "0", HC_DERR_ID },
		{ "server", "1e+16", HC_DERR_ID },
		{ "server", "{}", HC_DERR_TYPE },
		{ "blocked", "\"false\"", HC_DERR_TYPE },
		{ "blocked", "0", HC_DERR_TYPE },
		{ "blocked", "null", HC_DERR_TYPE },
	};
	struct hc_fip f, sentinel;
	char longname[PROTO_FIPNAME_MAX + 8];
	size_t i;

	(void)state;
	memset(&sentinel, 0xa5, sizeof(sentinel));
	for (i = 0; i < NITEMS(missing); i++) {
		f = sentinel;
		assert_int_equal(fip_reply(missing[i], NULL, &f),
		    HC_DERR_MISSING);
		assert_memory_equal(&f, &sentinel, sizeof(f));
	}
	for (i = 0; i < NITEMS(bad); i++) {
		f = sentinel;
		if (fip_reply(bad[i].key, bad[i].val, &f) != bad[i].err)
			fail_msg("%s=%s: want %s", bad[i].key, bad[i].val,
			    hc_decode_strerror(bad[i].err));
		assert_memory_equal(&f, &sentinel, sizeof(f));
	}
	memset(longname, 'x', sizeof(longname));
	longname[0] = '"';
	longname[PROTO_FIPNAME_MAX + 1] = '"';
	longname[PROTO_FIPNAME_MAX + 2] = '\0';
	assert_int_equal(fip_reply("name", longname, &f), HC_DERR_LONG);

	/* The envelope itself. */
	assert_int_equal(hc_decode_fip_reply("{}", 2, &f), HC_DERR_MISSING);
	assert_int_equal(hc_decode_fip_reply("[]", 2, &f), HC_DERR_TYPE);
	assert_int_equal(hc_decode_fip_reply("{\"floating_ip\":null}", 20, &f),
	    HC_DERR_TYPE);
	assert_int_equal(hc_decode_fip_reply("{\"floating_ip\":[]}", 18, &f),
	    HC_DERR_TYPE);
	assert_int_equal(hc_decode_fip_reply("{\"floating_ip\":{\"id\"", 20,
			     &f),
	    HC_DERR_JSON);
	assert_memory_equal(&f, &sentinel, sizeof(f));
}

/* ---- lists and pagination -------------------------------------------- */

static const char *const names3[] = { "egress-v4", "egress-v4-b", "egress-v6" };

static char *
list_json(const char *items, const char *pagination)
{
	size_t n = strlen(items) + strlen(pagination) + 128;
	char *out = malloc(n);

	assert_non_null(out);
	snprintf(out, n, "{\"floating_ips\":[%s],\"meta\":{\"pagination\":%s}}",
	    items, pagination);
	return out;
}

static int
list(const char *items, const char *pagination, struct hc_fip_list *l)
{
	char *b = list_json(items, pagination);
	int r = hc_decode_fip_list(b, strlen(b), names3, 3, l);

	free(b);
	return r;
}

#define PAGE1 \
	"{\"page\":1,\"per_page\":50,\"previous_page\":null," \
	"\"next_page\":null,\"last_page\":1,\"total_entries\":3}"
#define ITEM(id, name, ip, type, srv) \
	"{\"id\":" id ",\"name\":\"" name \
	"\",\"description\":null,\"ip\":\"" ip "\",\"type\":\"" type \
	"\",\"server\":" srv ",\"dns_ptr\":[]," \
	"\"blocked\":false,\"labels\":{},\"protection\":{\"delete\":false}}"

static void
test_list_good(void **state)
{
	struct hc_fip_list l;

	(void)state;
	assert_int_equal(list(ITEM("1099511627877", "egress-v4", "203.0.113.10",
				  "ipv4", "null") "," ITEM("5", "other",
				  "198.51.100.1", "ipv4",
				  "3") "," ITEM("1099511627879", "egress-v6",
				  "2001:db8:1:2::/64", "ipv6",
				  "1000000000000000"),
			     PAGE1, &l),
	    0);
	assert_int_equal(l.items, 3);
	assert_int_equal(l.found[0], 1);
	assert_int_equal(l.found[1], 0);
	assert_int_equal(l.found[2], 1);
	assert_true(l.fips[0].id == 1099511627877ULL);
	assert_true(l.fips[2].server == 1000000000000000ULL);
	assert_int_equal(l.fips[2].is_v6, 1);
	assert_int_equal(l.page.page, 1);
	assert_int_equal(l.page.next_page, 0);
	assert_int_equal(l.page.last_page, 1);
	assert_int_equal(l.page.total_entries, 3);

	/* Empty result (?name= with no match is 200 and []). */
	assert_int_equal(list("", PAGE1, &l), 0);
	assert_int_equal(l.items, 0);
	assert_int_equal(l.found[0], 0);

	/* Next page present; last/total null. */
	assert_int_equal(list("",
			     "{\"page\":2,\"per_page\":50,\"previous_page\":1,"
			     "\"next_page\":3,\"last_page\":null,"
			     "\"total_entries\":null}",
			     &l),
	    0);
	assert_int_equal(l.page.next_page, 3);
	assert_int_equal(l.page.last_page, 0);

	/* An unrelated item may be odd: it is not ours to judge. */
	assert_int_equal(list("{\"name\":\"x\",\"id\":\"weird\",\"type\":7}",
			     PAGE1, &l),
	    0);
}

static void
test_list_bad(void **state)
{
	static const struct {
		const char *items, *page;
		int err;
	} bad[] = {
		/* pagination */
		{ "", "null", HC_DERR_TYPE },
		{ "", "{}", HC_DERR_MISSING },
		{ "",
		    "{\"page\":1,\"next_page\":1,\"last_page\":null,"
		    "\"total_entries\":null}",
		    HC_DERR_VALUE },
		{ "",
		    "{\"page\":3,\"next_page\":2,\"last_page\":null,"
		    "\"total_entries\":null}",
		    HC_DERR_VALUE },
		{ "",
		    "{\"page\":1,\"next_page\":5,\"last_page\":2,"
		    "\"total_entries\":null}",
		    HC_DERR_VALUE },
		{ "",
		    "{\"page\":0,\"next_page\":null,\"last_page\":null,"
		    "\"total_entries\":null}",
		    HC_DERR_VALUE },
		{ "",
		    "{\"page\":\"1\",\"next_page\":null,\"last_page\":null,"
		    "\"total_entries\":null}",
		    HC_DERR_TYPE },
		{ "",
		    "{\"page\":1.5,\"next_page\":null,\"last_page\":null,"
		    "\"total_entries\":null}",
		    HC_DERR_VALUE },
		{ "",
		    "{\"page\":1,\"next_page\":-2,\"last_page\":null,"
		    "\"total_entries\":null}",
		    HC_DERR_VALUE },
		{ "", "{\"page\":1,\"last_page\":null,\"total_entries\":null}",
		    HC_DERR_MISSING },
		/* items */
		{ "1", PAGE1, HC_DERR_TYPE },
		{ "null", PAGE1, HC_DERR_TYPE },
		{ "{\"id\":1}", PAGE1, HC_DERR_MISSING },
		{ "{\"name\":7}", PAGE1, HC_DERR_TYPE },
		{ ITEM("1", "egress-v4", "203.0.113.10", "ipv4",
		      "null") "," ITEM("2", "egress-v4", "203.0.113.11", "ipv4",
		      "null"),
		    PAGE1, HC_DERR_DUP },
		{ ITEM("0", "egress-v4", "203.0.113.10", "ipv4", "null"), PAGE1,
		    HC_DERR_ID },
		{ ITEM("1", "egress-v4", "203.0.113.10", "ipv6", "null"), PAGE1,
		    HC_DERR_VALUE },
		{ "{\"name\":\"egress-v4\"}", PAGE1, HC_DERR_MISSING },
	};
	struct hc_fip_list l, sentinel;
	char *items, *p;
	size_t i;

	(void)state;
	memset(&sentinel, 0x5a, sizeof(sentinel));
	for (i = 0; i < NITEMS(bad); i++) {
		l = sentinel;
		if (list(bad[i].items, bad[i].page, &l) != bad[i].err)
			fail_msg("case %zu: want %s", i,
			    hc_decode_strerror(bad[i].err));
		assert_memory_equal(&l, &sentinel, sizeof(l));
	}
	/* More items than per_page allows. */
	items = calloc(1, 51 * 16);
	assert_non_null(items);
	for (i = 0, p = items; i < 51; i++)
		p += snprintf(p, 16, "%s{\"name\":\"n\"}", i ? "," : "");
	assert_int_equal(list(items, PAGE1, &l), HC_DERR_COUNT);
	free(items);
	/* Envelope: no meta, wrong member types. */
	assert_int_equal(hc_decode_fip_list("{\"floating_ips\":[]}", 19, names3,
			     3, &l),
	    HC_DERR_MISSING);
	assert_int_equal(hc_decode_fip_list("{\"floating_ips\":{}}", 19, names3,
			     3, &l),
	    HC_DERR_TYPE);
	assert_int_equal(hc_decode_fip_list("{\"floating_ips\":[],\"meta\":[]}",
			     29, names3, 3, &l),
	    HC_DERR_TYPE);
	assert_int_equal(hc_decode_fip_list("[]", 2, names3, 3, &l),
	    HC_DERR_TYPE);
	assert_int_equal(hc_decode_fip_list("{}", 2, names3, 18, &l),
	    HC_DERR_COUNT);
}

/* ---- actions ---------------------------------------------------------- */

#define ACTION(status, err) \
	"{\"action\":{\"id\":504538401287250,\"command\":" \
	"\"assign_floating_ip\",\"status\":" status ",\"progress\":0," \
	"\"started\":\"2026-08-20T10:00:00Z\",\"finished\":null," \
	"\"error\":" err ",\"resources\":[{\"id\":111,\"type\":\"server\"}," \
	"{\"id\":4711,\"type\":\"floating_ip\"}]}}"

static int
action(const char *body, struct hc_action *a)
{
	return hc_decode_action_reply(body, strlen(body), a);
}

static void
test_action(void **state)
{
	struct hc_action a, sentinel;

	(void)state;
	assert_int_equal(action(ACTION("\"running\"", "null"), &a), 0);
	assert_true(a.id == 504538401287250ULL);
	assert_int_equal(a.status, HC_ACTION_RUNNING);
	/* Doc samples fill error on success: ignored. */
	assert_int_equal(action(ACTION("\"success\"",
				    "{\"code\":\"action_failed\","
				    "\"message\":\"Action failed\"}"),
			     &a),
	    0);
	assert_int_equal(a.status, HC_ACTION_SUCCESS);
	assert_string_equal(a.code, "");
	assert_int_equal(action(ACTION("\"error\"",
				    "{\"code\":\"action_failed\","
				    "\"message\":\"Action failed\"}"),
			     &a),
	    0);
	assert_int_equal(a.status, HC_ACTION_ERROR);
	assert_string_equal(a.code, "action_failed");
	assert_string_equal(a.message, "Action failed");
	/* hcloud-go's defaults when the error is missing. */
	assert_int_equal(action(ACTION("\"error\"", "null"), &a), 0);
	assert_string_equal(a.code, "<unknown>");
	assert_string_equal(a.message, "Unknown error");

	memset(&sentinel, 0x33, sizeof(sentinel));
	a = sentinel;
	assert_int_equal(action(ACTION("\"done\"", "null"), &a), HC_DERR_VALUE);
	assert_int_equal(action(ACTION("\"runningrunningrunning\"", "null"),
			     &a),
	    HC_DERR_VALUE);
	assert_int_equal(action(ACTION("1", "null"), &a), HC_DERR_TYPE);
	assert_int_equal(action(ACTION("null", "null"), &a), HC_DERR_TYPE);
	assert_int_equal(action(ACTION("\"error\"", "\"boom\""), &a),
	    HC_DERR_TYPE);
	assert_int_equal(action(ACTION("\"error\"", "{\"code\":5}"), &a),
	    HC_DERR_TYPE);
	assert_int_equal(action("{\"action\":{\"status\":\"running\"}}", &a),
	    HC_DERR_MISSING);
	assert_int_equal(action("{\"action\":{\"id\":\"5\",\"status\":"
				"\"running\"}}",
			     &a),
	    HC_DERR_TYPE);
	assert_int_equal(action("{\"action\":{\"id\":5}}", &a),
	    HC_DERR_MISSING);
	assert_int_equal(action("{\"action\":{\"id\":5.5,\"status\":"
				"\"running\"}}",
			     &a),
	    HC_DERR_ID);
	assert_int_equal(action("{\"actions\":[]}", &a), HC_DERR_MISSING);
	assert_int_equal(action("{\"action\":", &a), HC_DERR_JSON);
	assert_memory_equal(&a, &sentinel, sizeof(a));
}

static void
test_action_list(void **state)
{
	struct hc_action_list l;
	const char *b;

	(void)state;
	b = "{\"actions\":[{\"id\":3,\"status\":\"success\",\"error\":null},"
	    "{\"id\":9,\"status\":\"running\",\"error\":null},"
	    "{\"id\":10,\"status\":\"running\",\"error\":null}],"
	    "\"meta\":{\"pagination\":" PAGE1 "}}";
	assert_int_equal(hc_decode_action_list(b, strlen(b), &l), 0);
	assert_int_equal(l.count, 3);
	assert_int_equal(l.running, 2);
	assert_true(l.running_id == 9);
	b = "{\"actions\":[]}"; /* meta is not required here */
	assert_int_equal(hc_decode_action_list(b, strlen(b), &l), 0);
	assert_int_equal(l.running, 0);
	b = "{\"actions\":[{\"id\":3,\"status\":\"paused\"}]}";
	assert_int_equal(hc_decode_action_list(b, strlen(b), &l),
	    HC_DERR_VALUE);
	b = "{\"actions\":{}}";
	assert_int_equal(hc_decode_action_list(b, strlen(b), &l), HC_DERR_TYPE);
	b = "{\"actions\":[1]}";
	assert_int_equal(hc_decode_action_list(b, strlen(b), &l), HC_DERR_TYPE);
}

/* ---- error envelope --------------------------------------------------- */

static int
error_of(const char *body, struct hc_error *e)
{
	return hc_decode_error(body, strlen(body), e);
}

static void
test_error(void **state)
{
	struct hc_error e, sentinel;

	(void)state;
	assert_int_equal(error_of("{\"error\":{\"code\":\"rate_limit_"
				  "exceeded\","
				  "\"message\":\"limit of 3600 requests per "
				  "hour reached\",\"details\":null}}",
			     &e),
	    0);
	assert_string_equal(e.code, "rate_limit_exceeded");
	assert_string_equal(e.message,
	    "limit of 3600 requests per hour "
	    "reached");
	assert_string_equal(e.announcement, "");
	assert_int_equal(error_of("{\"error\":{\"code\":\"invalid_input\","
				  "\"message\":\"invalid input in field "
				  "'server'\",\"details\":{\"fields\":[{"
				  "\"name\":\"server\",\"messages\":[\"is "
				  "invalid\"]}]}}}",
			     &e),
	    0);
	assert_string_equal(e.code, "invalid_input");
	assert_int_equal(error_of("{\"error\":{\"code\":"
				  "\"deprecated_api_endpoint\",\"message\":"
				  "\"gone\",\"details\":{\"announcement\":"
				  "\"https://docs.hetzner.cloud/changelog#x\"}"
				  "}}",
			     &e),
	    0);
	assert_string_equal(e.announcement,
	    "https://docs.hetzner.cloud/changelog#x");
	assert_int_equal(error_of("{\"error\":{\"code\":\"locked\","
				  "\"message\":null}}",
			     &e),
	    0);
	assert_string_equal(e.message, "");

	memset(&sentinel, 0x11, sizeof(sentinel));
	e = sentinel;
	assert_int_equal(error_of("<html><body>502 Bad Gateway</body></html>",
			     &e),
	    HC_DERR_JSON);
	assert_int_equal(error_of("{\"error\":{\"message\":\"x\"}}", &e),
	    HC_DERR_MISSING);
	assert_int_equal(error_of("{\"error\":{\"code\":404}}", &e),
	    HC_DERR_TYPE);
	assert_int_equal(error_of("{\"error\":{\"code\":\"\"}}", &e),
	    HC_DERR_VALUE);
	assert_int_equal(error_of("{\"error\":{\"code\":\"x\",\"message\":1}}",
			     &e),
	    HC_DERR_TYPE);
	assert_int_equal(error_of("{\"error\":\"unauthorized\"}", &e),
	    HC_DERR_TYPE);
	assert_int_equal(error_of("{\"floating_ip\":{}}", &e), HC_DERR_MISSING);
	assert_int_equal(error_of("", &e), HC_DERR_JSON);
	assert_memory_equal(&e, &sentinel, sizeof(e));
}

static void
test_result_for(void **state)
{
	(void)state;
	/* The envelope's code first ... */
	assert_int_equal(hc_result_for(401, "unauthorized"), RES_UNAUTHORIZED);
	assert_int_equal(hc_result_for(401, "token_readonly"),
	    RES_UNAUTHORIZED);
	assert_int_equal(hc_result_for(403, "forbidden"), RES_FORBIDDEN);
	assert_int_equal(hc_result_for(403, "maintenance"), RES_TRANSIENT);
	assert_int_equal(hc_result_for(404, "not_found"), RES_NOT_FOUND);
	assert_int_equal(hc_result_for(409, "conflict"), RES_CONFLICT);
	assert_int_equal(hc_result_for(409, "uniqueness_error"), RES_REFUSED);
	assert_int_equal(hc_result_for(410, "deprecated_api_endpoint"),
	    RES_REFUSED);
	assert_int_equal(hc_result_for(422, "invalid_input"), RES_INVALID);
	assert_int_equal(hc_result_for(400, "json_error"), RES_INVALID);
	assert_int_equal(hc_result_for(422, "floating_ip_assigned"),
	    RES_INVALID);
	assert_int_equal(hc_result_for(422, "service_error"), RES_TRANSIENT);
	assert_int_equal(hc_result_for(423, "locked"), RES_LOCKED);
	assert_int_equal(hc_result_for(423, "protected"), RES_REFUSED);
	assert_int_equal(hc_result_for(429, "rate_limit_exceeded"),
	    RES_THROTTLED);
	assert_int_equal(hc_result_for(500, "server_error"), RES_TRANSIENT);
	assert_int_equal(hc_result_for(503, "unavailable"), RES_TRANSIENT);
	assert_int_equal(hc_result_for(504, "timeout"), RES_TRANSIENT);
	/* ... the code wins over the status ... */
	assert_int_equal(hc_result_for(400, "locked"), RES_LOCKED);
	assert_int_equal(hc_result_for(500, "not_found"), RES_NOT_FOUND);
	/* ... and the status decides without an envelope or a known code. */
	assert_int_equal(hc_result_for(502, ""), RES_TRANSIENT);
	assert_int_equal(hc_result_for(504, NULL), RES_TRANSIENT);
	assert_int_equal(hc_result_for(401, "brand_new_code"),
	    RES_UNAUTHORIZED);
	assert_int_equal(hc_result_for(403, ""), RES_FORBIDDEN);
	assert_int_equal(hc_result_for(404, ""), RES_NOT_FOUND);
	assert_int_equal(hc_result_for(409, ""), RES_CONFLICT);
	assert_int_equal(hc_result_for(422, ""), RES_INVALID);
	assert_int_equal(hc_result_for(400, ""), RES_INVALID);
	assert_int_equal(hc_result_for(423, ""), RES_LOCKED);
	assert_int_equal(hc_result_for(429, ""), RES_THROTTLED);
	assert_int_equal(hc_result_for(418, ""), RES_REFUSED);
	assert_int_equal(hc_result_for(412, "resource_unavailable"),
	    RES_REFUSED);
	assert_int_equal(hc_result_for(302, ""), RES_MALFORMED);
	assert_int_equal(hc_result_for(0, ""), RES_MALFORMED);
}

/* ---- headers and pacing ----------------------------------------------- */

static void
header(const char *line, struct msg_ratelimit *rl, char *corr)
{
	hc_parse_header(line, strlen(line), rl, corr);
}

static void
test_headers(void **state)
{
	struct msg_ratelimit rl;
	char corr[HC_CORR_MAX], longv[200];

	(void)state;
	memset(&rl, 0, sizeof(rl));
	corr[0] = '\0';
	header("RateLimit-Limit: 3600\r\n", &rl, corr);
	header("ratelimit-remaining: 0\r\n", &rl, corr);
	header("RATELIMIT-RESET:   1795685621  \r\n", &rl, corr);
	header("X-Correlation-Id: 3f2a1b0c9d8e7f60\r\n", &rl, corr);
	assert_int_equal(rl.limit, 3600);
	assert_int_equal(rl.remaining, 0);
	assert_true(rl.reset == 1795685621ULL);
	assert_string_equal(corr, "3f2a1b0c9d8e7f60");

	/* Garbage leaves the values alone. */
	header("RateLimit-Limit: abc\r\n", &rl, corr);
	header("RateLimit-Limit: -1\r\n", &rl, corr);
	header("RateLimit-Limit: 4294967296\r\n", &rl, corr);
	header("RateLimit-Limit: 12 13\r\n", &rl, corr);
	header("RateLimit-Limit:\r\n", &rl, corr);
	header("RateLimit-Limit-Extra: 5\r\n", &rl, corr);
	header("RateLimit-Limit 5\r\n", &rl, corr);
	header("XRateLimit-Limit: 5\r\n", &rl, corr);
	header("RateLimit-Reset: 99999999999999\r\n", &rl, corr);
	assert_int_equal(rl.limit, 3600);
	assert_true(rl.reset == 1795685621ULL);
	header("RateLimit-Remaining: 4294967295\r\n", &rl, corr);
	assert_true(rl.remaining == 4294967295U);

	/* Correlation ids are cut and cleaned. */
	memset(longv, 'a', sizeof(longv));
	memcpy(longv, "X-Correlation-Id: ", 18);
	longv[sizeof(longv) - 1] = '\0';
	header(longv, &rl, corr);
	assert_int_equal(strlen(corr), HC_CORR_MAX - 1);
	header("x-correlation-id: a\"b\x01;\r\n", &rl, corr);
	assert_string_equal(corr, "a\"b?;");
}

static void
test_retry_after(void **state)
{
	struct msg_ratelimit rl = { 3600, 0, 0 };
	const int64_t now = 1795680000;

	(void)state;
	rl.reset = (uint64_t)now + 3600;
	assert_int_equal(hc_retry_after_ms(&rl, now), 1000);
	rl.limit = 7200;
	assert_int_equal(hc_retry_after_ms(&rl, now), 500);
	rl.limit = 60;
	assert_int_equal(hc_retry_after_ms(&rl, now), 60000);
	rl.limit = 7; /* rounded up, never early */
	assert_int_equal(hc_retry_after_ms(&rl, now), 514286);
	/* Reset sooner than one interval: it wins. */
	rl.limit = 60;
	rl.reset = (uint64_t)now + 2;
	assert_int_equal(hc_retry_after_ms(&rl, now), 2000);
	/* Reset in the past (clock skew) or absent: one interval. */
	rl.reset = (uint64_t)now - 10;
	assert_int_equal(hc_retry_after_ms(&rl, now), 60000);
	rl.reset = 0;
	assert_int_equal(hc_retry_after_ms(&rl, now), 60000);
	/* No headers at all: the documented default of 3600/h. */
	memset(&rl, 0, sizeof(rl));
	assert_int_equal(hc_retry_after_ms(&rl, now), 1000);
}

/* ---- sanitising ------------------------------------------------------- */

static void
test_sanitize(void **state)
{
	const char *tok =
	    "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijklmnopqrstuv"
	    "wxyz";
	char out[64], msg[256];

	(void)state;
	hc_sanitize(out, sizeof(out), "line one\nline\ttwo\x7f\xff", NULL);
	assert_string_equal(out, "line one line two  ");
	snprintf(msg, sizeof(msg), "bad token %s here", tok);
	hc_sanitize(out, sizeof(out), msg, tok);
	assert_string_equal(out, "bad token REDACTED here");
	/* A fragment of it too. */
	hc_sanitize(out, sizeof(out), "tok=QrStUvWxYz012 end", tok);
	assert_string_equal(out, "tok=REDACTED end");
	hc_sanitize(out, sizeof(out), "short QrSt is fine", tok);
	assert_string_equal(out, "short QrSt is fine");
	/* Truncated to fit. */
	memset(msg, 'z', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	hc_sanitize(out, sizeof(out), msg, tok);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	hc_sanitize(out, 1, msg, tok);
	assert_string_equal(out, "");
}

/* ---- action polling schedule ------------------------------------------ */

/* Ask for an action of length d_ms: polls until it is seen, lateness. */
static void
simulate(int64_t d_ms, unsigned *polls, int64_t *late)
{
	unsigned k;
	int64_t at;

	for (k = 0; (at = hc_poll_at(k)) >= 0; k++)
		if (at >= d_ms) {
			*polls = k + 1;
			*late = at - d_ms;
			return;
		}
	*polls = k;
	*late = -1;
}

static void
test_schedule(void **state)
{
	static const int64_t d[] = { 1000, 2000, 5000, 20000 };
	int64_t prev = 0, at, late, allow;
	unsigned k, polls;
	size_t i;

	(void)state;
	/* Increasing, ends at the deadline, then nothing. */
	for (k = 0; (at = hc_poll_at(k)) >= 0; k++) {
		assert_true(at > prev);
		/* Never more than 2.5x the elapsed time between polls. */
		if (prev > 0)
			assert_true(at * 2 <= prev * 5);
		prev = at;
	}
	assert_int_equal(prev, HC_ASSIGN_DEADLINE_MS);
	assert_true(hc_poll_at(k + 1) < 0);
	/* Read + POST + polls <= 8 requests; late <= max(10 %, 500 ms),
	 * with a margin for a server that flips the status late. */
	for (i = 0; i < NITEMS(d); i++) {
		simulate(d[i], &polls, &late);
		allow = d[i] / 10 > 500 ? d[i] / 10 : 500;
		assert_true(2 + polls <= 8);
		assert_true(late >= 100 && late <= allow - 100);
	}
	/* One that never ends: bounded by the deadline. */
	simulate(HC_ASSIGN_DEADLINE_MS + 1, &polls, &late);
	assert_true(late < 0);
	assert_true(2 + polls <= 9);
}

/* ---- endpoint --------------------------------------------------------- */

static int
endpoint(const char *url, char *err)
{
	char host[256];

	err[0] = '\0';
	return hc_endpoint_check(url, host, sizeof(host), err, 256);
}

static void
test_endpoint(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(endpoint("https://api.hetzner.cloud/v1", err), 0);
	assert_int_equal(endpoint("https://api.hetzner.cloud/v1/", err), 0);
	assert_int_equal(endpoint("http://127.0.0.1:8080/v1", err), 0);
	assert_int_equal(endpoint("http://127.1.2.3:8080/v1", err), 0);
	assert_int_equal(endpoint("http://localhost:8080/v1", err), 0);
	assert_int_equal(endpoint("http://LOCALHOST/v1", err), 0);
	assert_int_equal(endpoint("http://[::1]:8080/v1", err), 0);

	assert_int_equal(endpoint("http://api.hetzner.cloud/v1", err), -1);
	assert_non_null(strstr(err, "loopback"));
	assert_int_equal(endpoint("http://10.0.0.1/v1", err), -1);
	assert_int_equal(endpoint("http://[::2]/v1", err), -1);
	assert_int_equal(endpoint("http://localhost.evil.example/v1", err), -1);
	assert_int_equal(endpoint("http://127.0.0.1.nip.io/v1", err), -1);
	assert_int_equal(endpoint("ftp://127.0.0.1/v1", err), -1);
	assert_int_equal(endpoint("file:///etc/passwd", err), -1);
	assert_int_equal(endpoint("api.hetzner.cloud/v1", err), -1);
	assert_int_equal(endpoint("https://api.hetzner.cloud/v1?x=1", err), -1);
	assert_int_equal(endpoint("https://api.hetzner.cloud/v1#f", err), -1);
	assert_int_equal(endpoint("https://u:s3cr3t@api.hetzner.cloud/v1", err),
	    -1);
	assert_null(strstr(err, "s3cr3t"));
	assert_int_equal(endpoint("", err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_json_parse),
		cmocka_unit_test(test_fip_good),
		cmocka_unit_test(test_fip_v6),
		cmocka_unit_test(test_fip_bad),
		cmocka_unit_test(test_list_good),
		cmocka_unit_test(test_list_bad),
		cmocka_unit_test(test_action),
		cmocka_unit_test(test_action_list),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_result_for),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_endpoint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
