/* test_log.c: the log line builder at and beyond its buffer size */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "common/log.h"

#define LINE_MAX_ 4096

static char got[1 << 16];

/* Run fn with fd 2 captured; got holds what it wrote. */
static size_t
capture(void (*fn)(const char *), const char *v)
{
	FILE *f = tmpfile();
	int saved = dup(2);
	size_t n;

	assert_non_null(f);
	dup2(fileno(f), 2);
	fn(v);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = '\0';
	fclose(f);
	return n;
}

static void
many_long(const char *v)
{
	log_info("m", "a", v, "b", v, "c", v, "d", v, "e", v, "f", v, "g", v,
	    "h", v, "i", v, "j", v, NULL);
}

static void
one(const char *v)
{
	log_info(v, "k", v, NULL);
}

static void
check_json_line(size_t n, int want_cut)
{
	cJSON *j;

	assert_true(n > 0 && n <= LINE_MAX_);
	assert_int_equal(got[n - 1], '\n');
	assert_null(memchr(got, '\n', n - 1));
	got[n - 1] = '\0';
	j = cJSON_Parse(got);
	assert_non_null(j);
	assert_int_equal(cJSON_GetObjectItem(j, "truncated") != NULL, want_cut);
	cJSON_Delete(j);
}

/* Values whose escaped form is six times their length (control bytes),
 * at every length around the line size: never past the buffer, never
 * a wrap-around, always one parseable line. */
static void
test_json_at_and_beyond_size(void **state)
{
	static char v[8192];
	size_t len, n;

	(void)state;
	log_init("test", 1, LOG_DEBUG);
	for (len = 0; len < sizeof(v) - 1; len += 97) {
		memset(v, 'x', len);
		v[len] = '\0';
		n = capture(many_long, v);
		check_json_line(n,
		    len > 0 && 10 * (len < 512 ? len : 515) > 3900);
	}
	memset(v, 1, 4000);
	v[4000] = '\0';
	n = capture(many_long, v);
	check_json_line(n, 1);
	n = capture(one, v); /* a message near the whole line */
	assert_true(n <= LINE_MAX_);
	assert_int_equal(got[n - 1], '\n');
}

static void
test_text_never_overflows(void **state)
{
	static char v[8192];
	size_t n;

	(void)state;
	log_init("test", 0, LOG_DEBUG);
	memset(v, '"', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	n = capture(many_long, v);
	assert_true(n <= LINE_MAX_);
	assert_int_equal(got[n - 1], '\n');
	assert_non_null(strstr(got, "truncated=\"true\""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_at_and_beyond_size),
		cmocka_unit_test(test_text_never_overflows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
