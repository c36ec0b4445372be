/* test_allowlist.c: --egress-ip-allowlist parsing and containment */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "supervisor/config/allowlist.h"

static struct allowlist al;
static char err[256];

static void
ok(const char *list)
{
	if (allowlist_parse(&al, list, err, sizeof(err)) != 0)
		fail_msg("\"%s\" refused: %s", list, err);
	assert_string_equal(err, "");
}

/* The list is refused and the message names the flag and the reason. */
static void
bad(const char *list, const char *why)
{
	errno = 0;
	if (allowlist_parse(&al, list, err, sizeof(err)) != -1)
		fail_msg("\"%s\" accepted", list);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "--egress-ip-allowlist: "));
	if (strstr(err, why) == NULL)
		fail_msg("\"%s\": \"%s\" lacks \"%s\"", list, err, why);
	assert_null(strchr(err, '\n'));
	/* fail closed: a list that did not parse allows nothing */
	assert_int_equal(allowlist_contains_fip(&al, "203.0.113.7", 0), 0);
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8::/64", 1), 0);
}

static const char *
normalised(void)
{
	static char buf[4096];

	assert_int_equal(allowlist_format(&al, buf, sizeof(buf)), 0);
	return buf;
}

static void
test_empty_list_is_no_guard(void **state)
{
	(void)state;
	ok("");
	assert_int_equal(al.set, 0);
	assert_int_equal(allowlist_contains_fip(&al, "203.0.113.7", 0), 1);
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8::/64", 1), 1);
	/* no guard: even what could not be checked passes */
	assert_int_equal(allowlist_contains_fip(&al, "garbage", 0), 1);
	ok(" \t ");
	assert_int_equal(al.set, 0);
	assert_int_equal(allowlist_parse(&al, NULL, err, sizeof(err)), 0);
	assert_int_equal(allowlist_contains_fip(NULL, "203.0.113.7", 0), 1);
	assert_string_equal(normalised(), "");
}

static void
test_ipv4_host(void **state)
{
	(void)state;
	ok("203.0.113.7/32");
	assert_int_equal(al.set, 1);
	assert_int_equal(allowlist_contains_fip(&al, "203.0.113.7", 0), 1);
	assert_int_equal(allowlist_contains_fip(&al, "203.0.113.8", 0), 0);
	assert_int_equal(allowlist_contains_fip(&al, "203.0.113.6", 0), 0);
}

static void
test_ipv4_networks(void **state)
{
	(void)state;
	ok("10.0.0.0/8,198.51.100.128/25");
	assert_int_equal(allowlist_contains_fip(&al, "10.255.1.2", 0), 1);
	assert_int_equal(allowlist_contains_fip(&al, "11.0.0.0", 0), 0);
	assert_int_equal(allowlist_contains_fip(&al, "198.51.100.128", 0), 1);
	assert_int_equal(allowlist_contains_fip(&al, "198.51.100.255", 0), 1);
	assert_int_equal(allowlist_contains_fip(&al, "198.51.100.127", 0), 0);
	ok("0.0.0.0/0");
	assert_int_equal(allowlist_contains_fip(&al, "1.2.3.4", 0), 1);
	/* families stay apart */
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8::/64", 1), 0);
}

static void
test_host_bits_normalised(void **state)
{
	(void)state;
	ok("10.1.2.3/24,2001:db8:1:2:3::1/48,192.0.2.77/27");
	assert_string_equal(normalised(),
	    "10.1.2.0/24,2001:db8:1::/48,192.0.2.64/27");
	assert_int_equal(allowlist_contains_fip(&al, "10.1.2.200", 0), 1);
	assert_int_equal(allowlist_contains_fip(&al, "192.0.2.95", 0), 1);
	assert_int_equal(allowlist_contains_fip(&al, "192.0.2.96", 0), 0);
}

static void
test_whitespace_tolerated(void **state)
{
	(void)state;
	ok("  10.0.0.0/8 ,\t192.168.0.0/16\n, 2001:db8::/32  ");
	assert_int_equal(al.n, 3);
	assert_int_equal(allowlist_contains_fip(&al, "192.168.3.4", 0), 1);
}

static void
test_ipv6_network_inside(void **state)
{
	(void)state;
	ok("2001:db8::/32");
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8:1:2::/64", 1),
	    1);
	assert_int_equal(allowlist_contains_fip(&al, "2001:db9:1:2::/64", 1),
	    0);
	/* host bits in the Floating IP's text: the /64 still counts */
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8:1:2::1/64", 1),
	    1);
	ok("2001:db8:1:2::/64");
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8:1:2::/64", 1),
	    1);
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8:1:3::/64", 1),
	    0);
	ok("::/0");
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8:1:2::/64", 1),
	    1);
	assert_int_equal(allowlist_contains_fip(&al, "203.0.113.7", 0), 0);
}

static void
test_ipv6_partly_listed_network_refused(void **state)
{
	(void)state;
	/* only part of the /64 is listed: its other addresses would leak */
	ok("2001:db8:1:2::/80,2001:db8:1:2::1/128");
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8:1:2::/64", 1),
	    0);
	/* a /80 Floating IP would fit inside the /80 */
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8:1:2::/80", 1),
	    1);
	ok("2001:db8:1:2::/63");
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8:1:3::/64", 1),
	    1);
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8:1:4::/64", 1),
	    0);
}

static void
test_fip_garbage_not_allowed(void **state)
{
	(void)state;
	ok("0.0.0.0/0,::/0");
	assert_int_equal(allowlist_contains_fip(&al, NULL, 0), 0);
	assert_int_equal(allowlist_contains_fip(&al, "", 0), 0);
	assert_int_equal(allowlist_contains_fip(&al, "203.0.113", 0), 0);
	assert_int_equal(allowlist_contains_fip(&al, "203.0.113.7/32", 0), 0);
	assert_int_equal(allowlist_contains_fip(&al, " 203.0.113.7", 0), 0);
	/* the type decides the parse, as in hcloud-go */
	assert_int_equal(allowlist_contains_fip(&al, "203.0.113.7", 1), 0);
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8::/64", 0), 0);
	/* IPv6 must be the network with its length */
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8::", 1), 0);
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8::/129", 1), 0);
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8::/064", 1), 0);
	assert_int_equal(allowlist_contains_fip(&al, "2001:db8::/", 1), 0);
	assert_int_equal(allowlist_contains_fip(&al, "1.2.3.4/24", 1), 0);
	assert_int_equal(allowlist_contains_fip(&al,
			     "2001:0db8:0000:0000:0000:0000:0000:0000/64/"
			     "and-a-lot-more-text",
			     1),
	    0);
}

static void
test_ipv4_mapped_entry_stays_ipv6(void **state)
{
	(void)state;
	ok("::ffff:203.0.113.0/120");
	assert_int_equal(allowlist_contains_fip(&al, "203.0.113.7", 0), 0);
}

static void
test_rejects_missing_prefix(void **state)
{
	(void)state;
	bad("203.0.113.7", "bad entry \"203.0.113.7\": missing /prefix");
	bad("2001:db8::", "missing /prefix length");
	bad("10.0.0.0/8,203.0.113.7", "\"203.0.113.7\"");
}

static void
test_rejects_prefix_out_of_range(void **state)
{
	(void)state;
	bad("10.0.0.0/33", "prefix length must be 0-32");
	bad("2001:db8::/129", "prefix length must be 0-128");
	bad("10.0.0.0/1000", "prefix length must be 0-32");
	bad("10.0.0.0/-1", "prefix length");
	bad("10.0.0.0/+8", "prefix length");
	bad("10.0.0.0/08", "prefix length");
	bad("10.0.0.0/", "prefix length");
	bad("10.0.0.0/8x", "prefix length");
	bad("10.0.0.0/8/8", "prefix length");
	bad("10.0.0.0/ 8", "prefix length");
	bad("2001:db8::/4294967360", "prefix length");
}

static void
test_rejects_bad_addresses(void **state)
{
	(void)state;
	bad("/24", "not an IPv4 address");
	bad("300.1.1.1/32", "not an IPv4 address");
	bad("10.0.0/24", "not an IPv4 address");
	bad("010.0.0.1/32", "not an IPv4 address");
	bad("10.0.0.1 /32", "not an IPv4 address");
	bad("example.com/32", "not an IPv4 address");
	bad("2001:db8::g/64", "not an IPv6 address");
	bad("fe80::1%eth0/64", "not an IPv6 address");
	bad("2001:db8:::/64", "not an IPv6 address");
	bad("garbage", "missing /prefix length");
}

static void
test_rejects_empty_entries(void **state)
{
	(void)state;
	bad("10.0.0.0/8,,192.168.0.0/16", "empty entry");
	bad("10.0.0.0/8,", "empty entry");
	bad(",10.0.0.0/8", "empty entry");
	bad(" , ", "empty entry");
}

static void
test_rejects_long_entry_capped(void **state)
{
	char list[200];

	(void)state;
	memset(list, '1', sizeof(list) - 1);
	list[sizeof(list) - 1] = '\0';
	bad(list, "too long");
	/* the message shows at most 64 characters of it */
	assert_true(strlen(err) < 150);
	assert_non_null(strstr(err, "...\""));
}

static void
test_rejects_control_bytes_escaped(void **state)
{
	(void)state;
	bad("10.0.0.0/8\x1b[2J", "bad entry \"10.0.0.0/8?[2J\"");
	bad("\"quoted\"/8", "bad entry \"?quoted?/8\"");
}

static void
test_max_entries(void **state)
{
	char list[64 * 20];
	size_t off = 0;
	int i, n;

	(void)state;
	for (i = 0; i < ALLOWLIST_MAX; i++) {
		n = snprintf(list + off, sizeof(list) - off, "%s10.0.%d.0/24",
		    i ? "," : "", i);
		assert_true(n > 0 && (size_t)n < sizeof(list) - off);
		off += (size_t)n;
	}
	ok(list);
	assert_int_equal(al.n, ALLOWLIST_MAX);
	assert_int_equal(allowlist_contains_fip(&al, "10.0.63.9", 0), 1);
	assert_int_equal(allowlist_contains_fip(&al, "10.0.64.9", 0), 0);
	n = snprintf(list + off, sizeof(list) - off, ",10.9.9.0/24");
	assert_true(n > 0 && (size_t)n < sizeof(list) - off);
	bad(list, "more than 64 entries");
}

static void
test_error_buffer_optional_and_cut(void **state)
{
	char small[16];

	(void)state;
	assert_int_equal(allowlist_parse(&al, "bad", NULL, 0), -1);
	assert_int_equal(allowlist_parse(&al, "bad", small, 0), -1);
	assert_int_equal(allowlist_parse(&al, "bad", small, sizeof(small)), -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	errno = 0;
	assert_int_equal(allowlist_parse(NULL, "10.0.0.0/8", NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_format_needs_room(void **state)
{
	char small[8];

	(void)state;
	ok("10.0.0.0/8");
	errno = 0;
	assert_int_equal(allowlist_format(&al, small, sizeof(small)), -1);
	assert_int_equal(errno, ERANGE);
	assert_string_equal(small, "");
	assert_int_equal(allowlist_format(&al, NULL, 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_list_is_no_guard),
		cmocka_unit_test(test_ipv4_host),
		cmocka_unit_test(test_ipv4_networks),
		cmocka_unit_test(test_host_bits_normalised),
		cmocka_unit_test(test_whitespace_tolerated),
		cmocka_unit_test(test_ipv6_network_inside),
		cmocka_unit_test(test_ipv6_partly_listed_network_refused),
		cmocka_unit_test(test_fip_garbage_not_allowed),
		cmocka_unit_test(test_ipv4_mapped_entry_stays_ipv6),
		cmocka_unit_test(test_rejects_missing_prefix),
		cmocka_unit_test(test_rejects_prefix_out_of_range),
		cmocka_unit_test(test_rejects_bad_addresses),
		cmocka_unit_test(test_rejects_empty_entries),
		cmocka_unit_test(test_rejects_long_entry_capped),
		cmocka_unit_test(test_rejects_control_bytes_escaped),
		cmocka_unit_test(test_max_entries),
		cmocka_unit_test(test_error_buffer_optional_and_cut),
		cmocka_unit_test(test_format_needs_room),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
