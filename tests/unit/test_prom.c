/* test_prom.c: Prometheus text: values, escaping, families, histograms */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "supervisor/net/prom.h"

struct fixture {
	struct buf *b;
	struct prom p;
	char text[8192];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->b = buf_new(64, 64 * 1024);
	assert_non_null(f->b);
	prom_init(&f->p, f->b);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	buf_free(f->b);
	free(f);
	return 0;
}

/* The exposition so far as a C string. */
static const char *
text(struct fixture *f)
{
	assert_true(f->b->len < sizeof(f->text));
	memcpy(f->text, f->b->data, f->b->len);
	f->text[f->b->len] = '\0';
	return f->text;
}

static const char *
fmt(double v)
{
	static char out[PROM_NUM_MAX];

	assert_int_equal(prom_format_value(out, sizeof(out), v), 0);
	return out;
}

static void
test_values(void **state)
{
	(void)state;
	assert_string_equal(fmt(0), "0");
	assert_string_equal(fmt(-0.0), "0");
	assert_string_equal(fmt(1), "1");
	assert_string_equal(fmt(-42), "-42");
	assert_string_equal(fmt(1e6), "1000000");
	assert_string_equal(fmt(9007199254740993.0), "9007199254740992");
	assert_string_equal(fmt(1e18), "1000000000000000000");
	assert_string_equal(fmt(1e20), "1e+20");
	assert_string_equal(fmt(0.5), "0.5");
	assert_string_equal(fmt(0.1), "0.1");
	assert_string_equal(fmt(-2.25), "-2.25");
	assert_string_equal(fmt(1.5e-7), "1.5e-07");
	assert_string_equal(fmt(1.0 / 3), "0.3333333333333333");
	assert_string_equal(fmt(0.1 + 0.2), "0.30000000000000004");
	assert_string_equal(fmt(DBL_MAX), "1.7976931348623157e+308");
	assert_string_equal(fmt(INFINITY), "+Inf");
	assert_string_equal(fmt(-INFINITY), "-Inf");
	assert_string_equal(fmt(NAN), "NaN");
}

static void
test_value_too_long(void **state)
{
	char out[4];

	(void)state;
	assert_int_equal(prom_format_value(out, sizeof(out), 1234), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(prom_format_value(out, sizeof(out), 0.125), -1);
	assert_int_equal(prom_format_value(out, sizeof(out), INFINITY), -1);
	assert_int_equal(prom_format_value(out, sizeof(out), 123), 0);
	assert_string_equal(out, "123");
}

static void
test_families_and_samples(void **state)
{
	struct fixture *f = *state;
	static const char *const nodes[] = { "node-a", "node-b" };
	size_t i;

	assert_int_equal(prom_family(&f->p,
			     "tuist_stable_egress_gateway_available",
			     PROM_GAUGE, "1 when a fit labelled node holds it"),
	    0);
	assert_int_equal(prom_sample(&f->p, 1, NULL), 0);
	/* Per series in a loop: HELP and TYPE still once. */
	for (i = 0; i < 2; i++) {
		assert_int_equal(prom_family(&f->p,
				     "tuist_stable_egress_gateway_node_healthy",
				     PROM_GAUGE, "Latest probe per node"),
		    0);
		assert_int_equal(prom_sample(&f->p, (double)i, "node", nodes[i],
				     NULL),
		    0);
	}
	assert_int_equal(prom_family(&f->p,
			     "tuist_stable_egress_failovers_total",
			     PROM_COUNTER, "Primary assignments made"),
	    0);
	assert_int_equal(prom_sample(&f->p, 3, NULL), 0);
	assert_int_equal(prom_family(&f->p,
			     "tuist_stable_egress_gateway_active", PROM_GAUGE,
			     "1 for the gateway"),
	    0);
	assert_int_equal(prom_sample(&f->p, 1, "node", "node-a", "egress_ip",
			     "203.0.113.7", NULL),
	    0);
	assert_int_equal(prom_error(&f->p), 0);
	assert_string_equal(text(f),
	    "# HELP tuist_stable_egress_gateway_available 1 when a fit "
	    "labelled node holds it\n"
	    "# TYPE tuist_stable_egress_gateway_available gauge\n"
	    "tuist_stable_egress_gateway_available 1\n"
	    "# HELP tuist_stable_egress_gateway_node_healthy Latest probe per "
	    "node\n"
	    "# TYPE tuist_stable_egress_gateway_node_healthy gauge\n"
	    "tuist_stable_egress_gateway_node_healthy{node=\"node-a\"} 0\n"
	    "tuist_stable_egress_gateway_node_healthy{node=\"node-b\"} 1\n"
	    "# HELP tuist_stable_egress_failovers_total Primary assignments "
	    "made\n"
	    "# TYPE tuist_stable_egress_failovers_total counter\n"
	    "tuist_stable_egress_failovers_total 3\n"
	    "# HELP tuist_stable_egress_gateway_active 1 for the gateway\n"
	    "# TYPE tuist_stable_egress_gateway_active gauge\n"
	    "tuist_stable_egress_gateway_active{node=\"node-a\","
	    "egress_ip=\"203.0.113.7\"} 1\n");
}

static void
test_family_without_samples(void **state)
{
	struct fixture *f = *state;

	/* A family with no series (no gateway) is still announced once. */
	assert_int_equal(prom_family(&f->p, "x_untyped", PROM_UNTYPED, NULL),
	    0);
	assert_string_equal(text(f),
	    "# HELP x_untyped \n# TYPE x_untyped untyped\n");
}

static void
test_escaping(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(prom_family(&f->p, "esc", PROM_GAUGE,
			     "back\\slash \"quoted\"\nsecond line"),
	    0);
	assert_int_equal(prom_sample(&f->p, 1, "v", "a\\b\"c\nd", "e", "",
			     NULL),
	    0);
	/* HELP escapes backslash and newline only; label values the quote
	 * too. */
	assert_string_equal(text(f),
	    "# HELP esc back\\\\slash \"quoted\"\\nsecond line\n"
	    "# TYPE esc gauge\n"
	    "esc{v=\"a\\\\b\\\"c\\nd\",e=\"\"} 1\n");
}

static void
test_family_split_refused(void **state)
{
	struct fixture *f = *state;
	size_t len;

	assert_int_equal(prom_family(&f->p, "a", PROM_GAUGE, "A"), 0);
	assert_int_equal(prom_family(&f->p, "b", PROM_GAUGE, "B"), 0);
	len = f->b->len;
	/* "a" again after "b" would split the family: refused, sticky. */
	assert_int_equal(prom_family(&f->p, "a", PROM_GAUGE, "A"), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(prom_sample(&f->p, 1, NULL), -1);
	assert_int_equal(prom_family(&f->p, "c", PROM_GAUGE, "C"), -1);
	assert_int_equal(prom_error(&f->p), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(f->b->len, len);
}

static void
test_family_prefix_is_not_seen(void **state)
{
	struct fixture *f = *state;

	/* "ab" and "b" are other families than "abc" and "a". */
	assert_int_equal(prom_family(&f->p, "abc", PROM_GAUGE, ""), 0);
	assert_int_equal(prom_family(&f->p, "a", PROM_GAUGE, ""), 0);
	assert_int_equal(prom_family(&f->p, "ab", PROM_GAUGE, ""), 0);
	assert_int_equal(prom_family(&f->p, "b", PROM_GAUGE, ""), 0);
	assert_int_equal(prom_error(&f->p), 0);
}

static void
test_family_type_change_refused(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(prom_family(&f->p, "a", PROM_GAUGE, ""), 0);
	assert_int_equal(prom_family(&f->p, "a", PROM_COUNTER, ""), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_bad_names(void **state)
{
	static const char *const bad[] = { "", "1abc", "a-b", "a b", "é",
		"a{b}" };
	struct fixture *f = *state;
	struct prom p;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		prom_init(&p, f->b);
		assert_int_equal(prom_family(&p, bad[i], PROM_GAUGE, ""), -1);
		assert_int_equal(errno, EINVAL);
	}
	prom_init(&p, f->b);
	assert_int_equal(prom_family(&p, "ns:sub_x", PROM_GAUGE, ""), 0);
	/* Label names have no colon; a value may not be missing. */
	assert_int_equal(prom_sample(&p, 1, "a:b", "x", NULL), -1);
	prom_init(&p, f->b);
	assert_int_equal(prom_family(&p, "m", PROM_GAUGE, ""), 0);
	assert_int_equal(prom_sample(&p, 1, "_ok9", "x", NULL), 0);
	assert_int_equal(prom_sample(&p, 1, "9no", "x", NULL), -1);
}

static void
test_label_limits(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(prom_family(&f->p, "m", PROM_GAUGE, ""), 0);
	assert_int_equal(prom_sample(&f->p, 1, "a", "1", "b", "2", "c", "3",
			     "d", "4", "e", "5", "f", "6", "g", "7", "h", "8",
			     NULL),
	    0);
	assert_int_equal(prom_sample(&f->p, 1, "a", "1", "b", "2", "c", "3",
			     "d", "4", "e", "5", "f", "6", "g", "7", "h", "8",
			     "i", "9", NULL),
	    -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_sample_needs_family(void **state)
{
	struct fixture *f = *state;
	struct prom_hist h;

	assert_int_equal(prom_sample(&f->p, 1, NULL), -1);
	assert_int_equal(errno, EINVAL);
	prom_init(&f->p, f->b);
	assert_int_equal(prom_hist_init(&h, NULL, 0), 0);
	assert_int_equal(prom_family(&f->p, "g", PROM_GAUGE, ""), 0);
	assert_int_equal(prom_histogram(&f->p, &h, NULL), -1);
	prom_init(&f->p, f->b);
	assert_int_equal(prom_family(&f->p, "h", PROM_HISTOGRAM, ""), 0);
	assert_int_equal(prom_sample(&f->p, 1, NULL), -1);
}

static void
test_histogram(void **state)
{
	static const double le[] = { 0.1, 0.5, 1, 2.5 };
	struct fixture *f = *state;
	struct prom_hist h;

	assert_int_equal(prom_hist_init(&h, le, 4), 0);
	prom_hist_observe(&h, 0.05);
	prom_hist_observe(&h, 0.1); /* on a bound: that bucket */
	prom_hist_observe(&h, 0.7);
	prom_hist_observe(&h, 3);
	assert_int_equal(prom_family(&f->p,
			     "stable_egressd_failover_phase_seconds",
			     PROM_HISTOGRAM, "Failover phase durations"),
	    0);
	assert_int_equal(prom_histogram(&f->p, &h, "phase", "assign", NULL), 0);
	assert_string_equal(text(f),
	    "# HELP stable_egressd_failover_phase_seconds Failover phase "
	    "durations\n"
	    "# TYPE stable_egressd_failover_phase_seconds histogram\n"
	    "stable_egressd_failover_phase_seconds_bucket{phase=\"assign\","
	    "le=\"0.1\"} 2\n"
	    "stable_egressd_failover_phase_seconds_bucket{phase=\"assign\","
	    "le=\"0.5\"} 2\n"
	    "stable_egressd_failover_phase_seconds_bucket{phase=\"assign\","
	    "le=\"1\"} 3\n"
	    "stable_egressd_failover_phase_seconds_bucket{phase=\"assign\","
	    "le=\"2.5\"} 3\n"
	    "stable_egressd_failover_phase_seconds_bucket{phase=\"assign\","
	    "le=\"+Inf\"} 4\n"
	    "stable_egressd_failover_phase_seconds_sum{phase=\"assign\"} 3.85\n"
	    "stable_egressd_failover_phase_seconds_count{phase=\"assign\"} "
	    "4\n");
}

static void
test_histogram_unlabelled(void **state)
{
	static const double le[] = { 1 };
	struct fixture *f = *state;
	struct prom_hist h;

	assert_int_equal(prom_hist_init(&h, le, 1), 0);
	assert_int_equal(prom_family(&f->p, "h", PROM_HISTOGRAM, "H"), 0);
	assert_int_equal(prom_histogram(&f->p, &h, NULL), 0);
	assert_string_equal(text(f),
	    "# HELP h H\n# TYPE h histogram\n"
	    "h_bucket{le=\"1\"} 0\n"
	    "h_bucket{le=\"+Inf\"} 0\n"
	    "h_sum 0\n"
	    "h_count 0\n");
}

static void
test_histogram_bad_bounds(void **state)
{
	static const double desc[] = { 1, 0.5 };
	static const double dup[] = { 1, 1 };
	double many[PROM_HIST_MAX + 1], odd[1];
	struct prom_hist h;
	size_t i;

	(void)state;
	for (i = 0; i < PROM_HIST_MAX + 1; i++)
		many[i] = (double)i;
	assert_int_equal(prom_hist_init(&h, desc, 2), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(prom_hist_init(&h, dup, 2), -1);
	assert_int_equal(prom_hist_init(&h, many, PROM_HIST_MAX + 1), -1);
	assert_int_equal(prom_hist_init(&h, many, PROM_HIST_MAX), 0);
	odd[0] = NAN;
	assert_int_equal(prom_hist_init(&h, odd, 1), -1);
	odd[0] = INFINITY;
	assert_int_equal(prom_hist_init(&h, odd, 1), -1);
}

static void
test_out_full(void **state)
{
	struct buf *b = buf_new(16, 64);
	struct prom p;

	(void)state;
	assert_non_null(b);
	prom_init(&p, b);
	assert_int_equal(prom_family(&p, "a_rather_long_metric_name",
			     PROM_GAUGE, "which does not fit in 64 bytes"),
	    -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(prom_sample(&p, 1, NULL), -1);
	assert_int_equal(prom_error(&p), -1);
	assert_int_equal(errno, ERANGE);
	buf_free(b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_values),
		T(test_value_too_long),
		T(test_families_and_samples),
		T(test_family_without_samples),
		T(test_escaping),
		T(test_family_split_refused),
		T(test_family_prefix_is_not_seen),
		T(test_family_type_change_refused),
		T(test_bad_names),
		T(test_label_limits),
		T(test_sample_needs_family),
		T(test_histogram),
		T(test_histogram_unlabelled),
		T(test_histogram_bad_bounds),
		T(test_out_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
