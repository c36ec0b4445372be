/* sandbox.c: the k8s worker's seccomp allowlist */
#include <errno.h>
#include <stddef.h>

#include <seccomp.h>

#include "common/workers.h"
#include "kube.h"

/*
 * Sorted by name, one syscall per line, each seen under `strace -f`
 * against the fake API (lists, watches, writes, token re-reads, a
 * hostname resolved through /etc/hosts and through DNS).  err 0 allows
 * the call; a non-zero err makes it fail with that errno where the
 * caller has a fallback.  Everything else kills the process.
 */
static const struct sandbox_rule rules[] = {
	{ SCMP_SYS(brk), 0, "malloc" },
	{ SCMP_SYS(clock_gettime), 0, "deadlines when the vDSO falls back" },
	{ SCMP_SYS(clone), 0, "libcurl's resolver thread (glibc fallback)" },
	{ SCMP_SYS(clone3), ENOSYS, "unfilterable flags: glibc uses clone" },
	{ SCMP_SYS(close), 0, "sockets, the token file" },
	{ SCMP_SYS(connect), 0, "API server; DNS over UDP" },
	{ SCMP_SYS(exit), 0, "the resolver thread ends" },
	{ SCMP_SYS(exit_group), 0, "exit after SHUTDOWN" },
	{ SCMP_SYS(fcntl), 0, "libcurl makes its sockets non-blocking" },
	{ SCMP_SYS(futex), 0, "resolver thread hand-over, glibc locks" },
	{ SCMP_SYS(getpeername), 0, "libcurl records the peer address" },
	{ SCMP_SYS(getpid), 0, "OpenSSL's fork check, log pid" },
	{ SCMP_SYS(getrandom), 0, "OpenSSL's DRBG reseeds" },
	{ SCMP_SYS(getsockname), 0, "libcurl records the local address" },
	{ SCMP_SYS(getsockopt), 0, "SO_ERROR after a non-blocking connect" },
	{ SCMP_SYS(ioctl), 0, "FIONREAD in glibc's DNS client" },
	{ SCMP_SYS(lseek), 0, "glibc reading /etc/hosts" },
	{ SCMP_SYS(madvise), 0, "malloc_trim, freed thread stacks" },
	{ SCMP_SYS(mmap), 0, "large allocations (list pages), stacks" },
	{ SCMP_SYS(mprotect), 0, "the resolver thread's stack guard" },
	{ SCMP_SYS(mremap), ENOMEM, "realloc of a mapped chunk: glibc copies" },
	{ SCMP_SYS(munmap), 0, "freeing large allocations" },
	{ SCMP_SYS(newfstatat), 0, "glibc checks resolver files for change" },
	{ SCMP_SYS(openat), 0, "token re-read, resolver files (Landlock)" },
	{ SCMP_SYS(poll), 0, "the loop" },
	{ SCMP_SYS(read), 0, "TLS, the token file, /etc/hosts" },
	{ SCMP_SYS(recvfrom), 0, "TLS, supervisor frames, DNS answers" },
	{ SCMP_SYS(rseq), 0, "thread start (glibc)" },
	{ SCMP_SYS(rt_sigaction), 0, "glibc thread setup; libcurl's SIGPIPE" },
	{ SCMP_SYS(rt_sigprocmask), 0, "thread start (glibc)" },
	{ SCMP_SYS(sendmmsg), 0, "glibc sends A and AAAA queries at once" },
	{ SCMP_SYS(sendto), 0, "TLS, frames to the supervisor" },
	{ SCMP_SYS(set_robust_list), 0, "thread start (glibc)" },
	{ SCMP_SYS(setsockopt), 0, "TCP_NODELAY, keep-alive" },
	{ SCMP_SYS(socket), 0, "API connections, DNS, IPv6 probe" },
	{ SCMP_SYS(socketpair), 0, "libcurl's resolver wake-up pair" },
	{ SCMP_SYS(write), 0, "logs to stderr" },
};

static const int keep[] = { 2, WORKER_FD };

static const struct sandbox_policy policy = {
	"k8s-worker", rules, sizeof(rules) / sizeof(rules[0]), NULL, keep,
	sizeof(keep) / sizeof(keep[0]), 0, /* read, never execute */
};

const struct sandbox_policy *
kube_sandbox_policy(void)
{
	return &policy;
}
