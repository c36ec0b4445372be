/* proc.h: starting, watching and restarting the sandboxed workers */
#ifndef PROC_H
#define PROC_H

#include <sys/types.h>

#include <stdint.h>

#include "common/proto.h"

enum proc_reason { /* why a worker was restarted */
	PROC_R_EXIT = 0, /* exited on its own */
	PROC_R_SIGNAL, /* killed by a signal */
	PROC_R_SANDBOX, /* SIGSYS: seccomp violation */
	PROC_R_HEARTBEAT, /* missed heartbeats, killed by us */
	PROC_R_PROTOCOL, /* sent a bad frame, killed by us */
	PROC_R_MAX
};

struct worker {
	int kind; /* enum proto_worker */
	const char *name; /* comm: "k8s-worker" */
	const char *mode; /* --worker argument: "k8s" */
	int spawner; /* channel to the spawner */
	int starting; /* START sent, STARTED not yet received */
	pid_t pid; /* 0 when not running */
	int fd; /* -1 when not running */
	int ready; /* HELLO_READY received */
	int killed; /* we sent SIGKILL: reason below */
	enum proc_reason kill_reason;
	int64_t started_at;
	int64_t down_since; /* lost since, until its next HELLO; 0 = up */
	int64_t next_start; /* when down: restart time */
	int64_t backoff_ms;
	int64_t ping_at; /* outstanding PING sent at, or 0 */
	int64_t next_ping;
	uint64_t nonce;
	uint32_t seq; /* last request seq issued */
	uint64_t restarts[PROC_R_MAX];
	uint64_t starts;
	uint8_t hello_status; /* from HELLO */
	char hello_err[PROTO_TEXT_MAX];
};

/* Timing (ms): restart backoff 100 ms doubling to 30 s, reset after a
 * minute up; PING every second, a worker silent for 5 s is killed. */
#define PROC_BACKOFF_FIRST 100
#define PROC_BACKOFF_MAX 30000
#define PROC_STABLE_MS 60000
#define PROC_PING_EVERY 1000
#define PROC_PING_TIMEOUT 5000
/* Started but no ready HELLO this long: stopped as a hung worker. */
#define PROC_HELLO_MS 2000
/* Down (crashing, restarting, never ready) this long: /healthz fails. */
#define PROC_DOWN_UNHEALTHY 60000

/* Ask the spawner to start w.  0, or -1 with errno (EBUSY: starting
 * or running already). */
int proc_start(struct worker *w, int64_t now);
/* The spawner started w as pid; fd is the supervisor's end of its
 * socket (now owned by w). */
void proc_started(struct worker *w, pid_t pid, int fd, int64_t now);
/* The spawner could not start w: retry after the backoff. */
void proc_start_failed(struct worker *w, int64_t now);
/* Ask the spawner to SIGKILL a running worker, remembering why (its
 * exit is reported later). */
void proc_kill(struct worker *w, enum proc_reason why);
/* The spawner reported w's exit with status: close its fd, count the
 * reason, schedule the restart.  Returns the reason. */
enum proc_reason proc_reaped(struct worker *w, int status, int64_t now);
/* "exit 2", "signal 9", "SIGSYS (sandbox violation)" */
void proc_describe(int status, char *buf, size_t len);
const char *proc_reason_name(enum proc_reason);
/* Next request seq for w (never 0: 0 marks unsolicited frames). */
uint32_t proc_next_seq(struct worker *w);
/* Like proc_send, but a full socket is not a failure: returns 1 and
 * sends nothing, so the caller can resume when it is writable. */
int proc_send_nb(struct worker *w, uint16_t type, uint32_t seq,
    const void *payload);
/* Send a frame to a running worker; on failure the worker is killed
 * (PROTOCOL) and -1 returned. */
int
proc_send(struct worker *w, uint16_t type, uint32_t seq, const void *payload);

#endif /* PROC_H */
