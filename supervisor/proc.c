/* proc.c: starting, watching and restarting the sandboxed workers */
#include <sys/prctl.h>
#include <sys/syscall.h>
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
#include "common/workers.h"
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

/*
 * In the child between fork and exec: only async-signal-safe calls.
 * The worker inherits its socket on WORKER_FD, /dev/null as stdin and
 * our stdout/stderr for logs; every other fd is closed, the signal mask
 * we block for signalfd is cleared, and the environment is only the
 * marker that proves the re-exec came from us.
 */
static void __attribute__((noreturn)) child_exec(struct worker *w, int sock)
{
	char *argv[PROC_ARGS_MAX + 4], marker[64];
	char *envp[16] = { marker, NULL };
	sigset_t none;
	size_t i, n = 0;
	int null;
#ifdef SE_TEST_HOOKS
	extern char **environ;
	size_t e = 1;

	/* Test builds: the compromise hook's instructions pass through. */
	for (i = 0; environ[i] != NULL && e + 1 < 16; i++)
		if (strncmp(environ[i], "STABLE_EGRESSD_TEST_", 20) == 0)
			envp[e++] = environ[i];
	envp[e] = NULL;
#endif

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* A worker never outlives its supervisor, even after a SIGKILL. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (dup2(sock, WORKER_FD) == -1)
		_exit(127);
	if ((null = open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1) {
		dup2(null, STDIN_FILENO);
	}
	syscall(SYS_close_range, WORKER_FD + 1, ~0U, 0);
	snprintf(marker, sizeof(marker), "STABLE_EGRESSD_WORKER=%s", w->mode);
	argv[n++] = (char *)"stable-egressd";
	argv[n++] = (char *)"--worker";
	argv[n++] = (char *)w->mode;
	for (i = 0; w->args[i] != NULL && i < PROC_ARGS_MAX; i++)
		argv[n++] = w->args[i];
	argv[n] = NULL;
	/* /proc/self/exe: the very image we run, even if the file on disk
	 * was replaced by an upgrade since. */
	execve("/proc/self/exe", argv, envp);
	_exit(127);
}

int
proc_start(struct worker *w, int64_t now)
{
	int sv[2], fl;
	pid_t pid;

	if (frame_socketpair(sv) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0)
		child_exec(w, sv[1]);
	close(sv[1]);
	/* Non-blocking: a stuck worker must never stall the loop. */
	fl = fcntl(sv[0], F_GETFL);
	fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
	w->pid = pid;
	w->fd = sv[0];
	w->ready = 0;
	w->killed = 0;
	w->started_at = now;
	w->ping_at = 0;
	w->next_ping = now + PROC_PING_EVERY;
	w->hello_status = HELLO_READY;
	w->hello_err[0] = '\0';
	w->starts++;
	return 0;
}

void
proc_kill(struct worker *w, enum proc_reason why)
{
	if (w->pid <= 0 || w->killed)
		return;
	w->killed = 1;
	w->kill_reason = why;
	kill(w->pid, SIGKILL);
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
