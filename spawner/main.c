/* main.c: the spawner's start-up, top to bottom, and its loop */
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/frame.h"
#include "common/log.h"
#include "common/privdrop.h"
#include "common/sandbox.h"
#include "spawner.h"

#ifdef SE_TEST_HOOKS
#include "common/compromise.h"
#endif

static void
serve(struct spawner *sp)
{
	struct pollfd pfd[2];
	struct msg_spawn m;
	uint16_t type = 0;
	uint8_t *buf;
	ssize_t n;
	int r;

	if ((buf = malloc(FRAME_MAX)) == NULL)
		fatal("malloc");
	pfd[0].fd = sp->sock;
	pfd[0].events = POLLIN;
	pfd[1].fd = sp->sigfd;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1 && errno != EINTR)
			fatal("poll");
		if ((pfd[1].revents & POLLIN) && spawn_reap(sp) == -1)
			break; /* the supervisor is gone */
		if (pfd[0].revents == 0)
			continue;
		/* MSG_TRUNC: an oversized datagram shows its real size
		 * and is refused, never cut to fit. */
		n = recv(sp->sock, buf, FRAME_MAX, MSG_TRUNC);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		r = (size_t)n > FRAME_MAX
		    ? FRAME_ERR_TOOBIG
		    : spawn_decode(buf, (size_t)n, &type, &m);
		/* The supervisor is the only peer: a frame we do not
		 * accept means it is broken or compromised. */
		if (r != 0)
			fatalx("bad frame from the supervisor", "msg_type",
			    msg_name(type), "err", frame_strerror(r), NULL);
		if (spawn_on_frame(sp, type, &m) == 0)
			continue;
		/* A worker's one-line start-up error ends the supervisor
		 * at once, maybe before we answered its last START: it is
		 * gone, and our own line would be a second one. */
		if (errno == EPIPE || errno == ECONNRESET)
			break;
		fatalx("cannot answer the supervisor", NULL);
	}
	free(buf);
}

/*
 * The child side of spawner_fork().  Order: die with the supervisor,
 * become unreadable, hold SIGCHLD for signalfd, switch user, sandbox,
 * then serve.  Nothing is read from the supervisor before the sandbox.
 */
static void __attribute__((noreturn))
spawner_main(const struct spawn_cfg *c, int sock, pid_t parent)
{
	struct spawner sp;
	char err[256];
	sigset_t set;
	int keep[6], landlock;

	prctl(PR_SET_NAME, "spawner", 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent) /* the supervisor died before the prctl */
		_exit(1);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	log_discard(); /* the supervisor's held start-up lines */
	log_init("spawner", c->log_json, (enum log_level)c->log_level);
	memset(&sp, 0, sizeof(sp));
	sp.cfg = c;
	sp.sock = sock;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	/* SIGTERM/SIGINT stay blocked (inherited): the spawner ends when
	 * the supervisor closes the channel, never on a terminal's ^C. */
	if ((sp.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	if ((sp.devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		fatal("/dev/null");
	if (c->drop && privdrop(c->uid, c->gid, err, sizeof(err)) == -1)
		fatalx("cannot drop privileges", "err", err, NULL);
	keep[0] = 0;
	keep[1] = 1;
	keep[2] = 2;
	keep[3] = sock;
	keep[4] = sp.sigfd;
	keep[5] = sp.devnull;
	if (sandbox_enter(spawner_sandbox_policy(keep, 6), &landlock, err,
		sizeof(err)) == -1)
		fatalx("cannot enter the sandbox", "err", err, NULL);
#ifdef SE_TEST_HOOKS
	compromise_hook("spawner");
#endif
	serve(&sp);
	spawn_kill_all(&sp);
	_exit(0);
}

pid_t
spawner_fork(const struct spawn_cfg *c, int *sock)
{
	pid_t pid, parent = getpid();
	int sv[2], fl;

	if (frame_socketpair(sv) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		spawner_main(c, sv[1], parent);
	}
	close(sv[1]);
	/* Non-blocking: the loop never waits on the spawner. */
	if ((fl = fcntl(sv[0], F_GETFL)) == -1 ||
	    fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) == -1) {
		close(sv[0]);
		return -1;
	}
	*sock = sv[0];
	return pid;
}
