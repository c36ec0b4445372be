/* spawner.h: the process that alone forks and execs the workers */
#ifndef SPAWNER_H
#define SPAWNER_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "common/proto.h"
#include "common/sandbox.h"

/*
 * The spawner is forked by the supervisor before it reads any untrusted
 * input.  It keeps the workers' configuration as parsed at start-up,
 * reads nothing but fixed-size MSG_SPAWN_START_REQ/_STOP_REQ frames,
 * and answers with MSG_SPAWN_STARTED (the supervisor's end of the new
 * worker's socket attached) and MSG_SPAWN_EXITED.  So a compromised
 * supervisor can start and stop the three workers, nothing more: it
 * cannot choose a worker's endpoint, token file or Floating IPs.
 */

/* How to start one worker. */
struct spawn_def {
	const char *mode; /* --worker argument: "k8s" */
	char *const *args; /* key=value, NULL-terminated */
};

struct spawn_cfg {
	struct spawn_def def[WORKER_COUNT]; /* [0] unused */
	int drop; /* switch to uid/gid first */
	uint32_t uid, gid;
	int log_json;
	int log_level; /* enum log_level */
};

/* Fork the spawner.  Returns its pid with the supervisor's end of the
 * channel in *sock (non-blocking, close-on-exec), or -1 with errno.
 * The child never returns. */
pid_t spawner_fork(const struct spawn_cfg *, int *sock);

/* ---- spawn.c: starting, stopping and reaping workers ---- */
struct spawner {
	const struct spawn_cfg *cfg;
	int sock; /* to the supervisor */
	int sigfd; /* SIGCHLD */
	int devnull; /* the workers' stdin */
	pid_t pid[WORKER_COUNT]; /* running worker per role, 0 = none */
};

/* Check one datagram from the supervisor: a START or STOP of exactly
 * its size, a role that exists, START without pid, STOP with one.
 * 0 with *type and *out set, or a negative frame_err. */
int spawn_decode(const uint8_t *dgram, size_t n, uint16_t *type,
    struct msg_spawn *out);
/* Handle one frame from the supervisor: 0, or -1 with errno: EPIPE or
 * ECONNRESET when the supervisor is gone, else the frame is not one
 * the spawner accepts (the caller exits: the supervisor is broken or
 * compromised). */
int spawn_on_frame(struct spawner *, uint16_t type, const struct msg_spawn *);
/* Reap every exited worker and report it.  0, or -1 when the report
 * cannot be sent. */
int spawn_reap(struct spawner *);
/* SIGKILL and reap every worker (the supervisor is gone). */
void spawn_kill_all(struct spawner *);

/* ---- sandbox.c ---- */
/* The spawner's policy: its own calls plus, as the workers inherit its
 * filter, every call any worker's allowlist permits. */
const struct sandbox_policy *
spawner_sandbox_policy(const int *keep, size_t nkeep);

#endif /* SPAWNER_H */
