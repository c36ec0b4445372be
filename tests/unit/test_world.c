/* test_world.c: the world model: nodes, timers, snapshots, pods, FIPs */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "supervisor/config/allowlist.h"
#include "supervisor/world.h"

#define T0 5000000
#define SEC 1000

static int
setup(void **state)
{
	*state = world_new();
	return *state == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	world_free(*state);
	return 0;
}

static int
put(struct world *w, const char *name, uint64_t sid, int labelled, int64_t now)
{
	struct world_node_facts f = { name, sid, "10.0.0.1 198.51.100.1", 1, 0,
		0, 1, labelled };

	return world_node_upsert(w, &f, now);
}

static void
test_new_world_is_empty(void **state)
{
	struct world *w = *state;

	assert_int_equal(world_node_count(w), 0);
	assert_null(world_node_at(w, 0));
	assert_null(world_node_find(w, "a"));
	assert_int_equal(world_fip_get(w, 0)->known, 0);
	assert_null(world_fip_get(w, WORLD_FIP_MAX));
	assert_null(world_fip_get(w, -1));
	assert_int_equal(world_reread_pending(w), 0);
	assert_int_equal(world_label_holder_pending(w), 0);
	world_free(NULL);
}

static void
test_upsert_rejects_bad_facts(void **state)
{
	struct world *w = *state;
	struct world_node_facts f = { "a", 1, NULL, 1, 0, 0, 1, 0 };
	char name[WORLD_NAME_MAX + 2], ip[WORLD_ADDRS_LEN + 1];

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memset(ip, '1', sizeof(ip) - 1);
	ip[sizeof(ip) - 1] = '\0';
	errno = 0;
	assert_int_equal(world_node_upsert(w, NULL, T0), -1);
	assert_int_equal(errno, EINVAL);
	f.name = NULL;
	assert_int_equal(world_node_upsert(w, &f, T0), -1);
	f.name = "";
	assert_int_equal(world_node_upsert(w, &f, T0), -1);
	f.name = name; /* 254 characters */
	assert_int_equal(world_node_upsert(w, &f, T0), -1);
	name[WORLD_NAME_MAX] = '\0'; /* 253: the longest name */
	assert_int_equal(world_node_upsert(w, &f, T0), 0);
	f.name = "b";
	f.addrs = ip; /* one character past the longest list */
	assert_int_equal(world_node_upsert(w, &f, T0), -1);
	ip[WORLD_ADDRS_LEN - 1] = '\0'; /* the longest list is kept whole */
	assert_int_equal(world_node_upsert(w, &f, T0), 0);
	assert_string_equal(world_node_find(w, "b")->addrs, ip);
	world_node_remove(w, "b");
	assert_int_equal(world_node_count(w), 1);
	assert_int_equal(world_node_at(w, 0)->name_len, WORLD_NAME_MAX);
	assert_string_equal(world_node_at(w, 0)->addrs, "");
}

static void
test_nodes_sorted_and_found(void **state)
{
	struct world *w = *state;
	static const char *in[] = { "m", "c", "x", "a", "k", "aa", "b" };
	static const char *want[] = { "a", "aa", "b", "c", "k", "m", "x" };
	size_t i;

	for (i = 0; i < 7; i++)
		assert_int_equal(put(w, in[i], i + 1, 0, T0), 0);
	assert_int_equal(world_node_count(w), 7);
	for (i = 0; i < 7; i++)
		assert_string_equal(world_node_at(w, i)->name, want[i]);
	assert_int_equal(world_node_find(w, "k")->server_id, 5);
	assert_null(world_node_find(w, "kk"));
	assert_null(world_node_find(w, NULL));
}

static void
test_upsert_updates_facts(void **state)
{
	struct world *w = *state;
	struct world_node_facts f = { "a", 1, "10.0.0.2 2001:db8::2", 0, 1, 1,
		0, 1 };
	const struct world_node *n;

	assert_int_equal(put(w, "a", 1, 0, T0), 0);
	assert_int_equal(world_node_upsert(w, &f, T0 + SEC), 0);
	n = world_node_find(w, "a");
	assert_int_equal(world_node_count(w), 1);
	assert_string_equal(n->addrs, "10.0.0.2 2001:db8::2");
	assert_true(!n->ready && n->unschedulable && n->deleting &&
	    !n->candidate && n->labelled);
}

static void
test_server_change_forgets_machine(void **state)
{
	struct world *w = *state;
	const struct world_node *n;

	assert_int_equal(put(w, "a", 1, 0, T0), 0);
	world_probe_result(w, "a", 0, T0);
	world_move_result(w, "a", WORLD_MOVE_FAILED, T0);
	world_move_result(w, "a", WORLD_MOVE_REFUSED, T0);
	n = world_node_find(w, "a");
	assert_int_equal(n->move.failures, 1);
	/* same server: nothing forgotten */
	assert_int_equal(put(w, "a", 1, 0, T0 + SEC), 0);
	assert_int_equal(n->probe, WORLD_PROBE_FAILING);
	assert_int_equal(put(w, "a", 2, 0, T0 + SEC), 0);
	assert_int_equal(n->probe, WORLD_PROBE_NEVER);
	assert_int_equal(n->move.failures, 0);
	assert_int_equal(n->refused, 0);
}

static void
test_remove(void **state)
{
	struct world *w = *state;

	assert_int_equal(put(w, "a", 1, 0, T0), 0);
	assert_int_equal(put(w, "b", 2, 0, T0), 0);
	assert_int_equal(put(w, "c", 3, 0, T0), 0);
	world_node_remove(w, "b");
	world_node_remove(w, "b");
	world_node_remove(w, "zz");
	world_node_remove(w, NULL);
	assert_int_equal(world_node_count(w), 2);
	assert_string_equal(world_node_at(w, 0)->name, "a");
	assert_string_equal(world_node_at(w, 1)->name, "c");
	/* back again: a new record, never probed */
	world_probe_result(w, "a", 1, T0);
	world_node_remove(w, "a");
	assert_int_equal(put(w, "a", 1, 0, T0), 0);
	assert_int_equal(world_node_find(w, "a")->probe, WORLD_PROBE_NEVER);
}

static void
test_snapshot_mark_sweep(void **state)
{
	struct world *w = *state;

	assert_int_equal(put(w, "a", 1, 0, T0), 0);
	assert_int_equal(put(w, "b", 2, 0, T0), 0);
	assert_int_equal(put(w, "c", 3, 0, T0), 0);
	world_probe_result(w, "c", 0, T0);
	world_nodes_mark(w);
	assert_int_equal(put(w, "c", 3, 1, T0 + SEC), 0);
	assert_int_equal(put(w, "d", 4, 0, T0 + SEC), 0);
	world_nodes_sweep(w);
	assert_int_equal(world_node_count(w), 2);
	assert_string_equal(world_node_at(w, 0)->name, "c");
	assert_string_equal(world_node_at(w, 1)->name, "d");
	/* a survivor keeps its timers */
	assert_int_equal(world_node_find(w, "c")->failing_since, T0);
	/* an empty snapshot empties the world */
	world_nodes_mark(w);
	world_nodes_sweep(w);
	assert_int_equal(world_node_count(w), 0);
}

static void
test_probe_timers(void **state)
{
	struct world *w = *state;
	const struct world_node *n;

	assert_int_equal(put(w, "a", 1, 0, T0), 0);
	n = world_node_find(w, "a");
	assert_int_equal(n->probe, WORLD_PROBE_NEVER);
	world_probe_result(w, "a", 0, T0 + SEC);
	world_probe_result(w, "a", 0, T0 + 2 * SEC);
	assert_int_equal(n->probe, WORLD_PROBE_FAILING);
	assert_int_equal(n->failing_since, T0 + SEC); /* continuous */
	assert_int_equal(n->probed_at, T0 + 2 * SEC);
	world_probe_result(w, "a", 1, T0 + 3 * SEC);
	assert_int_equal(n->probe, WORLD_PROBE_OK);
	world_probe_result(w, "a", 0, T0 + 4 * SEC);
	assert_int_equal(n->failing_since, T0 + 4 * SEC); /* restarted */
	world_probe_result(w, "nope", 0, T0);
	world_probe_result(w, NULL, 0, T0);
	assert_int_equal(world_node_count(w), 1);
}

static void
test_unprepared_since_creation(void **state)
{
	struct world *w = *state;
	const struct world_node *n;

	assert_int_equal(put(w, "a", 1, 0, T0), 0);
	n = world_node_find(w, "a");
	assert_int_equal(world_node_prepared(n), 0);
	assert_int_equal(n->unprepared_since, T0);
	assert_int_equal(world_pod_upsert(w, "agent-1", "a", 0, T0 + SEC), 0);
	assert_int_equal(world_node_prepared(n), 0);
	assert_int_equal(n->unprepared_since, T0); /* still unprepared */
	assert_int_equal(world_pod_upsert(w, "agent-1", "a", 1, T0 + SEC), 0);
	assert_int_equal(world_node_prepared(n), 1);
	assert_int_equal(world_pod_upsert(w, "agent-1", "a", 0, T0 + 9 * SEC),
	    0);
	assert_int_equal(world_node_prepared(n), 0);
	assert_int_equal(n->unprepared_since, T0 + 9 * SEC);
	assert_int_equal(world_node_prepared(NULL), 0);
}

static void
test_pods_before_nodes(void **state)
{
	struct world *w = *state;

	assert_int_equal(world_pod_upsert(w, "agent-1", "a", 1, T0), 0);
	assert_int_equal(world_pod_upsert(w, "agent-2", "a", 1, T0), 0);
	assert_int_equal(world_pod_upsert(w, "agent-3", "b", 0, T0), 0);
	assert_int_equal(put(w, "a", 1, 0, T0 + SEC), 0);
	assert_int_equal(put(w, "b", 2, 0, T0 + SEC), 0);
	assert_int_equal(world_node_find(w, "a")->ready_pods, 2);
	assert_int_equal(world_node_prepared(world_node_find(w, "b")), 0);
	/* one of two gone: still prepared */
	world_pod_remove(w, "agent-1", T0 + 2 * SEC);
	assert_int_equal(world_node_prepared(world_node_find(w, "a")), 1);
	world_pod_remove(w, "agent-2", T0 + 3 * SEC);
	assert_int_equal(world_node_prepared(world_node_find(w, "a")), 0);
	assert_int_equal(world_node_find(w, "a")->unprepared_since,
	    T0 + 3 * SEC);
	world_pod_remove(w, "agent-2", T0 + 4 * SEC); /* gone already */
	world_pod_remove(w, NULL, T0);
	/* the node goes and comes back: its pods count again */
	assert_int_equal(world_pod_upsert(w, "agent-4", "a", 1, T0), 0);
	world_node_remove(w, "a");
	assert_int_equal(put(w, "a", 1, 0, T0 + 5 * SEC), 0);
	assert_int_equal(world_node_prepared(world_node_find(w, "a")), 1);
}

static void
test_pod_moves_node(void **state)
{
	struct world *w = *state;

	assert_int_equal(put(w, "a", 1, 0, T0), 0);
	assert_int_equal(put(w, "b", 2, 0, T0), 0);
	assert_int_equal(world_pod_upsert(w, "agent", "a", 1, T0), 0);
	assert_int_equal(world_pod_upsert(w, "agent", "b", 1, T0 + SEC), 0);
	assert_int_equal(world_node_prepared(world_node_find(w, "a")), 0);
	assert_int_equal(world_node_find(w, "a")->unprepared_since, T0 + SEC);
	assert_int_equal(world_node_prepared(world_node_find(w, "b")), 1);
	/* unscheduled (no node): counts nowhere */
	assert_int_equal(world_pod_upsert(w, "agent", "", 1, T0 + 2 * SEC), 0);
	assert_int_equal(world_pod_upsert(w, "agent2", NULL, 1, T0), 0);
	assert_int_equal(world_node_prepared(world_node_find(w, "b")), 0);
}

static void
test_pod_rejects_bad_names(void **state)
{
	struct world *w = *state;
	char name[WORLD_NAME_MAX + 2];

	memset(name, 'p', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	errno = 0;
	assert_int_equal(world_pod_upsert(w, NULL, "a", 1, T0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(world_pod_upsert(w, "", "a", 1, T0), -1);
	assert_int_equal(world_pod_upsert(w, name, "a", 1, T0), -1);
	assert_int_equal(world_pod_upsert(w, "p", name, 1, T0), -1);
	assert_int_equal(world_pod_upsert(NULL, "p", "a", 1, T0), -1);
}

static void
test_pods_mark_sweep(void **state)
{
	struct world *w = *state;

	assert_int_equal(put(w, "a", 1, 0, T0), 0);
	assert_int_equal(put(w, "b", 2, 0, T0), 0);
	assert_int_equal(world_pod_upsert(w, "agent-a", "a", 1, T0), 0);
	assert_int_equal(world_pod_upsert(w, "agent-b", "b", 1, T0), 0);
	world_pods_mark(w);
	assert_int_equal(world_pod_upsert(w, "agent-b", "b", 1, T0 + SEC), 0);
	world_pods_sweep(w, T0 + 2 * SEC);
	assert_int_equal(world_node_prepared(world_node_find(w, "a")), 0);
	assert_int_equal(world_node_find(w, "a")->unprepared_since,
	    T0 + 2 * SEC);
	assert_int_equal(world_node_prepared(world_node_find(w, "b")), 1);
	assert_int_equal(w->n_pods, 1);
}

static void
test_fip_set_and_allowlist(void **state)
{
	struct world *w = *state;
	struct allowlist al;
	const struct world_fip *f;

	assert_int_equal(allowlist_parse(&al, "203.0.113.0/24, 2001:db8::/32",
			     NULL, 0),
	    0);
	world_fip_set(w, 0, 42, "203.0.113.7", 0, 9, 0, &al, T0);
	f = world_fip_get(w, 0);
	assert_true(f->known && f->id == 42 && f->server_id == 9);
	assert_true(f->in_allowlist && !f->is_v6 && f->read_at == T0);
	world_fip_set(w, 1, 43, "198.51.100.1", 0, 0, 0, &al, T0);
	assert_int_equal(world_fip_get(w, 1)->in_allowlist, 0);
	world_fip_set(w, 2, 44, "2001:db8:1:2::/64", 1, 0, 0, &al, T0);
	assert_int_equal(world_fip_get(w, 2)->in_allowlist, 1);
	world_fip_set(w, 3, 45, "2001:db9:1:2::/64", 1, 0, 0, &al, T0);
	assert_int_equal(world_fip_get(w, 3)->in_allowlist, 0);
	world_fip_set(w, 4, 46, "198.51.100.1", 0, 0, 0, NULL, T0);
	assert_int_equal(world_fip_get(w, 4)->in_allowlist, 1);
	/* an address too long to hold: forgotten, not trusted */
	world_fip_set(w, 4, 46,
	    "2001:0db8:0000:0000:0000:0000:0000:0001/64"
	    "xxxxxxxxxxxxxxxxxxxxxxxx",
	    1, 0, 0, NULL, T0);
	assert_int_equal(world_fip_get(w, 4)->known, 0);
	world_fip_unknown(w, 1);
	assert_int_equal(world_fip_get(w, 1)->known, 0);
	world_fip_set(w, WORLD_FIP_MAX, 1, "203.0.113.7", 0, 0, 0, &al, T0);
	world_fip_set(w, -1, 1, "203.0.113.7", 0, 0, 0, &al, T0);
	world_fip_unknown(w, WORLD_FIP_MAX);
}

static void
test_move_results(void **state)
{
	struct world *w = *state;
	const struct world_node *n;

	assert_int_equal(put(w, "a", 7, 0, T0), 0);
	n = world_node_find(w, "a");
	world_fip_set(w, 0, 42, "203.0.113.7", 0, 9, 0, NULL, T0);
	world_move_result(w, "a", WORLD_MOVE_FAILED, T0);
	world_move_result(w, "a", WORLD_MOVE_UNKNOWN, T0 + SEC);
	assert_int_equal(n->move.failures, 2);
	assert_int_equal(n->move.failed_at, T0 + SEC);
	assert_true(world_reread_pending(w) && world_label_holder_pending(w));
	/* a read with an action running does not end the re-read */
	world_fip_set(w, 0, 42, "203.0.113.7", 0, 9, 1, NULL, T0);
	assert_int_equal(world_reread_pending(w), 1);
	world_fip_set(w, 0, 42, "203.0.113.7", 0, 9, 0, NULL, T0);
	assert_int_equal(world_reread_pending(w), 0);
	assert_int_equal(world_label_holder_pending(w), 1);
	world_label_holder_done(w);
	assert_int_equal(world_label_holder_pending(w), 0);
	world_move_result(w, "a", WORLD_MOVE_OK, T0 + 2 * SEC);
	assert_int_equal(n->move.failures, 0);
	assert_int_equal(world_fip_get(w, 0)->server_id, 7);
	assert_int_equal(world_reread_pending(w), 0);
	world_move_result(w, "a", WORLD_MOVE_REFUSED, T0 + 3 * SEC);
	assert_true(n->refused && n->refused_at == T0 + 3 * SEC);
	assert_int_equal(n->move.failures, 0);
	assert_int_equal(world_label_holder_pending(w), 1);
}

/* Refused before anything was sent: skipped, holder labelled, no read. */
static void
test_move_refused_unsent(void **state)
{
	struct world *w = *state;
	const struct world_node *n;

	assert_int_equal(put(w, "a", 7, 0, T0), 0);
	n = world_node_find(w, "a");
	world_fip_set(w, 0, 42, "203.0.113.7", 0, 9, 0, NULL, T0);
	world_move_result(w, "a", WORLD_MOVE_REFUSED_UNSENT, T0 + SEC);
	assert_true(n->refused && n->refused_at == T0 + SEC);
	assert_int_equal(n->move.failures, 0);
	assert_int_equal(world_reread_pending(w), 0);
	assert_int_equal(world_label_holder_pending(w), 1);
	assert_int_equal(world_fip_get(w, 0)->server_id, 9);
}

/* The fast path's word on a server lasts until the probe answers. */
static void
test_server_result(void **state)
{
	struct world *w = *state;
	const struct world_node *n;

	assert_int_equal(put(w, "a", 7, 0, T0), 0);
	n = world_node_find(w, "a");
	assert_int_equal(n->server, WORLD_SERVER_UNKNOWN);
	world_probe_result(w, "a", 0, T0);
	world_server_result(w, "a", WORLD_SERVER_OFF, T0 + SEC);
	world_server_result(w, "gone", WORLD_SERVER_OFF, T0 + SEC);
	assert_int_equal(n->server, WORLD_SERVER_OFF);
	assert_int_equal(n->server_read_at, T0 + SEC);
	world_probe_result(w, "a", 0, T0 + 2 * SEC);
	assert_int_equal(n->server, WORLD_SERVER_OFF);
	world_probe_result(w, "a", 1, T0 + 3 * SEC);
	assert_int_equal(n->server, WORLD_SERVER_UNKNOWN);
	world_server_result(w, "a", WORLD_SERVER_OFF, T0 + 4 * SEC);
	assert_int_equal(put(w, "a", 8, 0, T0 + 5 * SEC), 0); /* replaced */
	assert_int_equal(n->server, WORLD_SERVER_UNKNOWN);
}

static void
test_move_result_unknown_node(void **state)
{
	struct world *w = *state;

	/* the node vanished meanwhile: where the IP went must be read */
	world_move_result(w, "gone", WORLD_MOVE_OK, T0);
	assert_int_equal(world_reread_pending(w), 1);
	assert_int_equal(world_label_holder_pending(w), 0);
	world_move_result(w, "gone", WORLD_MOVE_FAILED, T0);
	assert_int_equal(world_label_holder_pending(w), 1);
}

static void
test_additional_backoff_facts(void **state)
{
	struct world *w = *state;

	world_fip_set(w, 1, 50, "203.0.113.8", 0, 0, 0, NULL, T0);
	world_additional_result(w, 1, 0, T0);
	world_additional_result(w, 1, 0, T0 + SEC);
	assert_int_equal(world_fip_get(w, 1)->backoff.failures, 2);
	assert_int_equal(world_fip_get(w, 1)->backoff.failed_at, T0 + SEC);
	/* a re-read of the same IP keeps the count; another IP resets */
	world_fip_set(w, 1, 50, "203.0.113.8", 0, 0, 0, NULL, T0);
	assert_int_equal(world_fip_get(w, 1)->backoff.failures, 2);
	world_fip_set(w, 1, 51, "203.0.113.9", 0, 0, 0, NULL, T0);
	assert_int_equal(world_fip_get(w, 1)->backoff.failures, 0);
	world_additional_result(w, 1, 0, T0);
	world_additional_result(w, 1, 1, T0);
	assert_int_equal(world_fip_get(w, 1)->backoff.failures, 0);
	world_additional_result(w, 0, 0, T0); /* the primary: ignored */
	world_additional_result(w, WORLD_FIP_MAX, 0, T0);
	assert_int_equal(world_fip_get(w, 0)->backoff.failures, 0);
}

static void
test_node_limit(void **state)
{
	struct world *w = *state;
	char name[16];
	size_t i;

	/* in name order: appends, so this stays fast */
	for (i = 0; i < WORLD_NODES_MAX; i++) {
		snprintf(name, sizeof(name), "n%06zu", i);
		assert_int_equal(put(w, name, i + 1, 0, T0), 0);
	}
	errno = 0;
	assert_int_equal(put(w, "z", 1, 0, T0), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(put(w, "n000007", 1, 1, T0), 0); /* update */
	assert_int_equal(world_node_count(w), WORLD_NODES_MAX);
}

static void
test_null_world_is_harmless(void **state)
{
	(void)state;
	assert_int_equal(put(NULL, "a", 1, 0, T0), -1);
	world_node_remove(NULL, "a");
	world_nodes_mark(NULL);
	world_nodes_sweep(NULL);
	world_pods_mark(NULL);
	world_pods_sweep(NULL, T0);
	world_pod_remove(NULL, "p", T0);
	world_probe_result(NULL, "a", 1, T0);
	world_fip_set(NULL, 0, 1, "203.0.113.7", 0, 0, 0, NULL, T0);
	world_fip_unknown(NULL, 0);
	world_move_result(NULL, "a", WORLD_MOVE_OK, T0);
	world_additional_result(NULL, 1, 1, T0);
	world_label_holder_done(NULL);
	assert_int_equal(world_node_count(NULL), 0);
	assert_null(world_node_at(NULL, 0));
	assert_null(world_node_find(NULL, "a"));
	assert_null(world_fip_get(NULL, 0));
	assert_int_equal(world_reread_pending(NULL), 0);
	assert_int_equal(world_label_holder_pending(NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_new_world_is_empty),
		T(test_upsert_rejects_bad_facts),
		T(test_nodes_sorted_and_found),
		T(test_upsert_updates_facts),
		T(test_server_change_forgets_machine),
		T(test_remove),
		T(test_snapshot_mark_sweep),
		T(test_probe_timers),
		T(test_unprepared_since_creation),
		T(test_pods_before_nodes),
		T(test_pod_moves_node),
		T(test_pod_rejects_bad_names),
		T(test_pods_mark_sweep),
		T(test_fip_set_and_allowlist),
		T(test_move_results),
		T(test_move_refused_unsent),
		T(test_server_result),
		T(test_move_result_unknown_node),
		T(test_additional_backoff_facts),
		T(test_node_limit),
		T(test_null_world_is_harmless),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
