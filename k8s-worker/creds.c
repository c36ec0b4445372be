/* creds.c: credential files: token, in-cluster service account, base64 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/str.h"
#include "kube.h"

const char *
kube_file_strerror(int err, const char *toobig)
{
	if (err == EFBIG)
		return toobig;
	if (err == EINVAL)
		return "not a regular file";
	return strerror(err);
}

/* Trim and check a token in place: 0 or -1 with a reason. */
int
kube_token_check(struct buf *b, char *err, size_t errlen)
{
	size_t i;

	str_trim((char *)b->data);
	b->len = strlen((char *)b->data);
	if (b->len == 0) {
		snprintf(err, errlen, "empty");
		return -1;
	}
	/* It goes into a header line: no spaces or control bytes. */
	for (i = 0; i < b->len; i++)
		if (b->data[i] <= 0x20 || b->data[i] >= 0x7f) {
			snprintf(err, errlen,
			    "not a bearer token (byte %zu "
			    "is not printable ASCII)",
			    i);
			return -1;
		}
	return 0;
}

int
kube_token_read(const char *path, struct buf **out, char *err, size_t errlen)
{
	struct buf *b;

	*out = NULL;
	if (buf_read_file(path, KUBE_TOKEN_MAX, 1, &b) == -1) {
		snprintf(err, errlen, "%s",
		    kube_file_strerror(errno, "larger than 64 KiB"));
		return -1;
	}
	if (kube_token_check(b, err, errlen) == -1) {
		buf_free(b);
		return -1;
	}
	*out = b;
	return 0;
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
kube_base64_decode(const char *s, size_t n, int secret, struct buf **out)
{
	uint32_t acc = 0;
	size_t i, nq = 0, pad = 0;
	struct buf *b;
	uint8_t byte;
	int v;

	*out = NULL;
	if ((b = buf_new(0, n / 4 * 3 + 4)) == NULL)
		return -1;
	if (secret)
		buf_set_secret(b);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=' && nq % 4 >= 2) {
			pad++;
			nq++;
			continue;
		}
		if (pad > 0 || (v = b64val(c)) < 0)
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		if (++nq % 4 == 0) {
			uint8_t t[3] = { acc >> 16, acc >> 8, acc };

			if (buf_append(b, t, 3) == -1)
				goto bad;
			acc = 0;
		}
	}
	if (nq % 4 != 0 || pad > 2)
		goto bad;
	if (pad > 0) {
		/* The padded quantum: its data bits are in acc. */
		acc <<= 6 * pad;
		byte = (uint8_t)(acc >> 16);
		if (buf_append(b, &byte, 1) == -1)
			goto bad;
		byte = (uint8_t)(acc >> 8);
		if (pad == 1 && buf_append(b, &byte, 1) == -1)
			goto bad;
	}
	if (buf_append(b, "", 1) == -1)
		goto bad;
	b->len--;
	*out = b;
	return 0;
bad:
	buf_free(b);
	errno = EINVAL;
	return -1;
}

static int
sa_file(const char *dir, const char *name, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static int
incluster_url(const char *host, const char *port, struct kube_auth *a,
    char *err, size_t errlen)
{
	int v6 = strchr(host, ':') != NULL;
	uint64_t pn;

	if (!kube_host_valid(host, strlen(host), v6)) {
		snprintf(err, errlen,
		    "in-cluster: KUBERNETES_SERVICE_HOST "
		    "\"%.64s\" is not a host",
		    host);
		return -1;
	}
	if (str_to_u64(port, 65535, &pn) == -1 || pn == 0) {
		snprintf(err, errlen,
		    "in-cluster: KUBERNETES_SERVICE_PORT "
		    "\"%.16s\" is not a port",
		    port);
		return -1;
	}
	/* Go's JoinHostPort: an IPv6 literal goes in brackets. */
	if (asprintf(&a->base_url, v6 ? "https://[%s]:%s" : "https://%s:%s",
		host, port) == -1) {
		a->base_url = NULL;
		snprintf(err, errlen, "in-cluster: out of memory");
		return -1;
	}
	return 0;
}

static void
incluster_namespace(const char *sa_dir, struct kube_auth *a)
{
	char path[PATH_MAX];
	struct buf *b;

	/* Optional: only a default for the Lease namespace. */
	if (sa_file(sa_dir, "namespace", path, sizeof(path)) == -1 ||
	    buf_read_file(path, 256, 0, &b) == -1)
		return;
	str_trim((char *)b->data);
	if (kube_label_name_valid((char *)b->data))
		a->namespace = strdup((char *)b->data);
	buf_free(b);
}

int
kube_incluster_load(const char *host, const char *port, const char *sa_dir,
    struct kube_auth *a, char *err, size_t errlen)
{
	char path[PATH_MAX], why[128];

	memset(a, 0, sizeof(*a));
	if (incluster_url(host, port, a, err, errlen) == -1)
		goto out_free;
	if (sa_file(sa_dir, "token", path, sizeof(path)) == -1 ||
	    kube_token_read(path, &a->token, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "service-account token %s: %s", path,
		    why);
		goto out_free;
	}
	if ((a->token_path = strdup(path)) == NULL ||
	    (a->token_dir = strdup(sa_dir)) == NULL)
		goto out_nomem;
	if (sa_file(sa_dir, "ca.crt", path, sizeof(path)) == -1 ||
	    buf_read_file(path, KUBE_FILE_MAX, 0, &a->ca) == -1) {
		snprintf(err, errlen, "service-account CA %s: %s", path,
		    kube_file_strerror(errno, "larger than 1 MiB"));
		goto out_free;
	}
	if (memmem(a->ca->data, a->ca->len, "-----BEGIN ", 11) == NULL) {
		snprintf(err, errlen, "service-account CA %s: not PEM", path);
		goto out_free;
	}
	incluster_namespace(sa_dir, a);
	if (asprintf(&a->source, "service account %s", sa_dir) == -1) {
		a->source = NULL;
		goto out_nomem;
	}
	return 0;
out_nomem:
	snprintf(err, errlen, "in-cluster: out of memory");
out_free:
	kube_auth_free(a);
	return -1;
}

void
kube_auth_free(struct kube_auth *a)
{
	free(a->base_url);
	free(a->connect_to);
	buf_free(a->ca);
	buf_free(a->cert);
	buf_free(a->key);
	buf_free(a->token);
	free(a->token_path);
	free(a->token_dir);
	free(a->namespace);
	free(a->source);
	memset(a, 0, sizeof(*a));
}

void
kube_token_refresh(struct kube_ctx *c, int force)
{
	struct buf *nb;
	char why[128];
	int64_t now = clock_ms();

	if (c->auth.token_path == NULL || (!force && now < c->token_due))
		return;
	c->token_due = now + c->token_every_ms;
	if (kube_token_read(c->auth.token_path, &nb, why, sizeof(why)) == -1) {
		/* client-go keeps the last good token; so do we. */
		if (!c->token_bad)
			log_warn("token re-read failed, keeping the last "
				 "good one",
			    "file", c->auth.token_path, "err", why, NULL);
		c->token_bad = 1;
		return;
	}
	if (c->token_bad)
		log_info("token readable again", "file", c->auth.token_path,
		    NULL);
	c->token_bad = 0;
	if (c->auth.token != NULL && nb->len == c->auth.token->len &&
	    memcmp(nb->data, c->auth.token->data, nb->len) == 0) {
		buf_free(nb);
		return;
	}
	buf_free(c->auth.token);
	c->auth.token = nb;
	log_info("token changed, new requests use it", "file",
	    c->auth.token_path, NULL);
}

/*
 * The file alone, unless it sits in a kubelet-style projected volume
 * (a "..data" link beside it): the kubelet rotates the token by
 * swapping that link to a new directory, which a grant on the file
 * (resolved once, at grant time) would not follow.
 */
const char *
kube_token_grant(const struct kube_auth *a, char *buf, size_t len)
{
	struct stat st;
	int n;

	if (a->token_path == NULL)
		return NULL;
	n = snprintf(buf, len, "%s/..data", a->token_dir);
	if (n > 0 && (size_t)n < len && lstat(buf, &st) == 0 &&
	    S_ISLNK(st.st_mode))
		return a->token_dir;
	return a->token_path;
}
