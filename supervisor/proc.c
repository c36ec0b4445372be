/* proc.c: the workers as the supervisor sees them, started and stopped
 * through the spawner */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/frame.h"
#include "common/log.h"
#include "proc.h"

static const char *const reason_names[PROC_R_MAX] = {
	"exit",
	"signal",
	"sandbox",
	"heartbeat",
	"protocol",
};

const char *
proc_reason_name(enum proc_reason r)
{
	return r < PROC_R_MAX ? reason_names[r] : "unknown";
}

/* One fixed-size request to the spawner.  The channel is local and
 * tiny frames never fill it; a failure means the spawner is gone,
 * which the loop sees as EOF and treats as fatal. */
static int
spawner_req(int sock, uint16_t type, int role, pid_t pid)
{
	struct msg_spawn m;

	memset(&m, 0, sizeof(m));
	m.role = (uint8_t)role;
	m.pid = (uint32_t)pid;
	return frame_send(sock, type, 0, &m);
}

int
proc_start(struct worker *w, int64_t now)
{
	if (w->starting || w->pid > 0) {
		errno = EBUSY;
		return -1;
	}
	if (spawner_req(w->spawner, MSG_SPAWN_START_REQ, w->kind, 0) == -1)
		return -1;
	w->starting = 1;
	w->started_at = now;
	return 0;
}

void
proc_started(struct worker *w, pid_t pid, int fd, int64_t now)
{
	int fl;

	/* Non-blocking: a stuck worker must never stall the loop.  (The
	 * worker cannot change this: O_NONBLOCK lives in our own open
	 * file description, not its end of the pair.) */
	if ((fl = fcntl(fd, F_GETFL)) != -1)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	w->starting = 0;
	w->pid = pid;
	w->fd = fd;
	w->ready = 0;
	w->killed = 0;
	w->started_at = now;
	w->ping_at = 0;
	w->next_ping = now + PROC_PING_EVERY;
	w->hello_status = HELLO_READY;
	w->hello_err[0] = '\0';
	w->starts++;
}

void
proc_start_failed(struct worker *w, int64_t now)
{
	w->starting = 0;
	if (w->down_since == 0)
		w->down_since = now;
	w->backoff_ms =
	    w->backoff_ms == 0 ? PROC_BACKOFF_FIRST : w->backoff_ms * 2;
	if (w->backoff_ms > PROC_BACKOFF_MAX)
		w->backoff_ms = PROC_BACKOFF_MAX;
	w->next_start = now + w->backoff_ms;
}

void
proc_kill(struct worker *w, enum proc_reason why)
{
	if (w->pid <= 0 || w->killed)
		return;
	w->killed = 1;
	w->kill_reason = why;
	/* The supervisor signals no one: the spawner, the workers'
	 * parent, stops exactly this instance. */
	spawner_req(w->spawner, MSG_SPAWN_STOP_REQ, w->kind, w->pid);
}

void
proc_describe(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		snprintf(buf, len, "SIGSYS (sandbox violation)");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "status 0x%x", status);
}

enum proc_reason
proc_reaped(struct worker *w, int status, int64_t now)
{
	enum proc_reason r;

	if (w->killed)
		r = w->kill_reason;
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		r = PROC_R_SANDBOX;
	else if (WIFSIGNALED(status))
		r = PROC_R_SIGNAL;
	else
		r = PROC_R_EXIT;
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
	w->pid = 0;
	w->ready = 0;
	w->restarts[r]++;
	if (w->down_since == 0)
		w->down_since = now;
	/* A worker that ran for a stable minute starts over at the first
	 * backoff step: one crash a day should not wait 30 s. */
	if (now - w->started_at >= PROC_STABLE_MS || w->backoff_ms == 0)
		w->backoff_ms = PROC_BACKOFF_FIRST;
	else if ((w->backoff_ms *= 2) > PROC_BACKOFF_MAX)
		w->backoff_ms = PROC_BACKOFF_MAX;
	w->next_start = now + w->backoff_ms;
	return r;
}

uint32_t
proc_next_seq(struct worker *w)
{
	if (++w->seq == 0)
		w->seq = 1;
	return w->seq;
}

int
proc_send_nb(struct worker *w, uint16_t type, uint32_t seq, const void *payload)
{
	if (w->fd == -1) {
		errno = ENOTCONN;
		return -1;
	}
	if (frame_send(w->fd, type, seq, payload) == 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return 1;
	return proc_send(w, type, seq, payload);
}

int
proc_send(struct worker *w, uint16_t type, uint32_t seq, const void *payload)
{
	if (w->fd == -1) {
		errno = ENOTCONN;
		return -1;
	}
	if (frame_send(w->fd, type, seq, payload) == 0)
		return 0;
	log_warn("cannot send to worker", "worker", w->name, "msg_type",
	    msg_name(type), "err", strerror(errno), NULL);
	proc_kill(w, PROC_R_PROTOCOL);
	return -1;
}
