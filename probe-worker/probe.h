/* probe.h: the probe worker's context, target list and connect rounds */
#ifndef PROBE_H
#define PROBE_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "common/proto.h"
#include "common/sandbox.h"

/*
 * Health is a TCP connect to port on every InternalIP and ExternalIP of
 * a node (at most PROTO_ADDRS_MAX), all at once: healthy if any connects
 * within the timeout, and the others are then abandoned.  Every target
 * runs its own rounds, one at a time: the next starts interval after
 * the previous one started, or at once if that round ran longer.
 * Rounds due within PROBE_BATCH_US (at most a tenth of the interval) of
 * each other start in one pass.
 *
 * The supervisor hears about a target when its result changes (the
 * first result is a change) and, so its grace timers stay fed, as a
 * confirmation after PROBE_CONFIRM_EVERY unchanged results or
 * PROBE_CONFIRM_US since the last report, whichever comes first: with
 * the default 1 s interval, one frame per node every 10 s.  A report
 * carries the latest result; when the socket is full, results that
 * arrive meanwhile fold into that one report.
 */
#define PROBE_TARGETS_MAX 10000 /* more in one list: logged, ignored */
#define PROBE_SOCKETS_MAX 512 /* concurrent connects, the rest wait */
#define PROBE_FD_RESERVE 16 /* fds left below RLIMIT_NOFILE */
#define PROBE_CONFIRM_EVERY 10 /* unchanged results per confirmation */
#define PROBE_CONFIRM_US (10 * 1000000LL)
#define PROBE_BATCH_US 10000 /* rounds due this close start together */
#define PROBE_TIMEOUT_MS_MAX 3600000 /* usec of a result fits a u32 */
#define PROBE_INTERVAL_MS_MAX 86400000

enum probe_addr_state {
	PROBE_ADDR_IDLE = 0,
	PROBE_ADDR_QUEUED, /* waiting for a socket slot */
	PROBE_ADDR_CONNECTING, /* in ctx->active, polled for POLLOUT */
};

struct probe_target;

struct probe_addr {
	struct probe_target *t;
	struct sockaddr_storage sa;
	socklen_t salen; /* 0: empty or not a numeric address */
	enum probe_addr_state state;
	int fd;
	size_t slot; /* index in ctx->active while connecting */
	int64_t start; /* connect() issued, monotonic us */
	TAILQ_ENTRY(probe_addr) wait; /* in ctx->waitq while queued */
};

struct probe_target {
	char node[PROTO_NAME_MAX];
	char addrs[PROTO_ADDRS_LEN]; /* as the supervisor sent them */
	int in_round;
	int pending; /* addresses queued or connecting */
	int64_t round_start;
	int64_t next; /* next round is due, monotonic us */
	int err; /* errno of the latest failure */
	int ok; /* latest result, -1 before the first */
	uint32_t usec; /* its connect time or time to failure */
	int reported; /* ok as last sent, -1 never */
	unsigned int unreported; /* results since that report */
	unsigned int unreported_failed; /* failed ones among them */
	int64_t reported_at;
	int queued; /* in ctx->outq */
	int kept; /* scratch while a new list is applied */
	TAILQ_ENTRY(probe_target) out;
	size_t naddr; /* the addresses in addrs, a[] is sized to it */
	struct probe_addr a[];
};

/* Targets in list order plus an open-addressing index by node name. */
struct probe_set {
	struct probe_target **t;
	size_t n, cap;
	struct probe_target **idx;
	size_t idxcap; /* power of two, at least 2 * n */
};

TAILQ_HEAD(probe_waitq, probe_addr);
TAILQ_HEAD(probe_outq, probe_target);

struct probe_ctx {
	int fd; /* socket to the supervisor */
	uint16_t port;
	int64_t timeout; /* us */
	int64_t interval; /* us */

	struct probe_set cur; /* the list being probed */
	struct probe_set next; /* being received, BEGIN..END */
	int listing;
	uint32_t received; /* TARGET frames since BEGIN */
	uint32_t dropped; /* of those: over the limit or duplicates */

	int64_t due; /* no idle target is due before this */
	struct probe_addr **active;
	size_t nactive, maxactive;
	struct probe_waitq waitq;
	struct probe_outq outq; /* targets with a report to send */
	int sock_err_logged; /* socket() failing; logged once */

	/* The loop (main.c). */
	int check; /* --check-config: no targets, just wait */
	uint8_t *ibuf; /* FRAME_MAX */
	struct pollfd *pfd; /* 1 + maxactive */
	struct probe_addr **polled; /* pfd[1..] -> address */
	int pong_due;
	uint32_t pong_seq;
	uint64_t pong_nonce;
	int quit;
};

/* The worker's sandbox: allowlist, no paths, fds 2 and WORKER_FD. */
const struct sandbox_policy *probe_sandbox_policy(void);

/* Prepare ctx (times in us): 0, or -1 with errno (ENOMEM). */
int probe_init(struct probe_ctx *, uint16_t port, int64_t timeout,
    int64_t interval, size_t maxactive);
/* Close every socket and free every target and array of ctx. */
void probe_free(struct probe_ctx *);

/* Target list frames.  begin/add return 0 or -1 (ENOMEM; EPROTO out of
 * order); end returns -1 EPROTO when count is not the number of TARGET
 * frames received, and leaves the current list untouched then.  Extras
 * past PROBE_TARGETS_MAX and repeated names are ignored and logged. */
int probe_list_begin(struct probe_ctx *);
int probe_list_add(struct probe_ctx *, const struct msg_probe_target *);
int probe_list_end(struct probe_ctx *, uint32_t count, int64_t now);
/* The target called node in s, or NULL. */
struct probe_target *probe_find(const struct probe_set *, const char *node);

/* The number of addresses in a space-separated list, at most
 * PROTO_ADDRS_MAX: the rest are not dialled. */
size_t probe_addrs_count(const char *list);
/* Parse t's addresses (logging a bad one once) and make it due now. */
void probe_target_init(struct probe_ctx *, struct probe_target *, int64_t now);
/* Close t's sockets, unlink it from every queue and free it. */
void probe_target_drop(struct probe_ctx *, struct probe_target *);

/* Fail connects past the timeout, start due rounds, open queued
 * connects while slots are free. */
void probe_tick(struct probe_ctx *, int64_t now);
/* When probe_tick must run next: monotonic us, INT64_MAX for never. */
int64_t probe_wake(const struct probe_ctx *);
/* Fill pfd[] and polled[] with the connecting sockets; returns count. */
size_t
probe_pollfds(struct probe_ctx *, struct pollfd *, struct probe_addr **polled);
/* Handle poll's answers for what probe_pollfds filled in. */
void probe_events(struct probe_ctx *, const struct pollfd *,
    struct probe_addr *const *polled, size_t n, int64_t now);
/* The report for ctx->outq's first target was sent. */
void probe_report_sent(struct probe_ctx *, struct probe_target *, int64_t now);

/* v in decimal in buf[len] for a log value; "?" if it did not fit. */
const char *probe_num(char *buf, size_t len, long long v);

#endif /* PROBE_H */
