/* test_elect.c: leader election against client-go's rules, without a clock */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/str.h"
#include "supervisor/elect.h"

/* The fake k8s worker: records every request, answers nothing itself. */
static struct {
	int n;
	uint16_t type[64];
	struct msg_lease lease[64];
	uint32_t seq;
	int down;
} io;

static uint32_t
fake_send(void *arg, uint16_t type, const struct msg_lease *l)
{
	(void)arg;
	if (io.down)
		return 0;
	io.type[io.n] = type;
	io.lease[io.n++] = *l;
	return ++io.seq;
}

static void
answer(struct elect *e, uint8_t result, const struct msg_lease *l, int64_t now)
{
	struct msg_lease_ans a;

	memset(&a, 0, sizeof(a));
	a.result = result;
	if (l != NULL)
		a.lease = *l;
	elect_on_answer(e, io.seq, &a, now);
}

static struct msg_lease
held(const char *holder, uint32_t dur, const char *renew, uint32_t tr,
    const char *rv)
{
	struct msg_lease l;

	memset(&l, 0, sizeof(l));
	str_copy(l.holder, sizeof(l.holder), holder);
	l.duration_s = dur;
	str_copy(l.acquire_time, sizeof(l.acquire_time),
	    "2026-01-01T00:00:00.000000Z");
	str_copy(l.renew_time, sizeof(l.renew_time), renew);
	l.transitions = tr;
	str_copy(l.rv, sizeof(l.rv), rv);
	return l;
}

static int
setup(void **state)
{
	(void)state;
	memset(&io, 0, sizeof(io));
	return 0;
}

static void
test_creates_missing_lease_and_leads(void **state)
{
	struct elect e;
	struct msg_lease w;

	(void)state;
	elect_init(&e, "me_1", 15000, 10000, 2000, fake_send, NULL, 0);
	elect_tick(&e, 0);
	assert_int_equal(io.type[0], MSG_KUBE_LEASE_GET_REQ);
	answer(&e, RES_NOT_FOUND, NULL, 10);
	assert_int_equal(io.type[1], MSG_KUBE_LEASE_CREATE_REQ);
	w = io.lease[1];
	assert_string_equal(w.holder, "me_1");
	assert_int_equal(w.duration_s, 15);
	assert_int_equal(w.transitions, 0);
	assert_string_equal(w.acquire_time, w.renew_time);
	/* MicroTime: exactly six fraction digits and Z. */
	assert_int_equal(strlen(w.renew_time), 27);
	assert_int_equal(w.renew_time[19], '.');
	assert_int_equal(w.renew_time[26], 'Z');
	assert_false(elect_can_write(&e, 10));
	w.rv[0] = '1';
	answer(&e, RES_OK, &w, 20);
	assert_true(e.leader);
	assert_true(elect_can_write(&e, 20));
}

static void
test_foreign_unexpired_lease_is_respected(void **state)
{
	struct msg_lease l = held("go_abc", 15, "t1", 3, "7");
	struct elect e;
	int64_t gap;

	(void)state;
	elect_init(&e, "me_1", 15000, 10000, 2000, fake_send, NULL, 0);
	elect_tick(&e, 0);
	answer(&e, RES_OK, &l, 0);
	assert_int_equal(io.n, 1); /* no write */
	assert_false(e.leader);
	/* client-go jitter: next poll in retry x [1, 2.2). */
	gap = e.next_try - 0;
	assert_true(gap >= 2000 && gap < 4400);
	/* Renewed by its holder (spec changes): expiry restarts from now. */
	elect_tick(&e, e.next_try);
	l = held("go_abc", 15, "t2", 3, "8");
	answer(&e, RES_OK, &l, 14000);
	assert_int_equal(io.n, 2);
	elect_tick(&e, e.next_try);
	answer(&e, RES_OK, &l, 28000); /* unchanged, 14 s after seen */
	assert_int_equal(io.n, 3);
	assert_false(e.leader);
}

static void
test_expired_by_local_observation_is_taken(void **state)
{
	struct msg_lease l =
	    held("go_abc", 15, "2020-01-01T00:00:00.000000Z", 3, "7");
	struct elect e;
	struct msg_lease w;

	(void)state;
	elect_init(&e, "me_1", 15000, 10000, 2000, fake_send, NULL, 0);
	/* renewTime is years old, but we only just saw it: wait. */
	elect_tick(&e, 0);
	answer(&e, RES_OK, &l, 0);
	assert_int_equal(io.n, 1);
	elect_tick(&e, e.next_try);
	answer(&e, RES_OK, &l, 15000); /* same spec, 15 s later */
	assert_int_equal(io.n, 3);
	assert_int_equal(io.type[2], MSG_KUBE_LEASE_UPDATE_REQ);
	w = io.lease[2];
	assert_string_equal(w.holder, "me_1");
	assert_int_equal(w.transitions, 4);
	assert_string_equal(w.rv, "7"); /* optimistic concurrency */
	assert_string_equal(w.acquire_time, w.renew_time);
	answer(&e, RES_CONFLICT, NULL, 15010); /* lost the race */
	assert_false(e.leader);
}

static void
lead(struct elect *e, int64_t now)
{
	struct msg_lease w;

	elect_init(e, "me_1", 15000, 10000, 2000, fake_send, NULL, now);
	elect_tick(e, now);
	answer(e, RES_NOT_FOUND, NULL, now);
	w = io.lease[io.n - 1];
	str_copy(w.rv, sizeof(w.rv), "1");
	answer(e, RES_OK, &w, now);
	assert_true(e->leader);
}

static void
test_leader_renews_on_fast_path(void **state)
{
	struct elect e;

	(void)state;
	lead(&e, 0);
	assert_int_equal(e.next_try, 2000);
	elect_tick(&e, 2000);
	assert_int_equal(io.type[io.n - 1], MSG_KUBE_LEASE_UPDATE_REQ);
	assert_string_equal(io.lease[io.n - 1].rv, "1");
	assert_string_equal(io.lease[io.n - 1].holder, "me_1");
	answer(&e, RES_OK, &io.lease[io.n - 1], 2010);
	assert_int_equal(e.last_renew, 2010);
}

static void
test_renew_deadline_fences_writes(void **state)
{
	struct elect e;
	int64_t t;

	(void)state;
	lead(&e, 0);
	for (t = 2000; t < 10000; t += 2000) {
		elect_tick(&e, t);
		if (e.state != ELECT_IDLE)
			answer(&e, RES_TRANSIENT, NULL, t);
		if (e.state != ELECT_IDLE)
			answer(&e, RES_TRANSIENT, NULL, t);
	}
	/* At 9.999 s writes are still allowed; at 10 s they stop, 5 s
	 * before the Lease could expire for anyone else. */
	assert_true(elect_can_write(&e, 9999));
	assert_false(elect_can_write(&e, 10000));
	elect_tick(&e, 10000);
	assert_false(e.leader);
}

static void
test_leader_seeing_other_holder_stops_at_once(void **state)
{
	struct msg_lease l = held("go_abc", 15, "t9", 5, "9");
	struct elect e;

	(void)state;
	lead(&e, 0);
	elect_tick(&e, 2000);
	answer(&e, RES_CONFLICT, NULL, 2000); /* fast path fails */
	assert_int_equal(io.type[io.n - 1], MSG_KUBE_LEASE_GET_REQ);
	answer(&e, RES_OK, &l, 2001);
	assert_false(e.leader);
	assert_false(elect_can_write(&e, 2001));
}

static void
test_release_empties_holder(void **state)
{
	struct elect e;
	struct msg_lease w;

	(void)state;
	lead(&e, 0);
	assert_int_equal(elect_release(&e, 100), 1);
	w = io.lease[io.n - 1];
	assert_int_equal(io.type[io.n - 1], MSG_KUBE_LEASE_UPDATE_REQ);
	assert_string_equal(w.holder, "");
	assert_int_equal(w.duration_s, 1);
	assert_string_equal(w.rv, "1");
	assert_false(elect_can_write(&e, 100));
	answer(&e, RES_OK, &w, 150);
	assert_true(e.released);
	/* Not leading: nothing to release. */
	assert_int_equal(elect_release(&e, 200), 0);
}

static void
test_stale_answer_ignored_and_worker_down(void **state)
{
	struct msg_lease_ans a;
	struct elect e;

	(void)state;
	elect_init(&e, "me_1", 15000, 10000, 2000, fake_send, NULL, 0);
	elect_tick(&e, 0);
	memset(&a, 0, sizeof(a));
	a.result = RES_NOT_FOUND;
	elect_on_answer(&e, io.seq + 5, &a, 1);
	assert_int_equal(io.n, 1);
	elect_worker_down(&e, 2);
	assert_int_equal(e.state, ELECT_IDLE);
	io.down = 1;
	elect_tick(&e, e.next_try);
	assert_int_equal(e.state, ELECT_IDLE);
	assert_false(e.leader);
}

static void
test_request_timeout(void **state)
{
	struct elect e;

	(void)state;
	elect_init(&e, "me_1", 15000, 10000, 2000, fake_send, NULL, 0);
	elect_tick(&e, 0);
	assert_int_equal(elect_next_deadline(&e), 10000);
	elect_tick(&e, 10000);
	/* The unanswered GET failed the attempt; the next poll waits the
	 * jittered retry period, so nothing more is sent yet. */
	assert_int_equal(e.state, ELECT_IDLE);
	assert_int_equal(io.n, 1);
	assert_true(e.next_try >= 12000 && e.next_try < 14400);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_creates_missing_lease_and_leads,
		    setup),
		cmocka_unit_test_setup(
		    test_foreign_unexpired_lease_is_respected, setup),
		cmocka_unit_test_setup(
		    test_expired_by_local_observation_is_taken, setup),
		cmocka_unit_test_setup(test_leader_renews_on_fast_path, setup),
		cmocka_unit_test_setup(test_renew_deadline_fences_writes,
		    setup),
		cmocka_unit_test_setup(
		    test_leader_seeing_other_holder_stops_at_once, setup),
		cmocka_unit_test_setup(test_release_empties_holder, setup),
		cmocka_unit_test_setup(
		    test_stale_answer_ignored_and_worker_down, setup),
		cmocka_unit_test_setup(test_request_timeout, setup),
	};

	return cmocka_run_group_tests_name("elect", tests, NULL, NULL);
}
