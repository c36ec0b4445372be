/* sandbox.c: the spawner's seccomp allowlist and Landlock rules */
#include <sys/ioctl.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>

#include <seccomp.h>

#include "common/sandbox.h"
#include "hcloud-worker/hc.h"
#include "k8s-worker/kube.h"
#include "probe-worker/probe.h"
#include "spawner.h"

#define ALLOW SANDBOX_ALLOW
#define DENY SANDBOX_ERRNO

/*
 * Seccomp filters and Landlock domains survive fork and execve, so
 * whatever the spawner forbids, every worker is forbidden too.  Its
 * filter is therefore this table (its own calls and what an exec'd
 * worker does before it enters its own, tighter sandbox: the dynamic
 * loader, libc and library start-up, reading its credential) plus
 * every call any worker's allowlist names.  What stays out of reach
 * of the spawner and of every worker: ptrace, process_vm_*, mount,
 * namespaces, setuid and friends, bpf, keyctl, module and kexec calls,
 * and every other call not listed.  Sorted by name.
 */
static const struct sandbox_rule own[] = {
	ALLOW(access, "the loader of an exec'd worker"),
	ALLOW(arch_prctl, "the loader sets up TLS in a worker"),
	ALLOW(bind, "a worker's start-up getaddrinfo binds a netlink socket"),
	ALLOW(brk, "malloc"),
	ALLOW(capget, "a worker drops its capabilities (libcap)"),
	ALLOW(capset, "a worker drops its capabilities (libcap)"),
	ALLOW(clock_gettime, "where the vDSO falls back"),
	ALLOW(clone, "fork a worker (glibc's fork is clone)"),
	DENY(clone3, ENOSYS, "glibc falls back to clone"),
	ALLOW(close, "the worker's socket after handing it over"),
	ALLOW(close_range, "a worker closes what it does not need"),
	ALLOW(dup2, "the worker's socket onto fd 3, /dev/null onto 0"),
	ALLOW(dup3, "dup2 where the architecture lacks it"),
	ALLOW(execve, "the worker image, /proc/self/exe"),
	ALLOW(exit, "a thread ends"),
	ALLOW(exit_group, "exit"),
	SANDBOX_FCNTL_FLAGS, /* never F_SETOWN, F_SETSIG or O_ASYNC */
	ALLOW(futex, "libc locks"),
	ALLOW(getpid, "our pid, the fork's parent check"),
	SANDBOX_ALLOW_IF(ioctl, SANDBOX_EQ(1, FIONREAD),
	    "the k8s worker's resolver sizes a DNS answer"),
	SANDBOX_ERRNO_IF(ioctl, ENOTTY, SANDBOX_EQ(1, TCGETS),
	    "stdio asks whether a stream is a terminal"),
	ALLOW(getppid, "the parent-died check after PR_SET_PDEATHSIG"),
	ALLOW(getrandom, "malloc and OpenSSL seeding in a worker"),
	ALLOW(kill, "SIGKILL to a worker the supervisor stopped"),
	ALLOW(landlock_add_rule, "a worker builds its own Landlock domain"),
	ALLOW(landlock_create_ruleset, "a worker's Landlock domain"),
	ALLOW(landlock_restrict_self, "a worker's Landlock domain"),
	ALLOW(lseek, "stdio in a worker's start-up"),
	ALLOW(madvise, "free"),
	ALLOW(mmap, "malloc; the loader maps a worker's libraries"),
	ALLOW(mprotect, "the loader: RELRO, library segments"),
	ALLOW(munmap, "free"),
	ALLOW(newfstatat, "the loader, credential file checks"),
	ALLOW(openat, "the loader, a worker's credential and CA files"),
	ALLOW(poll, "the loop"),
	ALLOW(ppoll, "poll() where the architecture has no poll"),
	ALLOW(prctl, "process names, death signal, no_new_privs"),
	ALLOW(pread64, "the loader reads ELF headers"),
	ALLOW(prlimit64, "a worker disables core dumps (setrlimit)"),
	ALLOW(read, "signalfd, a worker's files"),
	ALLOW(readlink, "the loader resolves /proc/self/exe"),
	ALLOW(recvfrom, "frames from the supervisor (recv)"),
	ALLOW(recvmsg, "a worker's start-up getaddrinfo reads netlink"),
	ALLOW(restart_syscall, "a poll resumed after SIGSTOP/SIGCONT"),
	ALLOW(rseq, "glibc registers each new process"),
	ALLOW(rt_sigaction, "libc start-up in a worker"),
	ALLOW(rt_sigprocmask, "a worker starts with no signal blocked"),
	ALLOW(rt_sigreturn, "return from a handler"),
	ALLOW(seccomp, "a worker loads its own filter"),
	ALLOW(sendmsg, "a worker's socket to the supervisor (SCM_RIGHTS)"),
	ALLOW(sendto, "frames to the supervisor"),
	ALLOW(set_robust_list, "glibc at process start"),
	ALLOW(set_tid_address, "glibc at process start"),
	ALLOW(socketpair, "one per worker start"),
	ALLOW(sysinfo, "OpenSSL start-up in a worker"),
	ALLOW(uname, "libc and OpenSSL start-up in a worker"),
	ALLOW(wait4, "reap a worker"),
	ALLOW(write, "logs"),
#if defined(__SANITIZE_ADDRESS__)
	/* ASan+UBSan test builds only: the sanitizer runtime opens
	 * /proc/self/maps and makes pipes at a worker's start-up, before
	 * its own filter (common/sandbox.c adds the rest). */
	ALLOW(open, "sanitizer: /proc/self/maps and friends"),
	ALLOW(pipe2, "sanitizer: its internal pipes"),
#endif
};

#define RULES_MAX 160

static struct sandbox_rule merged[RULES_MAX];
static const char *const ro_paths[] = { "/", NULL };

static size_t
add_rules(size_t n, const struct sandbox_rule *r, size_t nr)
{
	size_t i, k;

	for (i = 0; i < nr; i++) {
		if (r[i].nr < 0)
			continue;
		for (k = 0; k < n && merged[k].nr != r[i].nr; k++)
			continue;
		if (k < n || n == RULES_MAX)
			continue; /* the first table naming it decides */
		merged[n] = r[i];
		/* A worker's errno answer and argument checks are its own
		 * filter's business; the spawner lets the call through. */
		merged[n].err = 0;
		merged[n].ncond = 0;
		merged[n].why = "a worker's allowlist names it";
		n++;
	}
	return n;
}

const struct sandbox_policy *
spawner_sandbox_policy(const int *keep, size_t nkeep)
{
	static struct sandbox_policy p;
	const struct sandbox_policy *w[3];
	size_t i, n;

	w[0] = kube_sandbox_policy();
	w[1] = hc_sandbox_policy();
	w[2] = probe_sandbox_policy();
	memcpy(merged, own, sizeof(own));
	n = sizeof(own) / sizeof(own[0]);
	for (i = 0; i < 3; i++)
		n = add_rules(n, w[i]->rules, w[i]->nrules);
	memset(&p, 0, sizeof(p));
	p.name = "spawner";
	p.rules = merged;
	p.nrules = n;
	/* Read and execute anywhere (the workers' loader, libraries and
	 * credentials), write, create or remove nothing. */
	p.ro_paths = ro_paths;
	p.ro_exec = 1;
	p.keep_fds = keep;
	p.nkeep = nkeep;
	/* Signals and abstract sockets only within our Landlock domain:
	 * the workers (started below us) yes, the supervisor no.  TCP
	 * stays with the workers' own rules: they connect, we do not. */
	p.scoped = 1;
	return &p;
}
