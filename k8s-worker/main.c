/* main.c: k8s-worker start-up, top to bottom, and its poll loop */
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/clock.h"
#include "common/compromise.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/procstat.h"
#include "common/str.h"
#include "common/workers.h"
#include "kube.h"

#define OUTQ_MAX (64u << 20) /* frames the supervisor has not read */
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define DEF_CANDIDATE "tuist.dev/stable-egress-candidate=server"
#define DEF_ACTIVE "tuist.dev/stable-egress-gateway=server"
#define DEF_LEASE "stable-egress-controller.tuist.dev"
#define DEF_STALL_S 90
#define DEF_TOKEN_S 60

/* ---- frames to the supervisor ---- */

static int
flush_one(struct kube_ctx *c)
{
	struct buf *q = c->outq;
	uint32_t len;
	ssize_t w;

	memcpy(&len, q->data + q->off, sizeof(len));
	w = send(c->fd, q->data + q->off + sizeof(len), len,
	    MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w == -1 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ||
		errno == EINTR))
		return -1;
	if (w == -1) {
		/* The supervisor is gone: nothing left to work for. */
		c->stop = 1;
		return -1;
	}
	q->off += sizeof(len) + len;
	return 0;
}

static void
flush(struct kube_ctx *c)
{
	while (c->outq->off < c->outq->len)
		if (flush_one(c) == -1)
			return;
	buf_reset(c->outq);
	/* A drained snapshot backlog need not stay allocated. */
	if (c->outq->cap > (1u << 20)) {
		buf_free(c->outq);
		if ((c->outq = buf_new(0, OUTQ_MAX)) == NULL)
			fatal("out of memory");
	}
}

void
kube_send(struct kube_ctx *c, uint16_t type, uint32_t seq, const void *payload)
{
	uint32_t len;
	size_t n;
	ssize_t w;

	if (frame_encode(type, seq, payload, c->scratch, &n) != 0)
		fatalx("cannot encode a frame", "msg_type", msg_name(type),
		    NULL);
	if (c->outq->len == 0) {
		w = send(c->fd, c->scratch, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == (ssize_t)n)
			return;
		if (w == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != ENOBUFS && errno != EINTR) {
			c->stop = 1;
			return;
		}
	}
	/* Kept in order behind what is queued; the poll loop drains it. */
	len = (uint32_t)n;
	if (buf_append(c->outq, &len, sizeof(len)) == -1 ||
	    buf_append(c->outq, c->scratch, n) == -1)
		fatalx("supervisor stopped reading frames", NULL);
}

void
kube_set_api(struct kube_ctx *c, int ok)
{
	struct msg_kube_status s;

	if (c->api_ok == ok)
		return;
	c->api_ok = ok;
	memset(&s, 0, sizeof(s));
	s.api_ok = (uint8_t)ok;
	kube_send(c, MSG_KUBE_STATUS, 0, &s);
	if (ok)
		log_info("Kubernetes API reachable", NULL);
	else
		log_warn("Kubernetes API unreachable", NULL);
}

void
kube_api_success(struct kube_ctx *c)
{
	kube_set_api(c, 1);
}

uint64_t
kube_rand(uint64_t *s)
{
	/* xorshift64*: jitter only, never secrets. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

/* ---- frames from the supervisor ---- */

static void
on_ping(struct kube_ctx *c, uint32_t seq, const union msg_payload *p)
{
	/* Start-up lines stay held until the supervisor's first PING: it
	 * pings once every worker is ready, so a sibling's credential
	 * error stays the daemon's only line. */
	struct msg_ping_ans a;

	log_release();
#ifdef SE_TEST_HOOKS
	/* Steady state (every worker is ready): one attack from inside
	 * the sandbox, once; a kill here is reported as a sandbox kill. */
	compromise_hook("k8s-worker");
#endif
	memset(&a, 0, sizeof(a));
	a.nonce = p->ping.nonce;
	procstat_fill(&a);
	kube_send(c, MSG_PING_ANS, seq, &a);
}

static void
on_shutdown(struct kube_ctx *c, uint32_t seq, const union msg_payload *p)
{
	(void)seq;
	(void)p;
	c->stop = 1;
}

#ifdef SE_TEST_HOOKS
/* Test builds only: prove the filter by making a forbidden call. */
static void
on_test_syscall(struct kube_ctx *c, uint32_t seq, const union msg_payload *p)
{
	char nr[16];
	long r;

	(void)c;
	(void)seq;
	snprintf(nr, sizeof(nr), "%u", p->test_syscall.nr);
	log_info("test hook: attempting a syscall", "nr", nr, NULL);
	r = syscall((long)p->test_syscall.nr, 0, 0, 0, 0, 0, 0);
	snprintf(nr, sizeof(nr), "%ld", r);
	log_info("test hook: syscall returned", "ret", nr, NULL);
}
#endif

static const struct {
	uint16_t type;
	int in_check; /* allowed with check=1 (no API requests) */
	void (*fn)(struct kube_ctx *, uint32_t, const union msg_payload *);
} handlers[] = {
	{ MSG_PING_REQ, 1, on_ping },
	{ MSG_SHUTDOWN, 1, on_shutdown },
#ifdef SE_TEST_HOOKS
	{ MSG_TEST_SYSCALL_REQ, 1, on_test_syscall },
#endif
	{ MSG_KUBE_LABEL_REQ, 0, kube_on_label },
	{ MSG_KUBE_LEASE_GET_REQ, 0, kube_on_lease_get },
	{ MSG_KUBE_LEASE_CREATE_REQ, 0, kube_on_lease_create },
	{ MSG_KUBE_LEASE_UPDATE_REQ, 0, kube_on_lease_update },
	{ MSG_KUBE_EVENT_REQ, 0, kube_on_event },
};

static void
dispatch(struct kube_ctx *c, const struct frame *f)
{
	union msg_payload p;
	size_t i;
	int r;

	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].type == f->type)
			break;
	if (i == sizeof(handlers) / sizeof(handlers[0]) ||
	    (c->check && !handlers[i].in_check))
		fatalx("unexpected frame from the supervisor", "msg_type",
		    msg_name(f->type), NULL);
	if ((r = frame_decode(f, MSG_TO_WORKER, &p)) != 0)
		fatalx("bad frame from the supervisor", "msg_type",
		    msg_name(f->type), "err", frame_strerror(r), NULL);
	handlers[i].fn(c, f->seq, &p);
}

static void
on_supervisor(struct kube_ctx *c)
{
	struct frame f;
	int r;

	while (!c->stop) {
		r = frame_recv(c->fd, c->scratch_in, &f);
		if (r == FRAME_ERR_IO &&
		    (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r == FRAME_ERR_EOF ||
		    (r == FRAME_ERR_IO && errno == ECONNRESET)) {
			c->stop = 1;
			return;
		}
		if (r != 0)
			fatalx("bad frame from the supervisor", "err",
			    frame_strerror(r), NULL);
		dispatch(c, &f);
	}
}

/* ---- the loop ---- */

static int
poll_timeout(const struct kube_ctx *c)
{
	int64_t due = -1, d[3], now;
	int i;

	d[0] = kube_http_due(c);
	d[1] = c->check ? -1 : kube_refl_due(c);
	d[2] = c->auth.token_path != NULL && !c->check ? c->token_due : -1;
	for (i = 0; i < 3; i++)
		if (d[i] >= 0 && (due == -1 || d[i] < due))
			due = d[i];
	if (due == -1)
		return -1;
	now = clock_ms();
	return due <= now ? 0 : due - now > 60000 ? 60000 : (int)(due - now);
}

static void
loop(struct kube_ctx *c)
{
	struct pollfd *pfd = NULL, *np;
	size_t cap = 0, n;

	if (!c->check)
		kube_refl_start(c);
	while (!c->stop) {
		if (cap < 1 + c->ncfds) {
			if ((np = reallocarray(pfd, 1 + c->ncfds + 8,
				 sizeof(*pfd))) == NULL)
				fatal("out of memory");
			pfd = np;
			cap = 1 + c->ncfds + 8;
		}
		pfd[0].fd = c->fd;
		pfd[0].events = (short)(POLLIN |
		    (c->outq->len > c->outq->off ? POLLOUT : 0));
		pfd[0].revents = 0;
		n = 1 + kube_http_pollfds(c, pfd + 1, cap - 1);
		if (poll(pfd, (nfds_t)n, poll_timeout(c)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		/* The supervisor first: a PING is answered before any
		 * parsing the API replies may need. */
		if (pfd[0].revents & POLLOUT)
			flush(c);
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
			on_supervisor(c);
		if (c->stop)
			break;
		kube_http_run(c, pfd + 1, n - 1);
		if (!c->check) {
			kube_token_refresh(c, 0);
			kube_refl_tick(c, clock_ms());
		}
	}
	free(pfd);
}

/* ---- start-up ---- */

static int
arg_int(int argc, char **argv, const char *key, int def, int max, int64_t *out,
    char *err, size_t errlen)
{
	const char *v = str_arg(argc, argv, key);
	uint64_t n;

	*out = def;
	if (v == NULL || v[0] == '\0')
		return 0;
	if (str_to_u64(v, (uint64_t)max, &n) == -1 || n == 0) {
		snprintf(err, errlen,
		    "k8s worker: %s \"%.32s\": not a number "
		    "in 1..%d",
		    key, v, max);
		return -1;
	}
	*out = (int64_t)n;
	return 0;
}

static int
arg_sel(int argc, char **argv, const char *key, const char *def,
    struct kube_sel *out, char *err, size_t errlen)
{
	const char *v = str_arg(argc, argv, key);

	if (v == NULL)
		v = def;
	if (kube_sel_parse(v, out) == -1) {
		snprintf(err, errlen,
		    "k8s worker: %s \"%.300s\": not a label "
		    "key=value",
		    key, v);
		return -1;
	}
	return 0;
}

static int
arg_name(int argc, char **argv, const char *key, const char *def,
    int (*valid)(const char *), char *out, size_t outlen, char *err,
    size_t errlen)
{
	const char *v = str_arg(argc, argv, key);

	if (v == NULL || v[0] == '\0')
		v = def;
	if (v[0] == '\0') {
		out[0] = '\0';
		return 0;
	}
	if (str_copy(out, outlen, v) == -1 || !valid(out)) {
		snprintf(err, errlen,
		    "k8s worker: %s \"%.64s\": not a valid "
		    "name",
		    key, v);
		return -1;
	}
	return 0;
}

static int
args(struct kube_ctx *c, int argc, char **argv, char *err, size_t errlen)
{
	const char *v, *prep = str_arg(argc, argv, "prepared_label");

	c->check =
	    (v = str_arg(argc, argv, "check")) != NULL && strcmp(v, "1") == 0;
	if (arg_sel(argc, argv, "candidate_label", DEF_CANDIDATE, &c->cand, err,
		errlen) == -1 ||
	    arg_sel(argc, argv, "active_label", DEF_ACTIVE, &c->active, err,
		errlen) == -1)
		return -1;
	if ((c->have_prepared = prep != NULL && prep[0] != '\0') &&
	    arg_sel(argc, argv, "prepared_label", "", &c->prepared, err,
		errlen) == -1)
		return -1;
	if (arg_name(argc, argv, "prepared_namespace", "kube-system",
		kube_label_name_valid, c->prepared_ns, sizeof(c->prepared_ns),
		err, errlen) == -1 ||
	    arg_name(argc, argv, "lease_namespace", "", kube_label_name_valid,
		c->lease_ns, sizeof(c->lease_ns), err, errlen) == -1 ||
	    arg_name(argc, argv, "lease_name", DEF_LEASE, kube_name_valid,
		c->lease_name, sizeof(c->lease_name), err, errlen) == -1)
		return -1;
	v = str_arg(argc, argv, "identity");
	if (str_copy(c->identity, sizeof(c->identity),
		v != NULL && v[0] != '\0' ? v : "stable-egressd") == -1 ||
	    !kube_utf8_valid(c->identity, strlen(c->identity))) {
		snprintf(err, errlen,
		    "k8s worker: identity: longer than 128 "
		    "bytes or not UTF-8");
		return -1;
	}
	if (arg_int(argc, argv, "watch_stall_s", DEF_STALL_S, 3600,
		&c->stall_ms, err, errlen) == -1 ||
	    arg_int(argc, argv, "token_reread_s", DEF_TOKEN_S, 3600,
		&c->token_every_ms, err, errlen) == -1)
		return -1;
	c->stall_ms *= 1000;
	c->token_every_ms *= 1000;
	return 0;
}

static int
load_auth(struct kube_ctx *c, int argc, char **argv, char *err, size_t errlen)
{
	const char *kc = str_arg(argc, argv, "kubeconfig");
	const char *host = str_arg(argc, argv, "service_host");
	const char *port = str_arg(argc, argv, "service_port");
	const char *sa = str_arg(argc, argv, "sa_dir");

	if (kc != NULL && kc[0] != '\0') {
		if (kube_kubeconfig_load(kc, &c->auth, err, errlen) == -1)
			return -1;
	} else if (host != NULL && host[0] != '\0' && port != NULL &&
	    port[0] != '\0') {
		if (kube_incluster_load(host, port,
			sa != NULL && sa[0] ? sa : SA_DIR, &c->auth, err,
			errlen) == -1)
			return -1;
	} else {
		snprintf(err, errlen,
		    "k8s worker: no kubeconfig and not in a "
		    "cluster (KUBERNETES_SERVICE_HOST/PORT unset)");
		return -1;
	}
	/* Lease namespace: the supervisor's choice, else ours. */
	if (c->lease_ns[0] == '\0')
		str_copy(c->lease_ns, sizeof(c->lease_ns),
		    c->auth.namespace != NULL ? c->auth.namespace
					      : "kube-system");
	c->token_due = clock_ms() + c->token_every_ms;
	return 0;
}

static void
hello(struct kube_ctx *c, int status, const char *err)
{
	struct msg_hello h;
	size_t i;

	memset(&h, 0, sizeof(h));
	h.version = PROTO_VERSION;
	h.pid = (uint32_t)getpid();
	h.worker = WORKER_K8S;
	h.status = (uint8_t)status;
	str_copy(h.err, sizeof(h.err), err);
	/* One line, whatever names the file held. */
	for (i = 0; h.err[i] != '\0'; i++)
		if ((unsigned char)h.err[i] < 0x20 || h.err[i] == 0x7f)
			h.err[i] = '?';
	kube_send(c, MSG_HELLO, 0, &h);
	if (c->outq->len > 0) {
		/* Start-up: wait (bounded) for it to leave. */
		struct pollfd p = { c->fd, POLLOUT, 0 };

		while (c->outq->off < c->outq->len && !c->stop &&
		    poll(&p, 1, 2000) == 1)
			flush(c);
	}
}

/* glibc loads its NSS modules and reads nsswitch.conf and gai.conf on
 * first use: do it now, while files may still be opened. */
static void
resolver_warmup(void)
{
	struct addrinfo hints, *res = NULL;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo("localhost", "443", &hints, &res) == 0)
		freeaddrinfo(res);
}

static void
lock_down(struct kube_ctx *c)
{
	struct sandbox_policy pol = *kube_sandbox_policy();
	char grant[PATH_MAX];
	const char *paths[] = { kube_token_grant(&c->auth, grant,
				    sizeof(grant)),
		"/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
		"/etc/gai.conf", "/etc/host.conf", NULL };
	int keep[] = { STDERR_FILENO, c->fd };
	char err[PROTO_TEXT_MAX], abi[16];
	uint16_t ports[2];
	size_t nports = 0;
	int landlock;

	pol.ro_paths = paths[0] != NULL ? paths : paths + 1;
	pol.keep_fds = keep;
	pol.nkeep = sizeof(keep) / sizeof(keep[0]);
	/* Landlock: TCP to the API server's port (and DNS when it is a
	 * name), nowhere else. */
	if (sandbox_url_ports(c->auth.base_url, ports, 2, &nports) == -1) {
		hello(c, HELLO_FATAL, "k8s worker: API URL has no port");
		fatalx("sandbox", "err", "API URL has no port", NULL);
	}
	pol.tcp_ports = ports;
	pol.nports = nports;
	if (sandbox_enter(&pol, &landlock, err, sizeof(err)) == -1) {
		hello(c, HELLO_FATAL, err);
		fatalx("sandbox", "err", err, NULL);
	}
	if (landlock > 0) {
		snprintf(abi, sizeof(abi), "%d", landlock);
		log_info("sandbox entered", "landlock_abi", abi, NULL);
	} else
		log_warn("sandbox entered without Landlock: the kernel has "
			 "none",
		    NULL);
}

static int
setup(struct kube_ctx *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->api_ok = -1;
	c->token_due = -1;
	if ((c->outq = buf_new(0, OUTQ_MAX)) == NULL ||
	    (c->scratch = malloc(FRAME_MAX)) == NULL ||
	    (c->scratch_in = malloc(FRAME_MAX)) == NULL ||
	    kube_store_init(&c->nodes) == -1 || kube_store_init(&c->pods) == -1)
		return -1;
	if (getrandom(&c->rng, sizeof(c->rng), 0) != sizeof(c->rng))
		c->rng = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	c->rng |= 1;
	return 0;
}

static void
teardown(struct kube_ctx *c)
{
	kube_http_cleanup(c);
	kube_refl_free(c);
	kube_store_free(&c->nodes);
	kube_store_free(&c->pods);
	kube_auth_free(&c->auth);
	buf_free(c->outq);
	free(c->scratch);
	free(c->scratch_in);
}

static int
config_error(struct kube_ctx *c, const char *err)
{
	/* The supervisor prints the one line; nothing else may precede. */
	log_discard();
	hello(c, HELLO_CONFIG, err);
	teardown(c);
	return 2;
}

int
kube_main(int fd, int argc, char **argv)
{
	struct kube_ctx ctx, *c = &ctx;
	char err[PROTO_TEXT_MAX];
	const char *v;
	int json, level;

	/* Before anything else: no ptrace or /proc/PID/mem by our own uid
	 * while the credentials are read and held. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("PR_SET_DUMPABLE");
	/* Big list pages are mmap'd and returned whole; one arena even
	 * with libcurl's resolver thread. */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	mallopt(M_ARENA_MAX, 1);
	/* A hostile or broken API reply is refused, not an OOM kill. */
	kube_json_init(KUBE_JSON_MAX);
	signal(SIGPIPE, SIG_IGN);
	if (setup(c, fd) == -1)
		fatal("out of memory");
	v = str_arg(argc, argv, "log_format");
	json = v != NULL ? log_parse_format(v) : 1;
	v = str_arg(argc, argv, "log_level");
	level = v != NULL ? log_parse_level(v) : LOG_INFO;
	log_init("k8s-worker", json != 0, level < 0 ? LOG_INFO : level);
	log_hold();
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		fatal("fcntl");
	if (json < 0 || level < 0 || log_time_arg(argc, argv) == -1)
		return config_error(c,
		    "k8s worker: bad log_format, log_level or "
		    "log_time");
	if (args(c, argc, argv, err, sizeof(err)) == -1 ||
	    load_auth(c, argc, argv, err, sizeof(err)) == -1)
		return config_error(c, err);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		hello(c, HELLO_FATAL, "curl_global_init failed");
		fatalx("curl_global_init failed", NULL);
	}
	if (kube_http_init(c, err, sizeof(err)) == -1)
		return config_error(c, err);
	resolver_warmup();
	/* Log timestamps call tzset(): read /etc/localtime now, once. */
	tzset();
	kube_refl_setup(c);
	lock_down(c);
	hello(c, HELLO_READY, "");
	log_info("k8s worker ready", "api", c->auth.base_url, "source",
	    c->auth.source, "check", c->check ? "1" : "0", NULL);
	loop(c);
	log_debug("k8s worker stopping", NULL);
	teardown(c);
	curl_global_cleanup();
	return 0;
}
