/* sandbox.c: the probe worker's seccomp allowlist and sandbox policy */
#include <sys/mman.h>
#include <sys/socket.h>

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

#include <seccomp.h>

#include "common/sandbox.h"
#include "common/workers.h"
#include "probe.h"

#define ALLOW SANDBOX_ALLOW
#define ERRNO SANDBOX_ERRNO

/*
 * Sorted by name, one syscall per line (a call with argument checks
 * has one line per allowed form); measured with strace -f over
 * start-up, probing, list replacement, SIGSTOP/SIGCONT and every exit.
 * err 0 allows the call; a non-zero err makes it fail with that errno,
 * for hints a library merely gives.  Anything else kills the process.
 * No fcntl, ioctl, open or clone at all: the socket is non-blocking
 * from its creation and the worker has no thread.
 */
static const struct sandbox_rule rules[] = {
	ALLOW(brk, "malloc: target lists grow the heap"),
	ALLOW(clock_gettime, "deadlines, when the vDSO falls back"),
	ALLOW(close, "a probe socket once its connect ended"),
	ALLOW(connect, "the probe itself (Landlock: the health port)"),
	ALLOW(exit_group, "exit after SHUTDOWN or EOF"),
	ALLOW(getsockopt, "SO_ERROR: did the connect succeed"),
	ERRNO(madvise, ENOSYS, "a hint only: malloc trim, sanitizers"),
	SANDBOX_NO_EXEC(mmap, "malloc above the mmap threshold"),
	ALLOW(munmap, "free of such an allocation"),
	ALLOW(poll, "the one event loop"),
	ALLOW(ppoll, "poll where the arch has no poll(2)"),
	ALLOW(recvfrom, "frames from the supervisor (recv)"),
	ALLOW(restart_syscall, "poll resumed after SIGSTOP/CONT"),
	ALLOW(sendto, "HELLO, PING answers, results (send)"),
	SANDBOX_INET_SOCKET(AF_INET, SOCK_STREAM, "one per probed address"),
	SANDBOX_INET_SOCKET(AF_INET6, SOCK_STREAM, "one per probed address"),
	ALLOW(write, "log lines on stderr"),
};

static const int keep_fds[] = { STDERR_FILENO, WORKER_FD };

/* Landlock with no path at all: the worker opens no file, ever. */
static const char *const no_paths[] = { NULL };

static const struct sandbox_policy policy = {
	.name = "probe-worker",
	.rules = rules,
	.nrules = sizeof(rules) / sizeof(rules[0]),
	.ro_paths = no_paths,
	.keep_fds = keep_fds,
	.nkeep = sizeof(keep_fds) / sizeof(keep_fds[0]),
	.restrict_tcp = 1, /* the caller adds the ports */
	.scoped = 1,
};

const struct sandbox_policy *
probe_sandbox_policy(void)
{
	return &policy;
}
