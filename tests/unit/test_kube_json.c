/* test_kube_json.c: the k8s worker's per-reply cap on cJSON's memory */
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "k8s-worker/kube.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#endif

/* A Node with 40 images, as kubelets report them: a realistic share
 * of keys and strings per byte. */
static char *
node(int i)
{
	char *s = malloc(8192), img[160];
	size_t n;
	int k;

	assert_non_null(s);
	n = (size_t)snprintf(s, 8192,
	    "{\"metadata\":{\"name\":\"worker-%d\",\"resourceVersion\":\"%d\","
	    "\"labels\":{\"tuist.dev/stable-egress-candidate\":\"server\"}},"
	    "\"spec\":{\"providerID\":\"hcloud://%d\"},\"status\":{"
	    "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
	    "\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.0.%d\""
	    "}],\"images\":[",
	    i, i, 1000 + i, i % 250 + 1);
	for (k = 0; k < 40; k++) {
		snprintf(img, sizeof(img),
		    "%s{\"names\":[\"registry.example/team/image-%d@sha256:"
		    "%032d\"],\"sizeBytes\":%d}",
		    k ? "," : "", k, k, 1000000 + k);
		memcpy(s + n, img, strlen(img));
		n += strlen(img);
	}
	memcpy(s + n, "]}}", 4);
	return s;
}

/* {"metadata":..,"items":[ item x count ]} */
static char *
page(const char *item, size_t count, size_t *len)
{
	static const char head[] =
	    "{\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[";
	size_t il = strlen(item), i, n = 0;
	char *s = malloc(sizeof(head) + count * (il + 1) + 4);

	assert_non_null(s);
	memcpy(s, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	for (i = 0; i < count; i++) {
		if (i)
			s[n++] = ',';
		memcpy(s + n, item, il);
		n += il;
	}
	memcpy(s + n, "]}", 3);
	*len = n + 2;
	return s;
}

/* 4 MiB (the reply cap) of empty objects: ~100 MiB as a tree. */
static char *
pathological(size_t *len)
{
	return page("{}", (KUBE_REPLY_MAX - 64) / 3, len);
}

static void
test_real_page_fits(void **state)
{
	struct kube_doc d;
	char *n = node(7), *p;
	size_t len;

	(void)state;
	kube_json_init(KUBE_JSON_MAX);
	p = page(n, KUBE_PAGE_LIMIT, &len);
	assert_true(len < KUBE_REPLY_MAX);
	assert_int_equal(kube_decode_list(p, len, &d), 0);
	assert_int_equal(cJSON_GetArraySize(d.object), KUBE_PAGE_LIMIT);
	kube_doc_free(&d);
	free(p);
	free(n);
}

static void
test_pathological_page_refused(void **state)
{
	struct kube_doc d;
	size_t len;
	char *p = pathological(&len);

	(void)state;
	kube_json_init(KUBE_JSON_MAX);
	assert_true(len <= KUBE_REPLY_MAX);
	assert_int_equal(kube_decode_list(p, len, &d), KUBE_ERR_MEMORY);
	assert_null(d.root);
	kube_doc_free(&d);
	free(p);
	assert_string_equal(kube_strerror(KUBE_ERR_MEMORY),
	    "over the JSON memory budget");
}

/* One watch line (at most KUBE_LINE_MAX) with a Node of 600,000 keys. */
static void
test_huge_event_refused_next_fits(void **state)
{
	static const char head[] = "{\"type\":\"ADDED\",\"object\":{\"metadata"
				   "\":{\"resourceVersion\":\"5\"},\"x\":[";
	size_t n = 0, i, max = KUBE_LINE_MAX;
	struct kube_doc d;
	char *line = malloc(max), *ok;

	(void)state;
	kube_json_init(KUBE_JSON_MAX);
	assert_non_null(line);
	memcpy(line, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	for (i = 0; n + 8 < max; i++) {
		memcpy(line + n, i ? ",[]" : "[]", i ? 3 : 2);
		n += i ? 3 : 2;
	}
	memcpy(line + n, "]}}", 3);
	n += 3;
	assert_int_equal(kube_decode_event(line, n, &d), KUBE_ERR_MEMORY);
	kube_doc_free(&d);
	free(line);
	/* The budget is per reply: the next event decodes. */
	ok = "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{"
	     "\"resourceVersion\":\"6\"}}}";
	assert_int_equal(kube_decode_event(ok, strlen(ok), &d), 0);
	assert_string_equal(d.rv, "6");
	kube_doc_free(&d);
	assert_int_equal(kube_decode_event("{", 1, &d), KUBE_ERR_JSON);
	kube_doc_free(&d);
}

/* Bodies cJSON prints are released with free() by the HTTP code. */
static void
test_printed_body_is_plain_malloc(void **state)
{
	cJSON *o;
	char *body;

	(void)state;
	kube_json_init(KUBE_JSON_MAX);
	o = cJSON_CreateObject();
	assert_non_null(cJSON_AddStringToObject(o, "k", "v"));
	body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	assert_string_equal(body, "{\"k\":\"v\"}");
	free(body);
}

/*
 * In a child whose data segment is limited as a 64 MiB pod's memory:
 * the pathological page is refused with the budget; without it, the
 * same page runs the process out of memory (in a pod: the OOM kill).
 */
static int
in_64mib(size_t cap)
{
	struct rlimit rl = { 64u << 20, 64u << 20 };
	struct kube_doc d;
	size_t len;
	char *p = pathological(&len);
	pid_t pid;
	int st, rc;

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		kube_json_init(cap);
		if (setrlimit(RLIMIT_DATA, &rl) == -1)
			_exit(100);
		rc = kube_decode_list(p, len, &d);
		_exit(rc == KUBE_ERR_MEMORY ? 0 : rc == KUBE_ERR_JSON ? 1 : 2);
	}
	free(p);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
test_bounded_in_a_64mib_pod(void **state)
{
	(void)state;
#ifdef UNDER_ASAN
	skip(); /* ASan's shadow memory does not fit such a limit */
#endif
	assert_int_equal(in_64mib(KUBE_JSON_MAX), 0);
	/* Without a cap the allocator runs dry (cJSON: not JSON). */
	assert_int_equal(in_64mib(0), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_page_fits),
		cmocka_unit_test(test_pathological_page_refused),
		cmocka_unit_test(test_huge_event_refused_next_fits),
		cmocka_unit_test(test_printed_body_is_plain_malloc),
		cmocka_unit_test(test_bounded_in_a_64mib_pod),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
