/* test_probe_sandbox.c: the probe worker's real filter, in forked children */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <seccomp.h>

#include "common/sandbox.h"
#include "common/workers.h"
#include "probe-worker/probe.h"

/* Child exit codes: which step failed. */
#define C_OK 0
#define C_FILTER 100 /* sandbox could not be applied */
#define C_STEP 101 /* an allowed call failed */

/* ASan's _exit interceptor calls sigaltstack, which the worker never
 * does; under ASan the child leaves by the raw call _exit makes. */
#ifdef __SANITIZE_ADDRESS__
#define child_exit(code) syscall(SYS_exit_group, (code))
#else
#define child_exit(code) _exit(code)
#endif

static int listen_fd = -1;
static struct sockaddr_in listen_sa;

/* The child applies the filter (or the whole sandbox), runs fn, and
 * leaves with _exit: no cmocka, atexit or stdio in a child. */
static int
run_child(int (*fn)(long), long arg, int whole)
{
	struct sandbox_policy p = *probe_sandbox_policy();
	uint16_t port = ntohs(listen_sa.sin_port);
	char err[256];
	int status, abi, r;
	pid_t pid;

	/* As probe_main does: TCP to the health port only. */
	p.tcp_ports = &port;
	p.nports = 1;
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		if (whole)
			r = sandbox_enter(&p, &abi, err, sizeof(err));
		else
			r = sandbox_seccomp(&p, err, sizeof(err));
		if (r != 0)
			child_exit(C_FILTER);
		child_exit(fn(arg));
		_exit(C_STEP); /* not reached */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void
assert_exited_ok(int status)
{
	if (!WIFEXITED(status))
		fail_msg("child died of signal %d", WTERMSIG(status));
	assert_int_equal(WEXITSTATUS(status), C_OK);
}

static void
assert_sigsys(int status)
{
	if (WIFEXITED(status))
		fail_msg("child exited %d instead of dying of SIGSYS",
		    WEXITSTATUS(status));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* What the worker's loop really does: a non-blocking connect to the
 * health port, poll, SO_ERROR, close; clock, logs, frames, malloc. */
static int
probe_steps(long arg)
{
	struct pollfd pfd;
	struct timespec ts;
	socklen_t len = sizeof(int);
	char b[64];
	void *big;
	int fd, err = -1, sv[2];

	(void)arg;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return C_STEP;
	if (connect(fd, (struct sockaddr *)&listen_sa, sizeof(listen_sa)) ==
		-1 &&
	    errno != EINPROGRESS)
		return C_STEP + 1;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, 2000) != 1)
		return C_STEP + 2;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err)
		return C_STEP + 3;
	if (close(fd) == -1)
		return C_STEP + 4;
	/* The raw syscall: the vDSO would hide a missing rule. */
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == -1)
		return C_STEP + 5;
	if (write(STDERR_FILENO, "", 0) == -1)
		return C_STEP + 6;
	if ((big = malloc(1 << 20)) == NULL) /* mmap, munmap */
		return C_STEP + 7;
	memset(big, 1, 1 << 20);
	/* A hint libraries give: refused with an errno, never a kill. */
	if (madvise((void *)((uintptr_t)big & ~(uintptr_t)4095), 4096,
		MADV_DONTNEED) != -1 ||
	    errno != ENOSYS)
		return C_STEP + 9;
	free(big);
	/* sv is made before the filter in the worker; here only send
	 * and recv are under test, so socketpair runs in the parent. */
	sv[0] = (int)(arg >> 16);
	sv[1] = (int)(arg & 0xffff);
	if (send(sv[0], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1 ||
	    recv(sv[1], b, sizeof(b), MSG_DONTWAIT) != 1)
		return C_STEP + 8;
	return C_OK;
}

static int
probe_steps_nosv(long arg)
{
	int r = probe_steps(arg);

	/* Only the sv step may fail: the whole sandbox closed them. */
	return r == C_STEP + 8 ? C_OK : r;
}

static int
raw_call(long nr)
{
	static char *const argv[] = { "true", NULL };

	switch (nr) {
	case SYS_openat:
		syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY);
		break;
	case SYS_execve:
		syscall(SYS_execve, "/bin/true", argv, argv + 1);
		break;
	default:
		syscall(nr, 0L, 0L, 0L, 0L, 0L, 0L);
	}
	return C_OK; /* survived: the test fails */
}

static int
setup(void **state)
{
	socklen_t len = sizeof(listen_sa);

	(void)state;
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(listen_fd != -1);
	memset(&listen_sa, 0, sizeof(listen_sa));
	listen_sa.sin_family = AF_INET;
	listen_sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(listen_fd, (struct sockaddr *)&listen_sa,
			     sizeof(listen_sa)),
	    0);
	assert_int_equal(listen(listen_fd, 16), 0);
	assert_int_equal(getsockname(listen_fd, (struct sockaddr *)&listen_sa,
			     &len),
	    0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	close(listen_fd);
	return 0;
}

static void
test_allowed_calls_work(void **state)
{
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_exited_ok(
	    run_child(probe_steps, ((long)sv[0] << 16) | sv[1], 0));
	close(sv[0]);
	close(sv[1]);
}

static void
test_whole_sandbox_still_probes(void **state)
{
	(void)state;
	/* close_range, caps, Landlock with no paths, then the filter. */
	assert_exited_ok(run_child(probe_steps_nosv, 0, 1));
}

static void
test_openat_kills(void **state)
{
	(void)state;
	assert_sigsys(run_child(raw_call, SYS_openat, 0));
	assert_sigsys(run_child(raw_call, SYS_openat, 1));
}

static void
test_execve_kills(void **state)
{
	(void)state;
	assert_sigsys(run_child(raw_call, SYS_execve, 0));
}

/* Argument checks: only TCP over IPv4/IPv6, no executable memory. */
static int
arg_call(long which)
{
	void *p;

	switch (which) {
	case 0:
		(void)socket(AF_UNIX, SOCK_STREAM, 0);
		break;
	case 1:
		(void)socket(AF_INET, SOCK_DGRAM, 0);
		break;
	case 2:
		(void)socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
		break;
	case 3:
		(void)socket(AF_NETLINK, SOCK_RAW, 0);
		break;
	case 4:
		(void)socket(AF_PACKET, SOCK_RAW, 0);
		break;
	case 5:
		p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p == MAP_FAILED && errno == EPERM ? C_OK : C_STEP;
	case 6:
		if (socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0) == -1 &&
		    errno != EAFNOSUPPORT)
			return C_STEP;
		return C_OK;
	}
	return C_STEP; /* survived: the test fails */
}

static void
test_arguments(void **state)
{
	long i;

	(void)state;
	for (i = 0; i <= 4; i++)
		assert_sigsys(run_child(arg_call, i, 0));
	assert_exited_ok(run_child(arg_call, 5, 0));
	assert_exited_ok(run_child(arg_call, 6, 0));
}

/* Landlock ABI >= 4: TCP to the health port only; any other is EACCES. */
static int
other_port(long port)
{
	struct sockaddr_in sa = listen_sa;
	int fd;

	sa.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return C_STEP;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != -1 ||
	    errno != EACCES)
		return C_STEP + 1;
	return C_OK;
}

static void
test_landlock_ports(void **state)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd;

	(void)state;
	if (sandbox_landlock_abi() < 4)
		skip();
	/* A second listener the worker has no business with. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd != -1);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	assert_exited_ok(run_child(other_port, ntohs(sa.sin_port), 1));
	close(fd);
}

static void
test_other_forbidden_calls_kill(void **state)
{
	/* No listening, no new processes, no socket options, no fds. */
	static const long nrs[] = {
		SYS_bind,
		SYS_listen,
		SYS_accept4,
		SYS_setsockopt,
		SYS_clone,
		SYS_ptrace,
		SYS_ioctl,
		SYS_fcntl,
		SYS_getpid,
		SYS_kill,
		SYS_mprotect,
		SYS_socketpair,
		SYS_sendmsg,
		SYS_dup,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(nrs) / sizeof(nrs[0]); i++)
		assert_sigsys(run_child(raw_call, nrs[i], 0));
}

static void
test_policy_is_tight_and_sorted(void **state)
{
	const struct sandbox_policy *p = probe_sandbox_policy();
	static const char *const never[] = {
		"open",
		"openat",
		"openat2",
		"execve",
		"execveat",
		"bind",
		"listen",
		"accept",
		"accept4",
		"setsockopt",
		"fork",
		"clone",
		"clone3",
		"ptrace",
		"mprotect",
		"ioctl",
		"fcntl",
		"kill",
	};
	char *prev = NULL, *name;
	size_t i, j;

	(void)state;
	assert_string_equal(p->name, "probe-worker");
	/* Landlock with no path: no file access at all. */
	assert_non_null(p->ro_paths);
	assert_null(p->ro_paths[0]);
	assert_int_equal(p->nkeep, 2);
	assert_int_equal(p->keep_fds[0], STDERR_FILENO);
	assert_int_equal(p->keep_fds[1], WORKER_FD);
	assert_true(p->nrules <= 20);
	for (i = 0; i < p->nrules; i++) {
		assert_non_null(p->rules[i].why);
		assert_true(strlen(p->rules[i].why) > 8);
		if (p->rules[i].nr < 0)
			continue; /* not on this architecture */
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
		    p->rules[i].nr);
		assert_non_null(name);
		for (j = 0; j < sizeof(never) / sizeof(never[0]); j++)
			if (strcmp(name, never[j]) == 0)
				fail_msg("%s must not be allowed", name);
		/* Rows of one call (argument checks) sit together. */
		if (prev != NULL && strcmp(prev, name) > 0)
			fail_msg("rules not sorted: %s before %s", prev, name);
		free(prev);
		prev = name;
	}
	free(prev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_is_tight_and_sorted),
		cmocka_unit_test(test_allowed_calls_work),
		cmocka_unit_test(test_whole_sandbox_still_probes),
		cmocka_unit_test(test_openat_kills),
		cmocka_unit_test(test_execve_kills),
		cmocka_unit_test(test_other_forbidden_calls_kill),
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_landlock_ports),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
