/* buf.h: byte buffers with a maximum size fixed at creation */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>
#include <stdint.h>

/*
 * A buffer never grows past max: an append that would fails with
 * ERANGE, so a hostile peer cannot make us allocate without bound.
 * Reads consume from off; a read past len fails with EBADMSG.
 */
struct buf {
	uint8_t *data;
	size_t len; /* bytes written */
	size_t off; /* read position */
	size_t cap; /* bytes allocated */
	size_t max; /* hard limit on cap */
	int owned; /* data is ours to free */
	int secret; /* wipe before free or regrow */
};

/* Allocate a buffer of init bytes growing up to max; NULL on ENOMEM. */
struct buf *buf_new(size_t init, size_t max);
/* Read-only view over caller memory; never freed by buf_free. */
void buf_view(struct buf *, const void *p, size_t n);
/* Mark as holding a secret: wiped with explicit_bzero on free/regrow. */
void buf_set_secret(struct buf *);
void buf_free(struct buf *);
/* Forget contents (wiping a secret), keep the allocation. */
void buf_reset(struct buf *);
size_t buf_left(const struct buf *);

/* Appends: 0, or -1 with errno ERANGE (past max) or ENOMEM. */
int buf_append(struct buf *, const void *, size_t);
int buf_put_u8(struct buf *, uint8_t);
int buf_put_u16(struct buf *, uint16_t);
int buf_put_u32(struct buf *, uint32_t);
int buf_put_u64(struct buf *, uint64_t);
/* NUL-terminated C string as used by the frame codec: u16 len, bytes, 0. */
int buf_put_cstr(struct buf *, const char *);

/* Reads: 0, or a negative enum frame_err (see frame.h). */
int buf_get_u8(struct buf *, uint8_t *);
int buf_get_u16(struct buf *, uint16_t *);
int buf_get_u32(struct buf *, uint32_t *);
int buf_get_u64(struct buf *, uint64_t *);
/* Copy a framed string into out[outlen]; rejects NUL inside, a missing
 * terminator and anything that does not fit. */
int buf_get_cstr(struct buf *, char *out, size_t outlen);

/* A whole regular file (a FIFO or device is refused without blocking)
 * into a new buffer of at most max bytes, NUL-terminated after len and
 * marked secret when asked: the one way workers load credentials and
 * CAs.  0, or -1 with errno (EFBIG: larger than max; EINVAL: not a
 * regular file). */
int buf_read_file(const char *path, size_t max, int secret, struct buf **out);

#endif /* BUF_H */
