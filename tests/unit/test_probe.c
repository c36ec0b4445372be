/* test_probe.c: probe target lists, rounds, timeouts and reports */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/str.h"
#include "probe-worker/probe.h"

#define MS 1000LL
#define TIMEOUT (500 * MS)
#define INTERVAL (1000 * MS)

static struct probe_ctx ctx;
static int up_fd = -1; /* listening on 127.0.0.1:up_port */
static uint16_t up_port;
static int shut_fd = -1; /* bound, not listening: refuses */
static uint16_t shut_port;

static int
bound(int do_listen, uint16_t *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd != -1);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (do_listen)
		assert_int_equal(listen(fd, 128), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static int
group_setup(void **state)
{
	(void)state;
	log_init("probe-worker", 0, LOG_ERROR); /* bad addresses warn */
	up_fd = bound(1, &up_port);
	shut_fd = bound(0, &shut_port);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	close(up_fd);
	close(shut_fd);
	return 0;
}

static int
setup_up(void **state)
{
	(void)state;
	return probe_init(&ctx, up_port, TIMEOUT, INTERVAL, 64);
}

static int
setup_shut(void **state)
{
	(void)state;
	return probe_init(&ctx, shut_port, TIMEOUT, INTERVAL, 64);
}

static int
teardown(void **state)
{
	int fd;

	(void)state;
	probe_free(&ctx);
	/* Drain what the up listener queued so the backlog never fills. */
	while ((fd = accept4(up_fd, NULL, NULL, SOCK_NONBLOCK)) != -1)
		close(fd);
	return 0;
}

/* t: triples of node, first address, second address or "". */
static void
list(struct probe_ctx *c, int64_t now, const char *const *t, size_t n)
{
	struct msg_probe_target m;
	size_t i;

	assert_int_equal(probe_list_begin(c), 0);
	for (i = 0; i < n; i += 3) {
		memset(&m, 0, sizeof(m));
		assert_int_equal(str_copy(m.node, sizeof(m.node), t[i]), 0);
		assert_true(
		    snprintf(m.addrs, sizeof(m.addrs), "%s%s%s", t[i + 1],
			t[i + 2][0] != '\0' ? " " : "", t[i + 2]) > 0);
		assert_int_equal(probe_list_add(c, &m), 0);
	}
	assert_int_equal(probe_list_end(c, (uint32_t)(n / 3), now), 0);
}

/* The first queued report, marked sent; NULL when none is queued. */
static struct probe_target *
report(int64_t now)
{
	struct probe_target *t = TAILQ_FIRST(&ctx.outq);

	if (t != NULL)
		probe_report_sent(&ctx, t, now);
	return t;
}

/* Run the real loop on the real clock until a report is queued. */
static struct probe_target *
run_until_report(int64_t limit_us)
{
	struct pollfd pfd[65];
	struct probe_addr *polled[64];
	int64_t now, end = clock_us() + limit_us;
	size_t n;

	while ((now = clock_us()) < end) {
		probe_tick(&ctx, now);
		if (!TAILQ_EMPTY(&ctx.outq))
			return TAILQ_FIRST(&ctx.outq);
		n = probe_pollfds(&ctx, pfd, polled);
		assert_true(poll(pfd, n, 20) >= 0);
		probe_events(&ctx, pfd, polled, n, clock_us());
	}
	return NULL;
}

static void
test_up_is_ok(void **state)
{
	static const char *const t[] = { "a", "127.0.0.1", "" };
	struct probe_target *r;

	(void)state;
	list(&ctx, clock_us(), t, 3);
	assert_non_null(r = run_until_report(2000 * MS));
	assert_string_equal(r->node, "a");
	assert_int_equal(r->ok, 1);
	assert_true(r->usec < TIMEOUT);
	assert_int_equal(ctx.nactive, 0); /* closed at once */
}

static void
test_refused_fails_fast(void **state)
{
	static const char *const t[] = { "a", "127.0.0.1", "" };
	struct probe_target *r;

	(void)state;
	list(&ctx, clock_us(), t, 3);
	assert_non_null(r = run_until_report(2000 * MS));
	assert_int_equal(r->ok, 0);
	assert_int_equal(r->err, ECONNREFUSED);
	assert_true(r->usec < TIMEOUT / 2);
}

static void
test_either_address_is_enough(void **state)
{
	/* addr1 is not numeric: it fails; addr2 carries the node. */
	static const char *const t[] = { "a", "node-a.example", "127.0.0.1",
		"b", "127.0.0.1", "::1" };
	struct probe_target *r;

	(void)state;
	list(&ctx, clock_us(), t, 6);
	assert_int_equal(probe_find(&ctx.cur, "a")->a[0].salen, 0);
	assert_non_null(r = run_until_report(2000 * MS));
	assert_int_equal(r->ok, 1);
	report(clock_us());
	assert_non_null(r = run_until_report(2000 * MS));
	assert_int_equal(r->ok, 1);
	/* The first to connect ends the round and stops its sibling. */
	assert_int_equal(ctx.nactive, 0);
	assert_true(TAILQ_EMPTY(&ctx.waitq));
}

/*
 * Every address of a node is dialled in the same pass, so one that hangs
 * or refuses costs nothing when another answers: here seven addresses
 * nothing listens on come before the one that answers.
 */
static void
test_every_address_dialled_at_once(void **state)
{
	struct msg_probe_target m;
	struct probe_target *t, *r;
	int64_t now = clock_us();
	size_t i;

	(void)state;
	memset(&m, 0, sizeof(m));
	strcpy(m.node, "a");
	strcpy(m.addrs,
	    "127.0.0.2 127.0.0.3 ::1 127.0.0.5 127.0.0.6 "
	    "127.0.0.7 127.0.0.8 127.0.0.1");
	assert_int_equal(probe_list_begin(&ctx), 0);
	assert_int_equal(probe_list_add(&ctx, &m), 0);
	assert_int_equal(probe_list_end(&ctx, 1, now), 0);
	t = probe_find(&ctx.cur, "a");
	assert_int_equal(t->naddr, PROTO_ADDRS_MAX);
	probe_tick(&ctx, now);
	assert_true(TAILQ_EMPTY(&ctx.waitq));
	for (i = 0; i < t->naddr; i++) {
		assert_true(t->a[i].salen != 0);
		assert_true(t->a[i].start == now);
	}
	assert_non_null(r = run_until_report(2000 * MS));
	assert_ptr_equal(r, t);
	assert_int_equal(r->ok, 1);
	assert_int_equal(ctx.nactive, 0);
}

/* Past PROTO_ADDRS_MAX the rest are not dialled; runs of spaces count
 * as one separator. */
static void
test_address_list_capped(void **state)
{
	(void)state;
	assert_int_equal(probe_addrs_count(""), 0);
	assert_int_equal(probe_addrs_count("   "), 0);
	assert_int_equal(probe_addrs_count("1.2.3.4"), 1);
	assert_int_equal(probe_addrs_count(" 1.2.3.4  ::1 "), 2);
	assert_int_equal(probe_addrs_count("a b c d e f g h i j"),
	    PROTO_ADDRS_MAX);
}

static void
test_no_usable_address_fails_at_once(void **state)
{
	static const char *const t[] = { "a", "10.0.0.300", "" };
	struct probe_target *r;

	(void)state;
	list(&ctx, 0, t, 3);
	probe_tick(&ctx, 0);
	assert_non_null(r = report(0));
	assert_int_equal(r->ok, 0);
	assert_int_equal(r->usec, 0);
	assert_int_equal(ctx.nactive, 0);
}

static void
test_timeout_fails_the_round(void **state)
{
	static const char *const t[] = { "a", "127.0.0.1", "" };
	struct probe_target *r;

	(void)state;
	/* Never polled, so the connect stays in flight for the clock
	 * given: the deadline alone must end it. */
	list(&ctx, 0, t, 3);
	probe_tick(&ctx, 0);
	assert_int_equal(ctx.nactive, 1);
	assert_true(probe_wake(&ctx) == TIMEOUT);
	probe_tick(&ctx, TIMEOUT - 1);
	assert_int_equal(ctx.nactive, 1);
	assert_true(TAILQ_EMPTY(&ctx.outq));
	probe_tick(&ctx, TIMEOUT);
	assert_int_equal(ctx.nactive, 0);
	assert_non_null(r = report(TIMEOUT));
	assert_int_equal(r->ok, 0);
	assert_int_equal(r->err, ETIMEDOUT);
	assert_int_equal(r->usec, TIMEOUT);
	/* The next round is due interval after this one started. */
	assert_true(probe_wake(&ctx) == INTERVAL);
}

static void
test_rounds_never_overlap(void **state)
{
	static const char *const t[] = { "a", "127.0.0.1", "" };
	struct probe_target *a;

	(void)state;
	ctx.timeout = 3 * INTERVAL;
	list(&ctx, 0, t, 3);
	a = probe_find(&ctx.cur, "a");
	probe_tick(&ctx, 0);
	probe_tick(&ctx, INTERVAL);
	probe_tick(&ctx, 2 * INTERVAL);
	assert_int_equal(ctx.nactive, 1);
	assert_true(a->round_start == 0);
	probe_tick(&ctx, 3 * INTERVAL); /* times out, next starts */
	assert_int_equal(ctx.nactive, 1);
	assert_true(a->round_start == 3 * INTERVAL);
}

static void
test_close_rounds_start_in_one_pass(void **state)
{
	static const char *const t1[] = { "a", "bad", "" };
	static const char *const t2[] = { "a", "bad", "", "b", "bad", "" };
	struct probe_target *a, *b;

	(void)state;
	list(&ctx, 0, t1, 3);
	a = probe_find(&ctx.cur, "a");
	probe_tick(&ctx, 0);
	assert_true(a->next == INTERVAL);
	list(&ctx, INTERVAL - 5 * MS, t2, 6); /* b: its own phase */
	b = probe_find(&ctx.cur, "b");
	probe_tick(&ctx, INTERVAL - 5 * MS);
	/* a was due 5 ms later: started with b, its grid unchanged. */
	assert_true(a->round_start == INTERVAL - 5 * MS);
	assert_true(a->next == 2 * INTERVAL);
	assert_true(b->next == 2 * INTERVAL - 5 * MS);
	assert_int_equal(a->unreported, 2);
	assert_int_equal(b->unreported, 1);
	/* Further apart than the window: separate passes. */
	probe_tick(&ctx, 2 * INTERVAL - 5 * MS);
	assert_true(b->round_start == 2 * INTERVAL - 5 * MS);
	assert_true(a->round_start == 2 * INTERVAL - 5 * MS);
	ctx.interval = 40 * MS; /* window: a tenth, 4 ms */
	probe_tick(&ctx, 3 * INTERVAL - 5 * MS);
	assert_true(b->round_start == 3 * INTERVAL - 5 * MS);
	assert_true(a->round_start == 2 * INTERVAL - 5 * MS);
}

static void
test_socket_cap_queues(void **state)
{
	static const char *const t[] = { "a", "127.0.0.1", "127.0.0.1", "b",
		"127.0.0.1", "" };

	(void)state;
	ctx.maxactive = 2;
	list(&ctx, 0, t, 6);
	probe_tick(&ctx, 0);
	assert_int_equal(ctx.nactive, 2);
	assert_false(TAILQ_EMPTY(&ctx.waitq));
	assert_true(probe_wake(&ctx) == TIMEOUT);
	/* Both of a time out; b gets a socket, its timeout from then. */
	probe_tick(&ctx, TIMEOUT);
	assert_int_equal(ctx.nactive, 1);
	assert_true(TAILQ_EMPTY(&ctx.waitq));
	assert_true(probe_find(&ctx.cur, "b")->a[0].start == TIMEOUT);
	assert_string_equal(report(TIMEOUT)->node, "a");
}

static void
test_change_reported_once_then_confirmed(void **state)
{
	static const char *const t[] = { "a", "bad", "" };
	struct probe_target *a;
	int64_t now = 0;
	int i;

	(void)state;
	list(&ctx, 0, t, 3);
	a = probe_find(&ctx.cur, "a");
	probe_tick(&ctx, now);
	assert_ptr_equal(report(now), a); /* the first result */
	for (i = 1; i < PROBE_CONFIRM_EVERY; i++) {
		now += INTERVAL;
		probe_tick(&ctx, now);
		assert_null(report(now)); /* unchanged */
	}
	now += INTERVAL;
	probe_tick(&ctx, now);
	assert_ptr_equal(report(now), a); /* 10th: a confirmation */
	now += INTERVAL;
	probe_tick(&ctx, now);
	assert_null(report(now));
}

static void
test_slow_rounds_confirm_by_time(void **state)
{
	static const char *const t[] = { "a", "bad", "" };

	(void)state;
	ctx.interval = PROBE_CONFIRM_US;
	list(&ctx, 0, t, 3);
	probe_tick(&ctx, 0);
	assert_non_null(report(0));
	probe_tick(&ctx, PROBE_CONFIRM_US);
	assert_non_null(report(PROBE_CONFIRM_US));
}

static void
test_change_folds_while_unsent(void **state)
{
	static const char *const t[] = { "a", "bad", "" };
	struct probe_target *a;

	(void)state;
	list(&ctx, 0, t, 3);
	a = probe_find(&ctx.cur, "a");
	probe_tick(&ctx, 0);
	probe_tick(&ctx, INTERVAL); /* the socket was full: not sent */
	assert_ptr_equal(TAILQ_FIRST(&ctx.outq), a);
	assert_null(TAILQ_NEXT(a, out)); /* queued once */
	assert_int_equal(a->unreported, 2);
}

static void
test_replace_keeps_resets_drops(void **state)
{
	static const char *const t1[] = { "keep", "127.0.0.1", "", "move",
		"127.0.0.1", "", "gone", "127.0.0.1", "" };
	static const char *const t2[] = { "move", "127.0.0.1", "127.0.0.2",
		"keep", "127.0.0.1", "", "new", "127.0.0.1", "" };
	struct probe_target *keep, *move, *gone;
	int fd;

	(void)state;
	list(&ctx, 0, t1, 9);
	keep = probe_find(&ctx.cur, "keep");
	move = probe_find(&ctx.cur, "move");
	gone = probe_find(&ctx.cur, "gone");
	probe_tick(&ctx, 0);
	assert_int_equal(ctx.nactive, 3);
	fd = keep->a[0].fd;
	keep->reported = 1; /* as if reported healthy */
	(void)gone;

	list(&ctx, 100 * MS, t2, 9);
	assert_int_equal(ctx.cur.n, 3);
	/* Kept whole: same target, same connect in flight, same report. */
	assert_ptr_equal(probe_find(&ctx.cur, "keep"), keep);
	assert_int_equal(keep->a[0].fd, fd);
	assert_int_equal(keep->in_round, 1);
	assert_int_equal(keep->reported, 1);
	/* New addresses: a fresh target, reported again. */
	assert_ptr_not_equal(probe_find(&ctx.cur, "move"), move);
	assert_int_equal(probe_find(&ctx.cur, "move")->reported, -1);
	assert_null(probe_find(&ctx.cur, "gone"));
	/* Sockets of the dropped and the reset one are closed. */
	assert_int_equal(ctx.nactive, 1);
	assert_true(probe_wake(&ctx) == 100 * MS);
	probe_tick(&ctx, 100 * MS);
	assert_int_equal(ctx.nactive, 4); /* move x2, new */
}

static void
test_list_protocol_errors(void **state)
{
	static const char *const t[] = { "a", "127.0.0.1", "" };
	struct msg_probe_target m;

	(void)state;
	memset(&m, 0, sizeof(m));
	strcpy(m.node, "x");
	list(&ctx, 0, t, 3);
	errno = 0;
	assert_int_equal(probe_list_add(&ctx, &m), -1); /* no BEGIN */
	assert_int_equal(errno, EPROTO);
	assert_int_equal(probe_list_end(&ctx, 0, 0), -1); /* no BEGIN */
	assert_int_equal(probe_list_begin(&ctx), 0);
	assert_int_equal(probe_list_begin(&ctx), -1); /* twice */
	assert_int_equal(probe_list_add(&ctx, &m), 0);
	errno = 0;
	assert_int_equal(probe_list_end(&ctx, 2, 0), -1); /* count */
	assert_int_equal(errno, EPROTO);
	/* The list in force is untouched. */
	assert_int_equal(ctx.cur.n, 1);
	assert_non_null(probe_find(&ctx.cur, "a"));
	assert_int_equal(ctx.listing, 0);
}

static void
test_repeats_and_extras_ignored(void **state)
{
	struct msg_probe_target m;
	uint32_t i;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(probe_list_begin(&ctx), 0);
	strcpy(m.node, "dup");
	strcpy(m.addrs, "127.0.0.1");
	assert_int_equal(probe_list_add(&ctx, &m), 0);
	strcpy(m.addrs, "127.0.0.9");
	assert_int_equal(probe_list_add(&ctx, &m), 0); /* ignored */
	for (i = 0; i < PROBE_TARGETS_MAX + 5; i++) {
		assert_true(snprintf(m.node, sizeof(m.node), "n%u", i) > 0);
		assert_int_equal(probe_list_add(&ctx, &m), 0);
	}
	assert_int_equal(probe_list_end(&ctx, PROBE_TARGETS_MAX + 7, 0), 0);
	assert_int_equal(ctx.cur.n, PROBE_TARGETS_MAX);
	assert_string_equal(probe_find(&ctx.cur, "dup")->addrs, "127.0.0.1");
	assert_non_null(probe_find(&ctx.cur, "n9998"));
	assert_null(probe_find(&ctx.cur, "n9999"));
	/* An empty list drops everything. */
	list(&ctx, 0, NULL, 0);
	assert_int_equal(ctx.cur.n, 0);
	probe_tick(&ctx, 0);
	assert_true(probe_wake(&ctx) == INT64_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_up_is_ok, setup_up,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refused_fails_fast,
		    setup_shut, teardown),
		cmocka_unit_test_setup_teardown(test_either_address_is_enough,
		    setup_up, teardown),
		cmocka_unit_test_setup_teardown(
		    test_every_address_dialled_at_once, setup_up, teardown),
		cmocka_unit_test(test_address_list_capped),
		cmocka_unit_test_setup_teardown(
		    test_no_usable_address_fails_at_once, setup_up, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_fails_the_round,
		    setup_up, teardown),
		cmocka_unit_test_setup_teardown(test_rounds_never_overlap,
		    setup_up, teardown),
		cmocka_unit_test_setup_teardown(
		    test_close_rounds_start_in_one_pass, setup_up, teardown),
		cmocka_unit_test_setup_teardown(test_socket_cap_queues,
		    setup_up, teardown),
		cmocka_unit_test_setup_teardown(
		    test_change_reported_once_then_confirmed, setup_up,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_slow_rounds_confirm_by_time, setup_up, teardown),
		cmocka_unit_test_setup_teardown(test_change_folds_while_unsent,
		    setup_up, teardown),
		cmocka_unit_test_setup_teardown(test_replace_keeps_resets_drops,
		    setup_up, teardown),
		cmocka_unit_test_setup_teardown(test_list_protocol_errors,
		    setup_up, teardown),
		cmocka_unit_test_setup_teardown(test_repeats_and_extras_ignored,
		    setup_up, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
