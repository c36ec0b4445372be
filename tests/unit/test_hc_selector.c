/* test_hc_selector.c: Hetzner label selectors and the server decoder of
 * the hcloud worker's server check and fast path */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hcloud-worker/hc.h"

static struct hc_selector sel;
static struct hc_labels labels;

static void
set_labels(const char *const *kv)
{
	memset(&labels, 0, sizeof(labels));
	for (; kv[0] != NULL; kv += 2, labels.n++) {
		snprintf(labels.kv[labels.n].key, HC_LABEL_KEY_MAX, "%s",
		    kv[0]);
		snprintf(labels.kv[labels.n].val, HC_LABEL_VAL_MAX, "%s",
		    kv[1]);
	}
}

static int
matches(const char *text)
{
	char err[256];

	assert_int_equal(hc_selector_parse(text, &sel, err, sizeof(err)), 0);
	return hc_selector_match(&sel, &labels);
}

static void
test_each_form(void **state)
{
	static const char *const kv[] = { "cluster", "prod", "k8s.io/pool",
		"egress", "empty", "", NULL };

	(void)state;
	set_labels(kv);
	assert_true(matches(""));
	assert_true(matches("cluster=prod"));
	assert_true(matches("cluster==prod"));
	assert_false(matches("cluster=dev"));
	assert_true(matches("cluster!=dev"));
	assert_false(matches("cluster!=prod"));
	assert_true(matches("missing!=x")); /* absent counts as different */
	assert_true(matches("k8s.io/pool"));
	assert_false(matches("missing"));
	assert_true(matches("!missing"));
	assert_false(matches("!cluster"));
	assert_true(matches("cluster in (dev, prod)"));
	assert_false(matches("cluster in (dev,stage)"));
	assert_true(matches("cluster notin (dev,stage)"));
	assert_false(matches("cluster notin (prod)"));
	assert_true(matches("missing notin (a)"));
	assert_false(matches("missing in (a)"));
	assert_true(matches("empty="));
	/* comma is AND */
	assert_true(matches("cluster=prod, k8s.io/pool in (egress),!legacy"));
	assert_false(matches("cluster=prod,legacy"));
}

static void
test_rejects(void **state)
{
	static const char *const bad[] = { "cluster in (prod", "=v", "a b=c",
		"k in ()", "k in (a,)", ",", "k=v,", "k=(v)", "!", "k=a/b",
		"k in (1,2,3,4,5,6,7,8,9)", NULL };
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		err[0] = '\0';
		assert_int_equal(hc_selector_parse(bad[i], &sel, err,
				     sizeof(err)),
		    -1);
		assert_non_null(strstr(err, "--hcloud-server-label-selector"));
		assert_int_equal(sel.n, 0);
	}
}

static void
test_server_reply(void **state)
{
	static const char ok[] =
	    "{\"server\":{\"id\":1099511627777,\"name\":\"node-a\","
	    "\"status\":\"stopping\",\"labels\":{\"cluster\":\"prod\"},"
	    "\"public_net\":{\"ipv4\":null}}}";
	static const char other[] =
	    "{\"server\":{\"id\":7,\"status\":\"migrating\",\"labels\":{}}}";
	static const char badlabel[] =
	    "{\"server\":{\"id\":7,\"status\":\"off\",\"labels\":{\"a\":1}}}";
	static struct hc_server s;

	(void)state;
	assert_int_equal(hc_decode_server_reply(ok, sizeof(ok) - 1, &s), 0);
	assert_int_equal(s.id, 1099511627777ULL);
	assert_int_equal(s.status, SERVER_ST_STOPPING);
	assert_int_equal(s.labels.n, 1);
	assert_string_equal(s.labels.kv[0].key, "cluster");
	assert_string_equal(s.labels.kv[0].val, "prod");
	assert_int_equal(hc_decode_server_reply(other, sizeof(other) - 1, &s),
	    0);
	assert_int_equal(s.status, SERVER_ST_OTHER);
	assert_int_equal(hc_decode_server_reply(badlabel, sizeof(badlabel) - 1,
			     &s),
	    HC_DERR_TYPE);
	assert_int_equal(hc_decode_server_reply("{}", 2, &s), HC_DERR_MISSING);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_form),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_server_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
