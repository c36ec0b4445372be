/* fuzz_kube_decode.c: every k8s-worker JSON decoder; byte 0 picks one */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s-worker/kube.h"

static const struct kube_sel cand = { "tuist.dev/stable-egress-candidate",
	"server" };
static const struct kube_sel active = { "tuist.dev/stable-egress-gateway",
	"server" };

/* Decode an object as each kind the worker knows. */
static void
objects(const cJSON *o)
{
	struct kube_node_obj n;
	struct kube_pod_obj p;
	struct msg_lease l;
	struct kube_status st;
	const char *where;

	kube_decode_node(o, &cand, &active, &n, &where);
	kube_decode_pod(o, &p, &where);
	kube_decode_lease(o, &l, &where);
	kube_decode_status(o, &st);
}

static void
syntax(const char *s, size_t n)
{
	struct kube_sel sel;
	char out[512];

	kube_utf8_valid(s, n);
	kube_name_valid(s);
	kube_label_name_valid(s);
	kube_microtime_valid(s);
	kube_provider_id(s);
	kube_rv_number(s);
	kube_urlenc(s, out, sizeof(out));
	if (kube_sel_parse(s, &sel) == 0)
		kube_sel_query(&sel, out, sizeof(out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_status st;
	struct kube_doc d;
	struct msg_lease l;
	const cJSON *item;
	const char *where;
	char *s;
	cJSON *o;

	if (size < 1 || size > (1u << 20))
		return 0;
	/* A NUL-terminated copy: the decoders get exact lengths, the
	 * syntax checks take C strings. */
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 6) {
	case 0:
		if (kube_decode_event(s, size - 1, &d) == 0)
			objects(d.object);
		kube_doc_free(&d);
		break;
	case 1:
		if (kube_decode_list(s, size - 1, &d) == 0)
			cJSON_ArrayForEach(item, d.object) objects(item);
		kube_doc_free(&d);
		break;
	case 2:
		kube_decode_lease_body(s, size - 1, &l, &where);
		break;
	case 3:
		kube_decode_status_body(s, size - 1, &st);
		break;
	case 4:
		if ((o = cJSON_ParseWithLength(s, size - 1)) != NULL)
			objects(o);
		cJSON_Delete(o);
		break;
	default:
		syntax(s, strlen(s));
	}
	free(s);
	return 0;
}
