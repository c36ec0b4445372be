/* compromise.c: test builds only: act as an attacker inside the sandbox */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compromise.h"
#include "workers.h"

/*
 * The whole module exists only in test builds (make test-bin): the
 * release binary carries no attacker, and a test greps it for the
 * marker line below to prove that.
 */
#ifdef SE_TEST_HOOKS

#define CP_LINE "compromise who=%s attempt=%s result=%s err=%s\n"

static void
report(const char *who, const char *what, int ok, int err)
{
	char line[256];
	int n;

	n = snprintf(line, sizeof(line), CP_LINE, who, what,
	    ok ? "allowed" : "denied", ok ? "" : strerror(err));
	if (n > 0 && (size_t)n < sizeof(line))
		(void)!write(STDERR_FILENO, line, (size_t)n);
}

static pid_t
sibling(void)
{
	const char *v = getenv("STABLE_EGRESSD_TEST_SIBLING");

	return v != NULL ? (pid_t)strtol(v, NULL, 10) : getppid();
}

/* Each attempt: 1 it worked, 0 it failed with errno set. */
static int
try_creds(void)
{
	const char *v = getenv("STABLE_EGRESSD_TEST_CRED_FILES");
	char list[1024], *p, *save = NULL;
	int fd, any = 0, first = 0;

	if (v == NULL || strlen(v) >= sizeof(list)) {
		errno = EINVAL;
		return 0;
	}
	memcpy(list, v, strlen(v) + 1);
	for (p = strtok_r(list, ":", &save); p != NULL;
	     p = strtok_r(NULL, ":", &save)) {
		if ((fd = open(p, O_RDONLY | O_CLOEXEC)) != -1) {
			close(fd);
			any = 1;
		} else if (first == 0)
			first = errno;
	}
	errno = first;
	return any;
}

static int
try_proc_mem(void)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)sibling());
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	close(fd);
	return 1;
}

static int
try_ptrace(void)
{
	return ptrace(PTRACE_ATTACH, sibling(), NULL, NULL) == 0;
}

static int
try_kill(void)
{
	return kill(sibling(), SIGTERM) == 0;
}

/* SIGIO to another process whenever our supervisor socket stirs. */
static int
try_setown(void)
{
	int fl;

	if (fcntl(WORKER_FD, F_SETOWN, (int)sibling()) == -1 ||
	    (fl = fcntl(WORKER_FD, F_GETFL)) == -1)
		return 0;
	return fcntl(WORKER_FD, F_SETFL, fl | O_ASYNC) == 0;
}

static int
try_fiosetown(void)
{
	int pid = (int)sibling();

	return ioctl(WORKER_FD, FIOSETOWN, &pid) == 0;
}

static int
try_exec(const char *who)
{
	char cmd[160];
	char *argv[] = { (char *)"sh", (char *)"-c", cmd, NULL };
	char *envp[] = { NULL };

	/* The shell reports its own success: this image is gone then. */
	snprintf(cmd, sizeof(cmd),
	    "printf 'compromise who=%%s attempt=exec result=allowed "
	    "err=\\n' '%s' >&2",
	    who);
	execve("/bin/sh", argv, envp);
	return 0;
}

static int
try_connect(void)
{
	const char *v = getenv("STABLE_EGRESSD_TEST_PORT");
	struct sockaddr_in sa;
	int s, r, e;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)(v != NULL ? atoi(v) : 9));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	r = connect(s, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	close(s);
	errno = e;
	return r == 0;
}

static int
try_mmap_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 0;
	munmap(p, 4096);
	return 1;
}

static int
try_write(const char *who)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/tmp/stable-egressd-compromise-%s", who);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) ==
	    -1)
		return 0;
	(void)!write(fd, "x\n", 2);
	close(fd);
	return 1;
}

void
compromise_hook(const char *who)
{
	const char *what = getenv("STABLE_EGRESSD_TEST_COMPROMISE");
	const char *only = getenv("STABLE_EGRESSD_TEST_COMPROMISE_WHO");
	static int done; /* test builds only: once per process */
	int ok;

	/* _WHO names the one process that attacks, so that one dying of
	 * SIGSYS (the supervisor, the spawner) does not hide the others. */
	if (only == NULL || only[0] == '\0')
		only = strstr(who, "-worker") != NULL ? who : "";
	if (what == NULL || what[0] == '\0' || done || strcmp(only, who) != 0)
		return;
	done = 1;
	errno = 0;
	if (strcmp(what, "cred_files") == 0)
		ok = try_creds();
	else if (strcmp(what, "proc_mem") == 0)
		ok = try_proc_mem();
	else if (strcmp(what, "ptrace") == 0)
		ok = try_ptrace();
	else if (strcmp(what, "kill") == 0)
		ok = try_kill();
	else if (strcmp(what, "fsetown") == 0)
		ok = try_setown();
	else if (strcmp(what, "fiosetown") == 0)
		ok = try_fiosetown();
	else if (strcmp(what, "exec") == 0)
		ok = try_exec(who);
	else if (strcmp(what, "connect") == 0)
		ok = try_connect();
	else if (strcmp(what, "mmap_exec") == 0)
		ok = try_mmap_exec();
	else if (strcmp(what, "write_tmp") == 0)
		ok = try_write(who);
	else {
		ok = 0;
		errno = EINVAL;
	}
	report(who, what, ok, errno);
}

#endif /* SE_TEST_HOOKS */
