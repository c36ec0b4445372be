/* sup_loop.c: sup_main: start-up order, the one poll() loop, shutdown */
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "supervisor/config/cfg.h"
#include "common/clock.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/privdrop.h"
#include "common/str.h"
#include "supervisor/net/httpd.h"
#include "sup.h"

#ifdef SE_TEST_HOOKS
#include "common/compromise.h"
#endif

#define START_BUDGET_MS 2000 /* every worker ready, or give up */
#define RELEASE_MS 2000 /* one bounded Lease release */
#define STOP_WAIT_MS 1500 /* workers exit after MSG_SHUTDOWN */
#define SPAWNER_WAIT_MS 1000 /* the spawner exits after the channel closes */
#define POLLFDS_MAX (2 + WORKER_COUNT + 2 * HTTPD_POLLFDS_MAX)

struct pollset {
	struct pollfd fds[POLLFDS_MAX];
	size_t n;
	int wfd[WORKER_COUNT]; /* index in fds, or -1 */
	size_t m_first, m_n, h_first, h_n;
};

static void
pollset_build(struct sup *s, struct pollset *ps, int with_http)
{
	int k;

	memset(ps, 0, sizeof(*ps));
	ps->fds[0].fd = s->sigfd;
	ps->fds[0].events = POLLIN;
	ps->fds[1].fd = s->spawner_fd;
	ps->fds[1].events = POLLIN;
	ps->n = 2;
	for (k = 1; k < WORKER_COUNT; k++) {
		ps->wfd[k] = -1;
		if (s->w[k].fd == -1)
			continue;
		ps->wfd[k] = (int)ps->n;
		ps->fds[ps->n].fd = s->w[k].fd;
		ps->fds[ps->n++].events = POLLIN |
		    (k == WORKER_PROBE && s->ctl.probe_sending ? POLLOUT : 0);
	}
	if (!with_http)
		return;
	ps->m_first = ps->n;
	if (s->metrics_srv)
		ps->m_n = (size_t)httpd_pollfds(s->metrics_srv, ps->fds + ps->n,
		    HTTPD_POLLFDS_MAX);
	ps->n += ps->m_n;
	ps->h_first = ps->n;
	if (s->health_srv)
		ps->h_n = (size_t)httpd_pollfds(s->health_srv, ps->fds + ps->n,
		    HTTPD_POLLFDS_MAX);
	ps->n += ps->h_n;
}

#ifdef SE_TEST_HOOKS
/* Test builds only: SIGUSR1 makes the workers named in
 * $STABLE_EGRESSD_TEST_SYSCALL attempt a syscall outside their
 * allowlist, so tests can watch the sandbox kill and the restart. */
static void
test_syscall(struct sup *s)
{
	const char *want = getenv("STABLE_EGRESSD_TEST_SYSCALL");
	struct msg_test_syscall t = { SYS_ptrace };
	int k;

	for (k = 1; want != NULL && k < WORKER_COUNT; k++)
		if (s->w[k].ready && strstr(want, s->w[k].mode) != NULL)
			proc_send(&s->w[k], MSG_TEST_SYSCALL_REQ, 0, &t);
}
#endif

static void
read_signals(struct sup *s, int64_t now)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			sup_reap(s, now);
		else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			if (!s->stopping)
				log_info("signal received: shutting down",
				    "signal", strsignal((int)si.ssi_signo),
				    NULL);
			s->stopping = 1;
		}
#ifdef SE_TEST_HOOKS
		else if (si.ssi_signo == SIGUSR1)
			test_syscall(s);
#endif
	}
	/* SIGCHLD coalesces: reap anyway, it costs one syscall. */
	sup_reap(s, now);
}

/* One turn of the loop: wait for fds or the next deadline, handle. */
static void
turn(struct sup *s, uint8_t *buf, int with_http, int64_t deadline)
{
	struct pollset ps;
	int64_t now = clock_ms(), wait;
	int k, n;

	pollset_build(s, &ps, with_http);
	wait = deadline - now;
	if (wait < 0)
		wait = 0;
	n = poll(ps.fds, ps.n, (int)(wait > 60000 ? 60000 : wait));
	if (n == -1 && errno != EINTR)
		fatal("poll");
	now = clock_ms();
	/* Frames first: a worker's last words (a HELLO naming a bad
	 * credential) are read before its exit is reaped. */
	for (k = 1; k < WORKER_COUNT; k++)
		if (ps.wfd[k] != -1 && ps.fds[ps.wfd[k]].revents &&
		    s->w[k].fd == ps.fds[ps.wfd[k]].fd)
			sup_worker_readable(s, &s->w[k], buf, now);
	if (ps.fds[1].revents)
		sup_spawner_readable(s, buf, now);
	if (ps.fds[0].revents)
		read_signals(s, now);
	if (with_http && s->metrics_srv)
		httpd_dispatch(s->metrics_srv, ps.fds + ps.m_first, ps.m_n,
		    now);
	if (with_http && s->health_srv)
		httpd_dispatch(s->health_srv, ps.fds + ps.h_first, ps.h_n, now);
}

/*
 * Closing the channel makes the spawner SIGKILL and reap every worker
 * and exit; wait for it (bounded) so nothing outlives us.  Its SIGCHLD
 * on our signalfd ends the wait: a fixed sleep here cost every
 * --check-config and every stop up to one tick.
 */
static void
kill_all(struct sup *s)
{
	int64_t end = clock_ms() + SPAWNER_WAIT_MS, left;
	struct signalfd_siginfo si;
	struct pollfd pfd;

	if (s->spawner_fd != -1)
		close(s->spawner_fd);
	s->spawner_fd = -1;
	pfd.fd = s->sigfd;
	pfd.events = POLLIN;
	while (s->spawner_pid > 0 && (left = end - clock_ms()) > 0) {
		if (waitpid(s->spawner_pid, NULL, WNOHANG) == s->spawner_pid)
			s->spawner_pid = 0;
		else if (poll(&pfd, 1, (int)left) > 0)
			/* Drain it: a pending SIGTERM would wake poll at
			 * once, again and again; we are stopping anyway. */
			while (read(s->sigfd, &si, sizeof(si)) > 0)
				continue;
	}
}

/*
 * Start-up: every worker must say HELLO within the budget.  A worker
 * that cannot load its credential makes the whole daemon print exactly
 * that one line and exit 2 (chatter so far is held back and dropped).
 */
static int
start_workers(struct sup *s, uint8_t *buf)
{
	int64_t end = clock_ms() + START_BUDGET_MS;
	int k, ready;

	/* A spawner that died before our first request (its sandbox
	 * killed it) gets its own line, saying how. */
	for (k = 1; k < WORKER_COUNT; k++)
		if (proc_start(&s->w[k], clock_ms()) != 0)
			sup_spawner_lost(s, strerror(errno));
	for (;;) {
		for (ready = 0, k = 1; k < WORKER_COUNT; k++) {
			struct worker *w = &s->w[k];

			if (w->hello_status != HELLO_READY) {
				log_discard();
				fprintf(stderr, "stable-egressd: %s\n",
				    w->hello_err);
				kill_all(s);
				return w->hello_status == HELLO_CONFIG ? 2 : 1;
			}
			if ((w->pid == 0 && !w->starting) ||
			    w->restarts[PROC_R_EXIT] ||
			    w->restarts[PROC_R_SIGNAL] ||
			    w->restarts[PROC_R_SANDBOX]) {
				log_discard();
				fprintf(stderr,
				    "stable-egressd: %s died "
				    "during start-up\n",
				    w->name);
				kill_all(s);
				return 1;
			}
			ready += w->ready;
		}
		if (ready == WORKER_COUNT - 1)
			return 0;
		if (s->stopping) {
			kill_all(s);
			return -1;
		}
		if (clock_ms() >= end) {
			log_discard();
			fprintf(stderr,
			    "stable-egressd: workers not ready "
			    "within %d ms\n",
			    START_BUDGET_MS);
			kill_all(s);
			return 1;
		}
		turn(s, buf, 0, end);
	}
}

static void
shutdown_all(struct sup *s, uint8_t *buf)
{
	struct msg_ping bye = { 0 };
	int64_t end;
	int k, left;

	/* Release the Lease (ReleaseOnCancel) with one bounded attempt,
	 * so a standby takes over at its next poll. */
	if (s->elect_on && elect_release(&s->elect, clock_ms())) {
		end = clock_ms() + RELEASE_MS;
		while (s->elect.state == ELECT_RELEASE && clock_ms() < end &&
		    s->w[WORKER_K8S].fd != -1)
			turn(s, buf, 0, end);
		log_info(s->elect.released
			? "lease released"
			: "lease not released; it expires by itself",
		    NULL);
	}
	for (k = 1; k < WORKER_COUNT; k++)
		if (s->w[k].fd != -1)
			frame_send(s->w[k].fd, MSG_SHUTDOWN, 0, &bye);
	end = clock_ms() + STOP_WAIT_MS;
	do {
		for (left = 0, k = 1; k < WORKER_COUNT; k++)
			left += s->w[k].pid > 0 || s->w[k].starting;
		if (left == 0)
			break;
		turn(s, buf, 0, end);
	} while (clock_ms() < end);
	kill_all(s);
}

/* Bound before the sandbox, which allows no new socket. */
static int
open_listeners(struct sup *s, char *err, size_t errlen)
{
	char why[256];

	if (s->cfg->metrics_addr.enabled &&
	    (s->metrics_srv = httpd_open(s->cfg->metrics_addr.text,
		 metrics_handler, s, why, sizeof(why))) == NULL) {
		snprintf(err, errlen,
		    "stable-egressd: --metrics-bind-address: "
		    "%s",
		    why);
		return -1;
	}
	if (s->cfg->health_addr.enabled &&
	    (s->health_srv = httpd_open(s->cfg->health_addr.text,
		 metrics_handler, s, why, sizeof(why))) == NULL) {
		snprintf(err, errlen,
		    "stable-egressd: --health-probe-bind-address: %s", why);
		return -1;
	}
	return 0;
}

/*
 * Privilege separation, in this order: the listeners are bound, the
 * spawner is forked with the workers' configuration (the only process
 * that keeps it), our copy is wiped, we switch to --user, and we enter
 * our sandbox.  Only then is anything untrusted read: no HTTP request,
 * no worker frame arrives before.  0, or -1 with one line in err.
 */
static int
privsep(struct sup *s, char *err, size_t errlen)
{
	const struct cfg *c = s->cfg;
	char why[256];
	int k;

	if (!c->check_config && open_listeners(s, err, errlen) == -1)
		return -1;
	s->spawn.drop = c->drop;
	s->spawn.uid = c->uid;
	s->spawn.gid = c->gid;
	s->spawn.log_json = c->log_json;
	s->spawn.log_level = (int)c->log_level;
	if ((s->spawner_pid = spawner_fork(&s->spawn, &s->spawner_fd)) == -1) {
		snprintf(err, errlen,
		    "stable-egressd: cannot fork the "
		    "spawner: %s",
		    strerror(errno));
		return -1;
	}
	for (k = 1; k < WORKER_COUNT; k++)
		s->w[k].spawner = s->spawner_fd;
	explicit_bzero(s->wargs, sizeof(s->wargs));
	memset(&s->spawn, 0, sizeof(s->spawn));
	if (c->drop && privdrop(c->uid, c->gid, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "stable-egressd: --user: %s", why);
		return -1;
	}
	if (sup_sandbox_enter(s, why, sizeof(why)) == -1) {
		snprintf(err, errlen,
		    "stable-egressd: cannot enter the "
		    "sandbox: %s",
		    why);
		return -1;
	}
	return 0;
}

static void
setup_model(struct sup *s, int64_t now)
{
	if ((s->world = world_new()) == NULL)
		fatal("world_new");
	decide_cfg_defaults(&s->dcfg);
	s->dcfg.unhealthy_grace_ms = s->cfg->node_unhealthy_grace_ms;
	s->dcfg.unprepared_grace_ms = s->cfg->node_unprepared_grace_ms;
	s->dcfg.prepared_gate = s->cfg->prepared_pod_label[0] != '\0';
	s->dcfg.n_additional = (int)s->cfg->n_additional;
	s->dcfg.additional_allowlist = &s->cfg->additional_allowlist;
	s->elect_on = s->cfg->leader_elect;
	if (s->elect_on)
		elect_init(&s->elect, s->cfg->identity,
		    s->cfg->lease_duration_ms, s->cfg->renew_deadline_ms,
		    s->cfg->retry_period_ms, sup_elect_send, s, now);
	ctl_init(s, now);
}

static int
run(struct sup *s)
{
	uint8_t *buf;
	int r;

	if ((buf = malloc(FRAME_MAX)) == NULL)
		fatal("malloc");
	/* Before the workers: the k8s worker may list the nodes while a
	 * slower worker is still starting, and those records must land. */
	setup_model(s, clock_ms());
	if ((r = start_workers(s, buf)) != 0) {
		free(buf);
		return r < 0 ? 0 : r;
	}
	if (s->cfg->check_config) {
		log_discard();
		cfg_print(s->cfg, stdout);
		fflush(stdout);
		s->stopping = 1;
		shutdown_all(s, buf);
		free(buf);
		return 0;
	}
	log_release();
	log_info("started", "version", SE_VERSION, "identity", s->cfg->identity,
	    "leader_elect", s->cfg->leader_elect ? "true" : "false", "dry_run",
	    s->cfg->dry_run ? "true" : "false", NULL);
	if (s->cfg->landlock_abi == 0 || s->landlock_abi == 0)
		log_warn("kernel without Landlock: seccomp alone confines the "
			 "supervisor and the workers (--require-landlock "
			 "refuses this)",
		    NULL);
	s->ctl.started = 1;
#ifdef SE_TEST_HOOKS
	compromise_hook("supervisor");
#endif
	while (!s->stopping) {
		int64_t now = clock_ms();

		sup_tick_workers(s, now);
		if (s->elect_on)
			elect_tick(&s->elect, now);
		ctl_tick(s, now);
		turn(s, buf, 1, sup_next_deadline(s, clock_ms()));
	}
	shutdown_all(s, buf);
	log_info("stopped", NULL);
	free(buf);
	return 0;
}

int
sup_main(int argc, char **argv)
{
	static struct cfg cfg;
	static struct sup sup;
	char err[CFG_ERR_MAX];
	int r;

	switch (cfg_parse(&cfg, argc, argv, err, sizeof(err))) {
	case CFG_HELP:
		cfg_usage(stdout);
		return 0;
	case CFG_VERSION:
		cfg_version(stdout);
		return 0;
	case CFG_ERR:
		fprintf(stderr, "%s\n", err);
		return 2;
	case CFG_OK:
		break;
	}
	log_init("supervisor", cfg.log_json, cfg.log_level);
	log_set_time(cfg.log_time);
	log_hold();
	sup.cfg = &cfg;
	sup.started_at = clock_ms();
	if ((sup.sigfd = sup_signals_open()) == -1)
		fatal("signalfd");
	/* Root with every process as root would give a compromised
	 * worker the whole host. */
	if (geteuid() == 0 && !cfg.drop) {
		fprintf(stderr,
		    "stable-egressd: --user: required when "
		    "started as root (every process runs as that "
		    "user)\n");
		return 2;
	}
	if (sup_workers_setup(&sup, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (privsep(&sup, err, sizeof(err)) == -1) {
		log_discard();
		fprintf(stderr, "%s\n", err);
		kill_all(&sup);
		return 1;
	}
	r = run(&sup);
	if (sup.metrics_srv)
		httpd_close(sup.metrics_srv);
	if (sup.health_srv)
		httpd_close(sup.health_srv);
	world_free(sup.world);
	metrics_free(&sup.m);
	return r;
}
