/* test_kname.c: Kubernetes name and label syntax, and HTTP result mapping */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/kname.h"
#include "common/proto.h"
#include "common/result.h"

#define OK(f, s) assert_int_equal(f(s, strlen(s)), 1)
#define BAD(f, s) assert_int_equal(f(s, strlen(s)), 0)

static void
test_label(void **state)
{
	char l[65];

	(void)state;
	OK(kname_label, "kube-system");
	OK(kname_label, "a");
	BAD(kname_label, "");
	BAD(kname_label, "-a");
	BAD(kname_label, "a-");
	BAD(kname_label, "Kube");
	BAD(kname_label, "a.b");
	memset(l, 'a', 64);
	l[64] = '\0';
	BAD(kname_label, l); /* 64 */
	l[63] = '\0';
	OK(kname_label, l); /* 63 */
}

static void
test_subdomain(void **state)
{
	char s[256];

	(void)state;
	OK(kname_subdomain, "node-a.example.com");
	BAD(kname_subdomain, "node-a..b");
	BAD(kname_subdomain, ".a");
	BAD(kname_subdomain, "a.");
	BAD(kname_subdomain, "Node");
	/* As the apiserver: one label of 100 inside a subdomain is fine. */
	memset(s, 'a', 100);
	strcpy(s + 100, ".b");
	OK(kname_subdomain, s);
	memset(s, 'a', 254);
	s[254] = '\0';
	BAD(kname_subdomain, s); /* 254 in all */
	s[253] = '\0';
	OK(kname_subdomain, s);
}

static void
test_label_key_and_value(void **state)
{
	(void)state;
	OK(kname_label_key, "tuist.dev/stable-egress-gateway");
	OK(kname_label_key, "plain_Key.1");
	BAD(kname_label_key, "tuist.dev/");
	BAD(kname_label_key, "/name");
	BAD(kname_label_key, "Tuist.dev/name");
	BAD(kname_label_key, "a/b/c");
	OK(kname_label_value, "server");
	OK(kname_label_value, "A-b_c.9");
	BAD(kname_label_value, "");
	BAD(kname_label_value, "_a");
	BAD(kname_label_value, "a b");
}

static void
test_result_of_http(void **state)
{
	(void)state;
	assert_int_equal(result_of_http(400), RES_INVALID);
	assert_int_equal(result_of_http(422), RES_INVALID);
	assert_int_equal(result_of_http(401), RES_UNAUTHORIZED);
	assert_int_equal(result_of_http(403), RES_FORBIDDEN);
	assert_int_equal(result_of_http(404), RES_NOT_FOUND);
	assert_int_equal(result_of_http(409), RES_CONFLICT);
	assert_int_equal(result_of_http(423), RES_LOCKED);
	assert_int_equal(result_of_http(429), RES_THROTTLED);
	assert_int_equal(result_of_http(418), RES_REFUSED);
	assert_int_equal(result_of_http(503), RES_TRANSIENT);
	assert_int_equal(result_of_http(200), -1);
	assert_int_equal(result_of_http(302), -1);
	assert_int_equal(result_of_http(0), -1);
	assert_int_equal(result_of_http(600), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label),
		cmocka_unit_test(test_subdomain),
		cmocka_unit_test(test_label_key_and_value),
		cmocka_unit_test(test_result_of_http),
	};

	return cmocka_run_group_tests_name("kname", tests, NULL, NULL);
}
