/* sup.c: the supervisor: start-up, the event loop, shutdown */
#include <sys/signalfd.h>
#include <sys/types.h>
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
#include "common/fdpass.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/str.h"
#include "supervisor/net/httpd.h"
#include "sup.h"

#define FRAMES_PER_WAKE 256 /* fairness between workers */

static const struct {
	int kind;
	const char *name, *mode;
	enum cfg_worker cw;
} worker_defs[] = {
	{ WORKER_K8S, "k8s-worker", "k8s", CFG_WORKER_K8S },
	{ WORKER_HCLOUD, "hcloud-worker", "hcloud", CFG_WORKER_HCLOUD },
	{ WORKER_PROBE, "probe-worker", "probe", CFG_WORKER_PROBE },
};

int
sup_can_write(const struct sup *s, int64_t now)
{
	if (s->stopping)
		return 0;
	return !s->elect_on || elect_can_write(&s->elect, now);
}

uint32_t
sup_request(struct sup *s, int kind, uint16_t type, const void *payload)
{
	struct worker *w = &s->w[kind];
	uint32_t seq;

	if (!w->ready)
		return 0;
	seq = proc_next_seq(w);
	return proc_send(w, type, seq, payload) == 0 ? seq : 0;
}

uint32_t
sup_elect_send(void *arg, uint16_t type, const struct msg_lease *l)
{
	struct msg_lease_req r;

	r.lease = *l;
	return sup_request(arg, WORKER_K8S, type, &r);
}

int
sup_signals_open(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
#ifdef SE_TEST_HOOKS
	sigaddset(&set, SIGUSR1);
#endif
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int
sup_workers_setup(struct sup *s, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < sizeof(worker_defs) / sizeof(worker_defs[0]); i++) {
		struct worker *w = &s->w[worker_defs[i].kind];

		if (cfg_worker_args(s->cfg, worker_defs[i].cw,
			&s->wargs[worker_defs[i].kind]) != 0) {
			snprintf(err, errlen,
			    "stable-egressd: arguments for "
			    "%s too long",
			    worker_defs[i].name);
			return -1;
		}
		w->kind = worker_defs[i].kind;
		w->name = worker_defs[i].name;
		w->mode = worker_defs[i].mode;
		w->fd = -1;
		w->spawner = -1;
		s->spawn.def[w->kind].mode = worker_defs[i].mode;
		s->spawn.def[w->kind].args = s->wargs[w->kind].argv;
	}
	return 0;
}

/* ---- frames from workers ---------------------------------------------- */

static void
on_hello(struct sup *s, struct worker *w, const struct msg_hello *h,
    int64_t now)
{
	char pid[16];

	if (h->version != PROTO_VERSION || h->worker != w->kind) {
		log_error("worker hello mismatch", "worker", w->name, NULL);
		proc_kill(w, PROC_R_PROTOCOL);
		return;
	}
	w->hello_status = h->status;
	/* A worker's words reach our stderr as they are (the one-line
	 * start-up error): printable ASCII only. */
	str_printable(w->hello_err, sizeof(w->hello_err), h->err);
	if (h->status != HELLO_READY) {
		/* At run time a credential that went bad is logged and
		 * the worker retried with backoff (it exits by itself). */
		if (s->ctl.started)
			log_error("worker cannot start", "worker", w->name,
			    "err", w->hello_err, NULL);
		return;
	}
	w->ready = 1;
	w->down_since = 0;
	snprintf(pid, sizeof(pid), "%d", (int)w->pid);
	log_info("worker ready", "worker", w->name, "pid", pid, NULL);
	ctl_worker_ready(s, w->kind, now);
}

static void
on_frame(struct sup *s, struct worker *w, const struct frame *f,
    const union msg_payload *p, int64_t now)
{
	if (f->type == MSG_HELLO) {
		on_hello(s, w, &p->hello, now);
		return;
	}
	switch (f->type) {
	case MSG_PING_ANS:
		if (p->ping_ans.nonce == w->nonce)
			w->ping_at = 0;
		metrics_worker_stat(&s->m, w->kind, &p->ping_ans);
		return;
	case MSG_API_STAT:
		if (p->api_stat.api <= API_HCLOUD && p->api_stat.code < 600)
			s->m.api_req[p->api_stat.api][p->api_stat.code]++;
		return;
	case MSG_KUBE_LEASE_ANS:
		if (s->elect_on)
			elect_on_answer(&s->elect, f->seq, &p->lease_ans, now);
		return;
	default:
		ctl_on_frame(s, w->kind, f->type, f->seq, p, now);
	}
}

/* Read what a worker sent.  A bad frame never hurts the supervisor: it
 * kills (and so restarts) that worker. */
void
sup_worker_readable(struct sup *s, struct worker *w, uint8_t *buf, int64_t now)
{
	union msg_payload p; /* a few KiB: fine on the stack */
	struct msg_info mi;
	struct frame f;
	int i, r;

	for (i = 0; i < FRAMES_PER_WAKE && w->fd != -1; i++) {
		r = frame_recv(w->fd, buf, &f);
		if (r == FRAME_ERR_IO &&
		    (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r == FRAME_ERR_EOF || r == FRAME_ERR_IO) {
			close(w->fd); /* the reaper does the rest */
			w->fd = -1;
			w->ready = 0;
			return;
		}
		if (r == 0)
			r = frame_decode(&f, MSG_TO_SUP, &p);
		if (r == 0 &&
		    (msg_info(f.type, &mi) != 0 ||
			(mi.worker != 0 && mi.worker != w->kind) ||
			(!w->ready && f.type != MSG_HELLO)))
			r = FRAME_ERR_DIRECTION;
		if (r != 0) {
			log_error("bad frame from worker; restarting it",
			    "worker", w->name, "msg_type", msg_name(f.type),
			    "err", frame_strerror(r), NULL);
			proc_kill(w, PROC_R_PROTOCOL);
			return;
		}
		on_frame(s, w, &f, &p, now);
	}
}

/* ---- processes ---------------------------------------------------- */

/* The spawner is gone: without it no worker can be restarted, so the
 * replica stops (exit 1) and a standby takes over.  Say how it ended
 * when it can be reaped within a moment (its channel closes first). */
void
sup_spawner_lost(struct sup *s, const char *why)
{
	char how[96];
	int status, i;

	for (i = 0; i < 100 && s->spawner_pid > 0; i++) {
		if (waitpid(s->spawner_pid, &status, WNOHANG) ==
		    s->spawner_pid) {
			proc_describe(status, how, sizeof(how));
			why = how;
			break;
		}
		poll(NULL, 0, 10);
	}
	log_release();
	fprintf(stderr, "stable-egressd: spawner died (%s); exiting\n", why);
	exit(1);
}

void
sup_reap(struct sup *s, int64_t now)
{
	char how[96];
	int status;

	(void)now;
	if (s->spawner_pid <= 0 ||
	    waitpid(s->spawner_pid, &status, WNOHANG) != s->spawner_pid)
		return;
	s->spawner_pid = 0;
	proc_describe(status, how, sizeof(how));
	sup_spawner_lost(s, how);
}

static void
on_started(struct sup *s, struct worker *w, const struct msg_spawn *m, int fd,
    int64_t now)
{
	char pid[16], err[64];

	if (m->pid == 0) {
		proc_start_failed(w, now);
		snprintf(err, sizeof(err), "%s", strerror((int)m->err));
		log_error("spawner cannot start worker", "worker", w->name,
		    "err", err, NULL);
		return;
	}
	proc_started(w, (pid_t)m->pid, fd, now);
	snprintf(pid, sizeof(pid), "%u", m->pid);
	log_info("worker started", "worker", w->name, "pid", pid, NULL);
	if (s->stopping)
		proc_kill(w, PROC_R_EXIT);
}

static void
on_exited(struct sup *s, struct worker *w, const struct msg_spawn *m,
    int64_t now)
{
	char how[96], ms[24];
	enum proc_reason r;

	if ((pid_t)m->pid != w->pid)
		return; /* an instance we already forgot */
	proc_describe((int)m->status, how, sizeof(how));
	r = proc_reaped(w, (int)m->status, now);
	snprintf(ms, sizeof(ms), "%lld", (long long)w->backoff_ms);
	if (!s->stopping)
		log_warn(r == PROC_R_SANDBOX
			? "worker killed by its "
			  "sandbox (seccomp violation); restarting"
			: "worker exited; restarting",
		    "worker", w->name, "status", how, "reason",
		    proc_reason_name(r), "backoff_ms", ms, NULL);
	ctl_worker_down(s, w->kind, now);
	if (w->kind == WORKER_K8S && s->elect_on)
		elect_worker_down(&s->elect, now);
}

/*
 * A frame from the spawner.  It is the trusted side of the boundary
 * (it holds the workers' configuration), so anything unexpected from
 * it means it is broken: the replica exits and a standby takes over.
 * A descriptor comes only with STARTED for a worker we asked for.
 */
void
sup_spawner_readable(struct sup *s, uint8_t *buf, int64_t now)
{
	union msg_payload p;
	struct worker *w;
	struct frame f;
	int r, fd, i;

	for (i = 0; i < FRAMES_PER_WAKE; i++) {
		r = fdpass_recv(s->spawner_fd, buf, &f, &fd);
		if (r == FRAME_ERR_IO &&
		    (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r == FRAME_ERR_EOF || r == FRAME_ERR_IO)
			sup_spawner_lost(s, "channel closed");
		if (r == 0)
			r = frame_decode(&f, MSG_TO_SUP, &p);
		if (r == 0 &&
		    (p.spawn.role <= WORKER_NONE ||
			p.spawn.role >= WORKER_COUNT ||
			(f.type != MSG_SPAWN_STARTED &&
			    f.type != MSG_SPAWN_EXITED)))
			r = FRAME_ERR_DIRECTION;
		w = r == 0 ? &s->w[p.spawn.role] : NULL;
		if (r == 0 &&
		    (f.type == MSG_SPAWN_STARTED
			    ? !w->starting || (p.spawn.pid != 0) != (fd != -1)
			    : fd != -1))
			r = FRAME_ERR_FD;
		if (r != 0) {
			if (fd != -1)
				close(fd);
			sup_spawner_lost(s, frame_strerror(r));
		}
		if (f.type == MSG_SPAWN_STARTED)
			on_started(s, w, &p.spawn, fd, now);
		else
			on_exited(s, w, &p.spawn, now);
	}
}

void
sup_tick_workers(struct sup *s, int64_t now)
{
	struct msg_ping ping;
	struct worker *w;
	int k;

	for (k = 1; k < WORKER_COUNT; k++) {
		w = &s->w[k];
		if (w->pid == 0 && !w->starting && !s->stopping &&
		    now >= w->next_start) {
			if (proc_start(w, now) == -1)
				w->next_start = now + PROC_BACKOFF_MAX;
			continue;
		}
		/* A worker that never says HELLO (or never says it is
		 * ready) is stopped after the start-up budget. */
		if (w->pid > 0 && !w->ready && !w->killed &&
		    w->hello_status == HELLO_READY &&
		    now - w->started_at >= PROC_HELLO_MS) {
			log_error("worker not ready in time; restarting",
			    "worker", w->name, NULL);
			proc_kill(w, PROC_R_HEARTBEAT);
			continue;
		}
		if (!w->ready)
			continue;
		if (w->ping_at != 0 && now - w->ping_at >= PROC_PING_TIMEOUT) {
			log_error("worker missed heartbeats; restarting",
			    "worker", w->name, NULL);
			proc_kill(w, PROC_R_HEARTBEAT);
		} else if (w->ping_at == 0 && now >= w->next_ping) {
			ping.nonce = ++w->nonce;
			if (proc_send(w, MSG_PING_REQ, 0, &ping) == 0)
				w->ping_at = now;
			w->next_ping = now + PROC_PING_EVERY;
		}
	}
}

int64_t
sup_next_deadline(struct sup *s, int64_t now)
{
	int64_t d = now + 1000, t;
	int k;

	for (k = 1; k < WORKER_COUNT; k++) {
		if (s->w[k].starting)
			continue;
		t = s->w[k].pid == 0  ? s->w[k].next_start
		    : !s->w[k].ready  ? s->w[k].started_at + PROC_HELLO_MS
		    : s->w[k].ping_at ? s->w[k].ping_at + PROC_PING_TIMEOUT
				      : s->w[k].next_ping;
		d = t < d ? t : d;
	}
	if (s->elect_on && (t = elect_next_deadline(&s->elect)) < d)
		d = t;
	if ((t = ctl_next_deadline(s, now)) < d)
		d = t;
	if (s->metrics_srv && (t = httpd_next_deadline(s->metrics_srv)) < d)
		d = t;
	if (s->health_srv && (t = httpd_next_deadline(s->health_srv)) < d)
		d = t;
	return d;
}
