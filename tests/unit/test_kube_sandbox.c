/* test_kube_sandbox.c: the k8s worker's real seccomp filter, in a child */
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "common/sandbox.h"
#include "k8s-worker/kube.h"
#include "sandbox_args.h"

/* The raw exit: sanitizer runtimes hook _exit() with calls the worker
 * itself never makes. */
static void
child_exit(int code)
{
	syscall(SYS_exit_group, code);
	_exit(code);
}

/*
 * The worker's policy; under ASan/UBSan plus what their runtime does
 * lazily on its own (an alternate signal stack), never the worker.
 */
static struct sandbox_policy
policy_under_test(void)
{
	static struct sandbox_rule rules[128];
	static const int extra[] = { SCMP_SYS(sigaltstack), SCMP_SYS(gettid),
		SCMP_SYS(sched_getaffinity) };
	struct sandbox_policy p = *kube_sandbox_policy();
	size_t i;

#if defined(__SANITIZE_ADDRESS__)
	assert_true(p.nrules + 3 < sizeof(rules) / sizeof(rules[0]));
	memcpy(rules, p.rules, p.nrules * sizeof(rules[0]));
	for (i = 0; i < 3; i++) {
		memset(&rules[p.nrules], 0, sizeof(rules[0]));
		rules[p.nrules].nr = extra[i];
		rules[p.nrules].why = "sanitizer runtime";
		p.nrules++;
	}
	p.rules = rules;
#else
	(void)extra;
	(void)i;
	(void)rules;
#endif
	return p;
}

/* Run fn in a child under the worker's filter; its wait status. */
static int
in_child(int (*fn)(void))
{
	struct sandbox_policy p = policy_under_test();
	char err[256];
	pid_t pid;
	int st;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
		    sandbox_seccomp(&p, err, sizeof(err)) == -1)
			child_exit(100);
		child_exit(fn());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static int
allowed_calls(void)
{
	int sv[2];
	char c = 'x';

	/* What the worker does all day: sockets, reads, writes. */
	if (getpid() <= 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 1;
	if (write(sv[0], &c, 1) != 1 || read(sv[1], &c, 1) != 1)
		return 2;
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1)
		return 3;
	close(sv[0]);
	close(sv[1]);
	return 0;
}

static int
try_execve(void)
{
	char *const argv[] = { (char *)"/bin/true", NULL };

	execve("/bin/true", argv, NULL);
	return 1;
}

static int
try_ptrace(void)
{
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	return 1;
}

static int
try_setuid(void)
{
	return (int)syscall(SYS_setuid, 0) == 0 ? 1 : 2;
}

static int
try_kill(void)
{
	return kill(getpid(), 0) == 0 ? 1 : 2;
}

/* A probed call fails with its errno instead of killing. */
static int
clone3_errno(void)
{
	long r = syscall(SYS_clone3, NULL, 0);

	return r == -1 && errno == ENOSYS ? 0 : 1;
}

/* One shared argument case in a child under the filter. */
static int
case_in_child(int i)
{
	struct sandbox_policy p = policy_under_test();
	char err[256];
	pid_t pid;
	int st, sv[2];

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
		    sandbox_seccomp(&p, err, sizeof(err)) == -1)
			child_exit(100);
		child_exit(sa_run(i, sv[0]));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void
test_arguments(void **state)
{
	size_t i;
	int st;

	(void)state;
	for (i = 0; i < SA_NCASES; i++) {
		st = case_in_child((int)i);
		if (sa_cases[i].expect == SA_KILLS &&
		    (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS))
			fail_msg("%s: want SIGSYS, got status 0x%x",
			    sa_cases[i].what, st);
		if (sa_cases[i].expect == SA_WORKS &&
		    (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
			fail_msg("%s: want exit 0, got status 0x%x",
			    sa_cases[i].what, st);
	}
}

static void
assert_sigsys(int st)
{
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static void
test_allowed(void **state)
{
	int st;

	(void)state;
	st = in_child(allowed_calls);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	st = in_child(clone3_errno);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_forbidden(void **state)
{
	(void)state;
	assert_sigsys(in_child(try_execve));
	assert_sigsys(in_child(try_ptrace));
	assert_sigsys(in_child(try_setuid));
	assert_sigsys(in_child(try_kill));
}

/* One sorted table, one line per syscall, each with a reason. */
static void
test_table(void **state)
{
	const struct sandbox_policy *p = kube_sandbox_policy();
	char *prev = NULL, *name;
	size_t i;

	(void)state;
	assert_true(p->nrules > 10);
	assert_non_null(p->keep_fds);
	assert_int_equal(p->nkeep, 2);
	assert_int_equal(p->keep_fds[0], 2);
	assert_int_equal(p->keep_fds[1], 3);
	for (i = 0; i < p->nrules; i++) {
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
		    p->rules[i].nr);
		assert_non_null(name);
		/* Rows of one call (argument checks) sit together. */
		assert_true(prev == NULL || strcmp(prev, name) <= 0);
		assert_non_null(p->rules[i].why);
		assert_true(strlen(p->rules[i].why) > 3);
		free(prev);
		prev = name;
	}
	free(prev);
}

/* The whole lock-down in a child: fds closed, no new privileges. */
static int
whole_sandbox(void)
{
	struct sandbox_policy pol = policy_under_test();
	const char *paths[] = { "/etc/hosts", NULL };
	int keep[] = { 2, 3 }, fd, landlock;
	char err[256];

	if (dup2(2, 3) == -1 || (fd = open("/dev/null", O_RDONLY)) == -1)
		return 1;
	if (fd == 3 && (fd = open("/dev/null", O_RDONLY)) == -1)
		return 1;
	pol.ro_paths = paths;
	pol.keep_fds = keep;
	if (sandbox_enter(&pol, &landlock, err, sizeof(err)) == -1)
		return 2;
	if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
		return 3;
	if (fcntl(3, F_GETFD) == -1)
		return 4;
	/* Landlock, where present, keeps every other file closed. */
	if (landlock > 0 && open("/etc/passwd", O_RDONLY) != -1)
		return 5;
	return 0;
}

static void
test_enter(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_exit(whole_sandbox());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_forbidden),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_enter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
