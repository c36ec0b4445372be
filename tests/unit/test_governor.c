/* test_governor.c: the budget estimate and admission order on recorded
 * header sequences */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "supervisor/governor.h"

#define T0 50000000 /* an arbitrary CLOCK_MONOTONIC ms */

static struct msg_ratelimit
rl(uint32_t limit, uint32_t remaining)
{
	struct msg_ratelimit r = { limit, remaining, 0 };

	return r;
}

/* A reply to a request admitted at t. */
static void
reply_at(struct gov *g, uint32_t remaining, int throttled, int64_t t)
{
	struct msg_ratelimit r = rl(3600, remaining);

	gov_reply(g, &r, throttled, 1, GOV_FAILOVER, t);
}

static void
test_unknown_allows_one_read(void **state)
{
	struct gov g;

	(void)state;
	gov_init(&g, T0);
	assert_true(gov_can_admit(&g, GOV_RESYNC, T0));
	assert_true(gov_admit(&g, GOV_RESYNC, T0));
	/* the estimate paid for it: a second resync read waits */
	assert_false(gov_can_admit(&g, GOV_RESYNC, T0));
	assert_true(gov_can_admit(&g, GOV_FAILOVER, T0));
}

static void
test_estimate_refills_from_headers(void **state)
{
	struct gov g;

	(void)state;
	gov_init(&g, T0);
	assert_true(gov_admit(&g, GOV_FAILOVER, T0));
	reply_at(&g, 0, 0, T0 + 20);
	/* Remaining 0: one token per second from the reply on. */
	assert_true(gov_estimate(&g, T0 + 20) < 1.0);
	assert_false(gov_can_admit(&g, GOV_FAILOVER, T0 + 500));
	assert_int_equal(gov_next_due(&g, GOV_FAILOVER, T0 + 500), T0 + 1020);
	assert_true(gov_can_admit(&g, GOV_FAILOVER, T0 + 1020));
	/* the reserve: a resync read waits for six tokens */
	assert_int_equal(gov_next_due(&g, GOV_RESYNC, T0 + 500), T0 + 6020);
	/* never above the bucket's size */
	assert_true(gov_estimate(&g, T0 + 10 * 3600 * 1000) <= 3600.0);
}

static void
test_never_below_one(void **state)
{
	struct gov g;
	int64_t t;
	int sent = 0;

	(void)state;
	gov_init(&g, T0);
	assert_true(gov_admit(&g, GOV_FAILOVER, T0));
	reply_at(&g, 2, 0, T0);
	/* Asking every 10 ms for 5 s: 2 at once, then one per second. */
	for (t = T0; t < T0 + 5000; t += 10) {
		if (gov_estimate(&g, t) < 1.0) {
			assert_false(gov_admit(&g, GOV_FAILOVER, t));
			continue;
		}
		assert_true(gov_admit(&g, GOV_FAILOVER, t));
		sent++;
	}
	assert_int_equal(sent, 2 + 4);
	assert_int_equal(g.sent[GOV_FAILOVER], 1 + 6);
	assert_int_equal(g.deferred[GOV_FAILOVER],
	    5); /* the last still waits */
}

static void
test_429_pauses_until_next_token(void **state)
{
	struct gov g;

	(void)state;
	gov_init(&g, T0);
	assert_true(gov_admit(&g, GOV_FAILOVER, T0));
	reply_at(&g, 3000, 0, T0);
	/* a 429 although the estimate was high: others spent it all */
	assert_true(gov_admit(&g, GOV_FAILOVER, T0 + 100));
	reply_at(&g, 0, 1, T0 + 110);
	assert_int_equal(g.throttled, 1);
	assert_false(gov_can_admit(&g, GOV_FAILOVER, T0 + 1109));
	assert_int_equal(gov_next_due(&g, GOV_FAILOVER, T0 + 200), T0 + 1110);
	assert_true(gov_can_admit(&g, GOV_FAILOVER, T0 + 1110));
}

static void
test_429_without_headers(void **state)
{
	struct gov g;

	(void)state;
	gov_init(&g, T0);
	assert_true(gov_admit(&g, GOV_FAILOVER, T0));
	gov_reply(&g, NULL, 1, 1, GOV_FAILOVER, T0 + 5);
	assert_false(gov_can_admit(&g, GOV_FAILOVER, T0 + 500));
	assert_true(gov_can_admit(&g, GOV_FAILOVER, T0 + 1005));
}

static void
test_priorities_under_the_reserve(void **state)
{
	struct gov g;

	(void)state;
	gov_init(&g, T0);
	assert_true(gov_admit(&g, GOV_RESYNC, T0));
	reply_at(&g, 3, 0, T0);
	assert_true(gov_can_admit(&g, GOV_FAILOVER, T0));
	assert_true(gov_can_admit(&g, GOV_FASTPATH, T0));
	assert_false(gov_admit(&g, GOV_RESYNC, T0));
	assert_int_equal(g.deferred[GOV_RESYNC], 1);
	/* counted once per waiting request, not per look */
	assert_false(gov_admit(&g, GOV_RESYNC, T0 + 10));
	assert_int_equal(g.deferred[GOV_RESYNC], 1);
	assert_true(gov_admit(&g, GOV_RESYNC, T0 + 3000));
	assert_int_equal(g.waiting[GOV_RESYNC], 0);
}

/* A neighbour spending 95 % of the refill, as a recorded sequence:
 * every reply's Remaining is what the bucket held.  The governor learns
 * the share left to it and spaces its requests to match. */
static void
test_learns_others_share(void **state)
{
	struct gov g;
	double bucket = 0, ours = 0;
	int64_t t, last = 0;
	int n = 0;

	(void)state;
	gov_init(&g, T0);
	assert_true(gov_admit(&g, GOV_FAILOVER, T0));
	reply_at(&g, 0, 0, T0);
	for (t = T0 + 1; t < T0 + 400000; t++) {
		bucket += 1.0 / 1000 * 0.05; /* what the neighbour leaves */
		if (!gov_admit(&g, GOV_FAILOVER, t))
			continue;
		if (bucket >= 1.0) {
			bucket -= 1.0;
			ours += 1;
			reply_at(&g, (uint32_t)bucket, 0, t);
		} else
			reply_at(&g, 0, 1, t);
		n++;
		last = t;
	}
	(void)last;
	/* 400 s at 0.05 token/s: 20 requests succeed; attempts stay
	 * within about twice that, not one per second. */
	assert_true(ours >= 17 && ours <= 20);
	assert_true(n <= 45);
	assert_true(g.others > 0.0009 && g.others < 0.001);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(gov_prio_name(GOV_FAILOVER), "failover");
	assert_string_equal(gov_prio_name(GOV_FASTPATH), "fastpath");
	assert_string_equal(gov_prio_name(GOV_RESYNC), "resync");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_allows_one_read),
		cmocka_unit_test(test_estimate_refills_from_headers),
		cmocka_unit_test(test_never_below_one),
		cmocka_unit_test(test_429_pauses_until_next_token),
		cmocka_unit_test(test_429_without_headers),
		cmocka_unit_test(test_priorities_under_the_reserve),
		cmocka_unit_test(test_learns_others_share),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
