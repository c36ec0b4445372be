/* world.c: the supervisor's model of nodes, pods and Floating IPs */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/config/allowlist.h"
#include "world.h"

struct world_pod {
	char name[WORLD_NAME_MAX + 1]; /* the sort key */
	char node[WORLD_NAME_MAX + 1];
	uint32_t node_hash; /* of node: most compares stop there */
	int ready;
	unsigned int gen;
};

/*
 * Nodes and pods live in arrays of pointers sorted by name: lookups are a
 * binary search, and decide() walks nodes in name order, so "lowest-named"
 * is "first seen" and a plan never depends on the order of arrival.
 */
static const char *
node_name_at(const void *arr, size_t i)
{
	return ((struct world_node *const *)arr)[i]->name;
}

static const char *
pod_name_at(const void *arr, size_t i)
{
	return ((struct world_pod *const *)arr)[i]->name;
}

/* Index of name, or where it would go; *found tells which. */
static size_t
sorted_find(const void *arr, size_t n,
    const char *(*name_at)(const void *, size_t), const char *name, int *found)
{
	size_t lo = 0, hi = n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name_at(arr, mid), name);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Capacity to grow to before adding one, or 0 (errno ERANGE) when full. */
static size_t
next_cap(size_t n, size_t cap, size_t max)
{
	if (n < cap)
		return cap;
	if (n >= max) {
		errno = ERANGE;
		return 0;
	}
	cap = cap ? cap * 2 : 64;
	return cap > max ? max : cap;
}

static int
node_insert(struct world *w, size_t pos, struct world_node *n)
{
	size_t cap = next_cap(w->n_nodes, w->cap_nodes, WORLD_NODES_MAX);
	struct world_node **v = w->nodes;

	if (cap == 0)
		return -1;
	if (cap != w->cap_nodes) {
		if ((v = reallocarray(v, cap, sizeof(*v))) == NULL)
			return -1;
		w->nodes = v;
		w->cap_nodes = cap;
	}
	memmove(&v[pos + 1], &v[pos], (w->n_nodes - pos) * sizeof(*v));
	v[pos] = n;
	w->n_nodes++;
	return 0;
}

static int
pod_insert(struct world *w, size_t pos, struct world_pod *p)
{
	size_t cap = next_cap(w->n_pods, w->cap_pods, WORLD_PODS_MAX);
	struct world_pod **v = w->pods;

	if (cap == 0)
		return -1;
	if (cap != w->cap_pods) {
		if ((v = reallocarray(v, cap, sizeof(*v))) == NULL)
			return -1;
		w->pods = v;
		w->cap_pods = cap;
	}
	memmove(&v[pos + 1], &v[pos], (w->n_pods - pos) * sizeof(*v));
	v[pos] = p;
	w->n_pods++;
	return 0;
}

/* Length of s if it is a usable name, else 0. */
static size_t
name_len(const char *s)
{
	size_t len;

	if (s == NULL)
		return 0;
	len = strnlen(s, WORLD_NAME_MAX + 1);
	return len > WORLD_NAME_MAX ? 0 : len;
}

/* Copies an optional string (NULL is ""); -1 when it does not fit
 * dst[size]. */
static int
copy_opt(char *dst, size_t size, const char *src)
{
	size_t len = src == NULL ? 0 : strnlen(src, size);

	if (len == size)
		return -1;
	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

struct world *
world_new(void)
{
	return calloc(1, sizeof(struct world));
}

void
world_free(struct world *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n_nodes; i++)
		free(w->nodes[i]);
	for (i = 0; i < w->n_pods; i++)
		free(w->pods[i]);
	free(w->nodes);
	free(w->pods);
	free(w);
}

static struct world_node *
node_find(const struct world *w, const char *name)
{
	int found;
	size_t pos;

	if (name == NULL)
		return NULL;
	pos = sorted_find(w->nodes, w->n_nodes, node_name_at, name, &found);
	return found ? w->nodes[pos] : NULL;
}

/* FNV-1a: only to skip most string compares in count_ready_pods(). */
static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/*
 * Only when a node appears: pods may have been listed before it. Linear in
 * the pods, so a first sync of 5,000 pods before 5,000 nodes costs 25M
 * integer compares once (~40 ms); nodes seen again never get here.
 */
static unsigned int
count_ready_pods(const struct world *w, const char *node)
{
	uint32_t h = name_hash(node);
	unsigned int n = 0;
	size_t i;

	for (i = 0; i < w->n_pods; i++) {
		const struct world_pod *p = w->pods[i];

		if (p->ready && p->node_hash == h && strcmp(p->node, node) == 0)
			n++;
	}
	return n;
}

static struct world_node *
node_create(struct world *w, const char *name, size_t len, size_t pos,
    int64_t now)
{
	struct world_node *n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	memcpy(n->name, name, len);
	n->name_len = len;
	n->probe = WORLD_PROBE_NEVER;
	n->ready_pods = count_ready_pods(w, n->name);
	n->unprepared_since = now;
	if (node_insert(w, pos, n) != 0) {
		free(n);
		return NULL;
	}
	return n;
}

/* Another server behind the name: what we knew was about another machine. */
static void
node_forget_machine(struct world_node *n)
{
	n->probe = WORLD_PROBE_NEVER;
	n->move.failures = 0;
	n->refused = 0;
	n->server = WORLD_SERVER_UNKNOWN;
}

int
world_node_upsert(struct world *w, const struct world_node_facts *f,
    int64_t now)
{
	char addrs[WORLD_ADDRS_LEN];
	struct world_node *n;
	size_t len, pos;
	int found;

	if (w == NULL || f == NULL || (len = name_len(f->name)) == 0 ||
	    copy_opt(addrs, sizeof(addrs), f->addrs) != 0) {
		errno = EINVAL;
		return -1;
	}
	pos = sorted_find(w->nodes, w->n_nodes, node_name_at, f->name, &found);
	if (found) {
		n = w->nodes[pos];
		if (n->server_id != f->server_id)
			node_forget_machine(n);
	} else if ((n = node_create(w, f->name, len, pos, now)) == NULL)
		return -1;
	n->server_id = f->server_id;
	memcpy(n->addrs, addrs, sizeof(n->addrs));
	n->ready = f->ready != 0;
	n->unschedulable = f->unschedulable != 0;
	n->deleting = f->deleting != 0;
	n->candidate = f->candidate != 0;
	n->labelled = f->labelled != 0;
	n->gen = w->node_gen;
	return 0;
}

void
world_node_remove(struct world *w, const char *name)
{
	size_t pos;
	int found;

	if (w == NULL || name == NULL)
		return;
	pos = sorted_find(w->nodes, w->n_nodes, node_name_at, name, &found);
	if (!found)
		return;
	free(w->nodes[pos]);
	w->n_nodes--;
	memmove(&w->nodes[pos], &w->nodes[pos + 1],
	    (w->n_nodes - pos) * sizeof(*w->nodes));
}

void
world_nodes_mark(struct world *w)
{
	if (w != NULL)
		w->node_gen++;
}

void
world_nodes_sweep(struct world *w)
{
	size_t i, keep = 0;

	if (w == NULL)
		return;
	for (i = 0; i < w->n_nodes; i++) {
		if (w->nodes[i]->gen == w->node_gen)
			w->nodes[keep++] = w->nodes[i];
		else
			free(w->nodes[i]);
	}
	w->n_nodes = keep;
}

size_t
world_node_count(const struct world *w)
{
	return w == NULL ? 0 : w->n_nodes;
}

const struct world_node *
world_node_at(const struct world *w, size_t i)
{
	return w == NULL || i >= w->n_nodes ? NULL : w->nodes[i];
}

const struct world_node *
world_node_find(const struct world *w, const char *name)
{
	return w == NULL ? NULL : node_find(w, name);
}

int
world_node_prepared(const struct world_node *n)
{
	return n != NULL && n->ready_pods > 0;
}

/* A Ready pod stops (unbind) or starts (bind) counting for its node. */
static void
pod_unbind(struct world *w, const struct world_pod *p, int64_t now)
{
	struct world_node *n;

	if (!p->ready || (n = node_find(w, p->node)) == NULL ||
	    n->ready_pods == 0)
		return;
	if (--n->ready_pods == 0)
		n->unprepared_since = now;
}

static void
pod_bind(struct world *w, const struct world_pod *p)
{
	struct world_node *n;

	if (p->ready && (n = node_find(w, p->node)) != NULL)
		n->ready_pods++;
}

int
world_pod_upsert(struct world *w, const char *pod_name, const char *node_name,
    int ready, int64_t now)
{
	struct world_pod *p;
	size_t len, nlen, pos;
	int found;

	if (node_name == NULL)
		node_name = "";
	nlen = strnlen(node_name, WORLD_NAME_MAX + 1);
	if (w == NULL || (len = name_len(pod_name)) == 0 ||
	    nlen > WORLD_NAME_MAX) {
		errno = EINVAL;
		return -1;
	}
	pos = sorted_find(w->pods, w->n_pods, pod_name_at, pod_name, &found);
	if (found) {
		p = w->pods[pos];
		pod_unbind(w, p, now);
	} else {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return -1;
		memcpy(p->name, pod_name, len);
		if (pod_insert(w, pos, p) != 0) {
			free(p);
			return -1;
		}
	}
	memcpy(p->node, node_name, nlen);
	p->node[nlen] = '\0';
	p->node_hash = name_hash(p->node);
	p->ready = ready != 0;
	p->gen = w->pod_gen;
	pod_bind(w, p);
	return 0;
}

void
world_pod_remove(struct world *w, const char *pod_name, int64_t now)
{
	size_t pos;
	int found;

	if (w == NULL || pod_name == NULL)
		return;
	pos = sorted_find(w->pods, w->n_pods, pod_name_at, pod_name, &found);
	if (!found)
		return;
	pod_unbind(w, w->pods[pos], now);
	free(w->pods[pos]);
	w->n_pods--;
	memmove(&w->pods[pos], &w->pods[pos + 1],
	    (w->n_pods - pos) * sizeof(*w->pods));
}

void
world_pods_mark(struct world *w)
{
	if (w != NULL)
		w->pod_gen++;
}

void
world_pods_sweep(struct world *w, int64_t now)
{
	size_t i, keep = 0;

	if (w == NULL)
		return;
	for (i = 0; i < w->n_pods; i++) {
		if (w->pods[i]->gen == w->pod_gen) {
			w->pods[keep++] = w->pods[i];
			continue;
		}
		pod_unbind(w, w->pods[i], now);
		free(w->pods[i]);
	}
	w->n_pods = keep;
}

void
world_probe_result(struct world *w, const char *node, int ok, int64_t now)
{
	struct world_node *n;

	if (w == NULL || (n = node_find(w, node)) == NULL)
		return;
	if (ok) {
		n->probe = WORLD_PROBE_OK;
		n->server = WORLD_SERVER_UNKNOWN;
	} else if (n->probe != WORLD_PROBE_FAILING) {
		n->probe = WORLD_PROBE_FAILING;
		n->failing_since = now;
	}
	n->probed_at = now;
}

void
world_server_result(struct world *w, const char *node, enum world_server st,
    int64_t now)
{
	struct world_node *n;

	if (w == NULL || (n = node_find(w, node)) == NULL)
		return;
	n->server = st;
	n->server_read_at = now;
}

void
world_fip_set(struct world *w, int idx, uint64_t id, const char *ip, int is_v6,
    uint64_t server_id, int action_running, const struct allowlist *al,
    int64_t now)
{
	struct world_fip *f;

	if (w == NULL || idx < 0 || idx >= WORLD_FIP_MAX)
		return;
	f = &w->fip[idx];
	if (copy_opt(f->ip, sizeof(f->ip), ip) != 0) {
		/* no address we could check: forget it, fail closed */
		world_fip_unknown(w, idx);
		return;
	}
	if (!f->known || f->id != id)
		f->backoff.failures = 0;
	f->known = 1;
	f->id = id;
	f->is_v6 = is_v6 != 0;
	f->server_id = server_id;
	f->action_running = action_running != 0;
	f->in_allowlist = allowlist_contains_fip(al, f->ip, f->is_v6);
	f->read_at = now;
	if (idx == 0 && !f->action_running)
		w->reread_primary = 0;
}

void
world_fip_unknown(struct world *w, int idx)
{
	if (w == NULL || idx < 0 || idx >= WORLD_FIP_MAX)
		return;
	w->fip[idx].known = 0;
	w->fip[idx].ip[0] = '\0';
	w->fip[idx].in_allowlist = 0;
}

const struct world_fip *
world_fip_get(const struct world *w, int idx)
{
	if (w == NULL || idx < 0 || idx >= WORLD_FIP_MAX)
		return NULL;
	return &w->fip[idx];
}

static void
backoff_fail(struct world_backoff *b, int64_t now)
{
	if (b->failures < UINT32_MAX)
		b->failures++;
	b->failed_at = now;
}

void
world_move_result(struct world *w, const char *node, enum world_move_result r,
    int64_t now)
{
	struct world_node *n;

	if (w == NULL)
		return;
	n = node_find(w, node);
	if (r == WORLD_MOVE_OK && n != NULL) {
		n->move.failures = 0;
		w->fip[0].server_id = n->server_id;
		w->fip[0].action_running = 0;
		return;
	}
	/* the labels were stripped first: put one back where the IP is;
	 * where it is needs a read unless nothing was sent */
	if (r != WORLD_MOVE_REFUSED_UNSENT)
		w->reread_primary = 1;
	if (r != WORLD_MOVE_OK)
		w->label_holder = 1;
	if (n == NULL)
		return;
	if (r == WORLD_MOVE_REFUSED || r == WORLD_MOVE_REFUSED_UNSENT) {
		n->refused = 1;
		n->refused_at = now;
	} else if (r != WORLD_MOVE_OK)
		backoff_fail(&n->move, now);
}

void
world_additional_result(struct world *w, int idx, int ok, int64_t now)
{
	if (w == NULL || idx < 1 || idx >= WORLD_FIP_MAX)
		return;
	if (ok)
		w->fip[idx].backoff.failures = 0;
	else
		backoff_fail(&w->fip[idx].backoff, now);
}

int
world_reread_pending(const struct world *w)
{
	return w != NULL && w->reread_primary;
}

int
world_label_holder_pending(const struct world *w)
{
	return w != NULL && w->label_holder;
}

void
world_label_holder_done(struct world *w)
{
	if (w != NULL)
		w->label_holder = 0;
}
