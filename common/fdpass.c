/* fdpass.c: a frame with one descriptor attached (SCM_RIGHTS) */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdpass.h"

int
fdpass_send(int sock, uint16_t type, uint32_t seq, const void *payload, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr mh;
	struct cmsghdr *c;
	struct iovec iov;
	uint8_t *out;
	ssize_t w;
	size_t n;
	int r = -1;

	if ((out = malloc(FRAME_MAX)) == NULL)
		return -1;
	if (frame_encode(type, seq, payload, out, &n) != 0)
		goto out_free;
	memset(&mh, 0, sizeof(mh));
	memset(&ctl, 0, sizeof(ctl));
	iov.iov_base = out;
	iov.iov_len = n;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd != -1) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		w = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (w == -1 && errno == EINTR);
	if (w == (ssize_t)n)
		r = 0;
	else if (w >= 0)
		errno = EMSGSIZE;
out_free:
	free(out);
	return r;
}

/* Close every descriptor in the control data; returns how many. */
static int
close_passed(struct msghdr *mh)
{
	struct cmsghdr *c;
	size_t i, n;
	int fd, count = 0;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
			    sizeof(int));
			close(fd);
			count++;
		}
	}
	return count;
}

int
fdpass_recv(int sock, uint8_t *buf, struct frame *f, int *fd)
{
	union {
		struct cmsghdr h;
		/* Room for two, so a second descriptor is seen (and
		 * closed) instead of being dropped by the kernel. */
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct msghdr mh;
	struct cmsghdr *c;
	struct iovec iov;
	ssize_t n;

	*fd = -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = FRAME_MAX;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	do {
		n = recvmsg(sock, &mh, MSG_TRUNC | MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return FRAME_ERR_IO;
	c = CMSG_FIRSTHDR(&mh);
	if ((mh.msg_flags & MSG_CTRUNC) ||
	    (c != NULL &&
		(c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len != CMSG_LEN(sizeof(int)) ||
		    CMSG_NXTHDR(&mh, c) != NULL))) {
		close_passed(&mh);
		return FRAME_ERR_FD;
	}
	if (c != NULL)
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	if (n == 0 || (size_t)n > FRAME_MAX) {
		if (*fd != -1)
			close(*fd);
		*fd = -1;
		return n == 0 ? FRAME_ERR_EOF : FRAME_ERR_TOOBIG;
	}
	return frame_parse(buf, (size_t)n, f);
}
