/* elect.c: leader election on a coordination.k8s.io/v1 Lease, as client-go */
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/str.h"
#include "elect.h"

/*
 * The algorithm and field formats are client-go's
 * (tools/leaderelection), so replicas of the reference controller and
 * of this one exclude each other on the same Lease.  Expiry is judged
 * by when *we* last saw the record change (observed_time, on our
 * monotonic clock), never by comparing renewTime with our clock.
 */

/* client-go's wait.Jitter(retry, 1.2): retry x [1, 2.2). */
static int64_t
jittered(struct elect *e)
{
	e->rng = e->rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return e->retry_ms +
	    (int64_t)((e->rng >> 33) % (uint64_t)(e->retry_ms * 12 / 10 + 1));
}

void
elect_init(struct elect *e, const char *identity, int64_t lease_ms,
    int64_t renew_ms, int64_t retry_ms, elect_send_fn *send, void *arg,
    int64_t now)
{
	memset(e, 0, sizeof(*e));
	e->identity = identity;
	e->lease_ms = lease_ms;
	e->renew_ms = renew_ms;
	e->retry_ms = retry_ms;
	e->send = send;
	e->arg = arg;
	e->next_try = now;
	e->rng = (uint64_t)now ^ (uint64_t)(uintptr_t)e;
}

static int
spec_equal(const struct msg_lease *a, const struct msg_lease *b)
{
	return strcmp(a->holder, b->holder) == 0 &&
	    a->duration_s == b->duration_s &&
	    strcmp(a->acquire_time, b->acquire_time) == 0 &&
	    strcmp(a->renew_time, b->renew_time) == 0 &&
	    a->transitions == b->transitions;
}

static void
request(struct elect *e, enum elect_state st, uint16_t type,
    const struct msg_lease *l, int64_t now)
{
	e->state = st;
	e->req_deadline = now + e->renew_ms;
	if ((e->wait_seq = e->send(e->arg, type, l)) == 0) {
		/* Not sent (worker down): this attempt failed. */
		e->state = ELECT_IDLE;
	}
}

static void
lose(struct elect *e, const char *why, int64_t now)
{
	char age[32];

	if (!e->leader)
		return;
	snprintf(age, sizeof(age), "%lld", (long long)(now - e->last_renew));
	e->leader = 0;
	log_warn("leadership lost: writes stopped", "identity", e->identity,
	    "reason", why, "ms_since_renew", age, NULL);
}

static void
attempt_done(struct elect *e, int ok, int64_t now)
{
	e->state = ELECT_IDLE;
	if (ok) {
		if (!e->leader) {
			e->leader = 1;
			e->leader_since = now;
			e->transitions++;
			log_info("lease acquired: leading", "identity",
			    e->identity, NULL);
		}
		e->last_renew = now;
		/* A leader renews every retry period; a standby polls with
		 * client-go's jitter. */
		e->next_try = now + e->retry_ms;
		return;
	}
	e->next_try = now + (e->leader ? e->retry_ms : jittered(e));
	if (e->leader && now - e->last_renew >= e->renew_ms)
		lose(e, "renew deadline passed", now);
}

static void
start_attempt(struct elect *e, int64_t now)
{
	struct msg_lease l;

	if (e->leader && e->have_mine &&
	    e->observed_time + (int64_t)e->observed.duration_s * 1000 > now) {
		l = e->mine;
		clock_microtime(l.renew_time, sizeof(l.renew_time));
		request(e, ELECT_FAST_PUT, MSG_KUBE_LEASE_UPDATE_REQ, &l, now);
		return;
	}
	memset(&l, 0, sizeof(l));
	request(e, ELECT_GET, MSG_KUBE_LEASE_GET_REQ, &l, now);
}

void
elect_tick(struct elect *e, int64_t now)
{
	if (e->leader && now - e->last_renew >= e->renew_ms)
		lose(e, "renew deadline passed", now);
	if (e->state != ELECT_IDLE && e->state != ELECT_RELEASE &&
	    now >= e->req_deadline) {
		log_warn("lease request timed out", "identity", e->identity,
		    NULL);
		attempt_done(e, 0, now);
	}
	if (e->state == ELECT_IDLE && now >= e->next_try)
		start_attempt(e, now);
}

static void
observe(struct elect *e, const struct msg_lease *l, int64_t now)
{
	if (!e->have_observed || !spec_equal(&e->observed, l)) {
		e->observed = *l;
		e->have_observed = 1;
		e->observed_time = now;
	} else
		/* Same spec, newer rv: keep the time, take the rv. */
		str_copy(e->observed.rv, sizeof(e->observed.rv), l->rv);
}

static void
try_take(struct elect *e, int64_t now)
{
	const struct msg_lease *o = &e->observed;
	struct msg_lease l;
	int mine = strcmp(o->holder, e->identity) == 0;

	if (o->holder[0] != '\0' && !mine && e->leader)
		lose(e, "lease taken by another holder", now);
	if (o->holder[0] != '\0' && !mine &&
	    e->observed_time + (int64_t)o->duration_s * 1000 > now) {
		attempt_done(e, 0, now); /* held by another, unexpired */
		return;
	}
	memset(&l, 0, sizeof(l));
	str_copy(l.holder, sizeof(l.holder), e->identity);
	l.duration_s = (uint32_t)(e->lease_ms / 1000);
	clock_microtime(l.renew_time, sizeof(l.renew_time));
	if (mine) {
		str_copy(l.acquire_time, sizeof(l.acquire_time),
		    o->acquire_time);
		l.transitions = o->transitions;
	} else {
		str_copy(l.acquire_time, sizeof(l.acquire_time), l.renew_time);
		l.transitions = o->transitions + 1;
	}
	str_copy(l.rv, sizeof(l.rv), o->rv);
	request(e, ELECT_PUT, MSG_KUBE_LEASE_UPDATE_REQ, &l, now);
}

static void
on_get(struct elect *e, const struct msg_lease_ans *a, int64_t now)
{
	struct msg_lease l;

	if (a->result == RES_NOT_FOUND) {
		memset(&l, 0, sizeof(l));
		str_copy(l.holder, sizeof(l.holder), e->identity);
		l.duration_s = (uint32_t)(e->lease_ms / 1000);
		clock_microtime(l.acquire_time, sizeof(l.acquire_time));
		str_copy(l.renew_time, sizeof(l.renew_time), l.acquire_time);
		request(e, ELECT_CREATE, MSG_KUBE_LEASE_CREATE_REQ, &l, now);
		return;
	}
	if (a->result != RES_OK) {
		attempt_done(e, 0, now);
		return;
	}
	observe(e, &a->lease, now);
	try_take(e, now);
}

void
elect_on_answer(struct elect *e, uint32_t seq, const struct msg_lease_ans *a,
    int64_t now)
{
	if (e->state == ELECT_IDLE || seq != e->wait_seq)
		return; /* stale: from before a timeout or restart */
	switch (e->state) {
	case ELECT_GET:
		on_get(e, a, now);
		return;
	case ELECT_FAST_PUT:
		if (a->result != RES_OK) {
			/* Fall through to a fresh read, as client-go. */
			request(e, ELECT_GET, MSG_KUBE_LEASE_GET_REQ, &e->mine,
			    now);
			return;
		}
		break;
	case ELECT_CREATE:
	case ELECT_PUT:
		break;
	case ELECT_RELEASE:
		e->state = ELECT_IDLE;
		e->released = a->result == RES_OK;
		return;
	default:
		return;
	}
	if (a->result != RES_OK) {
		attempt_done(e, 0, now);
		return;
	}
	e->mine = a->lease;
	e->have_mine = 1;
	observe(e, &a->lease, now);
	attempt_done(e, 1, now);
}

void
elect_worker_down(struct elect *e, int64_t now)
{
	if (e->state == ELECT_RELEASE)
		e->state = ELECT_IDLE;
	else if (e->state != ELECT_IDLE)
		attempt_done(e, 0, now);
}

int
elect_can_write(const struct elect *e, int64_t now)
{
	return e->leader && now - e->last_renew < e->renew_ms;
}

int64_t
elect_next_deadline(const struct elect *e)
{
	int64_t d = e->state == ELECT_IDLE ? e->next_try : e->req_deadline;

	if (e->leader && e->last_renew + e->renew_ms < d)
		d = e->last_renew + e->renew_ms;
	return d;
}

int
elect_release(struct elect *e, int64_t now)
{
	struct msg_lease l;

	if (!e->leader || !e->have_mine)
		return 0;
	e->leader = 0;
	/* ReleaseOnCancel: empty holder, 1 s duration, times now,
	 * transitions unchanged, on our last written rv. */
	l = e->mine;
	l.holder[0] = '\0';
	l.duration_s = 1;
	clock_microtime(l.renew_time, sizeof(l.renew_time));
	str_copy(l.acquire_time, sizeof(l.acquire_time), l.renew_time);
	request(e, ELECT_RELEASE, MSG_KUBE_LEASE_UPDATE_REQ, &l, now);
	return e->state == ELECT_RELEASE;
}
