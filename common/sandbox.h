/* sandbox.h: the mechanism every worker uses to lock itself down */
#ifndef SANDBOX_H
#define SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include <seccomp.h>

/* One comparison of a syscall argument: EQ (arg == a) or MASKED_EQ
 * ((arg & a) == b), op being SCMP_CMP_EQ or SCMP_CMP_MASKED_EQ. */
struct sandbox_cond {
	unsigned int arg;
	int op;
	uint64_t a;
	uint64_t b;
};

/*
 * One allowed syscall.  err == 0: allow; err > 0: fail with that errno
 * (for calls libraries merely probe, so they fall back instead of the
 * process being killed).  With ncond > 0 the row applies only when all
 * its conditions hold; several rows of one syscall are alternatives,
 * and an argument no row matches kills.  Rows of one syscall with
 * different actions must not overlap (libseccomp would pick either).
 * Everything not listed kills the process.
 */
struct sandbox_rule {
	int nr; /* SCMP_SYS(name) */
	int err;
	const char *why;
	unsigned int ncond;
	struct sandbox_cond cond[2];
};

/* Table rows (the tables include <seccomp.h> for SCMP_SYS/SCMP_CMP_). */
#define SANDBOX_ALLOW(n, w) \
	{ \
		.nr = SCMP_SYS(n), .why = (w) \
	}
#define SANDBOX_ERRNO(n, e, w) \
	{ \
		.nr = SCMP_SYS(n), .err = (e), .why = (w) \
	}
#define SANDBOX_ALLOW_IF(n, c, w) \
	{ \
		.nr = SCMP_SYS(n), .why = (w), .ncond = 1, .cond = { c } \
	}
#define SANDBOX_ALLOW_IF2(n, c1, c2, w) \
	{ \
		.nr = SCMP_SYS(n), .why = (w), .ncond = 2, .cond = { c1, c2 } \
	}
#define SANDBOX_ERRNO_IF(n, e, c, w) \
	{ \
		.nr = SCMP_SYS(n), .err = (e), .why = (w), .ncond = 1, \
		.cond = { \
			c \
		} \
	}
#define SANDBOX_EQ(i, v) \
	{ \
		(i), SCMP_CMP_EQ, (uint64_t)(v), 0 \
	}
#define SANDBOX_MASKED(i, m, v) \
	{ \
		(i), SCMP_CMP_MASKED_EQ, (uint64_t)(m), (uint64_t)(v) \
	}

/*
 * The argument checks every worker that speaks HTTPS shares, as groups
 * of rows for its sorted table.  fcntl: flags and FD_CLOEXEC only,
 * never F_SETOWN/F_SETSIG/O_ASYNC (signals to an owner).  mmap and
 * mprotect: never executable (EPERM; nothing loads after start-up).
 * openat: read-only (writing: EACCES; creating or truncating kills).
 * socket: IPv4/IPv6 stream (API, DNS over TCP) and datagram (DNS);
 * AF_UNIX (glibc's nscd client; no nscd is needed) and AF_NETLINK
 * (getaddrinfo's interface probe; it sorts without) get EAFNOSUPPORT;
 * any other family or type kills.  SOCK_TYPE_MASK (0xf) is the
 * kernel's; no userspace header exports it.
 */
#define SANDBOX_FCNTL_FLAGS \
	SANDBOX_ALLOW_IF(fcntl, SANDBOX_EQ(1, F_GETFD), "FD_CLOEXEC"), \
	    SANDBOX_ALLOW_IF(fcntl, SANDBOX_EQ(1, F_GETFL), "socket flags"), \
	    SANDBOX_ALLOW_IF(fcntl, SANDBOX_EQ(1, F_SETFD), "FD_CLOEXEC"), \
	    SANDBOX_ALLOW_IF2(fcntl, SANDBOX_EQ(1, F_SETFL), \
		SANDBOX_MASKED(2, O_ASYNC, 0), "O_NONBLOCK, never O_ASYNC")
#define SANDBOX_NO_EXEC(n, w) \
	SANDBOX_ALLOW_IF(n, SANDBOX_MASKED(2, PROT_EXEC, 0), w), \
	    SANDBOX_ERRNO_IF(n, EPERM, \
		SANDBOX_MASKED(2, PROT_EXEC, PROT_EXEC), \
		"W^X: never executable")
#define SANDBOX_OPENAT_RDONLY(w) \
	SANDBOX_ALLOW_IF(openat, \
	    SANDBOX_MASKED(2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY), w), \
	    SANDBOX_ERRNO_IF(openat, EACCES, \
		SANDBOX_MASKED(2, O_ACCMODE, O_WRONLY), "never written"), \
	    SANDBOX_ERRNO_IF(openat, EACCES, \
		SANDBOX_MASKED(2, O_ACCMODE, O_RDWR), "never written")
#define SANDBOX_INET_SOCKET(af, t, w) \
	SANDBOX_ALLOW_IF2(socket, SANDBOX_EQ(0, af), \
	    SANDBOX_MASKED(1, 0xf, t), w)
#define SANDBOX_INET_CLIENT_SOCKETS \
	SANDBOX_INET_SOCKET(AF_INET, SOCK_DGRAM, "DNS over UDP"), \
	    SANDBOX_INET_SOCKET(AF_INET, SOCK_STREAM, "API, DNS over TCP"), \
	    SANDBOX_INET_SOCKET(AF_INET6, SOCK_DGRAM, "DNS over UDP"), \
	    SANDBOX_INET_SOCKET(AF_INET6, SOCK_STREAM, "API, DNS over TCP"), \
	    SANDBOX_ERRNO_IF(socket, EAFNOSUPPORT, SANDBOX_EQ(0, AF_UNIX), \
		"nscd client: none needed"), \
	    SANDBOX_ERRNO_IF(socket, EAFNOSUPPORT, SANDBOX_EQ(0, AF_NETLINK), \
		"getaddrinfo sorts without")

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
	/* 1 (workers): Landlock ABI >= 4 TCP rules: connect() only to
	 * tcp_ports (none: no TCP at all), bind() never.  0 leaves TCP to
	 * seccomp, as a process whose children connect must. */
	int restrict_tcp;
	const uint16_t *tcp_ports;
	size_t nports;
	/* 1 (workers): Landlock ABI >= 6: no signal to, no abstract socket
	 * of, a process outside this Landlock domain. */
	int scoped;
};

/*
 * Close every fd not kept, set no_new_privs, not dumpable, no core
 * dumps, drop every capability set, apply Landlock where the kernel has
 * it (files; TCP ports from ABI 4; signal and abstract-socket scoping
 * from ABI 6), then load the seccomp allowlist (default: kill the
 * process).  Returns 0, or -1 with a one-line reason in err.
 * *landlock gets the Landlock ABI used, 0 when unavailable (the caller
 * logs it).
 */
int sandbox_enter(const struct sandbox_policy *, int *landlock, char *err,
    size_t errlen);

/* Build the policy's seccomp filter and load it (used by tests to
 * apply a worker's real filter in a forked child). */
int sandbox_seccomp(const struct sandbox_policy *, char *err, size_t errlen);

/* The kernel's Landlock ABI version, 0 when it has none (or it is
 * disabled).  One syscall; no side effect. */
int sandbox_landlock_abi(void);

/* The TCP ports a client of an http(s) URL connects to, added to
 * ports[*n]: the URL's port (80 or 443 when it names none) and, when
 * the host is a name, 53 (glibc retries a truncated DNS answer over
 * TCP).  Returns 0, or -1 for a URL it cannot read or a full array. */
int sandbox_url_ports(const char *url, uint16_t *ports, size_t max, size_t *n);

#endif /* SANDBOX_H */
