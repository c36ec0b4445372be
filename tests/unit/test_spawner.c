/* test_spawner.c: the spawner's frame check, stop and fd passing */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/frame.h"
#include "spawner/spawner.h"

static uint8_t dg[FRAME_MAX];

static size_t
enc(uint16_t type, uint8_t role, uint32_t pid)
{
	struct msg_spawn m;
	size_t n;

	memset(&m, 0, sizeof(m));
	m.role = role;
	m.pid = pid;
	assert_int_equal(frame_encode(type, 0, &m, dg, &n), 0);
	return n;
}

static void
test_decode_accepts_start_and_stop(void **state)
{
	struct msg_spawn m;
	uint16_t type;
	size_t n;

	(void)state;
	n = enc(MSG_SPAWN_START_REQ, WORKER_HCLOUD, 0);
	assert_int_equal(spawn_decode(dg, n, &type, &m), 0);
	assert_int_equal(type, MSG_SPAWN_START_REQ);
	assert_int_equal(m.role, WORKER_HCLOUD);
	n = enc(MSG_SPAWN_STOP_REQ, WORKER_PROBE, 4242);
	assert_int_equal(spawn_decode(dg, n, &type, &m), 0);
	assert_int_equal(m.pid, 4242);
}

static void
test_decode_rejects(void **state)
{
	struct msg_spawn m;
	uint16_t type;
	size_t n;

	(void)state;
	/* roles outside K8S..PROBE */
	n = enc(MSG_SPAWN_START_REQ, WORKER_NONE, 0);
	assert_int_equal(spawn_decode(dg, n, &type, &m), FRAME_ERR_SIZE);
	n = enc(MSG_SPAWN_START_REQ, WORKER_COUNT, 0);
	assert_int_equal(spawn_decode(dg, n, &type, &m), FRAME_ERR_SIZE);
	n = enc(MSG_SPAWN_START_REQ, 255, 0);
	assert_int_equal(spawn_decode(dg, n, &type, &m), FRAME_ERR_SIZE);
	/* START with a pid, STOP without */
	n = enc(MSG_SPAWN_START_REQ, WORKER_K8S, 7);
	assert_int_equal(spawn_decode(dg, n, &type, &m), FRAME_ERR_SIZE);
	n = enc(MSG_SPAWN_STOP_REQ, WORKER_K8S, 0);
	assert_int_equal(spawn_decode(dg, n, &type, &m), FRAME_ERR_SIZE);
	/* the spawner's own answers travel the other way */
	n = enc(MSG_SPAWN_STARTED, WORKER_K8S, 7);
	assert_int_equal(spawn_decode(dg, n, &type, &m), FRAME_ERR_DIRECTION);
	/* any other s->w type */
	{
		struct msg_ping p = { 1 };

		assert_int_equal(frame_encode(MSG_PING_REQ, 0, &p, dg, &n), 0);
		assert_int_equal(spawn_decode(dg, n, &type, &m),
		    FRAME_ERR_DIRECTION);
	}
	/* short, trailing byte, truncated header */
	n = enc(MSG_SPAWN_START_REQ, WORKER_K8S, 0);
	assert_int_not_equal(spawn_decode(dg, n - 1, &type, &m), 0);
	dg[n] = 0;
	dg[7]++; /* header length + 1, one more byte */
	assert_int_not_equal(spawn_decode(dg, n + 1, &type, &m), 0);
	assert_int_not_equal(spawn_decode(dg, 5, &type, &m), 0);
}

/* STOP kills only the instance named: a stale pid never hits the
 * worker that replaced it. */
static void
test_stop_matches_pid(void **state)
{
	struct spawner sp;
	struct msg_spawn m;
	int status;
	pid_t child;

	(void)state;
	if ((child = fork()) == 0) {
		pause();
		_exit(0);
	}
	assert_true(child > 0);
	memset(&sp, 0, sizeof(sp));
	sp.pid[WORKER_PROBE] = child;
	memset(&m, 0, sizeof(m));
	m.role = WORKER_PROBE;
	m.pid = (uint32_t)child + 1;
	assert_int_equal(spawn_on_frame(&sp, MSG_SPAWN_STOP_REQ, &m), 0);
	usleep(50000);
	assert_int_equal(waitpid(child, &status, WNOHANG), 0);
	m.pid = (uint32_t)child;
	assert_int_equal(spawn_on_frame(&sp, MSG_SPAWN_STOP_REQ, &m), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	m.role = 9;
	assert_int_equal(spawn_on_frame(&sp, MSG_SPAWN_STOP_REQ, &m), -1);
}

/* A START while that role runs is answered EBUSY, nothing forked. */
static void
test_start_busy(void **state)
{
	struct spawner sp;
	struct msg_spawn m;
	union msg_payload p;
	struct frame f;
	int sv[2], fd;

	(void)state;
	assert_int_equal(frame_socketpair(sv), 0);
	memset(&sp, 0, sizeof(sp));
	sp.sock = sv[0];
	sp.pid[WORKER_K8S] = 12345;
	memset(&m, 0, sizeof(m));
	m.role = WORKER_K8S;
	assert_int_equal(spawn_on_frame(&sp, MSG_SPAWN_START_REQ, &m), 0);
	assert_int_equal(fdpass_recv(sv[1], dg, &f, &fd), 0);
	assert_int_equal(fd, -1);
	assert_int_equal(frame_decode(&f, MSG_TO_SUP, &p), 0);
	assert_int_equal(f.type, MSG_SPAWN_STARTED);
	assert_int_equal(p.spawn.pid, 0);
	assert_int_equal(p.spawn.err, EBUSY);
	close(sv[0]);
	close(sv[1]);
}

/* One descriptor crosses with its frame; two are refused and closed. */
static void
test_fdpass(void **state)
{
	struct msg_spawn m;
	struct frame f;
	int sv[2], fd, fd2, devnull;

	(void)state;
	assert_int_equal(frame_socketpair(sv), 0);
	devnull = open("/dev/null", O_RDONLY);
	memset(&m, 0, sizeof(m));
	m.role = WORKER_K8S;
	m.pid = 99;
	assert_int_equal(fdpass_send(sv[0], MSG_SPAWN_STARTED, 0, &m, devnull),
	    0);
	assert_int_equal(fdpass_recv(sv[1], dg, &f, &fd), 0);
	assert_true(fd > 2);
	assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	close(fd);
	/* two descriptors by hand */
	{
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(2 * sizeof(int))];
		} ctl;
		struct msghdr mh;
		struct iovec iov;
		struct cmsghdr *c;
		int two[2] = { devnull, devnull };
		size_t n;

		assert_int_equal(frame_encode(MSG_SPAWN_STARTED, 0, &m, dg, &n),
		    0);
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = dg;
		iov.iov_len = n;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.b;
		mh.msg_controllen = sizeof(ctl.b);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(two));
		memcpy(CMSG_DATA(c), two, sizeof(two));
		assert_int_equal(sendmsg(sv[0], &mh, 0), (ssize_t)n);
	}
	fd2 = dup(devnull); /* the lowest free fd now */
	close(fd2);
	assert_int_equal(fdpass_recv(sv[1], dg, &f, &fd), FRAME_ERR_FD);
	assert_int_equal(fd, -1);
	/* both received descriptors were closed: the lowest is free */
	fd = dup(devnull);
	assert_int_equal(fd, fd2);
	close(fd);
	close(devnull);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_accepts_start_and_stop),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test(test_stop_matches_pid),
		cmocka_unit_test(test_start_busy),
		cmocka_unit_test(test_fdpass),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
