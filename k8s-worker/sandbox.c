/* sandbox.c: the k8s worker's seccomp allowlist */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>

#include <seccomp.h>

#include "common/workers.h"
#include "kube.h"

#define ALLOW SANDBOX_ALLOW
#define ERRNO SANDBOX_ERRNO

/*
 * Sorted by name, one syscall per line (a call with argument checks
 * has one line per allowed form), each seen under `strace -f` against
 * the fake API (lists, watches, writes, token re-reads, a hostname
 * resolved through /etc/hosts and through DNS).  err 0 allows the call;
 * a non-zero err makes it fail with that errno where the caller has a
 * fallback.  Everything else, and an argument no line allows, kills.
 * The SANDBOX_ groups are the argument checks shared with the other
 * HTTPS worker (common/sandbox.h).
 */
static const struct sandbox_rule rules[] = {
	ALLOW(brk, "malloc"),
	ALLOW(clock_gettime, "deadlines when the vDSO falls back"),
	SANDBOX_ALLOW_IF(clone, SANDBOX_MASKED(0, CLONE_THREAD, CLONE_THREAD),
	    "libcurl's resolver thread; never a process"),
	ERRNO(clone3, ENOSYS, "unfilterable flags: glibc uses clone"),
	ALLOW(close, "sockets, the token file"),
	ALLOW(connect, "API server (Landlock: its port); DNS over UDP"),
	ALLOW(exit, "the resolver thread ends"),
	ALLOW(exit_group, "exit after SHUTDOWN"),
	SANDBOX_FCNTL_FLAGS,
	ALLOW(futex, "resolver thread hand-over, glibc locks"),
	ALLOW(getpeername, "libcurl records the peer address"),
	ALLOW(getpid, "OpenSSL's fork check, log pid"),
	ALLOW(getrandom, "OpenSSL's DRBG reseeds"),
	ALLOW(getsockname, "libcurl records the local address"),
	ALLOW(getsockopt, "SO_ERROR after a non-blocking connect"),
	SANDBOX_ALLOW_IF(ioctl, SANDBOX_EQ(1, FIONREAD),
	    "glibc's DNS client sizes answers"),
	ALLOW(lseek, "glibc reading /etc/hosts"),
	ALLOW(madvise, "malloc_trim, freed thread stacks"),
	SANDBOX_NO_EXEC(mmap, "large allocations (list pages), stacks"),
	SANDBOX_NO_EXEC(mprotect, "the resolver thread's stack guard"),
	ERRNO(mremap, ENOMEM, "realloc of a mapped chunk: glibc copies"),
	ALLOW(munmap, "freeing large allocations"),
	ALLOW(newfstatat, "glibc checks resolver files for change"),
	SANDBOX_OPENAT_RDONLY("token re-read, resolver files (Landlock)"),
	ALLOW(poll, "the loop"),
	ALLOW(read, "TLS, the token file, /etc/hosts"),
	ALLOW(recvfrom, "TLS, supervisor frames, DNS answers"),
	ALLOW(restart_syscall, "a poll resumed after SIGSTOP/SIGCONT"),
	ALLOW(rseq, "thread start (glibc)"),
	ALLOW(rt_sigaction, "glibc thread setup; libcurl's SIGPIPE"),
	ALLOW(rt_sigprocmask, "thread start (glibc)"),
	ALLOW(sendmmsg, "glibc sends A and AAAA queries at once"),
	ALLOW(sendto, "TLS, frames to the supervisor"),
	ALLOW(set_robust_list, "thread start (glibc)"),
	ALLOW(setsockopt, "TCP_NODELAY, keep-alive"),
	SANDBOX_INET_CLIENT_SOCKETS,
	ALLOW(socketpair, "libcurl's resolver wake-up pair"),
	ALLOW(write, "logs to stderr"),
};

static const int keep[] = { 2, WORKER_FD };

static const struct sandbox_policy policy = {
	.name = "k8s-worker",
	.rules = rules,
	.nrules = sizeof(rules) / sizeof(rules[0]),
	.keep_fds = keep,
	.nkeep = sizeof(keep) / sizeof(keep[0]),
	.restrict_tcp = 1, /* the caller adds the ports */
	.scoped = 1,
};

const struct sandbox_policy *
kube_sandbox_policy(void)
{
	return &policy;
}
