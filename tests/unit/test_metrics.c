/* test_metrics.c: per-node probe-failure series exist only for nodes
 * the world knows, and go when the node goes */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "supervisor/sup.h"
#include "supervisor/world.h"

static void
add(struct world *w, const char *name)
{
	struct world_node_facts f;

	memset(&f, 0, sizeof(f));
	f.name = name;
	f.server_id = 1;
	f.candidate = 1;
	assert_int_equal(world_node_upsert(w, &f, 1000), 0);
}

static void
test_only_known_nodes(void **state)
{
	struct sup_metrics m;
	struct world *w = world_new();
	char name[64];
	int i;

	(void)state;
	memset(&m, 0, sizeof(m));
	add(w, "node-a");
	add(w, "node-b");
	metrics_probe_failed(&m, w, "node-a", 3);
	metrics_probe_failed(&m, w, "node-a", 2);
	metrics_probe_failed(&m, w, "node-b", 1);
	/* a probe worker inventing names gets nothing */
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "invented-%d", i);
		metrics_probe_failed(&m, w, name, 1);
	}
	assert_int_equal(m.n_fails, 2);
	assert_string_equal(m.fails[0].name, "node-a");
	assert_int_equal(m.fails[0].n, 5);
	world_node_remove(w, "node-a");
	metrics_probe_prune(&m, w);
	assert_int_equal(m.n_fails, 1);
	assert_string_equal(m.fails[0].name, "node-b");
	metrics_free(&m);
	world_free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_known_nodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
