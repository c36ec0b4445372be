/* probe.c: the connect state machine: rounds, sockets, timeouts, reports */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "probe.h"

static void addr_failed(struct probe_ctx *, struct probe_addr *, int, int64_t);

const char *
probe_num(char *buf, size_t len, long long v)
{
	int n = snprintf(buf, len, "%lld", v);

	if (n < 0 || (size_t)n >= len)
		return "?";
	return buf;
}

static int
addr_parse(struct probe_addr *a, const char *s, uint16_t port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&a->sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->sa;

	memset(&a->sa, 0, sizeof(a->sa));
	a->salen = 0;
	/* Numeric only: resolving a name would need files and DNS, and
	 * Kubernetes reports node addresses as literals anyway. */
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		a->salen = sizeof(*in);
	} else if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		a->salen = sizeof(*in6);
	} else
		return -1;
	return 0;
}

/* The same walk as probe_target_init's: runs of spaces separate. */
size_t
probe_addrs_count(const char *p)
{
	size_t n = 0;

	while (n < PROTO_ADDRS_MAX && *(p += strspn(p, " ")) != '\0') {
		p += strcspn(p, " ");
		n++;
	}
	return n;
}

void
probe_target_init(struct probe_ctx *ctx, struct probe_target *t, int64_t now)
{
	char ip[PROTO_ADDR_LEN];
	const char *p = t->addrs;
	size_t i, len, usable = 0;
	int ok;

	for (i = 0; i < t->naddr; i++) {
		t->a[i].t = t;
		t->a[i].fd = -1;
		t->a[i].state = PROBE_ADDR_IDLE;
		t->a[i].salen = 0;
		p += strspn(p, " ");
		len = strcspn(p, " ");
		/* An address that cannot be parsed is one that fails; the
		 * others may still carry the node.  Logged here, once per
		 * list that brings it, not per round. */
		ok = len < sizeof(ip);
		if (ok) {
			memcpy(ip, p, len);
			ip[len] = '\0';
			ok = addr_parse(&t->a[i], ip, ctx->port) == 0;
		}
		if (ok)
			usable++;
		else
			log_warn("probe address is not numeric; it fails",
			    "node", t->node, "addr",
			    len < sizeof(ip) ? ip : "(too long)", NULL);
		p += len;
	}
	if (usable == 0)
		log_warn("probe target has no usable address", "node", t->node,
		    NULL);
	t->ok = t->reported = -1;
	t->next = now;
	if (now < ctx->due)
		ctx->due = now;
}

static void
active_del(struct probe_ctx *ctx, struct probe_addr *a)
{
	struct probe_addr *last = ctx->active[--ctx->nactive];

	ctx->active[a->slot] = last;
	last->slot = a->slot;
}

static void
addr_stop(struct probe_ctx *ctx, struct probe_addr *a)
{
	if (a->state == PROBE_ADDR_QUEUED)
		TAILQ_REMOVE(&ctx->waitq, a, wait);
	else if (a->state == PROBE_ADDR_CONNECTING) {
		active_del(ctx, a);
		close(a->fd);
		a->fd = -1;
	}
	a->state = PROBE_ADDR_IDLE;
}

void
probe_target_drop(struct probe_ctx *ctx, struct probe_target *t)
{
	size_t i;

	for (i = 0; i < t->naddr; i++)
		addr_stop(ctx, &t->a[i]);
	if (t->queued)
		TAILQ_REMOVE(&ctx->outq, t, out);
	free(t);
}

static int
want_report(const struct probe_target *t, int64_t now)
{
	return t->ok != t->reported || t->unreported >= PROBE_CONFIRM_EVERY ||
	    now - t->reported_at >= PROBE_CONFIRM_US;
}

static void
round_end(struct probe_ctx *ctx, struct probe_target *t, int ok, int64_t usec,
    int64_t now)
{
	size_t i;

	/* One address connecting is enough: stop the others. */
	for (i = 0; i < t->naddr; i++)
		addr_stop(ctx, &t->a[i]);
	t->in_round = 0;
	t->pending = 0;
	if (t->next < ctx->due)
		ctx->due = t->next;
	t->ok = ok;
	if (usec < 0)
		usec = 0;
	t->usec = usec > UINT32_MAX ? UINT32_MAX : (uint32_t)usec;
	t->unreported++;
	if (!ok)
		t->unreported_failed++;
	if (!t->queued && want_report(t, now)) {
		TAILQ_INSERT_TAIL(&ctx->outq, t, out);
		t->queued = 1;
	}
}

static void
round_start(struct probe_ctx *ctx, struct probe_target *t, int64_t now)
{
	size_t i;

	t->in_round = 1;
	t->round_start = now;
	/* A batched start keeps the target's own grid; a late one (the
	 * previous round outlasted the interval) starts a new grid. */
	t->next = (t->next > now ? t->next : now) + ctx->interval;
	t->pending = 0;
	t->err = 0;
	for (i = 0; i < t->naddr; i++) {
		if (t->a[i].salen == 0)
			continue;
		t->a[i].state = PROBE_ADDR_QUEUED;
		TAILQ_INSERT_TAIL(&ctx->waitq, &t->a[i], wait);
		t->pending++;
	}
	if (t->pending == 0) {
		t->err = EDESTADDRREQ;
		round_end(ctx, t, 0, 0, now);
	}
}

static void
addr_failed(struct probe_ctx *ctx, struct probe_addr *a, int err, int64_t now)
{
	struct probe_target *t = a->t;

	addr_stop(ctx, a);
	t->err = err;
	if (--t->pending == 0)
		round_end(ctx, t, 0, now - t->round_start, now);
}

static void
addr_connect(struct probe_ctx *ctx, struct probe_addr *a, int64_t now)
{
	char num[24];
	int fd, e;

	a->start = now;
	fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		e = errno;
		/* EMFILE and friends would repeat every round. */
		if (!ctx->sock_err_logged)
			log_warn("probe socket failed", "node", a->t->node,
			    "active",
			    probe_num(num, sizeof(num),
				(long long)ctx->nactive),
			    "err", strerror(e), NULL);
		ctx->sock_err_logged = 1;
		addr_failed(ctx, a, e, now);
		return;
	}
	ctx->sock_err_logged = 0;
	a->fd = fd;
	a->state = PROBE_ADDR_CONNECTING;
	a->slot = ctx->nactive;
	ctx->active[ctx->nactive++] = a;
	if (connect(fd, (struct sockaddr *)&a->sa, a->salen) == 0)
		round_end(ctx, a->t, 1, 0, now); /* closes fd */
	else if (errno != EINPROGRESS)
		addr_failed(ctx, a, errno, now);
}

static void
expire(struct probe_ctx *ctx, int64_t now)
{
	struct probe_addr *a;
	size_t i = ctx->nactive;

	/* Downwards: a removal moves the last, already seen, slot here.
	 * A failure only ends the round when no sibling is in flight, so
	 * nothing below i moves. */
	while (i-- > 0) {
		a = ctx->active[i];
		if (now - a->start >= ctx->timeout)
			addr_failed(ctx, a, ETIMEDOUT, now);
	}
}

/*
 * Targets come and go at their own times, so their phases spread out;
 * a scan per distinct due time would cost O(targets) per target.  A
 * scan, run once the earliest is due, starts every round due within
 * the batch window too, up to that much early: scans are at least a
 * window apart, whatever the number of targets.
 */
static void
start_due(struct probe_ctx *ctx, int64_t now)
{
	struct probe_target *t;
	int64_t due = INT64_MAX, horizon, window;
	size_t i;

	if (now < ctx->due)
		return;
	window = ctx->interval / 10;
	if (window > PROBE_BATCH_US)
		window = PROBE_BATCH_US;
	horizon = now + window;
	ctx->due = INT64_MAX; /* round_end lowers it as rounds end */
	for (i = 0; i < ctx->cur.n; i++) {
		t = ctx->cur.t[i];
		if (!t->in_round && t->next <= horizon)
			round_start(ctx, t, now);
		if (!t->in_round && t->next < due)
			due = t->next;
	}
	if (due < ctx->due)
		ctx->due = due;
}

void
probe_tick(struct probe_ctx *ctx, int64_t now)
{
	struct probe_addr *a;

	expire(ctx, now);
	start_due(ctx, now);
	/* Queued in round order, so a burst of rounds above the socket
	 * cap is served first come, first served. */
	while (ctx->nactive < ctx->maxactive &&
	    (a = TAILQ_FIRST(&ctx->waitq)) != NULL) {
		TAILQ_REMOVE(&ctx->waitq, a, wait);
		a->state = PROBE_ADDR_IDLE;
		addr_connect(ctx, a, now);
	}
}

int64_t
probe_wake(const struct probe_ctx *ctx)
{
	int64_t w = ctx->due;
	size_t i;

	if (!TAILQ_EMPTY(&ctx->waitq) && ctx->nactive < ctx->maxactive)
		return 0;
	for (i = 0; i < ctx->nactive; i++)
		if (ctx->active[i]->start + ctx->timeout < w)
			w = ctx->active[i]->start + ctx->timeout;
	return w;
}

size_t
probe_pollfds(struct probe_ctx *ctx, struct pollfd *pfd,
    struct probe_addr **polled)
{
	size_t i;

	for (i = 0; i < ctx->nactive; i++) {
		pfd[i].fd = ctx->active[i]->fd;
		pfd[i].events = POLLOUT;
		pfd[i].revents = 0;
		polled[i] = ctx->active[i];
	}
	return ctx->nactive;
}

void
probe_events(struct probe_ctx *ctx, const struct pollfd *pfd,
    struct probe_addr *const *polled, size_t n, int64_t now)
{
	struct probe_addr *a;
	socklen_t len;
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		a = polled[i];
		/* A sibling's success earlier in this pass stopped it. */
		if (pfd[i].revents == 0 || a->state != PROBE_ADDR_CONNECTING)
			continue;
		err = 0;
		len = sizeof(err);
		if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		else if (err == 0 && (pfd[i].revents & POLLOUT) == 0)
			err = EIO;
		if (err == 0)
			round_end(ctx, a->t, 1, now - a->start, now);
		else
			addr_failed(ctx, a, err, now);
	}
}

void
probe_report_sent(struct probe_ctx *ctx, struct probe_target *t, int64_t now)
{
	char num[24];

	if (t->ok != t->reported)
		log_debug("probe result changed", "node", t->node, "ok",
		    t->ok ? "true" : "false", "usec",
		    probe_num(num, sizeof(num), t->usec), "err",
		    t->ok ? "" : strerror(t->err), NULL);
	TAILQ_REMOVE(&ctx->outq, t, out);
	t->queued = 0;
	t->reported = t->ok;
	t->unreported = 0;
	t->reported_at = now;
}
