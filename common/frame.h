/* frame.h: encode/decode supervisor-worker frames */
#ifndef FRAME_H
#define FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Decoder errors: negative, first failure wins. */
enum frame_err {
	FRAME_OK = 0,
	FRAME_ERR_SHORT = -1, /* payload or header ended early */
	FRAME_ERR_TRAILING = -2, /* bytes left after the layout */
	FRAME_ERR_TYPE = -3, /* unknown message type */
	FRAME_ERR_TOOBIG = -4, /* datagram larger than FRAME_MAX */
	FRAME_ERR_LENGTH = -5, /* header length != datagram */
	FRAME_ERR_STRLEN = -6, /* string longer than its field */
	FRAME_ERR_UNTERMINATED = -7, /* string without its NUL */
	FRAME_ERR_NUL = -8, /* NUL inside a string */
	FRAME_ERR_COUNT = -9, /* list longer than its maximum */
	FRAME_ERR_FLAGS = -10, /* reserved header bits set */
	FRAME_ERR_SIZE = -11, /* outside the type's min/max size */
	FRAME_ERR_DIRECTION = -12, /* type not allowed this way */
	FRAME_ERR_EOF = -13, /* peer closed */
	FRAME_ERR_IO = -14, /* recv failed, see errno */
	FRAME_ERR_FD = -15, /* descriptor missing, unexpected, truncated */
	FRAME_ERR_MIN = -15,
};

/* Which way a type may travel. */
#define MSG_TO_WORKER 0x1
#define MSG_TO_SUP 0x2

struct frame {
	uint16_t type;
	uint16_t flags;
	uint32_t len;
	uint32_t seq;
	const uint8_t *payload; /* points into the caller's datagram */
};

struct msg_info {
	uint16_t type;
	const char *name;
	uint8_t dir; /* MSG_TO_* */
	uint8_t worker; /* enum proto_worker, 0 = every worker */
	size_t min; /* encoded payload bounds */
	size_t max;
};

/* Describe a type into *out: 0, or FRAME_ERR_TYPE when unknown. */
int msg_info(uint16_t type, struct msg_info *out);
/* "MSG_HC_ASSIGN_REQ", or "unknown" */
const char *msg_name(uint16_t type);
const char *frame_strerror(int err);

/* Check a datagram's header: 0 or a negative frame_err.  f->payload
 * points into dgram. */
int frame_parse(const uint8_t *dgram, size_t n, struct frame *f);
/* Check type, size bounds and direction (dir is how it travelled),
 * then decode the payload per its layout into out. */
int frame_decode(const struct frame *f, uint8_t dir, union msg_payload *out);
/* Encode type + payload (a struct of the type's layout) into out,
 * which holds FRAME_MAX bytes; *n gets the datagram length.  0 or -1
 * (ERANGE when a field does not fit, EINVAL for an unknown type). */
int frame_encode(uint16_t type, uint32_t seq, const void *payload, uint8_t *out,
    size_t *n);

/* Send one frame: 0 or -1 with errno.  Never blocks forever: the
 * socket is expected to be non-blocking or the peer to be reading. */
int frame_send(int fd, uint16_t type, uint32_t seq, const void *payload);
/* Receive one datagram into buf[FRAME_MAX] and parse its header.
 * Returns 0, or a negative frame_err (FRAME_ERR_EOF, _IO with errno,
 * or a header error).  EAGAIN is returned as FRAME_ERR_IO. */
int frame_recv(int fd, uint8_t *buf, struct frame *f);

/* socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC): 0 or -1. */
int frame_socketpair(int sv[2]);

#endif /* FRAME_H */
