/* test_str.c: printable copies of untrusted text */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/str.h"

static void
test_printable(void **state)
{
	char out[16];

	(void)state;
	str_printable(out, sizeof(out), "ok: file");
	assert_string_equal(out, "ok: file");
	/* newline, escape sequence, DEL, UTF-8: all '?' */
	str_printable(out, sizeof(out), "a\nb\x1b[2Jc\x7f\xc3\xa9");
	assert_string_equal(out, "a?b?[2Jc???");
	/* cut to fit, always terminated */
	str_printable(out, sizeof(out), "0123456789abcdefghij");
	assert_string_equal(out, "0123456789abcde");
	str_printable(out, 1, "x");
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
