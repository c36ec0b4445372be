/* sandbox.c: the hcloud worker's seccomp allowlist and Landlock paths */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include <seccomp.h>

#include "common/sandbox.h"
#include "common/workers.h"
#include "hc.h"

#define ALLOW(n, why) \
	{ \
		SCMP_SYS(n), 0, why \
	}
#define DENY(n, e, why) \
	{ \
		SCMP_SYS(n), e, why \
	}

/*
 * Sorted by name; one syscall per line; everything else kills the
 * process.  Found by running the worker under strace -f against the
 * fake API: http and https, names from /etc/hosts and from DNS, one
 * and several addresses per name.
 */
static const struct sandbox_rule rules[] = {
	ALLOW(brk, "malloc"),
	ALLOW(clock_gettime, "CLOCK_MONOTONIC where the vDSO falls back"),
	ALLOW(clone, "libcurl's resolver thread (flags checked below)"),
	DENY(clone3, ENOSYS,
	    "glibc falls back to clone, whose flags a "
	    "filter can see"),
	ALLOW(close, "sockets, resolver files"),
	ALLOW(connect, "to the API; the resolver to DNS and for sorting"),
	ALLOW(exit, "the resolver thread ends"),
	ALLOW(exit_group, "exit"),
	ALLOW(fcntl, "libcurl makes sockets non-blocking"),
	ALLOW(futex, "resolver thread hand-over, libc locks"),
	ALLOW(getpeername, "libcurl connection info"),
	ALLOW(getpid, "OpenSSL and libcurl fork checks"),
	ALLOW(getrandom, "TLS, DNS query ids"),
	ALLOW(getsockname, "libcurl; the resolver's source address sort"),
	ALLOW(getsockopt, "SO_ERROR after a non-blocking connect"),
	DENY(ioctl, ENOTTY, "glibc's resolver asks FIONREAD, copes without"),
	ALLOW(lseek, "stdio reading /etc/hosts"),
	ALLOW(madvise, "glibc releases a finished thread's stack"),
	ALLOW(mmap, "malloc, thread stacks (never PROT_EXEC, below)"),
	ALLOW(mprotect, "thread stack guard (never PROT_EXEC, below)"),
	ALLOW(mremap, "realloc of large blocks"),
	ALLOW(munmap, "free"),
	ALLOW(newfstatat, "resolver checks whether its files changed"),
	ALLOW(openat, "resolver files (read-only, Landlock: four files)"),
	ALLOW(poll, "the loop, libcurl, the resolver"),
	ALLOW(ppoll, "poll() where the architecture has no poll"),
	ALLOW(read, "sockets, resolver files"),
	ALLOW(recvfrom, "replies, frames (recv), DNS answers"),
	ALLOW(restart_syscall, "a poll resumed after SIGSTOP/SIGCONT"),
	ALLOW(rseq, "a new thread registers with the kernel"),
	ALLOW(rt_sigaction, "glibc's handler set up at the first thread"),
	ALLOW(rt_sigprocmask, "pthread_create blocks signals around clone"),
	ALLOW(rt_sigreturn, "return from that handler"),
	ALLOW(sendmmsg, "glibc sends A and AAAA queries together"),
	ALLOW(sendto, "requests, frames (send), DNS queries"),
	ALLOW(set_robust_list, "a new thread"),
	ALLOW(setsockopt, "TCP_NODELAY, keep-alive, IP_RECVERR"),
	ALLOW(socket, "TCP to the API, UDP to DNS (families below)"),
	ALLOW(socketpair, "libcurl's wake-up and resolver pipes"),
	ALLOW(write, "logs, sockets"),
	ALLOW(writev, "glibc's resolver over TCP (truncated answers)"),
};

/* Landlock: what the resolver reads; nothing else on the filesystem. */
static const char *const ro_paths[] = {
	"/etc/hosts",
	"/etc/resolv.conf",
	"/etc/nsswitch.conf",
	"/etc/gai.conf",
	NULL,
};

/* stdin and stdout are /dev/null (kept so no socket lands on 0-1),
 * stderr carries the logs, WORKER_FD the frames. */
static const int keep_fds[] = { 0, 1, 2, WORKER_FD };

static const struct sandbox_policy policy = {
	"hcloud-worker", rules, sizeof(rules) / sizeof(rules[0]), ro_paths,
	keep_fds, sizeof(keep_fds) / sizeof(keep_fds[0]),
	0, /* read, never execute */
};

const struct sandbox_policy *
hc_sandbox_policy(void)
{
	return &policy;
}

static int
add(scmp_filter_ctx ctx, uint32_t act, int nr, struct scmp_arg_cmp cmp)
{
	return seccomp_rule_add(ctx, act, nr, 1, cmp);
}

/*
 * Stacked filters all apply and the strictest answer wins, so this one
 * (default allow) narrows calls the allowlist has to allow:
 * - clone only for a thread (the resolver); fork() kills;
 * - socket only for AF_INET/AF_INET6.  Other families get EAFNOSUPPORT
 *   rather than a kill: getaddrinfo() probes AF_NETLINK to sort
 *   addresses and glibc's nscd client tries AF_UNIX; both fall back;
 * - no executable mappings (W^X: nothing is loaded after start-up);
 * - openat read-only, so the filesystem stays read-only even on a
 *   kernel without Landlock.
 */
static int
args_rules(scmp_filter_ctx ctx)
{
	const uint32_t nofam = SCMP_ACT_ERRNO(EAFNOSUPPORT);
	const uint32_t perm = SCMP_ACT_ERRNO(EPERM);
	const uint32_t acc = SCMP_ACT_ERRNO(EACCES);
	int r, d;

	if ((r = add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone),
		 SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0))) != 0 ||
	    (r = add(ctx, nofam, SCMP_SYS(socket),
		 SCMP_A0(SCMP_CMP_LT, AF_INET, 0))) != 0 ||
	    (r = add(ctx, nofam, SCMP_SYS(socket),
		 SCMP_A0(SCMP_CMP_GT, AF_INET6, 0))) != 0 ||
	    (r = add(ctx, perm, SCMP_SYS(mmap),
		 SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))) != 0 ||
	    (r = add(ctx, perm, SCMP_SYS(mprotect),
		 SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))) != 0 ||
	    (r = add(ctx, acc, SCMP_SYS(openat),
		 SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE, O_WRONLY))) != 0 ||
	    (r = add(ctx, acc, SCMP_SYS(openat),
		 SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE, O_RDWR))) != 0 ||
	    (r = add(ctx, acc, SCMP_SYS(openat),
		 SCMP_A2(SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT))) != 0)
		return r;
	for (d = AF_INET + 1; d < AF_INET6; d++)
		if ((r = add(ctx, nofam, SCMP_SYS(socket),
			 SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)d, 0))) != 0)
			return r;
	return 0;
}

int
hc_sandbox_args(char *err, size_t errlen)
{
	return sandbox_args_filter(args_rules, err, errlen);
}
