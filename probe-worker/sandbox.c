/* sandbox.c: the probe worker's seccomp allowlist and sandbox policy */
#include <errno.h>
#include <stddef.h>
#include <unistd.h>

#include <seccomp.h>

#include "common/sandbox.h"
#include "common/workers.h"
#include "probe.h"

/*
 * Sorted by name, one syscall per line; measured with strace -f over
 * start-up, probing, list replacement, SIGSTOP/SIGCONT and every exit.
 * err 0 allows the call; a non-zero err makes it fail with that errno,
 * for hints a library merely gives.  Anything else kills the process.
 */
static const struct sandbox_rule rules[] = {
	{ SCMP_SYS(brk), 0, "malloc: target lists grow the heap" },
	{ SCMP_SYS(clock_gettime), 0, "deadlines, when the vDSO falls back" },
	{ SCMP_SYS(close), 0, "a probe socket once its connect ended" },
	{ SCMP_SYS(connect), 0, "the probe itself, non-blocking" },
	{ SCMP_SYS(exit_group), 0, "exit after SHUTDOWN or EOF" },
	{ SCMP_SYS(getsockopt), 0, "SO_ERROR: did the connect succeed" },
	{ SCMP_SYS(madvise), ENOSYS, "a hint only: malloc trim, sanitizers" },
	{ SCMP_SYS(mmap), 0, "malloc above the mmap threshold" },
	{ SCMP_SYS(munmap), 0, "free of such an allocation" },
	{ SCMP_SYS(poll), 0, "the one event loop" },
	{ SCMP_SYS(ppoll), 0, "poll where the arch has no poll(2)" },
	{ SCMP_SYS(recvfrom), 0, "frames from the supervisor (recv)" },
	{ SCMP_SYS(restart_syscall), 0, "poll resumed after SIGSTOP/CONT" },
	{ SCMP_SYS(sendto), 0, "HELLO, PING answers, results (send)" },
	{ SCMP_SYS(socket), 0, "one TCP socket per probed address" },
	{ SCMP_SYS(write), 0, "log lines on stderr" },
};

static const int keep_fds[] = { STDERR_FILENO, WORKER_FD };

/* Landlock with no path at all: the worker opens no file, ever. */
static const char *const no_paths[] = { NULL };

static const struct sandbox_policy policy = {
	"probe-worker", rules, sizeof(rules) / sizeof(rules[0]), no_paths,
	keep_fds, sizeof(keep_fds) / sizeof(keep_fds[0]),
	0, /* read, never execute */
};

const struct sandbox_policy *
probe_sandbox_policy(void)
{
	return &policy;
}
