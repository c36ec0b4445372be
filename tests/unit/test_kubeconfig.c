/* test_kubeconfig.c: kubeconfig and in-cluster loading, every form and error */
#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "k8s-worker/kube.h"

#define PEM "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
#define KEY \
	"-----BEGIN EC PRIVATE KEY-----\nMHcfake\n-----END EC PRIVATE " \
	"KEY-----\n"

static char dir[64];
static char kcpath[PATH_MAX];

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 32)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/test_kubeconfig.XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	snprintf(kcpath, sizeof(kcpath), "%s/kubeconfig", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void
put(const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static char *
b64(const char *s)
{
	static const char t[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), i, o = 0;
	char *out = malloc(n / 3 * 4 + 5);
	uint32_t v;

	assert_non_null(out);
	for (i = 0; i < n; i += 3) {
		v = (uint32_t)(unsigned char)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* A kubeconfig: cluster body and user body are YAML flow mappings. */
static int
load(const char *cluster, const char *user, struct kube_auth *a, char *err,
    size_t errlen)
{
	char text[8192];

	snprintf(text, sizeof(text),
	    "apiVersion: v1\nkind: Config\n"
	    "current-context: prod\n"
	    "contexts:\n- name: prod\n  context: {cluster: c1, user: u1, "
	    "namespace: ops}\n"
	    "clusters:\n- name: c1\n  cluster: %s\n"
	    "users:\n- name: u1\n  user: %s\n",
	    cluster, user);
	put("kubeconfig", text);
	return kube_kubeconfig_load(kcpath, a, err, errlen);
}

static void
expect_error(const char *cluster, const char *user, const char *needle)
{
	struct kube_auth a;
	char err[PROTO_TEXT_MAX], prefix[PATH_MAX + 16];

	err[0] = '\0';
	assert_int_equal(load(cluster, user, &a, err, sizeof(err)), -1);
	snprintf(prefix, sizeof(prefix), "kubeconfig %s: ", kcpath);
	if (strncmp(err, prefix, strlen(prefix)) != 0 ||
	    strstr(err, needle) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	assert_null(strchr(err, '\n'));
	assert_null(a.base_url);
	assert_null(a.token);
}

static const char *
good_cluster(void)
{
	static char buf[512];
	char *d = b64(PEM);

	snprintf(buf, sizeof(buf),
	    "{server: \"https://203.0.113.10:6443\", "
	    "certificate-authority-data: %s}",
	    d);
	free(d);
	return buf;
}

static void
test_token_and_ca_data(void **state)
{
	struct kube_auth a;
	char err[PROTO_TEXT_MAX], src[PATH_MAX + 16];

	(void)state;
	assert_int_equal(load(good_cluster(), "{token: abc.def}", &a, err,
			     sizeof(err)),
	    0);
	assert_string_equal(a.base_url, "https://203.0.113.10:6443");
	assert_null(a.connect_to);
	assert_string_equal((char *)a.token->data, "abc.def");
	assert_int_equal(a.token->len, 7);
	assert_true(a.token->secret);
	assert_null(a.token_path);
	assert_int_equal(a.ca->len, strlen(PEM));
	assert_memory_equal(a.ca->data, PEM, strlen(PEM));
	assert_string_equal(a.namespace, "ops");
	snprintf(src, sizeof(src), "kubeconfig %s", kcpath);
	assert_string_equal(a.source, src);
	kube_auth_free(&a);
}

static void
test_server_forms(void **state)
{
	static const struct {
		const char *server, *base;
	} ok[] = {
		{ "https://k.example.com", "https://k.example.com:443" },
		{ "https://k.example.com:8443/", "https://k.example.com:8443" },
		{ "https://10.0.0.1:6443/proxy/cluster-a/",
		    "https://10.0.0.1:6443/proxy/cluster-a" },
		{ "https://[fd00:10:96::1]:443",
		    "https://[fd00:10:96::1]:443" },
		{ "https://[::1]", "https://[::1]:443" },
	};
	static const char *const bad[] = { "http://10.0.0.1:6443",
		"https://user:pw@h:6443", "https://h:6443/?x=1", "https://h:0",
		"https://h:65536", "https://h:x", "https://[::1", "https://h h",
		"https://h:6443/a b", "", "ftp://h" };
	struct kube_auth a;
	char err[PROTO_TEXT_MAX], c[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(c, sizeof(c),
		    "{server: \"%s\", "
		    "certificate-authority-data: %s}",
		    ok[i].server, "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==");
		assert_int_equal(load(c, "{token: t}", &a, err, sizeof(err)),
		    0);
		assert_string_equal(a.base_url, ok[i].base);
		kube_auth_free(&a);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(c, sizeof(c), "{server: \"%s\"}", bad[i]);
		expect_error(c, "{token: t}",
		    bad[i][0] ? "server" : "no server");
	}
}

static void
test_ca_file(void **state)
{
	struct kube_auth a;
	char err[PROTO_TEXT_MAX], c[PATH_MAX + 128];

	(void)state;
	put("ca.pem", PEM);
	/* Relative to the kubeconfig's directory. */
	assert_int_equal(load("{server: \"https://h:6443\", "
			      "certificate-authority: ca.pem}",
			     "{token: t}", &a, err, sizeof(err)),
	    0);
	assert_int_equal(a.ca->len, strlen(PEM));
	kube_auth_free(&a);
	snprintf(c, sizeof(c),
	    "{server: \"https://h:6443\", "
	    "certificate-authority: \"%s/ca.pem\"}",
	    dir);
	assert_int_equal(load(c, "{token: t}", &a, err, sizeof(err)), 0);
	kube_auth_free(&a);
	/* Data wins over a file, even a missing one. */
	assert_int_equal(load("{server: \"https://h:6443\", "
			      "certificate-authority: nope.pem, "
			      "certificate-authority-data: "
			      "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==}",
			     "{token: t}", &a, err, sizeof(err)),
	    0);
	kube_auth_free(&a);
	/* No CA at all: the system bundle, loaded by the transport. */
	assert_int_equal(load("{server: \"https://h:6443\"}", "{token: t}", &a,
			     err, sizeof(err)),
	    0);
	assert_null(a.ca);
	kube_auth_free(&a);
	expect_error("{server: \"https://h:6443\", certificate-authority: "
		     "nope.pem}",
	    "{token: t}", "nope.pem: No such file");
	put("notpem", "hello");
	expect_error("{server: \"https://h:6443\", certificate-authority: "
		     "notpem}",
	    "{token: t}", "not PEM");
	expect_error("{server: \"https://h:6443\", certificate-authority-data: "
		     "\"@@@@\"}",
	    "{token: t}", "not valid base64");
	expect_error("{server: \"https://h:6443\", certificate-authority-data: "
		     "aGVsbG8=}",
	    "{token: t}", "not PEM");
}

static void
test_token_file(void **state)
{
	struct kube_auth a;
	char err[PROTO_TEXT_MAX], path[PATH_MAX];

	(void)state;
	put("tok", "  s3cret.token\n");
	assert_int_equal(load(good_cluster(), "{token: inline, tokenFile: tok}",
			     &a, err, sizeof(err)),
	    0);
	assert_string_equal((char *)a.token->data, "s3cret.token");
	snprintf(path, sizeof(path), "%s/tok", dir);
	assert_string_equal(a.token_path, path);
	assert_string_equal(a.token_dir, dir);
	assert_true(a.token->secret);
	kube_auth_free(&a);
	put("empty", " \n");
	expect_error(good_cluster(), "{tokenFile: empty}", "empty");
	expect_error(good_cluster(), "{tokenFile: missing}", "No such file");
	put("spaced", "two words\n");
	expect_error(good_cluster(), "{tokenFile: spaced}",
	    "not a bearer token");
	expect_error(good_cluster(), "{token: \"a\\nb\"}",
	    "not a bearer token");
	expect_error(good_cluster(), "{token: \"  \"}", "empty");
}

static void
test_client_cert(void **state)
{
	struct kube_auth a;
	char err[PROTO_TEXT_MAX], u[2048];
	char *c = b64(PEM), *k = b64(KEY);

	(void)state;
	snprintf(u, sizeof(u),
	    "{client-certificate-data: %s, "
	    "client-key-data: %s}",
	    c, k);
	assert_int_equal(load(good_cluster(), u, &a, err, sizeof(err)), 0);
	assert_null(a.token);
	assert_memory_equal(a.cert->data, PEM, strlen(PEM));
	assert_memory_equal(a.key->data, KEY, strlen(KEY));
	assert_true(a.key->secret);
	kube_auth_free(&a);
	put("c.pem", PEM);
	put("k.pem", KEY);
	assert_int_equal(load(good_cluster(),
			     "{client-certificate: c.pem, "
			     "client-key: k.pem, token: t}",
			     &a, err, sizeof(err)),
	    0);
	assert_non_null(a.token);
	assert_non_null(a.key);
	kube_auth_free(&a);
	snprintf(u, sizeof(u), "{client-certificate-data: %s}", c);
	expect_error(good_cluster(), u,
	    "client-certificate without "
	    "client-key");
	expect_error(good_cluster(), "{client-key: k.pem}",
	    "client-key without client-certificate");
	expect_error(good_cluster(), "{}",
	    "has no token, tokenFile or client "
	    "certificate");
	free(c);
	free(k);
}

static void
test_tls_server_name(void **state)
{
	struct kube_auth a;
	char err[PROTO_TEXT_MAX];

	(void)state;
	assert_int_equal(load("{server: \"https://127.0.0.1:6443/p\", "
			      "tls-server-name: kubernetes, "
			      "certificate-authority-data: "
			      "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==}",
			     "{token: t}", &a, err, sizeof(err)),
	    0);
	assert_string_equal(a.base_url, "https://kubernetes:6443/p");
	assert_string_equal(a.connect_to, "kubernetes:6443:127.0.0.1:6443");
	kube_auth_free(&a);
	assert_int_equal(load("{server: \"https://[::1]:6443\", "
			      "tls-server-name: api.internal}",
			     "{token: t}", &a, err, sizeof(err)),
	    0);
	assert_string_equal(a.connect_to, "api.internal:6443:[::1]:6443");
	kube_auth_free(&a);
	expect_error("{server: \"https://h:6443\", tls-server-name: \"a b\"}",
	    "{token: t}", "tls-server-name");
}

static void
test_refused(void **state)
{
	static const char *const users[][2] = {
		{ "{exec: {command: aws}}", "user \"u1\": exec credential" },
		{ "{auth-provider: {name: oidc}}",
		    "user \"u1\": auth-provider" },
		{ "{username: a, password: b}", "user \"u1\": basic auth" },
		{ "{token: t, password: b}", "basic authentication" },
		{ "{token: t, as: admin}", "impersonation" },
		{ "{token: t, as-groups: [system:masters]}", "impersonation" },
	};
	static const char *const insecure[] = { "true", "True", "yes", "on",
		"\"maybe\"" };
	char c[256];
	struct kube_auth a;
	char err[PROTO_TEXT_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		expect_error(good_cluster(), users[i][0], users[i][1]);
	for (i = 0; i < sizeof(insecure) / sizeof(insecure[0]); i++) {
		snprintf(c, sizeof(c),
		    "{server: \"https://h:6443\", "
		    "insecure-skip-tls-verify: %s}",
		    insecure[i]);
		expect_error(c, "{token: t}", "insecure-skip-tls-verify");
	}
	assert_int_equal(load("{server: \"https://h:6443\", "
			      "insecure-skip-tls-verify: false, "
			      "certificate-authority-data: "
			      "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==}",
			     "{token: t}", &a, err, sizeof(err)),
	    0);
	kube_auth_free(&a);
	expect_error("{server: \"https://h:6443\", proxy-url: "
		     "\"http://proxy:3128\"}",
	    "{token: t}", "proxy-url");
}

static void
expect_doc_error(const char *text, const char *needle)
{
	struct kube_auth a;
	char err[PROTO_TEXT_MAX];

	put("kubeconfig", text);
	err[0] = '\0';
	assert_int_equal(kube_kubeconfig_load(kcpath, &a, err, sizeof(err)),
	    -1);
	if (strstr(err, needle) == NULL || strstr(err, kcpath) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void
test_structure(void **state)
{
	static const char ctx[] = "contexts:\n- name: prod\n  context: "
				  "{cluster: c1, user: u1}\n";
	static const char cl[] = "clusters:\n- name: c1\n  cluster: {server: "
				 "\"https://h\"}\n";
	static const char us[] = "users:\n- name: u1\n  user: {token: t}\n";
	char text[1024];

	(void)state;
	snprintf(text, sizeof(text), "%s%s%s", ctx, cl, us);
	expect_doc_error(text, "no current-context");
	snprintf(text, sizeof(text), "current-context: \"\"\n%s%s%s", ctx, cl,
	    us);
	expect_doc_error(text, "no current-context");
	snprintf(text, sizeof(text), "current-context: dev\n%s%s%s", ctx, cl,
	    us);
	expect_doc_error(text, "context \"dev\" not found");
	snprintf(text, sizeof(text), "current-context: prod\n%s%s", ctx, us);
	expect_doc_error(text, "cluster \"c1\" not found");
	snprintf(text, sizeof(text), "current-context: prod\n%s%s", ctx, cl);
	expect_doc_error(text, "user \"u1\" not found");
	snprintf(text, sizeof(text), "current-context: prod\n%s%s%s%s", ctx,
	    "- name: prod\n  context: {cluster: c1, user: u1}\n", cl, us);
	expect_doc_error(text, "defined twice");
	snprintf(text, sizeof(text),
	    "current-context: prod\ncontexts:\n- "
	    "name: prod\n  context: {user: u1}\n%s%s",
	    cl, us);
	expect_doc_error(text, "has no cluster");
	snprintf(text, sizeof(text),
	    "current-context: prod\ncontexts:\n- "
	    "name: prod\n  context: {cluster: c1}\n%s%s",
	    cl, us);
	expect_doc_error(text, "has no user");
	snprintf(text, sizeof(text),
	    "current-context: prod\ncontexts:\n- "
	    "name: prod\n  context: {cluster: c1, user: u1, namespace: "
	    "Bad_NS}\n%s%s",
	    cl, us);
	expect_doc_error(text, "namespace");
	snprintf(text, sizeof(text),
	    "current-context: prod\ncontexts: x\n"
	    "%s%s",
	    cl, us);
	expect_doc_error(text, "contexts is not a list");
	snprintf(text, sizeof(text),
	    "current-context: prod\ncontexts:\n- x\n"
	    "%s%s",
	    cl, us);
	expect_doc_error(text, "not a mapping");
	snprintf(text, sizeof(text),
	    "current-context: prod\n%sclusters:\n- "
	    "name: c1\n  cluster: {server: {a: 1}}\n%s",
	    ctx, us);
	expect_doc_error(text, "server is not a string");
	snprintf(text, sizeof(text),
	    "current-context: prod\n%sclusters:\n- "
	    "name: c1\n  cluster: x\n%s",
	    ctx, us);
	expect_doc_error(text, "has no cluster mapping");
	expect_doc_error("apiVersion: v1\ncontexts: [\n", "line ");
	expect_doc_error("key: \"unterminated\n", "line ");
	expect_doc_error("", "empty file");
	expect_doc_error("# only a comment\n", "empty file");
	expect_doc_error("- a\n- b\n", "not a YAML mapping");
	expect_doc_error("a: \xc3\x28\n", "line ");
	/* Anchors and aliases resolve; they are not expanded into copies. */
	snprintf(text, sizeof(text),
	    "current-context: prod\n%s%susers:\n- "
	    "name: u0\n  user: &u {token: t}\n- name: u1\n  user: *u\n",
	    ctx, cl);
	put("kubeconfig", text);
	{
		struct kube_auth a;
		char err[PROTO_TEXT_MAX];

		a.ca = NULL;
		assert_int_equal(kube_kubeconfig_load(kcpath, &a, err,
				     sizeof(err)),
		    0);
		assert_string_equal((char *)a.token->data, "t");
		kube_auth_free(&a);
	}
}

static const char nofiles[] =
    "current-context: p\n"
    "contexts: [{name: p, context: {cluster: c, user: u}}]\n"
    "clusters: [{name: c, cluster: {server: \"https://h\", "
    "certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==}}]"
    "\nusers: [{name: u, user: {tokenFile: tok}}]\n";

static void
test_files(void **state)
{
	struct kube_auth a;
	char err[PROTO_TEXT_MAX], *big;
	FILE *f;

	(void)state;
	assert_int_equal(kube_kubeconfig_load("/nonexistent/kubeconfig", &a,
			     err, sizeof(err)),
	    -1);
	assert_string_equal(err,
	    "kubeconfig /nonexistent/kubeconfig: No "
	    "such file or directory");
	big = malloc(KUBE_FILE_MAX + 2);
	assert_non_null(big);
	memset(big, '#', KUBE_FILE_MAX + 1);
	big[KUBE_FILE_MAX + 1] = '\0';
	assert_non_null(f = fopen(kcpath, "w"));
	fputs(big, f);
	fclose(f);
	free(big);
	assert_int_equal(kube_kubeconfig_load(kcpath, &a, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "larger than 1 MiB"));
	/* The fuzzing mode never opens what a file names. */
	put("tok", "t\n");
	assert_int_equal(kube_kubeconfig_parse(kcpath, nofiles,
			     sizeof(nofiles) - 1, KUBE_KC_NOFILES, &a, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "files not allowed"));
}

static void
sa_put(const char *token, const char *ca, const char *ns)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/sa", dir);
	mkdir(path, 0700);
	if (token != NULL)
		put("sa/token", token);
	if (ca != NULL)
		put("sa/ca.crt", ca);
	if (ns != NULL)
		put("sa/namespace", ns);
}

static void
test_incluster(void **state)
{
	struct kube_auth a;
	char err[PROTO_TEXT_MAX], sa[128], path[PATH_MAX];

	(void)state;
	snprintf(sa, sizeof(sa), "%s/sa", dir);
	sa_put("eyJhbGciOiJSUzI1NiJ9.x.y\n", PEM, "ops\n");
	assert_int_equal(kube_incluster_load("10.96.0.1", "443", sa, &a, err,
			     sizeof(err)),
	    0);
	assert_string_equal(a.base_url, "https://10.96.0.1:443");
	assert_string_equal((char *)a.token->data, "eyJhbGciOiJSUzI1NiJ9.x.y");
	snprintf(path, sizeof(path), "%s/token", sa);
	assert_string_equal(a.token_path, path);
	assert_string_equal(a.token_dir, sa);
	assert_string_equal(a.namespace, "ops");
	kube_auth_free(&a);
	assert_int_equal(kube_incluster_load("fd00:10:96::1", "443", sa, &a,
			     err, sizeof(err)),
	    0);
	assert_string_equal(a.base_url, "https://[fd00:10:96::1]:443");
	kube_auth_free(&a);
	assert_int_equal(kube_incluster_load("10.96.0.1", "0", sa, &a, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_PORT"));
	assert_int_equal(kube_incluster_load("10.96.0.1/x", "443", sa, &a, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
	sa_put("\n", NULL, NULL);
	assert_int_equal(kube_incluster_load("10.96.0.1", "443", sa, &a, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "service-account token"));
	assert_non_null(strstr(err, "empty"));
	assert_non_null(strstr(err, sa));
	sa_put("tok\n", "not a pem", NULL);
	assert_int_equal(kube_incluster_load("10.96.0.1", "443", sa, &a, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "ca.crt: not PEM"));
	snprintf(path, sizeof(path), "%s/ca.crt", sa);
	unlink(path);
	assert_int_equal(kube_incluster_load("10.96.0.1", "443", sa, &a, err,
			     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(kube_incluster_load("10.96.0.1", "443", "/nonexist",
			     &a, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "/nonexist/token"));
}

static void
test_base64(void **state)
{
	struct buf *b;

	(void)state;
	assert_int_equal(kube_base64_decode("aGVsbG8=", 8, 0, &b), 0);
	assert_int_equal(b->len, 5);
	assert_memory_equal(b->data, "hello", 5);
	buf_free(b);
	assert_int_equal(kube_base64_decode("aGVs\nbG8h", 9, 1, &b), 0);
	assert_int_equal(b->len, 6);
	assert_true(b->secret);
	buf_free(b);
	assert_int_equal(kube_base64_decode("aGk=", 4, 0, &b), 0);
	assert_memory_equal(b->data, "hi", 2);
	buf_free(b);
	assert_int_equal(kube_base64_decode("", 0, 0, &b), 0);
	assert_int_equal(b->len, 0);
	buf_free(b);
	assert_int_equal(kube_base64_decode("aGVsbG8", 7, 0, &b), -1);
	assert_int_equal(kube_base64_decode("aG=sbG8=", 8, 0, &b), -1);
	assert_int_equal(kube_base64_decode("aGVs*G8=", 8, 0, &b), -1);
	assert_int_equal(kube_base64_decode("aGVsbG8===", 10, 0, &b), -1);
	assert_int_equal(kube_base64_decode("=aGV", 4, 0, &b), -1);
}

static void
test_token_read(void **state)
{
	struct buf *b;
	char err[128], path[PATH_MAX];

	(void)state;
	snprintf(path, sizeof(path), "%s/t", dir);
	put("t", "\t tok-1 \r\n");
	assert_int_equal(kube_token_read(path, &b, err, sizeof(err)), 0);
	assert_string_equal((char *)b->data, "tok-1");
	assert_true(b->secret);
	buf_free(b);
	put("t", "");
	assert_int_equal(kube_token_read(path, &b, err, sizeof(err)), -1);
	assert_string_equal(err, "empty");
	put("t", "a\x01");
	assert_int_equal(kube_token_read(path, &b, err, sizeof(err)), -1);
	unlink(path);
	assert_int_equal(kube_token_read(path, &b, err, sizeof(err)), -1);
	assert_string_equal(err, "No such file or directory");
	/* A FIFO is refused at once, never waited on. */
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(kube_token_read(path, &b, err, sizeof(err)), -1);
	assert_string_equal(err, "not a regular file");
	assert_int_equal(kube_token_read(dir, &b, err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_token_and_ca_data, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_server_forms, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ca_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_client_cert, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls_server_name, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_structure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incluster, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_base64, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_read, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
