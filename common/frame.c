/* frame.c: encode/decode supervisor-worker frames */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "frame.h"
#include "msg.h"

static const struct msg_desc *
desc_find(uint16_t type)
{
	const struct msg_desc *t;
	size_t lo = 0, hi, mid;

	t = msg_table(&hi);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (t[mid].type == type)
			return &t[mid];
		if (t[mid].type < type)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void
layout_bounds(const struct msg_layout *l, size_t *min, size_t *max)
{
	size_t i, smin, smax;

	*min = *max = 0;
	for (i = 0; i < l->nfields; i++) {
		const struct msg_field *f = &l->fields[i];

		switch (f->kind) {
		case MF_STR: /* u16 length, bytes, NUL */
			*min += 3;
			*max += 3 + f->size - 1;
			break;
		case MF_STRUCT:
			layout_bounds(f->sub, &smin, &smax);
			*min += smin;
			*max += smax;
			break;
		case MF_ARRAY:
			layout_bounds(f->sub, &smin, &smax);
			*min += 1;
			*max += 1 + (size_t)f->max * smax;
			break;
		default:
			*min += f->size;
			*max += f->size;
		}
	}
}

int
msg_info(uint16_t type, struct msg_info *out)
{
	const struct msg_desc *d;

	if ((d = desc_find(type)) == NULL)
		return FRAME_ERR_TYPE;
	out->type = d->type;
	out->name = d->name;
	out->dir = d->dir;
	out->worker = d->worker;
	layout_bounds(d->layout, &out->min, &out->max);
	return 0;
}

const char *
msg_name(uint16_t type)
{
	const struct msg_desc *d = desc_find(type);

	return d == NULL ? "unknown" : d->name;
}

const char *
frame_strerror(int err)
{
	static const char *const msgs[] = {
		"ok",
		"frame too short",
		"trailing bytes after payload",
		"unknown message type",
		"frame larger than FRAME_MAX",
		"header length does not match datagram",
		"string longer than its field",
		"string not terminated",
		"NUL inside string",
		"list longer than its maximum",
		"reserved header flags set",
		"payload size outside the type's bounds",
		"message type not allowed in this direction",
		"peer closed the socket",
		"socket receive failed",
		"descriptor missing, unexpected or truncated",
	};

	if (err > 0 || err < FRAME_ERR_MIN)
		return "unknown frame error";
	return msgs[-err];
}

int
frame_parse(const uint8_t *dgram, size_t n, struct frame *f)
{
	struct buf b;
	int r;

	if (n > FRAME_MAX)
		return FRAME_ERR_TOOBIG;
	if (n < FRAME_HDR_LEN)
		return FRAME_ERR_SHORT;
	buf_view(&b, dgram, n);
	if ((r = buf_get_u16(&b, &f->type)) != 0 ||
	    (r = buf_get_u16(&b, &f->flags)) != 0 ||
	    (r = buf_get_u32(&b, &f->len)) != 0 ||
	    (r = buf_get_u32(&b, &f->seq)) != 0)
		return r;
	if (f->flags != 0)
		return FRAME_ERR_FLAGS;
	if ((size_t)f->len != n - FRAME_HDR_LEN)
		return FRAME_ERR_LENGTH;
	f->payload = dgram + FRAME_HDR_LEN;
	return 0;
}

static int decode_layout(struct buf *, const struct msg_layout *, uint8_t *);

static int
decode_field(struct buf *b, const struct msg_field *f, uint8_t *base)
{
	uint8_t *p = base + f->off, count;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;
	size_t i;
	int r;

	switch (f->kind) {
	case MF_U8:
		return buf_get_u8(b, p);
	case MF_U16:
		if ((r = buf_get_u16(b, &v16)) == 0)
			memcpy(p, &v16, sizeof(v16));
		return r;
	case MF_U32:
		if ((r = buf_get_u32(b, &v32)) == 0)
			memcpy(p, &v32, sizeof(v32));
		return r;
	case MF_U64:
		if ((r = buf_get_u64(b, &v64)) == 0)
			memcpy(p, &v64, sizeof(v64));
		return r;
	case MF_STR:
		return buf_get_cstr(b, (char *)p, f->size);
	case MF_STRUCT:
		return decode_layout(b, f->sub, p);
	case MF_ARRAY:
		if ((r = buf_get_u8(b, &count)) != 0)
			return r;
		if (count > f->max)
			return FRAME_ERR_COUNT;
		base[f->count_off] = count;
		for (i = 0; i < count; i++)
			if ((r = decode_layout(b, f->sub, p + i * f->size)) !=
			    0)
				return r;
		return 0;
	}
	return FRAME_ERR_TYPE;
}

static int
decode_layout(struct buf *b, const struct msg_layout *l, uint8_t *out)
{
	size_t i;
	int r;

	for (i = 0; i < l->nfields; i++)
		if ((r = decode_field(b, &l->fields[i], out)) != 0)
			return r;
	return 0;
}

int
frame_decode(const struct frame *f, uint8_t dir, union msg_payload *out)
{
	const struct msg_desc *d;
	size_t min, max;
	struct buf b;
	int r;

	if ((d = desc_find(f->type)) == NULL)
		return FRAME_ERR_TYPE;
	if ((d->dir & dir) == 0)
		return FRAME_ERR_DIRECTION;
	layout_bounds(d->layout, &min, &max);
	if (f->len < min || f->len > max)
		return FRAME_ERR_SIZE;
	/* Zeroed first so a handler never sees stale bytes of a field
	 * the layout does not fill (array tails, padding). */
	memset(out, 0, sizeof(*out));
	buf_view(&b, f->payload, f->len);
	if ((r = decode_layout(&b, d->layout, (uint8_t *)out)) != 0)
		return r;
	if (buf_left(&b) != 0)
		return FRAME_ERR_TRAILING;
	return 0;
}

static int
encode_layout(struct buf *, const struct msg_layout *, const uint8_t *);

static int
encode_field(struct buf *b, const struct msg_field *f, const uint8_t *base)
{
	const uint8_t *p = base + f->off;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;
	size_t i, count;

	switch (f->kind) {
	case MF_U8:
		return buf_put_u8(b, *p);
	case MF_U16:
		memcpy(&v16, p, sizeof(v16));
		return buf_put_u16(b, v16);
	case MF_U32:
		memcpy(&v32, p, sizeof(v32));
		return buf_put_u32(b, v32);
	case MF_U64:
		memcpy(&v64, p, sizeof(v64));
		return buf_put_u64(b, v64);
	case MF_STR:
		/* A field must hold its own terminator. */
		if (memchr(p, '\0', f->size) == NULL) {
			errno = ERANGE;
			return -1;
		}
		return buf_put_cstr(b, (const char *)p);
	case MF_STRUCT:
		return encode_layout(b, f->sub, p);
	case MF_ARRAY:
		count = base[f->count_off];
		if (count > f->max) {
			errno = ERANGE;
			return -1;
		}
		if (buf_put_u8(b, count) != 0)
			return -1;
		for (i = 0; i < count; i++)
			if (encode_layout(b, f->sub, p + i * f->size) != 0)
				return -1;
		return 0;
	}
	errno = EINVAL;
	return -1;
}

static int
encode_layout(struct buf *b, const struct msg_layout *l, const uint8_t *in)
{
	size_t i;

	for (i = 0; i < l->nfields; i++)
		if (encode_field(b, &l->fields[i], in) != 0)
			return -1;
	return 0;
}

int
frame_encode(uint16_t type, uint32_t seq, const void *payload, uint8_t *out,
    size_t *n)
{
	const struct msg_desc *d;
	struct buf b;

	if ((d = desc_find(type)) == NULL) {
		errno = EINVAL;
		return -1;
	}
	memset(&b, 0, sizeof(b));
	b.data = out;
	b.cap = b.max = FRAME_MAX;
	/* Header first with a zero length, patched once the size is known. */
	if (buf_put_u16(&b, type) != 0 || buf_put_u16(&b, 0) != 0 ||
	    buf_put_u32(&b, 0) != 0 || buf_put_u32(&b, seq) != 0 ||
	    encode_layout(&b, d->layout, payload) != 0)
		return -1;
	out[4] = (uint8_t)((b.len - FRAME_HDR_LEN) >> 24);
	out[5] = (uint8_t)((b.len - FRAME_HDR_LEN) >> 16);
	out[6] = (uint8_t)((b.len - FRAME_HDR_LEN) >> 8);
	out[7] = (uint8_t)(b.len - FRAME_HDR_LEN);
	*n = b.len;
	return 0;
}

int
frame_send(int fd, uint16_t type, uint32_t seq, const void *payload)
{
	uint8_t *out;
	size_t n;
	ssize_t w;
	int r = -1;

	/* Heap, not stack: 64 KiB frames on worker stacks add up. */
	if ((out = malloc(FRAME_MAX)) == NULL)
		return -1;
	if (frame_encode(type, seq, payload, out, &n) != 0)
		goto out_free;
	do {
		w = send(fd, out, n, MSG_NOSIGNAL);
	} while (w == -1 && errno == EINTR);
	if (w == (ssize_t)n)
		r = 0;
	else if (w >= 0)
		errno = EMSGSIZE;
out_free:
	free(out);
	return r;
}

int
frame_recv(int fd, uint8_t *buf, struct frame *f)
{
	ssize_t n;

	/* MSG_TRUNC makes recv report the real datagram size, so an
	 * oversized frame is detected, not silently cut. */
	do {
		n = recv(fd, buf, FRAME_MAX, MSG_TRUNC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return FRAME_ERR_IO;
	if (n == 0)
		return FRAME_ERR_EOF;
	if ((size_t)n > FRAME_MAX)
		return FRAME_ERR_TOOBIG;
	return frame_parse(buf, (size_t)n, f);
}

int
frame_socketpair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}
