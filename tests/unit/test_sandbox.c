/* test_sandbox.c: the shared mechanism: Landlock ports and scoping, URL
 * ports, the token grant */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "common/sandbox.h"
#include "k8s-worker/kube.h"

/* No filter here (Landlock only), but the raw exit keeps sanitizer
 * runtimes from running their exit hooks in the child. */
#define child_exit(code) syscall(SYS_exit_group, (code))

static int
listener(uint16_t *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd != -1);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static int
dial(uint16_t port)
{
	struct sockaddr_in sa;
	int fd, r, e;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/* Just what the children below do, so the sandbox is the real one. */
static const struct sandbox_rule rules[] = {
	SANDBOX_ALLOW(bind, "test"),
	SANDBOX_ALLOW(close, "test"),
	SANDBOX_ALLOW(connect, "test"),
	SANDBOX_ALLOW(exit_group, "test"),
	SANDBOX_ALLOW(getppid, "test"),
	SANDBOX_ALLOW(kill, "test"),
	SANDBOX_ALLOW(openat, "test"),
	SANDBOX_ALLOW(sigaltstack, "sanitizer runtime"),
	SANDBOX_ALLOW(socket, "test"),
};

/* In a forked child: the whole sandbox (TCP to ports only), then fn.
 * The child's exit status, or 100 + errno-ish codes from fn. */
static int
in_sandbox(const uint16_t *ports, size_t n, int (*fn)(long), long arg)
{
	struct sandbox_policy p;
	const char *const none[] = { NULL };
	const int keep[] = { 2 };
	char err[256];
	int abi, st;
	pid_t pid;

	memset(&p, 0, sizeof(p));
	p.name = "test";
	p.rules = rules;
	p.nrules = sizeof(rules) / sizeof(rules[0]);
	p.ro_paths = none;
	p.keep_fds = keep;
	p.nkeep = 1;
	/* As the workers: TCP rules and scoping (NULL ports with n 1:
	 * neither, as the spawner, whose children connect). */
	p.restrict_tcp = ports != NULL || n == 0;
	p.scoped = p.restrict_tcp;
	p.tcp_ports = ports;
	p.nports = ports != NULL ? n : 0;
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		if (sandbox_enter(&p, &abi, err, sizeof(err)) == -1)
			child_exit(99);
		child_exit(fn(arg));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static int
try_dial(long port)
{
	return dial((uint16_t)port) == 0 ? 0 : errno == EACCES ? 1 : 2;
}

static int
try_bind(long unused)
{
	struct sockaddr_in sa;
	int fd;

	(void)unused;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 2;
	return bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0
	    : errno == EACCES					 ? 1
								 : 2;
}

static int
try_signal(long unused)
{
	(void)unused;
	return kill(getppid(), 0) == 0 ? 0 : errno == EPERM ? 1 : 2;
}

static int
try_open(long unused)
{
	(void)unused;
	return open("/etc/hostname", O_RDONLY) >= 0 ? 0
	    : errno == EACCES			    ? 1
						    : 2;
}

static void
test_landlock_tcp(void **state)
{
	uint16_t mine, other;
	int a, b;

	(void)state;
	if (sandbox_landlock_abi() < 4)
		skip();
	a = listener(&mine);
	b = listener(&other);
	assert_int_equal(in_sandbox(&mine, 1, try_dial, mine), 0);
	assert_int_equal(in_sandbox(&mine, 1, try_dial, other), 1);
	/* No port at all: no TCP at all; never a listener. */
	assert_int_equal(in_sandbox(NULL, 0, try_dial, mine), 1);
	assert_int_equal(in_sandbox(&mine, 1, try_bind, 0), 1);
	/* Not opted in: TCP is left to seccomp. */
	assert_int_equal(in_sandbox(NULL, 1, try_dial, other), 0);
	close(a);
	close(b);
}

static void
test_landlock_scope_and_files(void **state)
{
	(void)state;
	if (sandbox_landlock_abi() < 1)
		skip();
	assert_int_equal(in_sandbox(NULL, 0, try_open, 0), 1);
	/* ABI 6: no signal to a process outside the domain (unless the
	 * policy leaves scoping out). */
	if (sandbox_landlock_abi() >= 6) {
		assert_int_equal(in_sandbox(NULL, 0, try_signal, 0), 1);
		assert_int_equal(in_sandbox(NULL, 1, try_signal, 0), 0);
	}
}

static void
test_url_ports(void **state)
{
	static const struct {
		const char *url;
		int ok;
		size_t n;
		uint16_t p0, p1;
	} cases[] = {
		{ "https://127.0.0.1:6443", 1, 1, 6443, 0 },
		{ "https://api.hetzner.cloud/v1", 1, 2, 443, 53 },
		{ "http://127.0.0.1:8080/v1", 1, 1, 8080, 0 },
		{ "http://localhost/v1", 1, 2, 80, 53 },
		{ "https://[::1]:8443/v1", 1, 1, 8443, 0 },
		{ "https://user@10.0.0.1:444/x?y", 1, 1, 444, 0 },
		{ "https://k8s.example:6443", 1, 2, 6443, 53 },
		{ "https://10.0.0.1:0", 0, 0, 0, 0 },
		{ "https://10.0.0.1:65536", 0, 0, 0, 0 },
		{ "https://10.0.0.1:80x", 0, 0, 0, 0 },
		{ "https://[::1/", 0, 0, 0, 0 },
		{ "no-scheme:443", 0, 0, 0, 0 },
		{ "https://:443", 0, 0, 0, 0 },
	};
	uint16_t ports[2];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = 0;
		memset(ports, 0, sizeof(ports));
		if (sandbox_url_ports(cases[i].url, ports, 2, &n) != 0) {
			if (cases[i].ok)
				fail_msg("%s: refused", cases[i].url);
			continue;
		}
		if (!cases[i].ok)
			fail_msg("%s: accepted", cases[i].url);
		assert_int_equal(n, cases[i].n);
		assert_int_equal(ports[0], cases[i].p0);
		assert_int_equal(ports[1], cases[i].p1);
	}
	/* A full array is refused, not overrun. */
	n = 0;
	assert_int_equal(sandbox_url_ports("https://a.example", ports, 1, &n),
	    -1);
	assert_int_equal(n, 1);
}

/* The k8s worker's grant for a tokenFile: the file, unless projected. */
static void
test_token_grant(void **state)
{
	char dir[] = "/tmp/se-grant-XXXXXX", tok[PATH_MAX], link[PATH_MAX];
	char buf[PATH_MAX];
	struct kube_auth a;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(tok, sizeof(tok), "%s/token", dir);
	snprintf(link, sizeof(link), "%s/..data", dir);
	memset(&a, 0, sizeof(a));
	assert_null(kube_token_grant(&a, buf, sizeof(buf)));
	a.token_path = tok;
	a.token_dir = dir;
	assert_string_equal(kube_token_grant(&a, buf, sizeof(buf)), tok);
	assert_int_equal(symlink(".", link), 0);
	assert_string_equal(kube_token_grant(&a, buf, sizeof(buf)), dir);
	unlink(link);
	/* A directory named ..data is not the kubelet's link. */
	assert_int_equal(mkdir(link, 0700), 0);
	assert_string_equal(kube_token_grant(&a, buf, sizeof(buf)), tok);
	rmdir(link);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_ports),
		cmocka_unit_test(test_token_grant),
		cmocka_unit_test(test_landlock_tcp),
		cmocka_unit_test(test_landlock_scope_and_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
