/* test_dur.c: Go duration syntax: Go's own ParseDuration cases, String() */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "supervisor/config/dur.h"

#define NS_MS INT64_C(1000000)
#define SECOND (INT64_C(1000) * NS_MS)
#define MINUTE (60 * SECOND)
#define HOUR (60 * MINUTE)

struct ok_case {
	const char *in;
	int64_t ns; /* Go's expected Duration */
};

/* time_test.go parseDurationTests, in nanoseconds as Go has them. */
static const struct ok_case ok_cases[] = {
	{ "0", 0 },
	{ "5s", 5 * SECOND },
	{ "30s", 30 * SECOND },
	{ "1478s", 1478 * SECOND },
	{ "-5s", -5 * SECOND },
	{ "+5s", 5 * SECOND },
	{ "-0", 0 },
	{ "+0", 0 },
	{ "5.0s", 5 * SECOND },
	{ "5.6s", 5 * SECOND + 600 * NS_MS },
	{ "5.s", 5 * SECOND },
	{ ".5s", 500 * NS_MS },
	{ "1.0s", SECOND },
	{ "1.00s", SECOND },
	{ "1.004s", SECOND + 4 * NS_MS },
	{ "1.0040s", SECOND + 4 * NS_MS },
	{ "100.00100s", 100 * SECOND + NS_MS },
	{ "10ns", 10 },
	{ "11us", 11000 },
	{ "12\xc2\xb5s", 12000 }, /* U+00B5 */
	{ "12\xce\xbcs", 12000 }, /* U+03BC */
	{ "13ms", 13 * NS_MS },
	{ "14s", 14 * SECOND },
	{ "15m", 15 * MINUTE },
	{ "16h", 16 * HOUR },
	{ "3h30m", 3 * HOUR + 30 * MINUTE },
	{ "10.5s4m", 4 * MINUTE + 10 * SECOND + 500 * NS_MS },
	{ "-2m3.4s", -(2 * MINUTE + 3 * SECOND + 400 * NS_MS) },
	{ "1h2m3s4ms5us6ns",
	    HOUR + 2 * MINUTE + 3 * SECOND + 4 * NS_MS + 5000 + 6 },
	{ "39h9m14.425s", 39 * HOUR + 9 * MINUTE + 14 * SECOND + 425 * NS_MS },
	{ "52763797000ns", INT64_C(52763797000) },
	{ "0.3333333333333333333h", 20 * MINUTE },
	{ "9007199254740993ns", (INT64_C(1) << 53) + 1 },
	{ "9223372036854775807ns", INT64_MAX },
	{ "9223372036854775.807us", INT64_MAX },
	{ "9223372036s854ms775us807ns", INT64_MAX },
	{ "-9223372036854775808ns", INT64_MIN },
	{ "-9223372036854775.808us", INT64_MIN },
	{ "-9223372036s854ms775us808ns", INT64_MIN },
	{ "-2562047h47m16.854775808s", INT64_MIN },
	{ "0.100000000000000000000h", 6 * MINUTE },
	{ "0.830103483285477580700h",
	    49 * MINUTE + 48 * SECOND + INT64_C(372539827) },
};

struct bad_case {
	const char *in;
	int err;
};

/* time_test.go parseDurationErrorTests, plus a few of ours. */
static const struct bad_case bad_cases[] = {
	{ "", EINVAL },
	{ "3", EINVAL },
	{ "-", EINVAL },
	{ "s", EINVAL },
	{ ".", EINVAL },
	{ "-.", EINVAL },
	{ ".s", EINVAL },
	{ "+.s", EINVAL },
	{ "1d", EINVAL },
	{ "\x85\x85", EINVAL },
	{ "\xff"
	  "ff",
	    EINVAL },
	{ "hello \xff"
	  "ff world",
	    EINVAL },
	{ "\xef\xbf\xbd", EINVAL },
	{ "\xef\xbf\xbd hello \xef\xbf\xbd world", EINVAL },
	{ "9223372036854775810ns", ERANGE },
	{ "9223372036854775808ns", ERANGE },
	{ "-9223372036854775809ns", ERANGE },
	{ "9223372036854776us", ERANGE },
	{ "3000000h", ERANGE },
	{ "9223372036854775.808us", ERANGE },
	{ "9223372036854ms775us808ns", ERANGE },
	/* ours: the sum must not wrap past 2^64 back into range */
	{ "-9223372036854775808ns9223372036854775808ns", ERANGE },
	{ "1s ", EINVAL },
	{ " 1s", EINVAL },
	{ "1S", EINVAL },
	{ "1 s", EINVAL },
	{ "1sec", EINVAL },
	{ "--1s", EINVAL },
	{ "1s-1s", EINVAL },
	{ "00", EINVAL },
	{ "9x", EINVAL },
};

static void
test_parse_go_cases(void **state)
{
	size_t i;
	int64_t ms;

	(void)state;
	for (i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		ms = 12345;
		if (dur_parse(ok_cases[i].in, &ms) != 0)
			fail_msg("dur_parse(\"%s\") failed", ok_cases[i].in);
		/* C division truncates toward zero, as documented. */
		if (ms != ok_cases[i].ns / NS_MS)
			fail_msg("dur_parse(\"%s\") = %lld, want %lld",
			    ok_cases[i].in, (long long)ms,
			    (long long)(ok_cases[i].ns / NS_MS));
	}
}

static void
test_parse_go_errors(void **state)
{
	size_t i;
	int64_t ms;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		ms = 777;
		errno = 0;
		if (dur_parse(bad_cases[i].in, &ms) != -1)
			fail_msg("dur_parse(\"%s\") accepted", bad_cases[i].in);
		if (errno != bad_cases[i].err)
			fail_msg("dur_parse(\"%s\"): errno %d, want %d",
			    bad_cases[i].in, errno, bad_cases[i].err);
		assert_int_equal(ms, 777);
	}
}

static void
test_parse_null(void **state)
{
	int64_t ms;

	(void)state;
	errno = 0;
	assert_int_equal(dur_parse(NULL, &ms), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(dur_parse("1s", NULL), -1);
}

/* Sub-millisecond parts are dropped: the magnitude rounds down. */
static void
test_parse_rounding(void **state)
{
	int64_t ms;

	(void)state;
	assert_int_equal(dur_parse("999us", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(dur_parse("1500us", &ms), 0);
	assert_int_equal(ms, 1);
	assert_int_equal(dur_parse("-1500us", &ms), 0);
	assert_int_equal(ms, -1);
	assert_int_equal(dur_parse("1.9999ms", &ms), 0);
	assert_int_equal(ms, 1);
	assert_int_equal(dur_parse("300ms", &ms), 0);
	assert_int_equal(ms, 300);
	assert_int_equal(dur_parse("1m30s", &ms), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(dur_parse("1.5h", &ms), 0);
	assert_int_equal(ms, 5400000);
}

struct fmt_case {
	int64_t ms;
	const char *out;
};

/* time_test.go durationTests that are whole milliseconds, and ours. */
static const struct fmt_case fmt_cases[] = {
	{ 0, "0s" },
	{ 1, "1ms" },
	{ 300, "300ms" },
	{ 999, "999ms" },
	{ 1000, "1s" },
	{ 1500, "1.5s" },
	{ 1050, "1.05s" },
	{ 1001, "1.001s" },
	{ 2000, "2s" },
	{ 3300, "3.3s" },
	{ 30000, "30s" },
	{ 60000, "1m0s" },
	{ 90000, "1m30s" },
	{ 4 * 60000 + 5000, "4m5s" },
	{ 4 * 60000 + 5001, "4m5.001s" },
	{ 5 * 3600000 + 6 * 60000 + 7001, "5h6m7.001s" },
	{ 300000, "5m0s" },
	{ 3600000, "1h0m0s" },
	{ 5400000, "1h30m0s" },
	{ -1, "-1ms" },
	{ -1500, "-1.5s" },
	{ -90000, "-1m30s" },
	{ INT64_MAX, "2562047788015h12m55.807s" },
	{ INT64_MIN, "-2562047788015h12m55.808s" },
};

static void
test_format(void **state)
{
	char buf[DUR_STR_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
		assert_int_equal(dur_format(fmt_cases[i].ms, buf, sizeof(buf)),
		    0);
		assert_string_equal(buf, fmt_cases[i].out);
	}
}

static void
test_format_small_buffer(void **state)
{
	char buf[4];

	(void)state;
	errno = 0;
	assert_int_equal(dur_format(90000, buf, sizeof(buf)), -1);
	assert_int_equal(errno, ERANGE);
	assert_string_equal(buf, "");
	assert_int_equal(dur_format(0, buf, 3), 0);
	assert_string_equal(buf, "0s");
	assert_int_equal(dur_format(0, buf, 2), -1);
	assert_int_equal(dur_format(0, NULL, 0), -1);
}

/* What dur_format() writes, dur_parse() reads back unchanged. */
static void
test_round_trip(void **state)
{
	static const int64_t v[] = { 0, 1, 7, 999, 1000, 1001, 59999, 60000,
		3599999, 3600000, 86400000, INT64_C(123456789012),
		INT64_C(9223372036854), -1, -61001, -INT64_C(9223372036854) };
	char buf[DUR_STR_MAX];
	int64_t ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(dur_format(v[i], buf, sizeof(buf)), 0);
		assert_int_equal(dur_parse(buf, &ms), 0);
		assert_int_equal(ms, v[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_go_cases),
		cmocka_unit_test(test_parse_go_errors),
		cmocka_unit_test(test_parse_null),
		cmocka_unit_test(test_parse_rounding),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_small_buffer),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
