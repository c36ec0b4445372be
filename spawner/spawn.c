/* spawn.c: starting, stopping and reaping workers for the supervisor */
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/workers.h"
#include "spawner.h"

#define ARGS_MAX 32 /* key=value arguments per worker */
#define ENV_MAX 12

#if defined(SE_TEST_HOOKS) || defined(__SANITIZE_ADDRESS__)
/* Test builds only: the variables tests use to drive the workers'
 * test hooks, and the sanitizer's options in ASan+UBSan builds, pass
 * through; a release worker's environment is only the marker. */
static size_t
test_env(char **envp, size_t n, size_t max)
{
	static const char *const keep[] = {
#if defined(__SANITIZE_ADDRESS__)
		"ASAN_OPTIONS",
		"UBSAN_OPTIONS",
#endif
		"STABLE_EGRESSD_TEST_COMPROMISE",
		"STABLE_EGRESSD_TEST_COMPROMISE_WHO",
		"STABLE_EGRESSD_TEST_CRED_FILES",
		"STABLE_EGRESSD_TEST_SIBLING",
		"STABLE_EGRESSD_TEST_PORT",
		"STABLE_EGRESSD_TEST_NO_LANDLOCK",
	};
	extern char **environ;
	size_t i, k, len;

	for (i = 0; environ != NULL && environ[i] != NULL; i++)
		for (k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
			len = strlen(keep[k]);
			if (n < max && strncmp(environ[i], keep[k], len) == 0 &&
			    environ[i][len] == '=')
				envp[n++] = environ[i];
		}
	return n;
}
#endif

/*
 * In the child between fork and exec: only async-signal-safe calls.
 * The worker inherits its socket on WORKER_FD, /dev/null (read-only)
 * as stdin and stdout, and our stderr for logs; every other fd is closed, the signal mask
 * is cleared, and the environment is only the marker that proves the
 * re-exec came from us.
 */
static void __attribute__((noreturn))
child_exec(const struct spawn_def *d, int sock, int devnull, pid_t parent)
{
	char *argv[ARGS_MAX + 4], marker[64];
	char *envp[ENV_MAX + 1];
	sigset_t none;
	size_t i, n = 0, ne = 0;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* A worker never outlives the spawner (and so the supervisor),
	 * even after a SIGKILL; check for a parent that died first. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(127);
	if (dup2(sock, WORKER_FD) == -1 || dup2(devnull, STDIN_FILENO) == -1 ||
	    dup2(devnull, STDOUT_FILENO) == -1)
		_exit(127);
	syscall(SYS_close_range, WORKER_FD + 1, ~0U, 0);
	snprintf(marker, sizeof(marker), "STABLE_EGRESSD_WORKER=%s", d->mode);
	envp[ne++] = marker;
#if defined(SE_TEST_HOOKS) || defined(__SANITIZE_ADDRESS__)
	ne = test_env(envp, ne, ENV_MAX);
#endif
	envp[ne] = NULL;
	argv[n++] = (char *)"stable-egressd";
	argv[n++] = (char *)"--worker";
	argv[n++] = (char *)d->mode;
	for (i = 0; d->args[i] != NULL && i < ARGS_MAX; i++)
		argv[n++] = d->args[i];
	argv[n] = NULL;
	/* /proc/self/exe: the very image we run, even if the file on disk
	 * was replaced by an upgrade since. */
	execve("/proc/self/exe", argv, envp);
	_exit(127);
}

static int
reply(struct spawner *sp, uint16_t type, int role, pid_t pid, int status,
    int err, int fd)
{
	struct msg_spawn m;

	memset(&m, 0, sizeof(m));
	m.role = (uint8_t)role;
	m.pid = (uint32_t)pid;
	m.status = (uint32_t)status;
	m.err = (uint32_t)err;
	return fdpass_send(sp->sock, type, 0, &m, fd);
}

static int
start(struct spawner *sp, int role)
{
	int sv[2], r, e;
	pid_t pid, self = getpid();

	if (sp->pid[role] != 0)
		return reply(sp, MSG_SPAWN_STARTED, role, 0, 0, EBUSY, -1);
	if (frame_socketpair(sv) == -1) {
		e = errno;
		return reply(sp, MSG_SPAWN_STARTED, role, 0, 0, e, -1);
	}
	if ((pid = fork()) == -1) {
		e = errno;
		close(sv[0]);
		close(sv[1]);
		return reply(sp, MSG_SPAWN_STARTED, role, 0, 0, e, -1);
	}
	if (pid == 0)
		child_exec(&sp->cfg->def[role], sv[1], sp->devnull, self);
	close(sv[1]);
	sp->pid[role] = pid;
	r = reply(sp, MSG_SPAWN_STARTED, role, pid, 0, 0, sv[0]);
	close(sv[0]);
	return r;
}

int
spawn_decode(const uint8_t *dgram, size_t n, uint16_t *type,
    struct msg_spawn *out)
{
	union msg_payload p;
	struct frame f;
	int r;

	/* Header, FRAME_MAX and exact size first, then the two types we
	 * accept, then the fields' values. */
	if ((r = frame_parse(dgram, n, &f)) != 0 ||
	    (r = frame_decode(&f, MSG_TO_WORKER, &p)) != 0)
		return r;
	*type = f.type;
	if (f.type != MSG_SPAWN_START_REQ && f.type != MSG_SPAWN_STOP_REQ)
		return FRAME_ERR_DIRECTION;
	if (p.spawn.role <= WORKER_NONE || p.spawn.role >= WORKER_COUNT ||
	    p.spawn.status != 0 || p.spawn.err != 0 ||
	    (f.type == MSG_SPAWN_START_REQ) != (p.spawn.pid == 0))
		return FRAME_ERR_SIZE;
	*out = p.spawn;
	return 0;
}

int
spawn_on_frame(struct spawner *sp, uint16_t type, const struct msg_spawn *m)
{
	/* EINVAL: not the EPIPE of a supervisor that is gone. */
	errno = EINVAL;
	if (m->role <= WORKER_NONE || m->role >= WORKER_COUNT)
		return -1;
	switch (type) {
	case MSG_SPAWN_START_REQ:
		return m->pid == 0 ? start(sp, m->role) : -1;
	case MSG_SPAWN_STOP_REQ:
		/* Only the instance the supervisor means: a stale stop
		 * must not hit its successor. */
		if (m->pid != 0 && (pid_t)m->pid == sp->pid[m->role])
			kill(sp->pid[m->role], SIGKILL);
		return 0;
	default:
		return -1;
	}
}

int
spawn_reap(struct spawner *sp)
{
	struct signalfd_siginfo si;
	int status, role;
	pid_t pid;

	while (read(sp->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		continue; /* SIGCHLD coalesces: reap whatever exited */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (role = 1; role < WORKER_COUNT; role++)
			if (sp->pid[role] == pid)
				break;
		if (role == WORKER_COUNT)
			continue;
		sp->pid[role] = 0;
		if (reply(sp, MSG_SPAWN_EXITED, role, pid, status, 0, -1) == -1)
			return -1;
	}
	return 0;
}

void
spawn_kill_all(struct spawner *sp)
{
	int role;

	for (role = 1; role < WORKER_COUNT; role++)
		if (sp->pid[role] > 0)
			kill(sp->pid[role], SIGKILL);
	for (role = 1; role < WORKER_COUNT; role++)
		if (sp->pid[role] > 0)
			waitpid(sp->pid[role], NULL, 0);
	memset(sp->pid, 0, sizeof(sp->pid));
}
