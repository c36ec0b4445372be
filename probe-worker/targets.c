/* targets.c: the probe target list, received whole and swapped in at END */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/str.h"
#include "probe.h"

/* FNV-1a: names come from the supervisor and are at most 10,000. */
static size_t
name_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

/* The index slot holding node, or the empty slot where it would go. */
static struct probe_target **
set_slot(const struct probe_set *s, const char *node)
{
	size_t i = name_hash(node) & (s->idxcap - 1);

	while (s->idx[i] != NULL && strcmp(s->idx[i]->node, node) != 0)
		i = (i + 1) & (s->idxcap - 1);
	return &s->idx[i];
}

struct probe_target *
probe_find(const struct probe_set *s, const char *node)
{
	if (s->idxcap == 0)
		return NULL;
	return *set_slot(s, node);
}

static int
set_grow(struct probe_set *s)
{
	struct probe_target **t, **idx, **old = s->idx;
	size_t i, cap, oldcap = s->idxcap;

	if (s->n == s->cap) {
		cap = s->cap == 0 ? 64 : s->cap * 2;
		if ((t = reallocarray(s->t, cap, sizeof(*t))) == NULL)
			return -1;
		s->t = t;
		s->cap = cap;
	}
	if (2 * (s->n + 1) <= s->idxcap)
		return 0;
	cap = oldcap == 0 ? 128 : oldcap * 2;
	if ((idx = calloc(cap, sizeof(*idx))) == NULL)
		return -1;
	s->idx = idx;
	s->idxcap = cap;
	for (i = 0; i < oldcap; i++)
		if (old[i] != NULL)
			*set_slot(s, old[i]->node) = old[i];
	free(old);
	return 0;
}

static void
set_clear(struct probe_set *s)
{
	free(s->t);
	free(s->idx);
	memset(s, 0, sizeof(*s));
}

/* Free the targets of a list that was never swapped in. */
static void
staged_free(struct probe_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->next.n; i++)
		free(ctx->next.t[i]);
	set_clear(&ctx->next);
}

int
probe_list_begin(struct probe_ctx *ctx)
{
	if (ctx->listing) {
		errno = EPROTO;
		return -1;
	}
	ctx->listing = 1;
	ctx->received = ctx->dropped = 0;
	return 0;
}

int
probe_list_add(struct probe_ctx *ctx, const struct msg_probe_target *m)
{
	struct probe_target *t;
	size_t naddr;

	if (!ctx->listing) {
		errno = EPROTO;
		return -1;
	}
	ctx->received++;
	if (ctx->next.n >= PROBE_TARGETS_MAX ||
	    probe_find(&ctx->next, m->node) != NULL) {
		ctx->dropped++;
		return 0;
	}
	/* a[] is sized to the list, so a target with one address costs
	 * one probe_addr however long the cap. */
	naddr = probe_addrs_count(m->addrs);
	if ((t = calloc(1, sizeof(*t) + naddr * sizeof(t->a[0]))) == NULL ||
	    set_grow(&ctx->next) == -1)
		goto out_free;
	t->naddr = naddr;
	/* The decoder bounded every field by the same sizes. */
	if (str_copy(t->node, sizeof(t->node), m->node) == -1 ||
	    str_copy(t->addrs, sizeof(t->addrs), m->addrs) == -1)
		goto out_free;
	*set_slot(&ctx->next, t->node) = t;
	ctx->next.t[ctx->next.n++] = t;
	return 0;
out_free:
	free(t);
	return -1;
}

/* Swap next in for cur: unchanged targets carry over whole, with their
 * sockets, schedule and last report; changed addresses start afresh. */
static void
list_apply(struct probe_ctx *ctx, int64_t now)
{
	struct probe_target *t, *old;
	size_t i;

	for (i = 0; i < ctx->next.n; i++) {
		t = ctx->next.t[i];
		old = probe_find(&ctx->cur, t->node);
		if (old != NULL && strcmp(old->addrs, t->addrs) == 0) {
			old->kept = 1;
			ctx->next.t[i] = old;
			*set_slot(&ctx->next, t->node) = old;
			free(t);
		} else
			probe_target_init(ctx, t, now);
	}
	for (i = 0; i < ctx->cur.n; i++) {
		t = ctx->cur.t[i];
		if (t->kept)
			t->kept = 0;
		else
			probe_target_drop(ctx, t);
	}
	set_clear(&ctx->cur);
	ctx->cur = ctx->next;
	memset(&ctx->next, 0, sizeof(ctx->next));
}

int
probe_list_end(struct probe_ctx *ctx, uint32_t count, int64_t now)
{
	char n1[24], n2[24], n3[24];

	if (!ctx->listing) {
		errno = EPROTO;
		return -1;
	}
	ctx->listing = 0;
	if (count != ctx->received) {
		staged_free(ctx);
		errno = EPROTO;
		return -1;
	}
	if (ctx->dropped > 0)
		log_warn("probe targets ignored: over the limit or repeated",
		    "received", probe_num(n1, sizeof(n1), ctx->received),
		    "ignored", probe_num(n2, sizeof(n2), ctx->dropped), "limit",
		    probe_num(n3, sizeof(n3), PROBE_TARGETS_MAX), NULL);
	list_apply(ctx, now);
	log_debug("probe targets applied", "count",
	    probe_num(n1, sizeof(n1), (long long)ctx->cur.n), NULL);
	return 0;
}

int
probe_init(struct probe_ctx *ctx, uint16_t port, int64_t timeout,
    int64_t interval, size_t maxactive)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->fd = -1;
	ctx->port = port;
	ctx->timeout = timeout;
	ctx->interval = interval;
	ctx->due = INT64_MAX;
	ctx->maxactive = maxactive;
	TAILQ_INIT(&ctx->waitq);
	TAILQ_INIT(&ctx->outq);
	if ((ctx->active = calloc(maxactive, sizeof(*ctx->active))) == NULL)
		return -1;
	return 0;
}

void
probe_free(struct probe_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->cur.n; i++)
		probe_target_drop(ctx, ctx->cur.t[i]);
	set_clear(&ctx->cur);
	staged_free(ctx);
	free(ctx->active);
	ctx->active = NULL;
}
