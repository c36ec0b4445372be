/* sandbox.h: the mechanism every worker uses to lock itself down */
#ifndef SANDBOX_H
#define SANDBOX_H

#include <stddef.h>

#include <seccomp.h>

/* One allowed syscall.  err == 0: allow; err > 0: fail with that errno
 * (for calls libraries merely probe, so they fall back instead of the
 * process being killed).  Everything not listed kills the process. */
struct sandbox_rule {
	int nr; /* SCMP_SYS(name) */
	int err;
	const char *why;
};

struct sandbox_policy {
	const char *name; /* worker name, for messages */
	const struct sandbox_rule *rules;
	size_t nrules;
	/* Landlock: paths the worker may still read (a directory grants
	 * its whole subtree).  NULL-terminated; may be empty. */
	const char *const *ro_paths;
	/* Descriptors to keep open; every other one is closed. */
	const int *keep_fds;
	size_t nkeep;
	/* 1: ro_paths may also be executed (the spawner execs workers). */
	int ro_exec;
};

/*
 * Close every fd not kept, set no_new_privs, not dumpable, no core
 * dumps, drop every capability set, apply Landlock where the kernel has
 * it, then load the seccomp allowlist (default: kill the process).
 * Returns 0, or -1 with a one-line reason in err.  *landlock gets the
 * Landlock ABI used, 0 when unavailable (the caller logs it).
 */
int sandbox_enter(const struct sandbox_policy *, int *landlock, char *err,
    size_t errlen);

/* Build the policy's seccomp filter and load it (used by tests to
 * apply a worker's real filter in a forked child). */
int sandbox_seccomp(const struct sandbox_policy *, char *err, size_t errlen);

/* Load a second filter, default allow, whose rules (added by the
 * callback) narrow the arguments of calls the allowlist permits: the
 * strictest answer of stacked filters wins.  Load it before
 * sandbox_enter().  0, or -1 with one line in err. */
int
sandbox_args_filter(int (*rules)(scmp_filter_ctx), char *err, size_t errlen);

#endif /* SANDBOX_H */
