/* elect.h: leader election on a coordination.k8s.io/v1 Lease, as client-go */
#ifndef ELECT_H
#define ELECT_H

#include <stdint.h>

#include "common/proto.h"

/* How the election reaches the Lease: through the k8s worker.  send
 * returns the request's seq, or 0 when it could not be sent. */
typedef uint32_t
elect_send_fn(void *arg, uint16_t type, const struct msg_lease *);

enum elect_state {
	ELECT_IDLE = 0,
	ELECT_FAST_PUT, /* leader renewing from its own record */
	ELECT_GET,
	ELECT_CREATE,
	ELECT_PUT,
	ELECT_RELEASE,
};

struct elect {
	const char *identity;
	int64_t lease_ms, renew_ms, retry_ms;
	elect_send_fn *send;
	void *arg;
	int leader;
	int64_t last_renew; /* mono ms of our last good write */
	int64_t leader_since;
	struct msg_lease observed; /* last spec seen (any holder) */
	int have_observed;
	int64_t observed_time; /* local time it last changed */
	struct msg_lease mine; /* what we last wrote, with its rv */
	int have_mine;
	enum elect_state state;
	uint32_t wait_seq;
	int64_t req_deadline;
	int64_t next_try;
	uint64_t rng;
	uint64_t transitions; /* times we became leader */
	int released; /* release answered ok */
};

/* Set up; the first attempt is due at now. */
void elect_init(struct elect *, const char *identity, int64_t lease_ms,
    int64_t renew_ms, int64_t retry_ms, elect_send_fn *, void *arg,
    int64_t now);
/* Drive timers: start an attempt when due, time out a request, fence a
 * leader whose renewals failed past the renew deadline. */
void elect_tick(struct elect *, int64_t now);
/* A MSG_KUBE_LEASE_ANS arrived. */
void elect_on_answer(struct elect *, uint32_t seq, const struct msg_lease_ans *,
    int64_t now);
/* The k8s worker went away: a request in flight has failed. */
void elect_worker_down(struct elect *, int64_t now);
/* 1 while writes are allowed: leader and renewed within the renew
 * deadline (so they stop before the Lease could expire elsewhere). */
int elect_can_write(const struct elect *, int64_t now);
int64_t elect_next_deadline(const struct elect *);
/* Leader: send the ReleaseOnCancel update (empty holder).  Returns 1
 * when a request went out (wait for its answer), else 0. */
int elect_release(struct elect *, int64_t now);

#endif /* ELECT_H */
