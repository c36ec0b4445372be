/* sandbox.c: the supervisor's own seccomp allowlist and Landlock */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include <poll.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "common/sandbox.h"
#include "supervisor/net/httpd.h"
#include "sup.h"

#define ALLOW SANDBOX_ALLOW
#define DENY SANDBOX_ERRNO

/*
 * The supervisor faces the network (two HTTP listeners) and every
 * worker's frames, so it holds nothing and may do almost nothing: no
 * open, no exec, no fork, no new socket, no connect, no ptrace, no
 * signal to anyone but itself.  Its listeners are bound and its
 * workers' sockets arrive from the spawner.  Sorted by name; one call
 * per line; anything else kills the process.
 */
static const struct sandbox_rule rules[] = {
	ALLOW(accept4, "a client of /metrics, /healthz, /readyz"),
	ALLOW(brk, "malloc"),
	ALLOW(clock_gettime, "CLOCK_MONOTONIC where the vDSO falls back"),
	ALLOW(close, "a finished HTTP connection, a dead worker's socket"),
	ALLOW(exit, "exit"),
	ALLOW(exit_group, "exit"),
	/* F_GETFD..F_SETFL only: no F_SETOWN, F_SETSIG or O_ASYNC, which
	 * would make the kernel signal another process for us */
	SANDBOX_FCNTL_FLAGS,
	ALLOW(futex, "libc locks"),
	ALLOW(getpid, "our own pid (signals to ourselves only)"),
	ALLOW(getrandom, "malloc's and libc's seeds"),
	ALLOW(getsockname, "the port a listener got (logs)"),
	ALLOW(gettid, "abort() signals its own thread"),
	SANDBOX_ERRNO_IF(ioctl, ENOTTY, SANDBOX_EQ(1, TCGETS),
	    "stdio asks whether a stream is a terminal"),
	ALLOW(lseek, "stdio flushing stdout at exit"),
	ALLOW(madvise, "free"),
	SANDBOX_NO_EXEC(mmap, "malloc"),
	SANDBOX_NO_EXEC(mprotect, "malloc arenas"),
	ALLOW(mremap, "realloc of large blocks"),
	ALLOW(munmap, "free"),
	ALLOW(newfstatat, "stdio's first write to a stream (fstat)"),
	ALLOW(poll, "the loop"),
	ALLOW(ppoll, "poll() where the architecture has no poll"),
	ALLOW(read, "signalfd"),
	ALLOW(recvfrom, "frames (recv), HTTP requests"),
	ALLOW(recvmsg, "frames from the spawner, with a worker's socket"),
	ALLOW(restart_syscall, "a poll resumed after SIGSTOP/SIGCONT"),
	ALLOW(rt_sigprocmask, "abort() unblocks SIGABRT"),
	ALLOW(rt_sigreturn, "return from a handler"),
	ALLOW(sendmsg, "HTTP answers (header and body in one call)"),
	ALLOW(sendto, "frames (send)"),
	ALLOW(setsockopt, "SO_SNDBUF of an accepted connection"),
	ALLOW(shutdown, "an HTTP connection after its answer"),
	ALLOW(sysinfo, "glibc's qsort asks the memory size for big arrays"),
	ALLOW(wait4, "the spawner's exit"),
	ALLOW(write, "logs"),
};

/* kill and tgkill to our own pid only (raise(), abort()): known at run
 * time, so these two rows are added then. */
#define SELF_ROWS 2

static struct sandbox_rule all[sizeof(rules) / sizeof(rules[0]) + SELF_ROWS];

/* No path at all: Landlock with every filesystem right handled and no
 * rule, so even a file we could name stays closed. */
static const char *const no_paths[] = { NULL };

int
sup_sandbox_enter(struct sup *s, char *err, size_t errlen)
{
	struct sandbox_policy p;
	struct pollfd pfd[2 * HTTPD_POLLFDS_MAX];
	int keep[5 + 2 * HTTPD_POLLFDS_MAX], landlock, n = 0, i, m;

	keep[n++] = 0;
	keep[n++] = 1;
	keep[n++] = 2;
	keep[n++] = s->sigfd;
	keep[n++] = s->spawner_fd;
	/* The listeners: bound before, accepted on after. */
	m = s->metrics_srv
	    ? httpd_pollfds(s->metrics_srv, pfd, HTTPD_POLLFDS_MAX)
	    : 0;
	if (s->health_srv)
		m += httpd_pollfds(s->health_srv, pfd + m, HTTPD_POLLFDS_MAX);
	for (i = 0; i < m; i++)
		keep[n++] = pfd[i].fd;
	memcpy(all, rules, sizeof(rules));
	i = (int)(sizeof(rules) / sizeof(rules[0]));
	all[i++] = (struct sandbox_rule)SANDBOX_ALLOW_IF(kill,
	    SANDBOX_EQ(0, getpid()), "raise(): to ourselves only");
	all[i++] = (struct sandbox_rule)SANDBOX_ALLOW_IF(tgkill,
	    SANDBOX_EQ(0, getpid()), "abort(): to ourselves only");
	memset(&p, 0, sizeof(p));
	p.name = "supervisor";
	p.rules = all;
	p.nrules = (size_t)i;
	p.ro_paths = no_paths;
	p.keep_fds = keep;
	p.nkeep = (size_t)n;
	/* No TCP connect or bind (the listeners are bound already), and
	 * no signal or abstract socket outside our own domain. */
	p.restrict_tcp = 1;
	p.scoped = 1;
	if (sandbox_enter(&p, &landlock, err, errlen) == -1)
		return -1;
	s->landlock_abi = landlock;
	return 0;
}
