/* buf.c: byte buffers with a maximum size fixed at creation */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "frame.h"

struct buf *
buf_new(size_t init, size_t max)
{
	struct buf *b;

	if (init > max) {
		errno = EINVAL;
		return NULL;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	if (init > 0 && (b->data = malloc(init)) == NULL) {
		free(b);
		return NULL;
	}
	b->cap = init;
	b->max = max;
	b->owned = 1;
	return b;
}

void
buf_view(struct buf *b, const void *p, size_t n)
{
	memset(b, 0, sizeof(*b));
	/* The view is never written through: appends fail on max == 0. */
	b->data = (uint8_t *)(uintptr_t)p;
	b->len = n;
	b->cap = n;
}

void
buf_set_secret(struct buf *b)
{
	b->secret = 1;
}

void
buf_reset(struct buf *b)
{
	if (b->secret && b->data != NULL)
		explicit_bzero(b->data, b->cap);
	b->len = 0;
	b->off = 0;
}

void
buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	if (b->owned) {
		if (b->secret && b->data != NULL)
			explicit_bzero(b->data, b->cap);
		free(b->data);
		free(b);
	}
}

size_t
buf_left(const struct buf *b)
{
	return b->len - b->off;
}

/* Grow to hold need bytes.  A secret is copied, never realloc'd, so no
 * stale copy is left behind in freed memory. */
static int
buf_reserve(struct buf *b, size_t need)
{
	size_t ncap;
	uint8_t *n;

	if (need <= b->cap)
		return 0;
	if (!b->owned || need > b->max) {
		errno = ERANGE;
		return -1;
	}
	ncap = b->cap < 64 ? 64 : b->cap;
	while (ncap < need)
		ncap = ncap > b->max / 2 ? b->max : ncap * 2;
	if (ncap > b->max)
		ncap = b->max;
	if ((n = malloc(ncap)) == NULL)
		return -1;
	if (b->len > 0)
		memcpy(n, b->data, b->len);
	if (b->data != NULL) {
		if (b->secret)
			explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = n;
	b->cap = ncap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n > SIZE_MAX - b->len) {
		errno = ERANGE;
		return -1;
	}
	if (buf_reserve(b, b->len + n) != 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_append(b, &v, 1);
}

int
buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t p[2] = { v >> 8, v };

	return buf_append(b, p, sizeof(p));
}

int
buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t p[4] = { v >> 24, v >> 16, v >> 8, v };

	return buf_append(b, p, sizeof(p));
}

int
buf_put_u64(struct buf *b, uint64_t v)
{
	if (buf_put_u32(b, v >> 32) != 0)
		return -1;
	return buf_put_u32(b, (uint32_t)v);
}

int
buf_put_cstr(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	if (n > UINT16_MAX) {
		errno = ERANGE;
		return -1;
	}
	if (buf_put_u16(b, n) != 0 || buf_append(b, s, n) != 0)
		return -1;
	return buf_put_u8(b, 0);
}

static int
buf_take(struct buf *b, void *out, size_t n)
{
	if (buf_left(b) < n)
		return FRAME_ERR_SHORT;
	memcpy(out, b->data + b->off, n);
	b->off += n;
	return 0;
}

int
buf_get_u8(struct buf *b, uint8_t *v)
{
	return buf_take(b, v, 1);
}

int
buf_get_u16(struct buf *b, uint16_t *v)
{
	uint8_t p[2];
	int r;

	if ((r = buf_take(b, p, sizeof(p))) != 0)
		return r;
	*v = (uint16_t)(p[0] << 8 | p[1]);
	return 0;
}

int
buf_get_u32(struct buf *b, uint32_t *v)
{
	uint8_t p[4];
	int r;

	if ((r = buf_take(b, p, sizeof(p))) != 0)
		return r;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
	    p[3];
	return 0;
}

int
buf_get_u64(struct buf *b, uint64_t *v)
{
	uint32_t hi, lo;
	int r;

	if ((r = buf_get_u32(b, &hi)) != 0 || (r = buf_get_u32(b, &lo)) != 0)
		return r;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

int
buf_get_cstr(struct buf *b, char *out, size_t outlen)
{
	uint16_t n;
	int r;

	if ((r = buf_get_u16(b, &n)) != 0)
		return r;
	/* Length checked before any byte is copied. */
	if ((size_t)n >= outlen)
		return FRAME_ERR_STRLEN;
	if (buf_left(b) < (size_t)n + 1)
		return FRAME_ERR_SHORT;
	if (memchr(b->data + b->off, '\0', n) != NULL)
		return FRAME_ERR_NUL;
	if (b->data[b->off + n] != '\0')
		return FRAME_ERR_UNTERMINATED;
	memcpy(out, b->data + b->off, n);
	out[n] = '\0';
	b->off += (size_t)n + 1;
	return 0;
}

int
buf_read_file(const char *path, size_t max, int secret, struct buf **out)
{
	struct buf *b;
	struct stat st;
	uint8_t chunk[4096];
	ssize_t n;
	int fd, saved;

	*out = NULL;
	/* O_NONBLOCK: a FIFO planted where a token belongs must not hang
	 * the loop; only regular files are read. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto out_close;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out_close;
	}
	if ((b = buf_new(0, max + 1)) == NULL)
		goto out_close;
	if (secret)
		buf_set_secret(b);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto out_free;
		if (n == 0)
			break;
		if (buf_append(b, chunk, (size_t)n) == -1) {
			errno = EFBIG;
			goto out_free;
		}
	}
	explicit_bzero(chunk, sizeof(chunk));
	/* NUL-terminated for the string users; len excludes it. */
	if (buf_append(b, "", 1) == -1) {
		errno = EFBIG;
		goto out_free;
	}
	b->len--;
	close(fd);
	*out = b;
	return 0;
out_free:
	saved = errno;
	explicit_bzero(chunk, sizeof(chunk));
	buf_free(b);
	errno = saved;
out_close:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}
