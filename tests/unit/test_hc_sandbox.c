/* test_hc_sandbox.c: the hcloud worker's real seccomp filters, applied in
 * forked children */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "common/sandbox.h"
#include "common/workers.h"
#include "hcloud-worker/hc.h"
#include "sandbox_args.h"

#if defined(__SANITIZE_ADDRESS__)
#define HC_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HC_SANITIZER 1
#endif
#endif

#ifdef HC_SANITIZER
/*
 * Under ASan the test's own runtime makes calls the worker never does
 * (thread bookkeeping, the alternate signal stack).  They are added to
 * a copy of the worker's table; every rule of the worker still applies.
 */
static const struct sandbox_rule san_rules[] = {
	SANDBOX_ALLOW(gettid, "sanitizer runtime"),
	SANDBOX_ALLOW(sched_getaffinity, "sanitizer runtime"),
	SANDBOX_ALLOW(sigaltstack, "sanitizer runtime"),
};

static const struct sandbox_policy *
test_policy(void)
{
	static struct sandbox_rule all[256];
	static struct sandbox_policy p;
	const struct sandbox_policy *w = hc_sandbox_policy();
	size_t n = sizeof(san_rules) / sizeof(san_rules[0]);

	if (w->nrules + n > sizeof(all) / sizeof(all[0]))
		return w;
	memcpy(all, w->rules, w->nrules * sizeof(all[0]));
	memcpy(all + w->nrules, san_rules, sizeof(san_rules));
	p = *w;
	p.rules = all;
	p.nrules = w->nrules + n;
	return &p;
}
#else
static const struct sandbox_policy *
test_policy(void)
{
	return hc_sandbox_policy();
}
#endif

/* Load the filter as the worker does (argument checks included).
 * Children end with _exit so no atexit handler (LeakSanitizer) runs
 * under the filter. */
static void
lock_down(void)
{
	char err[256];

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    sandbox_seccomp(test_policy(), err, sizeof(err)) != 0) {
		fprintf(stderr, "lock_down: %s\n", err);
		_exit(100);
	}
}

/* Run fn in a locked-down child; its wait status. */
static int
in_child(int (*fn)(void))
{
	pid_t pid;
	int st;

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		lock_down();
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void
expect_sigsys(int (*fn)(void), const char *what)
{
	int st = in_child(fn);

	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
		fail_msg("%s: want SIGSYS, got %s %d", what,
		    WIFSIGNALED(st) ? "signal" : "exit",
		    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static void
expect_exit0(int (*fn)(void), const char *what)
{
	int st = in_child(fn);

	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s: want exit 0, got %s %d", what,
		    WIFSIGNALED(st) ? "signal" : "exit",
		    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

/* ---- the table itself ------------------------------------------------- */

static void
test_table(void **state)
{
	const struct sandbox_policy *p = hc_sandbox_policy();
	char *prev = NULL, *name;
	size_t i;
	int has2 = 0, has3 = 0;

	(void)state;
	assert_non_null(p);
	assert_true(p->nrules > 10);
	for (i = 0; i < p->nrules; i++) {
		assert_non_null(p->rules[i].why);
		assert_true(strlen(p->rules[i].why) > 3);
		if (p->rules[i].nr < 0)
			continue; /* not on this architecture */
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
		    p->rules[i].nr);
		assert_non_null(name);
		/* Rows of one call (argument checks) sit together. */
		if (prev != NULL && strcmp(prev, name) > 0)
			fail_msg("rules not sorted: %s before %s", prev, name);
		free(prev);
		prev = name;
	}
	free(prev);
	for (i = 0; i < p->nkeep; i++) {
		has2 |= p->keep_fds[i] == 2;
		has3 |= p->keep_fds[i] == WORKER_FD;
	}
	assert_true(has2 && has3);
	/* Landlock: the resolver's files and nothing else. */
	for (i = 0; p->ro_paths[i] != NULL; i++)
		assert_true(strncmp(p->ro_paths[i], "/etc/", 5) == 0);
	assert_int_equal(i, 4);
}

/* ---- what must keep working ------------------------------------------- */

static void *
thread_fn(void *arg)
{
	return arg;
}

static int
allowed_basics(void)
{
	struct timespec ts;
	pthread_t t;
	void *ret = NULL, *big;
	int sv[2], s;
	char c = 'x';

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0 || getpid() <= 0)
		return 1;
	if ((big = malloc(8 << 20)) == NULL) /* mmap-backed */
		return 2;
	memset(big, 1, 8 << 20);
	free(big);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 ||
	    write(sv[0], &c, 1) != 1 || read(sv[1], &c, 1) != 1)
		return 3;
	close(sv[0]);
	close(sv[1]);
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 4;
	close(s);
	if ((s = socket(AF_INET6, SOCK_DGRAM, 0)) == -1 &&
	    errno != EAFNOSUPPORT) /* a host without IPv6 says so itself */
		return 5;
	if (s != -1)
		close(s);
	/* libcurl's resolver thread: clone with CLONE_THREAD. */
	if (pthread_create(&t, NULL, thread_fn, &c) != 0 ||
	    pthread_join(t, &ret) != 0 || ret != &c)
		return 6;
	if ((s = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		return 7;
	close(s);
	return 0;
}

static void
test_allowed(void **state)
{
	(void)state;
	expect_exit0(allowed_basics, "allowed calls");
}

/* ---- what a library merely probes: an errno, not a kill --------------- */

static int
probes_get_errno(void)
{
	void *p;
	int fd;

	errno = 0;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 2;
	if (socket(AF_NETLINK, SOCK_RAW, 0) != -1 || errno != EAFNOSUPPORT)
		return 3;
	if (socket(AF_UNIX, SOCK_STREAM, 0) != -1 || errno != EAFNOSUPPORT)
		return 4;
	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (p != MAP_FAILED || errno != EPERM)
		return 8;
	if ((p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		return 9;
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC) != -1 || errno != EPERM)
		return 10;
	if ((fd = open("/dev/null", O_WRONLY)) != -1 || errno != EACCES)
		return 11;
	if ((fd = open("/dev/null", O_RDWR)) != -1 || errno != EACCES)
		return 12;
	return 0;
}

/* The argument checks shared with the k8s worker, one child each. */
static int case_no;

static int
shared_case(void)
{
	int sv[2];

	/* Made under the filter: socketpair is allowed, and case_no was
	 * set by the parent before the fork. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 100;
	return sa_run(case_no, sv[0]);
}

static void
test_arguments(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < SA_NCASES; i++) {
		case_no = (int)i;
		if (sa_cases[i].expect == SA_KILLS)
			expect_sigsys(shared_case, sa_cases[i].what);
		else
			expect_exit0(shared_case, sa_cases[i].what);
	}
}

static void
test_errno(void **state)
{
	(void)state;
	expect_exit0(probes_get_errno, "probes");
}

/* ---- what kills ------------------------------------------------------- */

static int
do_execve(void)
{
	char *const argv[] = { "/nonexistent/true", NULL };

	/* A path that does not exist: allowed, execve would return ENOENT
	 * and the child exit 0; a program that did run would die of the
	 * inherited filter and prove nothing. */
	(void)execve(argv[0], argv, NULL);
	return 0;
}

static int
do_fork(void)
{
	/* A raw clone without CLONE_THREAD, as fork() makes it. */
	(void)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	return 0;
}

static int
do_ptrace(void)
{
	(void)ptrace(PTRACE_TRACEME, 0, 0, 0);
	return 0;
}

static int
do_kill(void)
{
	(void)kill(getpid(), 0);
	return 0;
}

static int
do_bind(void)
{
	(void)bind(-1, NULL, 0);
	return 0;
}

static int
do_prctl(void)
{
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	return 0;
}

static int
do_unlinkat(void)
{
	(void)unlinkat(AT_FDCWD, "/tmp/hc-sandbox-never", 0);
	return 0;
}

static int
do_setuid(void)
{
	(void)syscall(SYS_setuid, 0);
	return 0;
}

static void
test_killed(void **state)
{
	(void)state;
	expect_sigsys(do_execve, "execve");
	expect_sigsys(do_fork, "clone without CLONE_THREAD");
	expect_sigsys(do_ptrace, "ptrace");
	expect_sigsys(do_kill, "kill");
	expect_sigsys(do_bind, "bind");
	expect_sigsys(do_prctl, "prctl");
	expect_sigsys(do_unlinkat, "unlinkat");
	expect_sigsys(do_setuid, "setuid");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_errno),
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_killed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
