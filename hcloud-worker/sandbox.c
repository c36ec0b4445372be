/* sandbox.c: the hcloud worker's seccomp allowlist and Landlock paths */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>

#include <seccomp.h>

#include "common/sandbox.h"
#include "common/workers.h"
#include "hc.h"

#define ALLOW SANDBOX_ALLOW
#define DENY SANDBOX_ERRNO

/*
 * Sorted by name; one syscall per line (a call with argument checks
 * has one line per allowed form); everything else, and an argument no
 * line allows, kills the process.  Found by running the worker under
 * strace -f against the fake API: http and https, names from
 * /etc/hosts and from DNS, one and several addresses per name.
 */
static const struct sandbox_rule rules[] = {
	ALLOW(brk, "malloc"),
	ALLOW(clock_gettime, "CLOCK_MONOTONIC where the vDSO falls back"),
	SANDBOX_ALLOW_IF(clone, SANDBOX_MASKED(0, CLONE_THREAD, CLONE_THREAD),
	    "libcurl's resolver thread; fork() kills"),
	DENY(clone3, ENOSYS,
	    "glibc falls back to clone, whose flags a "
	    "filter can see"),
	ALLOW(close, "sockets, resolver files"),
	ALLOW(connect, "the API (Landlock: its port); DNS; source sort"),
	ALLOW(exit, "the resolver thread ends"),
	ALLOW(exit_group, "exit"),
	SANDBOX_FCNTL_FLAGS,
	ALLOW(futex, "resolver thread hand-over, libc locks"),
	ALLOW(getpeername, "libcurl connection info"),
	ALLOW(getpid, "OpenSSL and libcurl fork checks"),
	ALLOW(getrandom, "TLS, DNS query ids"),
	ALLOW(getsockname, "libcurl; the resolver's source address sort"),
	ALLOW(getsockopt, "SO_ERROR after a non-blocking connect"),
	SANDBOX_ALLOW_IF(ioctl, SANDBOX_EQ(1, FIONREAD),
	    "glibc's DNS client sizes answers"),
	ALLOW(lseek, "stdio reading /etc/hosts"),
	ALLOW(madvise, "glibc releases a finished thread's stack"),
	SANDBOX_NO_EXEC(mmap, "malloc, thread stacks"),
	SANDBOX_NO_EXEC(mprotect, "thread stack guard"),
	ALLOW(mremap, "realloc of large blocks"),
	ALLOW(munmap, "free"),
	ALLOW(newfstatat, "resolver checks whether its files changed"),
	SANDBOX_OPENAT_RDONLY("resolver files (Landlock: four files)"),
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
	SANDBOX_INET_CLIENT_SOCKETS,
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
	.name = "hcloud-worker",
	.rules = rules,
	.nrules = sizeof(rules) / sizeof(rules[0]),
	.ro_paths = ro_paths,
	.keep_fds = keep_fds,
	.nkeep = sizeof(keep_fds) / sizeof(keep_fds[0]),
	.restrict_tcp = 1, /* the caller adds the ports */
	.scoped = 1,
};

const struct sandbox_policy *
hc_sandbox_policy(void)
{
	return &policy;
}
