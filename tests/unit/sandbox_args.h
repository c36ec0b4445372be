/* sandbox_args.h: the argument checks both API workers' filters share,
 * as cases a forked child runs under the real filter */
#ifndef SANDBOX_ARGS_H
#define SANDBOX_ARGS_H

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

enum sa_expect {
	SA_WORKS, /* the child exits 0: allowed, or the errno wanted */
	SA_KILLS, /* the child dies of SIGSYS */
};

struct sa_case {
	const char *what;
	enum sa_expect expect;
};

static const struct sa_case sa_cases[] = {
	{ "fcntl F_GETFL/F_SETFL O_NONBLOCK", SA_WORKS },
	{ "fcntl F_GETFD/F_SETFD", SA_WORKS },
	{ "fcntl F_SETFL O_ASYNC", SA_KILLS },
	{ "fcntl F_SETOWN", SA_KILLS },
	{ "fcntl F_SETSIG", SA_KILLS },
	{ "fcntl F_DUPFD", SA_KILLS },
	{ "ioctl FIONREAD", SA_WORKS },
	{ "ioctl FIOSETOWN", SA_KILLS },
	{ "ioctl TIOCSTI", SA_KILLS },
	{ "openat O_RDONLY", SA_WORKS },
	{ "openat O_WRONLY/O_RDWR: EACCES", SA_WORKS },
	{ "openat O_RDONLY|O_CREAT", SA_KILLS },
	{ "openat O_RDONLY|O_TRUNC", SA_KILLS },
	{ "clone a thread", SA_WORKS },
	{ "clone a process (fork)", SA_KILLS },
	{ "clone3: ENOSYS", SA_WORKS },
	{ "socket AF_INET/AF_INET6 stream and datagram", SA_WORKS },
	{ "socket AF_UNIX/AF_NETLINK: EAFNOSUPPORT", SA_WORKS },
	{ "socket AF_PACKET", SA_KILLS },
	{ "socket AF_INET SOCK_RAW", SA_KILLS },
	{ "mmap/mprotect PROT_EXEC: EPERM", SA_WORKS },
	{ "kill another process", SA_KILLS },
	{ "tgkill", SA_KILLS },
};

#define SA_NCASES (sizeof(sa_cases) / sizeof(sa_cases[0]))

static void *
sa_thread(void *arg)
{
	return arg;
}

static int
sa_sock(int fam, int type)
{
	int s = socket(fam, type, 0);

	if (s == -1)
		return fam == AF_INET6 && errno == EAFNOSUPPORT ? 0 : -1;
	close(s);
	return 0;
}

static int
sa_errno(int r, int want)
{
	return r == -1 && errno == want ? 0 : 1;
}

/* Files and sockets the cases use. */
static int
sa_open_cases(int i)
{
	int fd;

	switch (i) {
	case 9:
		if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
			return 1;
		close(fd);
		return 0;
	case 10:
		return sa_errno(open("/dev/null", O_WRONLY), EACCES) |
		    sa_errno(open("/dev/null", O_RDWR), EACCES);
	case 11:
		(void)open("/tmp/se-sandbox-never", O_RDONLY | O_CREAT, 0600);
		return 1;
	case 12:
		(void)open("/dev/null", O_RDONLY | O_TRUNC);
		return 1;
	}
	return 1;
}

static int
sa_fd_cases(int i, int fd)
{
	int n = getpid(), fl;

	switch (i) {
	case 0:
		if ((fl = fcntl(fd, F_GETFL)) == -1)
			return 1;
		return fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1;
	case 1:
		if ((fl = fcntl(fd, F_GETFD)) == -1)
			return 1;
		return fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1;
	case 2:
		(void)fcntl(fd, F_SETFL, O_ASYNC);
		return 1;
	case 3:
		(void)fcntl(fd, F_SETOWN, n);
		return 1;
	case 4:
		(void)fcntl(fd, F_SETSIG, SIGKILL);
		return 1;
	case 5:
		(void)fcntl(fd, F_DUPFD, 0);
		return 1;
	case 6:
		return ioctl(fd, FIONREAD, &n) == -1;
	case 7:
		(void)ioctl(fd, FIOSETOWN, &n);
		return 1;
	case 8:
		(void)ioctl(fd, TIOCSTI, "x");
		return 1;
	}
	return sa_open_cases(i);
}

/* Case i in a child under the filter: 0 when it went as wanted
 * (a case that must kill returns 1 if it survives). */
static int
sa_run(int i, int fd)
{
	static int token;
	pthread_t t;
	void *p = NULL;

	switch (i) {
	case 13:
		if (pthread_create(&t, NULL, sa_thread, &token) != 0 ||
		    pthread_join(t, &p) != 0)
			return 1;
		return p != &token;
	case 14:
		(void)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
		return 1;
	case 15:
		return sa_errno((int)syscall(SYS_clone3, NULL, 0), ENOSYS);
	case 16:
		return sa_sock(AF_INET, SOCK_STREAM | SOCK_NONBLOCK) |
		    sa_sock(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC) |
		    sa_sock(AF_INET6, SOCK_STREAM) |
		    sa_sock(AF_INET6, SOCK_DGRAM);
	case 17:
		return sa_errno(socket(AF_UNIX, SOCK_STREAM, 0), EAFNOSUPPORT) |
		    sa_errno(socket(AF_NETLINK, SOCK_RAW, 0), EAFNOSUPPORT);
	case 18:
		(void)socket(AF_PACKET, SOCK_RAW, 0);
		return 1;
	case 19:
		(void)socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
		return 1;
	case 20:
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		return sa_errno(mprotect(p, 4096, PROT_READ | PROT_EXEC),
			   EPERM) |
		    (mmap(NULL, 4096, PROT_READ | PROT_EXEC,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED ||
			errno != EPERM);
	case 21:
		(void)kill(1, 0);
		return 1;
	case 22:
		(void)syscall(SYS_tgkill, getpid(), getpid(), 0);
		return 1;
	}
	return sa_fd_cases(i, fd);
}

#endif /* SANDBOX_ARGS_H */
