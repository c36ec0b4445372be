/* jsonmem.c: cJSON's memory, counted and capped per reply */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "kube.h"

/*
 * cJSON's hooks are process-wide functions without a context pointer,
 * so the count lives here and not in struct kube_ctx.  Only
 * allocations made while kube_json_parse() runs are counted: the tree
 * of one reply is built then, and a reply is parsed and freed before
 * the next, so the cap bounds cJSON's share of the heap.  Frees are
 * plain free(): request bodies printed by cJSON are released by
 * free() elsewhere, and nothing needs a header on the block.
 */
static struct {
	size_t cap; /* per parse; 0: no hooks installed */
	size_t used; /* by the parse running now */
	int active;
	int over; /* the running parse was refused memory */
} jm;

static void *
counted_malloc(size_t n)
{
	if (jm.active) {
		if (n > jm.cap || jm.used > jm.cap - n) {
			jm.over = 1;
			return NULL;
		}
		jm.used += n;
	}
	return malloc(n);
}

void
kube_json_init(size_t cap)
{
	cJSON_Hooks h = { counted_malloc, free };

	jm.cap = cap;
	cJSON_InitHooks(&h);
}

int
kube_json_parse(const char *text, size_t n, cJSON **out)
{
	jm.used = 0;
	jm.over = 0;
	jm.active = jm.cap > 0;
	*out = cJSON_ParseWithLength(text, n);
	jm.active = 0;
	if (*out != NULL)
		return 0;
	/* cJSON freed its partial tree on the failed allocation. */
	return jm.over ? KUBE_ERR_MEMORY : KUBE_ERR_JSON;
}
