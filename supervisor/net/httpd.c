/* httpd.c: the non-blocking HTTP listener driven by the supervisor's loop */
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/str.h"
#include "httpd.h"

#define HTTPD_BACKLOG 64
#define HTTPD_ACCEPT_BURST 64 /* accepts per dispatch: others get a turn */
#define HTTPD_ACCEPT_PAUSE_MS 100 /* after EMFILE and the like */
#define HTTPD_DEFAULT_TYPE "text/plain; charset=utf-8"
/* Kernel send buffer per connection: autotuning would let each slow
 * reader pin megabytes of kernel memory besides our own body buffer. */
#define HTTPD_SNDBUF (256 * 1024)

enum conn_state {
	CONN_FREE = 0,
	CONN_READ, /* waiting for the complete head */
	CONN_WRITE, /* sending the response */
	CONN_LINGER, /* our FIN is out; drain until the peer closes */
};

struct httpd_conn {
	int fd;
	enum conn_state state;
	int64_t deadline;
	int64_t since; /* accepted at */
	uint8_t *in; /* HTTPD_IN_MAX bytes while reading */
	size_t inlen;
	char head[384]; /* status line and header fields */
	size_t headlen;
	struct buf *body; /* NULL unless writing */
	size_t bodylen; /* 0 for HEAD: the body stays off the wire */
	size_t sent; /* of headlen + bodylen */
};

struct httpd {
	int fd;
	int port;
	httpd_handler_fn *handler;
	void *arg;
	int paused; /* listener not polled until pause_end */
	int64_t pause_end;
	struct httpd_conn conns[HTTPD_CONN_MAX];
};

static const struct {
	int status;
	const char *text;
} status_texts[] = {
	{ 200, "OK" },
	{ 400, "Bad Request" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 408, "Request Timeout" },
	{ 414, "URI Too Long" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 503, "Service Unavailable" },
	{ 505, "HTTP Version Not Supported" },
};

/* The reason phrase, or NULL for a status we never send. */
static const char *
status_text(int status)
{
	size_t i;

	for (i = 0; i < sizeof(status_texts) / sizeof(status_texts[0]); i++)
		if (status_texts[i].status == status)
			return status_texts[i].text;
	return NULL;
}

static void
conn_close(struct httpd_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	buf_free(c->body);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->state = CONN_FREE;
}

/* Status line and fields; the caller has checked status_text(). */
static int
conn_head(struct httpd_conn *c, int status, const char *ctype, size_t len)
{
	int n;

	n = snprintf(c->head, sizeof(c->head),
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "%s"
	    "Connection: close\r\n"
	    "\r\n",
	    status, status_text(status), ctype, len,
	    status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(c->head)) {
		errno = ERANGE;
		return -1;
	}
	c->headlen = (size_t)n;
	return 0;
}

/* Send what the socket takes now; on the last byte, FIN and linger. */
static void
conn_write(struct httpd_conn *c, int64_t now)
{
	struct iovec iov[2];
	struct msghdr msg;
	size_t total = c->headlen + c->bodylen;
	ssize_t r;
	int k = 0;

	memset(&msg, 0, sizeof(msg));
	if (c->sent < c->headlen) {
		iov[k].iov_base = c->head + c->sent;
		iov[k++].iov_len = c->headlen - c->sent;
	}
	if (c->bodylen > 0) {
		size_t off = c->sent > c->headlen ? c->sent - c->headlen : 0;

		iov[k].iov_base = c->body->data + off;
		iov[k++].iov_len = c->bodylen - off;
	}
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)k;
	/* MSG_NOSIGNAL: a peer gone away is EPIPE here, not a SIGPIPE. */
	r = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_close(c);
		return;
	}
	c->sent += (size_t)r;
	if (c->sent < total)
		return;
	/*
	 * Closing with unread request bytes would reset the connection and
	 * could destroy the response before the client reads it: half-close
	 * and drain for a moment instead.
	 */
	buf_free(c->body);
	c->body = NULL;
	free(c->in);
	c->in = NULL;
	shutdown(c->fd, SHUT_WR);
	c->state = CONN_LINGER;
	c->deadline = now + HTTPD_LINGER_MS;
}

/* Queue status, body (ours from here on) and start writing. */
static void
conn_respond(struct httpd_conn *c, int status, const char *ctype,
    struct buf *body, int head_only, int64_t now)
{
	c->body = body;
	if (conn_head(c, status, ctype != NULL ? ctype : HTTPD_DEFAULT_TYPE,
		body->len) != 0) {
		log_warn("http response head too long", NULL);
		conn_close(c);
		return;
	}
	c->bodylen = head_only ? 0 : body->len;
	c->sent = 0;
	c->state = CONN_WRITE;
	c->deadline = now + HTTPD_WRITE_TIMEOUT_MS;
	/* Usually the socket takes it all now: no extra trip through poll. */
	conn_write(c, now);
}

/* A short text answer for refusals; reason is static text of ours.
 * head_only: the request was a HEAD, whose answer never has a body. */
static void
conn_error(struct httpd_conn *c, int status, const char *reason, int head_only,
    int64_t now)
{
	struct buf *body = NULL;
	char text[128];
	int n;

	n = snprintf(text, sizeof(text), "%d %s: %s\n", status,
	    status_text(status), reason);
	if (n < 0 || (size_t)n >= sizeof(text) ||
	    (body = buf_new((size_t)n, (size_t)n)) == NULL ||
	    buf_append(body, text, (size_t)n) != 0) {
		buf_free(body);
		conn_close(c);
		return;
	}
	conn_respond(c, status, NULL, body, head_only, now);
}

static void
conn_serve(struct httpd *h, struct httpd_conn *c, const struct httpd_req *req,
    int64_t now)
{
	const char *ctype = NULL;
	struct buf *body;
	int status;

	if ((body = buf_new(4096, HTTPD_BODY_MAX)) == NULL) {
		conn_error(c, 500, "out of memory", req->method == HTTPD_HEAD,
		    now);
		return;
	}
	status = h->handler(h->arg, req->path, body, &ctype);
	if (status == 500 || status_text(status) == NULL) {
		log_warn("http handler failed", "path", req->path, NULL);
		buf_free(body);
		conn_error(c, 500, "handler failed", req->method == HTTPD_HEAD,
		    now);
		return;
	}
	conn_respond(c, status, ctype, body, req->method == HTTPD_HEAD, now);
}

static void
conn_read(struct httpd *h, struct httpd_conn *c, int64_t now)
{
	struct httpd_req req;
	ssize_t r;

	r = recv(c->fd, c->in + c->inlen, HTTPD_IN_MAX - c->inlen,
	    MSG_DONTWAIT);
	if (r < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r <= 0) {
		/* Gone before a complete head: nobody to answer. */
		conn_close(c);
		return;
	}
	c->inlen += (size_t)r;
	switch (httpd_req_parse(c->in, c->inlen, &req)) {
	case HTTPD_REQ_MORE:
		/* The parser refuses before the buffer fills; in case. */
		if (c->inlen == HTTPD_IN_MAX)
			conn_error(c, 431, "request too large", 0, now);
		return;
	case HTTPD_REQ_ERROR:
		if (log_enabled(LOG_DEBUG))
			log_debug("http request refused", "reason", req.reason,
			    NULL);
		/* method is set once the request line has been read. */
		conn_error(c, req.status, req.reason, req.method == HTTPD_HEAD,
		    now);
		return;
	default:
		conn_serve(h, c, &req, now);
	}
}

/* Read and discard until the peer closes or the deadline passes. */
static void
conn_drain(struct httpd_conn *c)
{
	uint8_t scratch[512];
	ssize_t r;

	r = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
	if (r < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r <= 0)
		conn_close(c);
}

static void
conn_event(struct httpd *h, struct httpd_conn *c, short revents, int64_t now)
{
	switch (c->state) {
	case CONN_READ:
		if (revents & (POLLIN | POLLHUP | POLLERR))
			conn_read(h, c, now);
		break;
	case CONN_WRITE:
		if (revents & (POLLOUT | POLLHUP | POLLERR))
			conn_write(c, now);
		break;
	case CONN_LINGER:
		if (revents & (POLLIN | POLLHUP | POLLERR))
			conn_drain(c);
		break;
	case CONN_FREE:
		break;
	}
}

/* A client that never finished its head gets a best-effort 408. */
static void
conn_expire(struct httpd_conn *c)
{
	static const char timeout[] = "HTTP/1.1 408 Request Timeout\r\n"
				      "Content-Length: 0\r\n"
				      "Connection: close\r\n"
				      "\r\n";

	if (c->state == CONN_READ)
		(void)send(c->fd, timeout, sizeof(timeout) - 1,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	conn_close(c);
}

/*
 * A free slot, or the one the oldest connection holds: a full listener
 * evicts rather than refuses, so a client that keeps connections open
 * (idle, or reading slowly) cannot lock the kubelet's probes out.  A
 * connection still waiting for its request or draining goes before
 * one we are answering.
 */
static struct httpd_conn *
conn_slot(struct httpd *h)
{
	struct httpd_conn *c, *old = NULL;
	size_t i;

	for (i = 0; i < HTTPD_CONN_MAX; i++) {
		c = &h->conns[i];
		if (c->state == CONN_FREE)
			return c;
		if (old == NULL ||
		    (old->state == CONN_WRITE) > (c->state == CONN_WRITE) ||
		    ((old->state == CONN_WRITE) == (c->state == CONN_WRITE) &&
			c->since < old->since))
			old = c;
	}
	log_debug("http connection evicted", "err", "connection limit", NULL);
	conn_close(old);
	return old;
}

static int
accept_error(struct httpd *h, int64_t now)
{
	switch (errno) {
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
		return -1;
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case EPERM:
		return 0;
	}
	/*
	 * Out of descriptors or memory: the listener stays readable, so
	 * polling it now would spin.  Look again a little later.
	 */
	log_warn("http accept failed", "err", strerror(errno), NULL);
	h->paused = 1;
	h->pause_end = now + HTTPD_ACCEPT_PAUSE_MS;
	return -1;
}

static void
accept_all(struct httpd *h, int64_t now)
{
	struct httpd_conn *c;
	int fd, k, sndbuf = HTTPD_SNDBUF;

	for (k = 0; k < HTTPD_ACCEPT_BURST; k++) {
		fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (accept_error(h, now) != 0)
				return;
			continue;
		}
		c = conn_slot(h);
		if ((c->in = malloc(HTTPD_IN_MAX)) == NULL) {
			log_debug("http connection refused", "err",
			    "out of memory", NULL);
			close(fd);
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
		    sizeof(sndbuf));
		c->fd = fd;
		c->inlen = 0;
		c->state = CONN_READ;
		c->since = now;
		c->deadline = now + HTTPD_READ_TIMEOUT_MS;
		/* The request often arrived with the handshake. */
		conn_read(h, c, now);
	}
}

/* Split "host:port", ":port" or "[v6]:port"; host may come back empty. */
static int
bind_split(const char *bind, char *host, size_t hostlen, char *port,
    size_t portlen)
{
	const char *colon, *hs = bind, *he;
	uint64_t v;

	if (bind[0] == '[') {
		hs = bind + 1;
		if ((he = strchr(hs, ']')) == NULL || he[1] != ':')
			return -1;
		colon = he + 1;
	} else {
		if ((colon = strrchr(bind, ':')) == NULL)
			return -1;
		he = colon;
		/* An IPv6 address needs its brackets: "::1:80" is ambiguous. */
		if (memchr(bind, ':', (size_t)(colon - bind)) != NULL)
			return -1;
	}
	if ((size_t)(he - hs) >= hostlen)
		return -1;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	if (str_to_u64(colon + 1, 65535, &v) != 0 ||
	    str_copy(port, portlen, colon + 1) != 0)
		return -1;
	return 0;
}

/* A non-blocking listening socket on sa, or -1 with errno set. */
static int
listen_on(const struct sockaddr *sa, socklen_t salen)
{
	int fd, on = 1, off = 0, e;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -1;
	/* A restart must not wait for TIME_WAIT of the last run. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0)
		goto fail;
	/* "[::]:port" and ":port" serve IPv4 too, as Go's listener does. */
	if (sa->sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off,
		    sizeof(off));
	if (bind(fd, sa, salen) != 0 || listen(fd, HTTPD_BACKLOG) != 0)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Every address: IPv6 dual-stack, else IPv4 where IPv6 is off. */
static int
listen_any(uint16_t port)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	int fd;

	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	s6.sin6_addr = in6addr_any;
	s6.sin6_port = htons(port);
	if ((fd = listen_on((struct sockaddr *)&s6, sizeof(s6))) >= 0)
		return fd;
	if (errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL)
		return -1;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_addr.s_addr = htonl(INADDR_ANY);
	s4.sin_port = htons(port);
	return listen_on((struct sockaddr *)&s4, sizeof(s4));
}

/* host resolved at start-up (before the loop), first that binds wins. */
static int
listen_host(const char *host, const char *port, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, r, e = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		str_line(err, errlen, "cannot resolve %s: %s", host,
		    gai_strerror(r));
		errno = EINVAL;
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		if ((fd = listen_on(ai->ai_addr, ai->ai_addrlen)) < 0)
			e = errno;
	freeaddrinfo(res);
	if (fd < 0) {
		str_line(err, errlen, "cannot listen on %s:%s: %s", host, port,
		    strerror(e));
		errno = e;
	}
	return fd;
}

static int
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

struct httpd *
httpd_open(const char *bind, httpd_handler_fn *handler, void *arg, char *err,
    size_t errlen)
{
	char host[256], port[8];
	struct httpd *h;
	size_t i;
	int fd;

	if (bind_split(bind, host, sizeof(host), port, sizeof(port)) != 0) {
		str_line(err, errlen,
		    "bad listen address \"%s\": want "
		    "host:port, :port or [v6]:port",
		    bind);
		errno = EINVAL;
		return NULL;
	}
	if (host[0] == '\0') {
		if ((fd = listen_any((uint16_t)strtoul(port, NULL, 10))) < 0)
			str_line(err, errlen, "cannot listen on :%s: %s", port,
			    strerror(errno));
	} else
		fd = listen_host(host, port, err, errlen);
	if (fd < 0)
		return NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		str_line(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	h->fd = fd;
	h->port = bound_port(fd);
	h->handler = handler;
	h->arg = arg;
	for (i = 0; i < HTTPD_CONN_MAX; i++)
		h->conns[i].fd = -1;
	return h;
}

int
httpd_port(const struct httpd *h)
{
	return h->port;
}

int
httpd_pollfds(struct httpd *h, struct pollfd *fds, size_t max)
{
	const struct httpd_conn *c;
	size_t i, n = 0;

	if (max == 0)
		return 0;
	fds[n].fd = h->fd;
	fds[n].events = h->paused ? 0 : POLLIN;
	fds[n++].revents = 0;
	for (i = 0; i < HTTPD_CONN_MAX && n < max; i++) {
		c = &h->conns[i];
		if (c->state == CONN_FREE)
			continue;
		fds[n].fd = c->fd;
		fds[n].events = c->state == CONN_WRITE ? POLLOUT : POLLIN;
		fds[n++].revents = 0;
	}
	return (int)n;
}

static struct httpd_conn *
conn_by_fd(struct httpd *h, int fd)
{
	size_t i;

	for (i = 0; i < HTTPD_CONN_MAX; i++)
		if (h->conns[i].state != CONN_FREE && h->conns[i].fd == fd)
			return &h->conns[i];
	return NULL;
}

void
httpd_dispatch(struct httpd *h, const struct pollfd *fds, size_t n,
    int64_t now_ms)
{
	struct httpd_conn *c;
	int listener = 0;
	size_t i;

	/* Connections first: an accept could reuse a descriptor number
	 * that fds[] still names for a connection closed just now. */
	for (i = 0; i < n; i++) {
		if (fds[i].revents == 0)
			continue;
		if (fds[i].fd == h->fd)
			listener = 1;
		else if ((c = conn_by_fd(h, fds[i].fd)) != NULL)
			conn_event(h, c, fds[i].revents, now_ms);
	}
	if (h->paused && now_ms >= h->pause_end)
		h->paused = 0;
	if (listener && !h->paused)
		accept_all(h, now_ms);
	for (i = 0; i < HTTPD_CONN_MAX; i++) {
		c = &h->conns[i];
		if (c->state != CONN_FREE && c->deadline <= now_ms)
			conn_expire(c);
	}
}

int64_t
httpd_next_deadline(const struct httpd *h)
{
	int64_t d = h->paused ? h->pause_end : INT64_MAX;
	size_t i;

	for (i = 0; i < HTTPD_CONN_MAX; i++)
		if (h->conns[i].state != CONN_FREE && h->conns[i].deadline < d)
			d = h->conns[i].deadline;
	return d;
}

int
httpd_nconns(const struct httpd *h)
{
	size_t i;
	int n = 0;

	for (i = 0; i < HTTPD_CONN_MAX; i++)
		if (h->conns[i].state != CONN_FREE)
			n++;
	return n;
}

void
httpd_close(struct httpd *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < HTTPD_CONN_MAX; i++)
		if (h->conns[i].state != CONN_FREE)
			conn_close(&h->conns[i]);
	close(h->fd);
	free(h);
}
