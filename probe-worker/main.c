/* main.c: probe-worker start-up, top to bottom, then its one poll loop */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/procstat.h"
#include "common/proto.h"
#include "common/compromise.h"
#include "common/sandbox.h"
#include "common/str.h"
#include "common/workers.h"
#include "probe.h"

#define PROBE_RECV_BUDGET 64 /* frames per wakeup; probes go on meanwhile */
#define PROBE_IDLE_MS 60000 /* poll never waits unbounded */

/* Which frames the dispatcher lets through, by loop state. */
#define ST_IDLE 0x1 /* no target list open */
#define ST_LIST 0x2 /* between TARGETS_BEGIN and _END */
#define ST_CHECK 0x4 /* check=1: only wait to be told to go */
#define ST_ANY (ST_IDLE | ST_LIST | ST_CHECK)

struct probe_args {
	uint16_t port;
	uint64_t timeout_ms;
	uint64_t interval_ms;
	int json;
	int level;
	int check;
};

static int
arg_num(int argc, char **argv, const char *key, uint64_t max, uint64_t *out,
    char *err, size_t len)
{
	const char *v = str_arg(argc, argv, key);

	if (v == NULL) {
		str_line(err, len, "probe-worker: %s= is missing", key);
		return -1;
	}
	if (str_to_u64(v, max, out) == -1 || *out == 0) {
		str_line(err, len,
		    "probe-worker: bad %s \"%.32s\": want 1..%llu", key, v,
		    (unsigned long long)max);
		return -1;
	}
	return 0;
}

static int
arg_enum(int argc, char **argv, const char *key, const char *dflt,
    int (*parse)(const char *), int *out, char *err, size_t len)
{
	const char *v = str_arg(argc, argv, key);

	if (v == NULL)
		v = dflt;
	if ((*out = parse(v)) == -1) {
		str_line(err, len, "probe-worker: bad %s \"%.32s\"", key, v);
		return -1;
	}
	return 0;
}

static int
parse_check(const char *s)
{
	return strcmp(s, "0") == 0 ? 0 : strcmp(s, "1") == 0 ? 1 : -1;
}

/* 0, or -1 with one line naming the argument in err. */
static int
parse_args(int argc, char **argv, struct probe_args *a, char *err, size_t len)
{
	uint64_t port;

	if (arg_num(argc, argv, "port", 65535, &port, err, len) == -1 ||
	    arg_num(argc, argv, "timeout_ms", PROBE_TIMEOUT_MS_MAX,
		&a->timeout_ms, err, len) == -1 ||
	    arg_num(argc, argv, "interval_ms", PROBE_INTERVAL_MS_MAX,
		&a->interval_ms, err, len) == -1 ||
	    arg_enum(argc, argv, "log_format", "json", log_parse_format,
		&a->json, err, len) == -1 ||
	    arg_enum(argc, argv, "log_level", "info", log_parse_level,
		&a->level, err, len) == -1 ||
	    arg_enum(argc, argv, "check", "0", parse_check, &a->check, err,
		len) == -1)
		return -1;
	a->port = (uint16_t)port;
	return 0;
}

static int
hello(int fd, uint8_t status, const char *err, uint32_t pid)
{
	struct msg_hello h;

	memset(&h, 0, sizeof(h));
	h.version = PROTO_VERSION;
	h.pid = pid;
	h.worker = WORKER_PROBE;
	h.status = status;
	(void)str_copy(h.err, sizeof(h.err), err); /* err is that size */
	return frame_send(fd, MSG_HELLO, 0, &h);
}

/* Everything that needs the kernel beyond the allowlist happens here,
 * before the sandbox: fd flags, the fd limit, every allocation the
 * loop keeps. */
static int
setup(struct probe_ctx *ctx, int fd, const struct probe_args *a, char *err,
    size_t len)
{
	struct rlimit rl;
	size_t maxactive = PROBE_SOCKETS_MAX;
	int fl;

	/* Non-blocking: a supervisor slow to read never stalls the probes
	 * or the PING answer; reports wait in ctx->outq instead. */
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		str_line(err, len, "probe-worker: fcntl: %s", strerror(errno));
		return -1;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < PROBE_SOCKETS_MAX + PROBE_FD_RESERVE)
		maxactive = rl.rlim_cur > PROBE_FD_RESERVE + 1
		    ? rl.rlim_cur - PROBE_FD_RESERVE
		    : 1;
	/* gmtime_r in every log line loads the time zone on first use, an
	 * openat the sandbox would kill; load it now. */
	tzset();
	/* Ctrl-C reaches the whole process group; the supervisor decides
	 * when we stop (MSG_SHUTDOWN), after its own clean-up. */
	(void)signal(SIGINT, SIG_IGN);
	if (probe_init(ctx, a->port, (int64_t)a->timeout_ms * 1000,
		(int64_t)a->interval_ms * 1000, maxactive) == -1)
		goto out_nomem;
	ctx->fd = fd;
	ctx->check = a->check;
	ctx->ibuf = malloc(FRAME_MAX);
	ctx->pfd = calloc(maxactive + 1, sizeof(*ctx->pfd));
	ctx->polled = calloc(maxactive, sizeof(*ctx->polled));
	if (ctx->ibuf == NULL || ctx->pfd == NULL || ctx->polled == NULL)
		goto out_nomem;
	return 0;
out_nomem:
	str_line(err, len, "probe-worker: out of memory");
	return -1;
}

static void
on_ping(struct probe_ctx *ctx, uint32_t seq, const union msg_payload *m,
    int64_t now)
{
	(void)now;
	/* Start-up lines stay held until the supervisor's first PING: it
	 * pings only once every worker is ready, so a sibling's credential
	 * error remains the daemon's only line. */
	log_release();
#ifdef SE_TEST_HOOKS
	/* Steady state (every worker is ready): one attack from inside
	 * the sandbox, once; a kill here is reported as a sandbox kill. */
	compromise_hook("probe-worker");
#endif
	/* Answered by flush() before the loop sleeps again. */
	ctx->pong_due = 1;
	ctx->pong_seq = seq;
	ctx->pong_nonce = m->ping.nonce;
}

static void
on_shutdown(struct probe_ctx *ctx, uint32_t seq, const union msg_payload *m,
    int64_t now)
{
	(void)seq;
	(void)m;
	(void)now;
	ctx->quit = 1;
}

static void
on_begin(struct probe_ctx *ctx, uint32_t seq, const union msg_payload *m,
    int64_t now)
{
	(void)seq;
	(void)m; /* its count is a hint; END's is checked */
	(void)now;
	if (probe_list_begin(ctx) == -1)
		fatal("probe target list");
}

static void
on_target(struct probe_ctx *ctx, uint32_t seq, const union msg_payload *m,
    int64_t now)
{
	(void)seq;
	(void)now;
	if (probe_list_add(ctx, &m->target) == -1)
		fatal("probe target list");
}

static void
on_end(struct probe_ctx *ctx, uint32_t seq, const union msg_payload *m,
    int64_t now)
{
	char n1[24], n2[24];
	uint32_t received = ctx->received;

	(void)seq;
	if (probe_list_end(ctx, m->probe_sync.count, now) == -1)
		fatalx("probe target list: END count does not match", "count",
		    probe_num(n1, sizeof(n1), m->probe_sync.count), "received",
		    probe_num(n2, sizeof(n2), received), NULL);
}

#ifdef SE_TEST_HOOKS
static void
on_test_syscall(struct probe_ctx *ctx, uint32_t seq, const union msg_payload *m,
    int64_t now)
{
	char num[24];
	long r;

	(void)ctx;
	(void)seq;
	(void)now;
	/* Lets a test prove the filter: a forbidden nr dies of SIGSYS. */
	r = syscall((long)m->test_syscall.nr, 0L, 0L, 0L, 0L, 0L, 0L);
	log_info("test syscall returned", "nr",
	    probe_num(num, sizeof(num), m->test_syscall.nr), "err",
	    r == -1 ? strerror(errno) : "", NULL);
}
#endif

static const struct probe_handler {
	uint16_t type;
	uint8_t states; /* ST_* in which the frame is in order */
	void (*fn)(struct probe_ctx *, uint32_t, const union msg_payload *,
	    int64_t);
} handlers[] = {
	{ MSG_PING_REQ, ST_ANY, on_ping },
	{ MSG_SHUTDOWN, ST_ANY, on_shutdown },
#ifdef SE_TEST_HOOKS
	{ MSG_TEST_SYSCALL_REQ, ST_ANY, on_test_syscall },
#endif
	{ MSG_PROBE_TARGETS_BEGIN, ST_IDLE, on_begin },
	{ MSG_PROBE_TARGET, ST_LIST, on_target },
	{ MSG_PROBE_TARGETS_END, ST_LIST, on_end },
};

static void
dispatch(struct probe_ctx *ctx, const struct frame *f,
    const union msg_payload *m, int64_t now)
{
	uint8_t st = ctx->check ? ST_CHECK : ctx->listing ? ST_LIST : ST_IDLE;
	size_t i;

	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (handlers[i].type != f->type)
			continue;
		/* A TARGET without BEGIN, a second BEGIN: the lists the
		 * supervisor thinks we hold and ours would differ. */
		if ((handlers[i].states & st) == 0)
			fatalx("frame out of order from the supervisor",
			    "msg_type", msg_name(f->type), NULL);
		handlers[i].fn(ctx, f->seq, m, now);
		return;
	}
	fatalx("unexpected frame from the supervisor", "msg_type",
	    msg_name(f->type), NULL);
}

static void
read_frames(struct probe_ctx *ctx, int64_t now)
{
	union msg_payload m;
	struct frame f;
	int i, r;

	for (i = 0; i < PROBE_RECV_BUDGET && !ctx->quit; i++) {
		memset(&f, 0, sizeof(f));
		r = frame_recv(ctx->fd, ctx->ibuf, &f);
		if (r == FRAME_ERR_EOF ||
		    (r == FRAME_ERR_IO && errno == ECONNRESET)) {
			ctx->quit = 1; /* the supervisor is gone */
			return;
		}
		if (r == FRAME_ERR_IO && errno == EAGAIN)
			return;
		if (r == FRAME_ERR_IO)
			fatal("reading from the supervisor");
		if (r != 0 || (r = frame_decode(&f, MSG_TO_WORKER, &m)) != 0)
			fatalx("bad frame from the supervisor", "msg_type",
			    msg_name(f.type), "err", frame_strerror(r), NULL);
		dispatch(ctx, &f, &m, now);
	}
}

/* 0 sent or postponed until POLLOUT, -1 the supervisor is gone. */
static int
send_failed(void)
{
	if (errno == EAGAIN || errno == ENOBUFS)
		return 0;
	if (errno == EPIPE || errno == ECONNRESET)
		return -1;
	fatal("sending to the supervisor");
}

static int
flush(struct probe_ctx *ctx, int64_t now)
{
	struct msg_probe_result r;
	struct msg_ping_ans p;
	struct probe_target *t;

	if (ctx->pong_due) {
		memset(&p, 0, sizeof(p));
		p.nonce = ctx->pong_nonce;
		procstat_fill(&p);
		if (frame_send(ctx->fd, MSG_PING_ANS, ctx->pong_seq, &p) == -1)
			return send_failed();
		ctx->pong_due = 0;
	}
	while ((t = TAILQ_FIRST(&ctx->outq)) != NULL) {
		memset(&r, 0, sizeof(r));
		memcpy(r.node, t->node, sizeof(r.node));
		r.ok = t->ok == 1;
		r.usec = t->usec;
		r.failed = t->unreported_failed;
		if (frame_send(ctx->fd, MSG_PROBE_RESULT, 0, &r) == -1)
			return send_failed();
		/* Every failed probe is counted once by the supervisor's
		 * metric, reported as a change or folded into a later one. */
		t->unreported_failed = 0;
		probe_report_sent(ctx, t, now);
	}
	return 0;
}

static int
poll_timeout(int64_t wake, int64_t now)
{
	if (wake <= now)
		return 0;
	if (wake - now >= PROBE_IDLE_MS * 1000LL) /* also INT64_MAX */
		return PROBE_IDLE_MS;
	/* Rounded up: waking before the deadline would only spin. */
	return (int)((wake - now + 999) / 1000);
}

static int
loop(struct probe_ctx *ctx)
{
	struct pollfd *sup = &ctx->pfd[0];
	int64_t now;
	size_t n;
	int r;

	while (!ctx->quit) {
		now = clock_us();
		probe_tick(ctx, now);
		if (flush(ctx, now) == -1)
			break;
		n = probe_pollfds(ctx, ctx->pfd + 1, ctx->polled);
		sup->fd = ctx->fd;
		sup->events = POLLIN;
		if (ctx->pong_due || !TAILQ_EMPTY(&ctx->outq))
			sup->events |= POLLOUT;
		sup->revents = 0;
		r = poll(ctx->pfd, n + 1, poll_timeout(probe_wake(ctx), now));
		if (r == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		now = clock_us();
		probe_events(ctx, ctx->pfd + 1, ctx->polled, n, now);
		if (sup->revents & (POLLIN | POLLHUP | POLLERR))
			read_frames(ctx, now);
	}
	probe_free(ctx);
	free(ctx->ibuf);
	free(ctx->pfd);
	free(ctx->polled);
	return 0;
}

/* The sandbox, with TCP (Landlock ABI >= 4) to the health port only. */
static int
lock_down(const struct probe_args *a, int *abi, char *err, size_t len)
{
	struct sandbox_policy pol = *probe_sandbox_policy();
	uint16_t port = a->port;

	pol.tcp_ports = &port;
	pol.nports = 1;
	if (sandbox_enter(&pol, abi, err, len) == -1)
		return -1;
	return 0;
}

int
probe_main(int fd, int argc, char **argv)
{
	struct probe_ctx ctx;
	struct probe_args a;
	char err[PROTO_TEXT_MAX], num[24];
	uint32_t pid;
	int abi, r;

	/* Before anything else, as every worker (this one holds no
	 * credential, but its memory is still nobody else's business). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("PR_SET_DUMPABLE");
	pid = (uint32_t)getpid();
	if (parse_args(argc, argv, &a, err, sizeof(err)) == -1) {
		(void)hello(fd, HELLO_CONFIG, err, pid);
		return 2;
	}
	log_init("probe-worker", a.json, a.level);
	if (log_time_arg(argc, argv) == -1) {
		(void)hello(fd, HELLO_CONFIG, "probe-worker: bad log_time",
		    pid);
		return 2;
	}
	log_hold();
	r = setup(&ctx, fd, &a, err, sizeof(err));
	if (r == 0)
		r = lock_down(&a, &abi, err, sizeof(err));
	if (r == -1) {
		log_discard();
		(void)hello(fd, HELLO_FATAL, err, pid);
		return 1;
	}
	if (abi > 0)
		log_info("sandbox entered", "landlock_abi",
		    probe_num(num, sizeof(num), abi), NULL);
	else
		log_warn("sandbox entered without Landlock", "landlock",
		    "unavailable in this kernel; seccomp still bars open",
		    NULL);
	if (hello(fd, HELLO_READY, "", pid) == -1)
		fatal("sending HELLO");
	return loop(&ctx);
}
