/* fuzz_kubeconfig.c: the kubeconfig parser (files named in it stay closed) */
#include <stddef.h>
#include <stdint.h>

#include "k8s-worker/kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_auth a;
	struct buf *b;
	char err[PROTO_TEXT_MAX];

	if (size > KUBE_FILE_MAX)
		return 0;
	if (kube_kubeconfig_parse("/fuzz/kubeconfig", (const char *)data, size,
		KUBE_KC_NOFILES, &a, err, sizeof(err)) == 0)
		kube_auth_free(&a);
	if (kube_base64_decode((const char *)data, size, 1, &b) == 0)
		buf_free(b);
	return 0;
}
