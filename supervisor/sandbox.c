/* sandbox.c: the supervisor's own seccomp allowlist and Landlock */
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

#define ALLOW(n, why) \
	{ \
		SCMP_SYS(n), 0, why \
	}
#define DENY(n, e, why) \
	{ \
		SCMP_SYS(n), e, why \
	}

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
	ALLOW(fcntl, "non-blocking sockets (commands checked below)"),
	ALLOW(futex, "libc locks"),
	ALLOW(getpid, "our own pid (signals to ourselves only)"),
	ALLOW(getrandom, "malloc's and libc's seeds"),
	ALLOW(getsockname, "the port a listener got (logs)"),
	ALLOW(gettid, "abort() signals its own thread"),
	DENY(ioctl, ENOTTY, "stdio asks whether a stream is a terminal"),
	ALLOW(kill, "to ourselves only (checked below): raise()"),
	ALLOW(lseek, "stdio flushing stdout at exit"),
	ALLOW(madvise, "free"),
	ALLOW(mmap, "malloc (never PROT_EXEC, below)"),
	ALLOW(mprotect, "malloc arenas (never PROT_EXEC, below)"),
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
	ALLOW(tgkill, "to ourselves only (checked below): abort()"),
	ALLOW(wait4, "the spawner's exit"),
	ALLOW(write, "logs"),
};

static int
add(scmp_filter_ctx ctx, uint32_t act, int nr, struct scmp_arg_cmp cmp)
{
	return seccomp_rule_add(ctx, act, nr, 1, cmp);
}

/*
 * Stacked filters all apply and the strictest answer wins, so this one
 * (default allow) narrows what the allowlist lets through:
 * - kill and tgkill only to our own pid: no signal to the spawner, a
 *   worker, or anything else running as the same user;
 * - fcntl only F_GETFL, F_SETFL without O_ASYNC (O_ASYNC + F_SETOWN
 *   would make the kernel signal another process for us), F_GETFD
 *   and F_SETFD;
 * - no executable mappings.
 */
static int
args_rules(scmp_filter_ctx ctx)
{
	const uint32_t kill = SCMP_ACT_KILL_PROCESS;
	const uint32_t perm = SCMP_ACT_ERRNO(EPERM);
	const scmp_datum_t self = (scmp_datum_t)getpid();
	int r;

	/* F_DUPFD is 0 and F_GETFD..F_SETFL are 1..4: everything else
	 * (F_SETOWN, F_SETSIG, F_SETLEASE, F_DUPFD_CLOEXEC, ...) is out. */
	if ((r = add(ctx, kill, SCMP_SYS(kill),
		 SCMP_A0(SCMP_CMP_NE, self, 0))) != 0 ||
	    (r = add(ctx, kill, SCMP_SYS(tgkill),
		 SCMP_A0(SCMP_CMP_NE, self, 0))) != 0 ||
	    (r = add(ctx, kill, SCMP_SYS(fcntl),
		 SCMP_A1(SCMP_CMP_EQ, F_DUPFD, 0))) != 0 ||
	    (r = add(ctx, kill, SCMP_SYS(fcntl),
		 SCMP_A1(SCMP_CMP_GT, F_SETFL, 0))) != 0 ||
	    (r = seccomp_rule_add(ctx, kill, SCMP_SYS(fcntl), 2,
		 SCMP_A1(SCMP_CMP_EQ, F_SETFL, 0),
		 SCMP_A2(SCMP_CMP_MASKED_EQ, O_ASYNC, O_ASYNC))) != 0 ||
	    (r = add(ctx, perm, SCMP_SYS(mmap),
		 SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))) != 0 ||
	    (r = add(ctx, perm, SCMP_SYS(mprotect),
		 SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))) != 0)
		return r;
	return 0;
}

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
	memset(&p, 0, sizeof(p));
	p.name = "supervisor";
	p.rules = rules;
	p.nrules = sizeof(rules) / sizeof(rules[0]);
	p.ro_paths = no_paths;
	p.keep_fds = keep;
	p.nkeep = (size_t)n;
	if (sandbox_args_filter(args_rules, err, errlen) == -1 ||
	    sandbox_enter(&p, &landlock, err, errlen) == -1)
		return -1;
	s->landlock_abi = landlock;
	return 0;
}
