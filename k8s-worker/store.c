/* store.c: compact Node and Pod records by name (a chained hash) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"

#define STORE_INIT_BUCKETS 64

/* FNV-1a: names are short and not chosen to collide by anyone who
 * cannot already write Nodes. */
static size_t
hash(const char *s)
{
	uint64_t h = UINT64_C(1469598103934665603);

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(1099511628211);
	}
	return (size_t)h;
}

int
kube_store_init(struct kube_store *st)
{
	st->tab = calloc(STORE_INIT_BUCKETS, sizeof(*st->tab));
	if (st->tab == NULL)
		return -1;
	st->nbuckets = STORE_INIT_BUCKETS;
	st->count = 0;
	return 0;
}

void
kube_store_free(struct kube_store *st)
{
	struct kube_rec *r, *next;
	size_t i;

	for (i = 0; st->tab != NULL && i < st->nbuckets; i++)
		for (r = st->tab[i]; r != NULL; r = next) {
			next = r->next;
			free(r);
		}
	free(st->tab);
	memset(st, 0, sizeof(*st));
}

struct kube_rec *
kube_store_get(const struct kube_store *st, const char *name)
{
	struct kube_rec *r;

	for (r = st->tab[hash(name) & (st->nbuckets - 1)]; r != NULL;
	     r = r->next)
		if (strcmp(r->str, name) == 0)
			return r;
	return NULL;
}

/* Double the buckets at load 1; a failed grow just keeps chains long. */
static void
grow(struct kube_store *st)
{
	struct kube_rec **tab, *r, *next;
	size_t i, n = st->nbuckets * 2, h;

	if ((tab = calloc(n, sizeof(*tab))) == NULL)
		return;
	for (i = 0; i < st->nbuckets; i++)
		for (r = st->tab[i]; r != NULL; r = next) {
			next = r->next;
			h = hash(r->str) & (n - 1);
			r->next = tab[h];
			tab[h] = r;
		}
	free(st->tab);
	st->tab = tab;
	st->nbuckets = n;
}

static void
unlink_rec(struct kube_store *st, struct kube_rec *rec)
{
	struct kube_rec **pp;

	for (pp = &st->tab[hash(rec->str) & (st->nbuckets - 1)]; *pp != NULL;
	     pp = &(*pp)->next)
		if (*pp == rec) {
			*pp = rec->next;
			st->count--;
			return;
		}
}

static void
link_rec(struct kube_store *st, struct kube_rec *rec)
{
	size_t h = hash(rec->str) & (st->nbuckets - 1);

	rec->next = st->tab[h];
	st->tab[h] = rec;
	st->count++;
}

static struct kube_rec *
rec_new(const char *name, const char *a)
{
	size_t nl = strlen(name), al = strlen(a);
	struct kube_rec *r;

	if (nl + al + 2 > UINT16_MAX) {
		errno = ERANGE;
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r) + nl + al + 2)) == NULL)
		return NULL;
	r->a_off = (uint16_t)(nl + 1);
	memcpy(r->str, name, nl + 1);
	memcpy(r->str + r->a_off, a, al + 1);
	return r;
}

int
kube_store_put(struct kube_store *st, const char *name, const char *a,
    uint64_t id, uint8_t flags, struct kube_rec **out, int *changed)
{
	struct kube_rec *old = kube_store_get(st, name), *r;

	*changed = 1;
	if (old != NULL && strcmp(KUBE_REC_A(old), a) == 0) {
		*changed = old->id != id || old->flags != flags;
		old->id = id;
		old->flags = flags;
		*out = old;
		return 0;
	}
	/* New strings: a fresh exact-size record keeps memory per node at
	 * what the node needs. */
	if ((r = rec_new(name, a)) == NULL)
		return -1;
	r->id = id;
	r->flags = flags;
	if (old != NULL) {
		r->rv = old->rv;
		r->member = old->member;
		r->seen = old->seen;
		unlink_rec(st, old);
		free(old);
	} else if (st->count >= st->nbuckets)
		grow(st);
	link_rec(st, r);
	*out = r;
	return 0;
}

void
kube_store_del(struct kube_store *st, struct kube_rec *r)
{
	unlink_rec(st, r);
	free(r);
}

struct kube_rec *
kube_store_iter(const struct kube_store *st, struct kube_iter *it)
{
	struct kube_rec *r = it->next;

	while (r == NULL && it->pos < st->nbuckets)
		r = st->tab[it->pos++];
	/* The successor is taken now, so the caller may delete r. */
	if (r != NULL)
		it->next = r->next;
	return r;
}
