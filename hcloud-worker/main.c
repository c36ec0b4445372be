/* main.c: hcloud-worker start-up, top to bottom, and its one loop */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/procstat.h"
#include "common/compromise.h"
#include "common/sandbox.h"
#include "common/str.h"
#include "common/workers.h"
#include "hc.h"

#define HC_TOKEN_FILE_MAX 4096
#define HC_CA_FILE_MAX (4 * 1024 * 1024)
/* Longest wait of the loop with nothing scheduled. */
#define HC_IDLE_MS 60000
/* A supervisor that stops reading must not hang us in send(). */
#define HC_SEND_TIMEOUT_S 5

/* The system bundle, where the usual distributions keep it. */
static const char *const system_cas[] = {
	"/etc/ssl/certs/ca-certificates.crt", /* Debian, Alpine, distroless */
	"/etc/pki/tls/certs/ca-bundle.crt", /* Fedora, RHEL */
	"/etc/ssl/cert.pem", /* Alpine, BSD layout */
	NULL,
};

struct hc_args {
	const char *token_path;
	const char *endpoint;
	const char *ca_file;
	const char *fips;
	const char *server_selector;
	int check;
	int json;
	int level;
};

enum hc_state {
	HC_S_CHECK = 0x1, /* check=1: only wait to be told to go */
	HC_S_READY = 0x2,
};

struct hc_handler {
	uint16_t type;
	int states; /* HC_S_* in which it may arrive */
	int (*fn)(struct hc_ctx *, uint32_t, const union msg_payload *);
};

static int
send_hello(int fd, int status, const char *err)
{
	struct msg_hello h;

	memset(&h, 0, sizeof(h));
	h.version = PROTO_VERSION;
	h.pid = (uint32_t)getpid();
	h.worker = WORKER_HCLOUD;
	h.status = (uint8_t)status;
	/* One line whatever a path holds: the supervisor prints it. */
	hc_sanitize(h.err, sizeof(h.err), err, NULL);
	return frame_send(fd, MSG_HELLO, 0, &h);
}

static int
parse_args(int argc, char **argv, struct hc_args *a, char *err, size_t errlen)
{
	const char *v;

	memset(a, 0, sizeof(*a));
	a->json = 1;
	a->level = LOG_INFO;
	if ((v = str_arg(argc, argv, "log_format")) != NULL &&
	    (a->json = log_parse_format(v)) < 0) {
		str_line(err, errlen, "hcloud-worker: log_format \"%s\"", v);
		return -1;
	}
	if ((v = str_arg(argc, argv, "log_level")) != NULL &&
	    (a->level = log_parse_level(v)) < 0) {
		str_line(err, errlen, "hcloud-worker: log_level \"%s\"", v);
		return -1;
	}
	a->check =
	    (v = str_arg(argc, argv, "check")) != NULL && strcmp(v, "1") == 0;
	a->token_path = str_arg(argc, argv, "token_path");
	a->endpoint = str_arg(argc, argv, "endpoint");
	a->ca_file = str_arg(argc, argv, "ca_file");
	a->fips = str_arg(argc, argv, "fips");
	a->server_selector = str_arg(argc, argv, "server_selector");
#ifdef SE_TEST_HOOKS
	if ((v = str_arg(argc, argv, "test_assign_deadline_ms")) != NULL)
		hc_test_assign_deadline_ms = strtoll(v, NULL, 10);
#endif
	if (a->token_path == NULL || a->token_path[0] == '\0' ||
	    a->endpoint == NULL || a->endpoint[0] == '\0') {
		str_line(err, errlen,
		    "hcloud-worker: token_path and endpoint are required");
		return -1;
	}
	return 0;
}

/* Index of the name just stored if an earlier one equals it, else -1. */
static int
name_dup(const struct hc_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->nnames; i++)
		if (strcmp(ctx->names[i], ctx->names[ctx->nnames]) == 0)
			return (int)i;
	return -1;
}

/* "a,b,c" into ctx->names: 1..PROTO_FIPS_MAX non-empty distinct. */
static int
parse_fips(struct hc_ctx *ctx, const char *list, char *err, size_t errlen)
{
	const char *all = list != NULL ? list : "", *p = all, *c;
	size_t n;

	for (ctx->nnames = 0;; p = c + 1) {
		c = strchr(p, ',');
		n = c != NULL ? (size_t)(c - p) : strlen(p);
		if (n == 0 || n >= PROTO_FIPNAME_MAX) {
			str_line(err, errlen,
			    "hcloud-worker: fips \"%s\": an "
			    "empty or over-long Floating IP name",
			    all);
			return -1;
		}
		if (ctx->nnames == PROTO_FIPS_MAX) {
			str_line(err, errlen,
			    "hcloud-worker: fips: more than "
			    "%d Floating IP names",
			    PROTO_FIPS_MAX);
			return -1;
		}
		memcpy(ctx->names[ctx->nnames], p, n);
		ctx->names[ctx->nnames][n] = '\0';
		if (name_dup(ctx) >= 0) {
			str_line(err, errlen,
			    "hcloud-worker: fips: \"%s\" "
			    "given twice",
			    ctx->names[ctx->nnames]);
			return -1;
		}
		ctx->nnames++;
		if (c == NULL)
			return 0;
	}
}

static const char *
file_strerror(int e)
{
	if (e == EINVAL)
		return "not a regular file";
	if (e == EFBIG)
		return "too large";
	return strerror(e);
}

/* The token, trimmed, NUL-terminated after len, in a secret buffer. */
static int
load_token(const char *path, struct buf **out, char *err, size_t errlen)
{
	struct buf *b;
	size_t s = 0, e, i;
	const char *why = NULL;

	if (buf_read_file(path, HC_TOKEN_FILE_MAX, 1, &b) != 0) {
		str_line(err, errlen, "hcloud token file %s: %s", path,
		    file_strerror(errno));
		return -1;
	}
	e = b->len;
	while (s < e &&
	    (b->data[s] == ' ' || b->data[s] == '\t' || b->data[s] == '\r' ||
		b->data[s] == '\n'))
		s++;
	while (e > s &&
	    (b->data[e - 1] == ' ' || b->data[e - 1] == '\t' ||
		b->data[e - 1] == '\r' || b->data[e - 1] == '\n'))
		e--;
	if (e == s)
		why = "empty";
	/* Visible ASCII only: a CR, LF or NUL would split the header. */
	for (i = s; why == NULL && i < e; i++)
		if (b->data[i] < 0x21 || b->data[i] > 0x7e)
			why = "contains bytes not allowed in an HTTP header";
	if (why != NULL) {
		str_line(err, errlen, "hcloud token file %s: %s", path, why);
		buf_free(b);
		return -1;
	}
	/* read_file left room for the NUL hc_sanitize needs. */
	memmove(b->data, b->data + s, e - s);
	explicit_bzero(b->data + (e - s), b->len - (e - s));
	b->len = e - s;
	b->data[b->len] = '\0';
	*out = b;
	return 0;
}

/* The CA bundle, read before the sandbox: ca_file, or the system one
 * when the endpoint is https.  *out stays NULL for plain http. */
static int
load_ca(const char *ca_file, int https, struct buf **out, char *err,
    size_t errlen)
{
	const char *path = ca_file;
	size_t i;

	*out = NULL;
	if (path == NULL || path[0] == '\0') {
		if (!https)
			return 0;
		for (i = 0; system_cas[i] != NULL; i++)
			if (access(system_cas[i], F_OK) == 0)
				break;
		path = system_cas[i] != NULL ? system_cas[i] : system_cas[0];
	}
	if (buf_read_file(path, HC_CA_FILE_MAX, 0, out) != 0) {
		str_line(err, errlen, "hcloud CA file %s: %s", path,
		    file_strerror(errno));
		return -1;
	}
	if (memmem((*out)->data, (*out)->len, "-----BEGIN CERTIFICATE-----",
		27) == NULL) {
		str_line(err, errlen, "hcloud CA file %s: no PEM certificate",
		    path);
		buf_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/*
 * Load glibc's resolver configuration and code paths before the
 * sandbox (nsswitch, host.conf, NSS modules that are loaded once).
 * Inside, libcurl's resolver thread then only rereads the files that
 * Landlock leaves readable.  "localhost" is answered from /etc/hosts,
 * so this never waits on the network.
 */
static void
warm_resolver(void)
{
	struct addrinfo hints, *res = NULL;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo("localhost", "443", &hints, &res) == 0)
		freeaddrinfo(res);
	/* strftime() in every log line loads the zone file once. */
	tzset();
}

/* ---- frames from the supervisor ------------------------------------ */

static int
on_ping(struct hc_ctx *ctx, uint32_t seq, const union msg_payload *p)
{
	/* Start-up lines stay held until the supervisor's first PING: it
	 * pings only once every worker is ready, so a sibling's credential
	 * error remains the daemon's only line. */
	struct msg_ping_ans a;

	log_release();
#ifdef SE_TEST_HOOKS
	/* Steady state (every worker is ready): one attack from inside
	 * the sandbox, once; a kill here is reported as a sandbox kill. */
	compromise_hook("hcloud-worker");
#endif
	memset(&a, 0, sizeof(a));
	a.nonce = p->ping.nonce;
	procstat_fill(&a);
	return frame_send(ctx->fd, MSG_PING_ANS, seq, &a);
}

static int
on_shutdown(struct hc_ctx *ctx, uint32_t seq, const union msg_payload *p)
{
	(void)ctx;
	(void)seq;
	(void)p;
	return 1; /* leave the loop */
}

static int
on_fips(struct hc_ctx *ctx, uint32_t seq, const union msg_payload *p)
{
	(void)p; /* fip_id is unused: the names are configured */
	return hc_op_fips(ctx, seq);
}

static int
on_assign(struct hc_ctx *ctx, uint32_t seq, const union msg_payload *p)
{
	return hc_op_assign(ctx, seq, p->assign.fip_id, p->assign.server_id);
}

static int
on_action(struct hc_ctx *ctx, uint32_t seq, const union msg_payload *p)
{
	return hc_op_action(ctx, seq, p->fip_id.fip_id);
}

#ifdef SE_TEST_HOOKS
/* Test builds only: try a syscall so a test can watch the filter. */
static int
on_test_syscall(struct hc_ctx *ctx, uint32_t seq, const union msg_payload *p)
{
	char nr[16];

	(void)ctx;
	(void)seq;
	(void)snprintf(nr, sizeof(nr), "%" PRIu32, p->test_syscall.nr);
	log_info("test hook: trying a syscall", "nr", nr, NULL);
	(void)syscall((long)p->test_syscall.nr, 0, 0, 0, 0, 0, 0);
	return 0;
}
#endif

static int
on_server(struct hc_ctx *ctx, uint32_t seq, const union msg_payload *p)
{
	return hc_op_server(ctx, seq, p->server_id.server_id);
}

static const struct hc_handler handlers[] = {
	{ MSG_PING_REQ, HC_S_CHECK | HC_S_READY, on_ping },
	{ MSG_SHUTDOWN, HC_S_CHECK | HC_S_READY, on_shutdown },
#ifdef SE_TEST_HOOKS
	{ MSG_TEST_SYSCALL_REQ, HC_S_CHECK | HC_S_READY, on_test_syscall },
#endif
	{ MSG_HC_FIPS_REQ, HC_S_READY, on_fips },
	{ MSG_HC_ASSIGN_REQ, HC_S_READY, on_assign },
	{ MSG_HC_ACTION_REQ, HC_S_READY, on_action },
	{ MSG_HC_SERVER_REQ, HC_S_READY, on_server },
};

/* One datagram: 0 go on, 1 leave the loop (SHUTDOWN, EOF).  Anything
 * malformed from the supervisor ends the worker. */
static int
read_frame(struct hc_ctx *ctx, uint8_t *rbuf, int state)
{
	union msg_payload p;
	struct frame f;
	size_t i;
	int r;

	if ((r = frame_recv(ctx->fd, rbuf, &f)) == FRAME_ERR_EOF)
		return 1;
	if (r == FRAME_ERR_IO && errno == EAGAIN)
		return 0;
	if (r == FRAME_ERR_IO)
		fatal("supervisor socket");
	if (r != 0 || (r = frame_decode(&f, MSG_TO_WORKER, &p)) != 0)
		fatalx("bad frame from supervisor", "msg_type",
		    msg_name(f.type), "err", frame_strerror(r), NULL);
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].type == f.type)
			break;
	if (i == sizeof(handlers) / sizeof(handlers[0]) ||
	    (handlers[i].states & state) == 0)
		fatalx("unexpected frame from supervisor", "msg_type",
		    msg_name(f.type), NULL);
	if ((r = handlers[i].fn(ctx, f.seq, &p)) < 0)
		fatal("supervisor socket");
	return r;
}

/*
 * The loop: curl_multi_poll() with the supervisor socket as an extra
 * curl_waitfd.  libcurl then polls its own sockets, its resolver's
 * wake-up pipe and its timers in the same poll(), so there is one wait
 * and no socket/timer callback bookkeeping for a single handle; our
 * timeout is the next action poll, and the socket wakes us at once for
 * a PING even in the middle of a transfer.
 */
static int
loop(struct hc_ctx *ctx, int state)
{
	const struct hc_reply *rep;
	uint8_t *rbuf;
	int64_t t;
	int readable, r = 0;

	if ((rbuf = malloc(FRAME_MAX)) == NULL)
		fatal("malloc");
	while (r == 0) {
		t = hc_op_timeout(ctx, clock_ms());
		if (t < 0 || t > HC_IDLE_MS)
			t = HC_IDLE_MS;
		if (hc_client_wait(&ctx->client, ctx->fd, (int)t, &readable) !=
		    0)
			fatalx("curl_multi_poll failed", NULL);
		if (readable && (r = read_frame(ctx, rbuf, state)) != 0)
			break;
		while (hc_client_poll(&ctx->client, &rep) == 1)
			if (hc_op_reply(ctx, rep) != 0)
				fatal("supervisor socket");
		if (hc_op_tick(ctx, clock_ms()) != 0)
			fatal("supervisor socket");
	}
	free(rbuf);
	return 0;
}

/* ---- start-up ------------------------------------------------------- */

static int
config_error(int fd, const char *err)
{
	/* The supervisor prints this as the one line; our held start-up
	 * chatter must not precede it. */
	log_discard();
	if (send_hello(fd, HELLO_CONFIG, err) != 0)
		log_error("configuration error", "err", err, NULL);
	return 2;
}

static int
fatal_error(int fd, const char *err)
{
	log_discard();
	if (send_hello(fd, HELLO_FATAL, err) != 0)
		log_error("start-up failed", "err", err, NULL);
	return 1;
}

/* stdout is not ours to write: point it at /dev/null so nothing can
 * reach the supervisor's output and no socket ever lands on fd 0-1. */
static int
quiet_stdout(void)
{
	int fd;

	/* Read-only: a stray write fails instead of going anywhere, and
	 * the inherited Landlock domain grants no write access at all. */
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (dup2(fd, STDOUT_FILENO) == -1 ||
	    (fcntl(STDIN_FILENO, F_GETFD) == -1 &&
		dup2(fd, STDIN_FILENO) == -1)) {
		close(fd);
		return -1;
	}
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

static int
setup_process(int fd)
{
	struct timeval tv = { HC_SEND_TIMEOUT_S, 0 };

	(void)signal(SIGPIPE, SIG_IGN);
	/* Ctrl-C reaches the whole process group; the supervisor decides
	 * when we stop (MSG_SHUTDOWN), after its own clean-up. */
	(void)signal(SIGINT, SIG_IGN);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		return -1;
	return quiet_stdout();
}

static int
enter_sandbox(const char *endpoint, char *err, size_t errlen)
{
	struct sandbox_policy pol = *hc_sandbox_policy();
	uint16_t ports[2];
	size_t n = 0;
	int landlock;
	char abi[16];

	/* Landlock: TCP to the endpoint's port (and DNS when it is a
	 * name), nowhere else. */
	if (sandbox_url_ports(endpoint, ports, 2, &n) != 0) {
		str_line(err, errlen, "hcloud-worker: endpoint %s: no port",
		    endpoint);
		return -1;
	}
	pol.tcp_ports = ports;
	pol.nports = n;
	if (sandbox_enter(&pol, &landlock, err, errlen) != 0)
		return -1;
	if (landlock > 0) {
		(void)snprintf(abi, sizeof(abi), "%d", landlock);
		log_info("sandbox entered", "landlock_abi", abi, NULL);
	} else
		log_warn("sandbox entered; landlock unavailable", NULL);
	return 0;
}

int
hc_main(int fd, int argc, char **argv)
{
	char err[PROTO_TEXT_MAX], host[256];
	struct buf *token = NULL, *ca = NULL;
	struct hc_ctx ctx;
	struct hc_args a;
	int rc;

	/* Before anything else: no ptrace or /proc/PID/mem by our own uid
	 * while the token is read and held. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("PR_SET_DUMPABLE");
	memset(&ctx, 0, sizeof(ctx));
	ctx.fd = fd;
	err[0] = '\0';
	if (parse_args(argc, argv, &a, err, sizeof(err)) != 0)
		return fatal_error(fd, err);
	log_init("hcloud-worker", a.json, (enum log_level)a.level);
	if (log_time_arg(argc, argv) == -1)
		return fatal_error(fd, "hcloud-worker: bad log_time");
	log_hold();
	if (setup_process(fd) != 0) {
		str_line(err, sizeof(err), "hcloud-worker: set-up: %s",
		    strerror(errno));
		return fatal_error(fd, err);
	}
	if (parse_fips(&ctx, a.fips, err, sizeof(err)) != 0 ||
	    hc_selector_parse(a.server_selector, &ctx.selector, err,
		sizeof(err)) != 0 ||
	    hc_endpoint_check(a.endpoint, host, sizeof(host), err,
		sizeof(err)) != 0 ||
	    load_token(a.token_path, &token, err, sizeof(err)) != 0 ||
	    load_ca(a.ca_file, strncasecmp(a.endpoint, "https:", 6) == 0, &ca,
		err, sizeof(err)) != 0) {
		buf_free(token);
		return config_error(fd, err);
	}
	ctx.token = (const char *)token->data;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    hc_client_init(&ctx.client, a.endpoint, token, ca, err,
		sizeof(err)) != 0) {
		if (err[0] == '\0')
			str_line(err, sizeof(err), "curl_global_init failed");
		rc = fatal_error(fd, err);
		goto out_free;
	}
	buf_free(ca); /* libcurl holds its own copy */
	ca = NULL;
	warm_resolver();
	if (enter_sandbox(a.endpoint, err, sizeof(err)) != 0 ||
	    hc_client_start(&ctx.client) != 0) {
		if (err[0] == '\0')
			str_line(err, sizeof(err), "curl_multi_init failed");
		rc = fatal_error(fd, err);
		goto out_free;
	}
	if (send_hello(fd, HELLO_READY, "") != 0)
		fatal("sending HELLO");
	rc = loop(&ctx, a.check ? HC_S_CHECK : HC_S_READY);
out_free:
	hc_client_free(&ctx.client);
	buf_free(ca);
	buf_free(token);
	return rc;
}
