/* kubeconfig.c: API endpoint and credentials (kubeconfig or in-cluster) */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/str.h"
#include "kube.h"

/* Parsing state: the document and where errors are reported. */
struct kc {
	yaml_document_t doc;
	const char *path;
	char dir[PATH_MAX]; /* relative file names resolve here */
	int flags;
	char *err;
	size_t errlen;
};

static int kc_fail(struct kc *kc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
kc_fail(struct kc *kc, const char *fmt, ...)
{
	char msg[PROTO_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(kc->err, kc->errlen, "kubeconfig %s: %s", kc->path, msg);
	return -1;
}

/* ---- YAML access ---- */

static yaml_node_t *
map_get(struct kc *kc, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;
	yaml_node_t *k;
	size_t n = strlen(key);

	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		k = yaml_document_get_node(&kc->doc, p->key);
		if (k != NULL && k->type == YAML_SCALAR_NODE &&
		    k->data.scalar.length == n &&
		    memcmp(k->data.scalar.value, key, n) == 0)
			return yaml_document_get_node(&kc->doc, p->value);
	}
	return NULL;
}

static int
is_null(const yaml_node_t *n)
{
	const char *v;

	if (n == NULL)
		return 1;
	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	v = (const char *)n->data.scalar.value;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* A scalar value of key in map: 0 with *out (NULL when absent), -1. */
static int
get_scalar(struct kc *kc, yaml_node_t *map, const char *what, const char *key,
    const char **out)
{
	yaml_node_t *n = map_get(kc, map, key);

	*out = NULL;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SCALAR_NODE)
		return kc_fail(kc, "%s: %s is not a string", what, key);
	if (strlen((char *)n->data.scalar.value) != n->data.scalar.length)
		return kc_fail(kc, "%s: %s contains a NUL byte", what, key);
	*out = (const char *)n->data.scalar.value;
	return 0;
}

/* YAML 1.1 booleans as Go's yaml reads them; -1 when not a boolean. */
static int
yaml_bool(const char *v)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes",
		"YES", "on", "On", "ON", "y", "Y" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No",
		"NO", "off", "Off", "OFF", "n", "N" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(v, yes[i]) == 0)
			return 1;
		if (strcmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* The entry of list `list` named name: its `field` mapping. */
static int
find_entry(struct kc *kc, yaml_node_t *root, const char *list,
    const char *field, const char *name, yaml_node_t **out)
{
	yaml_node_t *seq = map_get(kc, root, list), *item, *found = NULL;
	yaml_node_item_t *it;
	const char *n;

	*out = NULL;
	if (!is_null(seq) && seq->type != YAML_SEQUENCE_NODE)
		return kc_fail(kc, "%s is not a list", list);
	for (it = seq ? seq->data.sequence.items.start : NULL;
	     it != NULL && it < seq->data.sequence.items.top; it++) {
		item = yaml_document_get_node(&kc->doc, *it);
		if (item == NULL || item->type != YAML_MAPPING_NODE)
			return kc_fail(kc, "%s: an entry is not a mapping",
			    list);
		if (get_scalar(kc, item, list, "name", &n) == -1)
			return -1;
		if (n == NULL || strcmp(n, name) != 0)
			continue;
		if (found != NULL)
			return kc_fail(kc, "%s: \"%s\" is defined twice", list,
			    name);
		found = item;
	}
	if (found == NULL)
		return kc_fail(kc, "%s \"%s\" not found", field, name);
	*out = map_get(kc, found, field);
	if (*out == NULL || (*out)->type != YAML_MAPPING_NODE)
		return kc_fail(kc, "%s \"%s\" has no %s mapping", field, name,
		    field);
	return 0;
}

/* A file named in the kubeconfig, relative to its directory. */
static int
kc_path(struct kc *kc, const char *name, char *out, size_t outlen)
{
	int n;

	if (name[0] == '/')
		n = snprintf(out, outlen, "%s", name);
	else
		n = snprintf(out, outlen, "%s/%s", kc->dir, name);
	if (n < 0 || (size_t)n >= outlen)
		return kc_fail(kc, "path too long: %s", name);
	return 0;
}

/* Inline base64 data, else a file, into *out (NULL when neither). */
static int
kc_blob(struct kc *kc, yaml_node_t *m, const char *what, const char *dkey,
    const char *fkey, int secret, struct buf **out)
{
	char path[PATH_MAX];
	const char *data, *file;

	*out = NULL;
	if (get_scalar(kc, m, what, dkey, &data) == -1 ||
	    get_scalar(kc, m, what, fkey, &file) == -1)
		return -1;
	if (data != NULL) {
		if (kube_base64_decode(data, strlen(data), secret, out) == -1)
			return kc_fail(kc, "%s: %s is not valid base64", what,
			    dkey);
	} else if (file != NULL) {
		if (kc_path(kc, file, path, sizeof(path)) == -1)
			return -1;
		if (kc->flags & KUBE_KC_NOFILES)
			return kc_fail(kc, "%s: %s: files not allowed here",
			    what, fkey);
		if (buf_read_file(path, KUBE_FILE_MAX, secret, out) == -1)
			return kc_fail(kc, "%s: %s %s: %s", what, fkey, path,
			    kube_file_strerror(errno, "larger than 1 MiB"));
	} else
		return 0;
	if ((*out)->len == 0 ||
	    memmem((*out)->data, (*out)->len, "-----BEGIN ", 11) == NULL) {
		buf_free(*out);
		*out = NULL;
		return kc_fail(kc, "%s: %s is not PEM", what,
		    data != NULL ? dkey : fkey);
	}
	return 0;
}

static int
path_chars(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    *p == '?' || *p == '#' || *p == '"' || *p == '\\')
			return 0;
	return 1;
}

/*
 * https://host[:port][/prefix] -> base URL and the host:port libcurl
 * connects to.  With tls-server-name the URL names that host (SNI and
 * the certificate check) and CONNECT_TO maps it to the real address.
 */
static int
kc_server(struct kc *kc, const char *url, const char *sni, struct kube_auth *a)
{
	char host[260], port[8] = "443", buf[KUBE_URL_MAX];
	const char *auth = url + 8, *end, *colon, *path;
	size_t hlen;
	uint64_t pn;
	int n, v6 = 0;

	if (strncmp(url, "https://", 8) != 0)
		return kc_fail(kc, "server %s: only https:// is allowed", url);
	end = auth + strcspn(auth, "/?#");
	path = end;
	if (*end == '?' || *end == '#' || memchr(auth, '@', end - auth))
		return kc_fail(kc,
		    "server %s: user info, query or fragment "
		    "not allowed",
		    url);
	if (*auth == '[') {
		v6 = 1;
		colon = memchr(auth, ']', (size_t)(end - auth));
		if (colon == NULL)
			return kc_fail(kc, "server %s: bad IPv6 address", url);
		hlen = (size_t)(colon + 1 - auth);
		colon = colon + 1 < end && colon[1] == ':' ? colon + 1 : NULL;
	} else {
		colon = memchr(auth, ':', (size_t)(end - auth));
		hlen = (size_t)((colon ? colon : end) - auth);
	}
	if (hlen >= sizeof(host) ||
	    !kube_host_valid(auth + v6, hlen - 2 * v6, v6))
		return kc_fail(kc, "server %s: bad host", url);
	memcpy(host, auth, hlen);
	host[hlen] = '\0';
	if (colon != NULL) {
		n = snprintf(port, sizeof(port), "%.*s", (int)(end - colon - 1),
		    colon + 1);
		if (n < 0 || (size_t)n >= sizeof(port) ||
		    str_to_u64(port, 65535, &pn) == -1 || pn == 0)
			return kc_fail(kc, "server %s: bad port", url);
	} else if (auth + hlen != end)
		return kc_fail(kc, "server %s: bad host", url);
	if (!path_chars(path))
		return kc_fail(kc, "server %s: bad path", url);
	hlen = strlen(path);
	while (hlen > 0 && path[hlen - 1] == '/')
		hlen--;
	if (sni != NULL && !kube_host_valid(sni, strlen(sni), 0))
		return kc_fail(kc, "tls-server-name %s: not a host name", sni);
	n = snprintf(buf, sizeof(buf), "https://%s:%s%.*s",
	    sni != NULL ? sni : host, port, (int)hlen, path);
	if (n < 0 || (size_t)n >= sizeof(buf) ||
	    (a->base_url = strdup(buf)) == NULL)
		return kc_fail(kc, "server %s: too long", url);
	if (sni == NULL)
		return 0;
	n = snprintf(buf, sizeof(buf), "%s:%s:%s:%s", sni, port, host, port);
	if (n < 0 || (size_t)n >= sizeof(buf) ||
	    (a->connect_to = strdup(buf)) == NULL)
		return kc_fail(kc, "tls-server-name: too long");
	return 0;
}

static int
kc_cluster(struct kc *kc, yaml_node_t *c, const char *name, struct kube_auth *a)
{
	const char *server, *insecure, *sni, *proxy;
	char what[300];
	int b;

	snprintf(what, sizeof(what), "cluster \"%s\"", name);
	if (get_scalar(kc, c, what, "insecure-skip-tls-verify", &insecure) ||
	    get_scalar(kc, c, what, "server", &server) ||
	    get_scalar(kc, c, what, "tls-server-name", &sni) ||
	    get_scalar(kc, c, what, "proxy-url", &proxy))
		return -1;
	if (insecure != NULL && (b = yaml_bool(insecure)) != 0)
		return kc_fail(kc,
		    "%s: insecure-skip-tls-verify %s: refused, "
		    "TLS verification cannot be turned off",
		    what, b == 1 ? "is set" : "is not a boolean");
	if (proxy != NULL)
		return kc_fail(kc, "%s: proxy-url is not supported", what);
	if (server == NULL || server[0] == '\0')
		return kc_fail(kc, "%s has no server", what);
	if (kc_server(kc, server, sni, a) == -1)
		return -1;
	/* No CA here: the system bundle, loaded by the transport. */
	return kc_blob(kc, c, what, "certificate-authority-data",
	    "certificate-authority", 0, &a->ca);
}

static int
kc_token(struct kc *kc, const char *what, const char *inline_tok,
    const char *file, struct kube_auth *a)
{
	char path[PATH_MAX], why[128], *slash;

	if (file != NULL) {
		/* tokenFile wins and is re-read while we run. */
		if (kc_path(kc, file, path, sizeof(path)) == -1)
			return -1;
		if (kc->flags & KUBE_KC_NOFILES)
			return kc_fail(kc,
			    "%s: tokenFile: files not allowed "
			    "here",
			    what);
		if (kube_token_read(path, &a->token, why, sizeof(why)) == -1)
			return kc_fail(kc, "%s: tokenFile %s: %s", what, path,
			    why);
		if ((a->token_path = strdup(path)) == NULL ||
		    (a->token_dir = strdup(path)) == NULL)
			return kc_fail(kc, "out of memory");
		slash = strrchr(a->token_dir, '/');
		if (slash == a->token_dir)
			slash[1] = '\0';
		else if (slash != NULL)
			*slash = '\0';
		else
			memcpy(a->token_dir, ".", 2);
		return 0;
	}
	if (inline_tok == NULL)
		return 0;
	if ((a->token = buf_new(0, strlen(inline_tok) + 1)) == NULL)
		return kc_fail(kc, "out of memory");
	buf_set_secret(a->token);
	if (buf_append(a->token, inline_tok, strlen(inline_tok) + 1) == -1)
		return kc_fail(kc, "out of memory");
	a->token->len--;
	if (kube_token_check(a->token, why, sizeof(why)) == -1)
		return kc_fail(kc, "%s: token: %s", what, why);
	return 0;
}

static int
kc_user(struct kc *kc, yaml_node_t *u, const char *name, struct kube_auth *a)
{
	static const struct {
		const char *key;
		const char *why;
	} refused[] = {
		{ "exec", "exec credential plugins are not supported" },
		{ "auth-provider", "auth-provider plugins are not supported" },
		{ "username", "basic authentication is not supported" },
		{ "password", "basic authentication is not supported" },
		{ "as", "impersonation is not supported" },
		{ "as-uid", "impersonation is not supported" },
		{ "as-groups", "impersonation is not supported" },
		{ "as-user-extra", "impersonation is not supported" },
	};
	const char *tok, *file;
	char what[300];
	size_t i;

	snprintf(what, sizeof(what), "user \"%s\"", name);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (!is_null(map_get(kc, u, refused[i].key)))
			return kc_fail(kc, "%s: %s (%s)", what, refused[i].why,
			    refused[i].key);
	if (get_scalar(kc, u, what, "token", &tok) == -1 ||
	    get_scalar(kc, u, what, "tokenFile", &file) == -1 ||
	    kc_token(kc, what, tok, file, a) == -1)
		return -1;
	if (kc_blob(kc, u, what, "client-certificate-data",
		"client-certificate", 0, &a->cert) == -1 ||
	    kc_blob(kc, u, what, "client-key-data", "client-key", 1, &a->key) ==
		-1)
		return -1;
	if (a->cert != NULL && a->key == NULL)
		return kc_fail(kc, "%s: client-certificate without client-key",
		    what);
	if (a->key != NULL && a->cert == NULL)
		return kc_fail(kc, "%s: client-key without client-certificate",
		    what);
	if (a->token == NULL && a->cert == NULL)
		return kc_fail(kc,
		    "%s has no token, tokenFile or client "
		    "certificate",
		    what);
	return 0;
}

static int
kc_load(struct kc *kc, yaml_node_t *root, struct kube_auth *a)
{
	yaml_node_t *ctx, *cluster, *user;
	const char *cur, *cname, *uname, *ns;
	char what[300];

	if (get_scalar(kc, root, "top level", "current-context", &cur) == -1)
		return -1;
	if (cur == NULL || cur[0] == '\0')
		return kc_fail(kc, "no current-context");
	if (find_entry(kc, root, "contexts", "context", cur, &ctx) == -1)
		return -1;
	snprintf(what, sizeof(what), "context \"%s\"", cur);
	if (get_scalar(kc, ctx, what, "cluster", &cname) == -1 ||
	    get_scalar(kc, ctx, what, "user", &uname) == -1 ||
	    get_scalar(kc, ctx, what, "namespace", &ns) == -1)
		return -1;
	if (cname == NULL || cname[0] == '\0')
		return kc_fail(kc, "%s has no cluster", what);
	if (uname == NULL || uname[0] == '\0')
		return kc_fail(kc, "%s has no user", what);
	if (find_entry(kc, root, "clusters", "cluster", cname, &cluster) ==
		-1 ||
	    kc_cluster(kc, cluster, cname, a) == -1)
		return -1;
	if (find_entry(kc, root, "users", "user", uname, &user) == -1 ||
	    kc_user(kc, user, uname, a) == -1)
		return -1;
	if (ns != NULL && ns[0] != '\0') {
		if (!kube_label_name_valid(ns))
			return kc_fail(kc,
			    "%s: namespace \"%s\" is not a DNS "
			    "label",
			    what, ns);
		if ((a->namespace = strdup(ns)) == NULL)
			return kc_fail(kc, "out of memory");
	}
	return 0;
}

/* Scalars may hold a token or key: wipe them before libyaml frees. */
static void
wipe_document(yaml_document_t *doc)
{
	yaml_node_t *n;

	for (n = doc->nodes.start; n != NULL && n < doc->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
			explicit_bzero(n->data.scalar.value,
			    n->data.scalar.length);
}

static void
wipe_parser(yaml_parser_t *p)
{
	if (p->buffer.start != NULL)
		explicit_bzero(p->buffer.start,
		    (size_t)(p->buffer.end - p->buffer.start));
	if (p->raw_buffer.start != NULL)
		explicit_bzero(p->raw_buffer.start,
		    (size_t)(p->raw_buffer.end - p->raw_buffer.start));
}

static void
kc_dir(struct kc *kc, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(kc->dir, sizeof(kc->dir), ".");
	else if (slash == path)
		snprintf(kc->dir, sizeof(kc->dir), "/");
	else
		snprintf(kc->dir, sizeof(kc->dir), "%.*s", (int)(slash - path),
		    path);
}

int
kube_kubeconfig_parse(const char *path, const char *data, size_t n, int flags,
    struct kube_auth *a, char *err, size_t errlen)
{
	struct kc kc;
	yaml_parser_t p;
	yaml_node_t *root;
	int r = -1;

	memset(a, 0, sizeof(*a));
	memset(&kc, 0, sizeof(kc));
	kc.path = path;
	kc.flags = flags;
	kc.err = err;
	kc.errlen = errlen;
	kc_dir(&kc, path);
	if (!yaml_parser_initialize(&p))
		return kc_fail(&kc, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)data, n);
	if (!yaml_parser_load(&p, &kc.doc)) {
		r = kc_fail(&kc, "line %zu: %s", p.problem_mark.line + 1,
		    p.problem ? p.problem : "invalid YAML");
		goto out_parser;
	}
	root = yaml_document_get_root_node(&kc.doc);
	if (root == NULL)
		r = kc_fail(&kc, "empty file");
	else if (root->type != YAML_MAPPING_NODE)
		r = kc_fail(&kc, "not a YAML mapping");
	else
		r = kc_load(&kc, root, a);
	wipe_document(&kc.doc);
	yaml_document_delete(&kc.doc);
	if (r == 0 && asprintf(&a->source, "kubeconfig %s", path) == -1) {
		a->source = NULL;
		r = kc_fail(&kc, "out of memory");
	}
out_parser:
	wipe_parser(&p);
	yaml_parser_delete(&p);
	if (r == -1)
		kube_auth_free(a);
	return r;
}

int
kube_kubeconfig_load(const char *path, struct kube_auth *a, char *err,
    size_t errlen)
{
	struct buf *b;
	int r;

	memset(a, 0, sizeof(*a));
	if (buf_read_file(path, KUBE_FILE_MAX, 1, &b) == -1) {
		snprintf(err, errlen, "kubeconfig %s: %s", path,
		    kube_file_strerror(errno, "larger than 1 MiB"));
		return -1;
	}
	r = kube_kubeconfig_parse(path, (const char *)b->data, b->len, 0, a,
	    err, errlen);
	buf_free(b);
	return r;
}
