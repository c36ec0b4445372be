/* curl_dl.c: libcurl loaded at run time, by the workers that use it */

/*
 * Why: libcurl pulls in some 30 shared libraries (OpenSSL, GnuTLS via
 * librtmp, Kerberos, LDAP, SASL, ssh2...), and relocating them costs
 * about 10 ms of CPU per exec.  Linked into the binary, every process
 * paid it: the supervisor before it could fork the spawner, and all
 * three freshly exec'd workers at once on a two-core node, which made
 * most of the start-up time.  Only the k8s and hcloud workers talk
 * HTTPS, so the daemon is linked without libcurl and loads it in those
 * two, with RTLD_NOW as -z now did before.
 *
 * The functions below are libcurl's own names and prototypes (the
 * compiler checks them against curl.h), so the workers' code is the
 * same whether it is linked against libcurl (unit tests, fuzzers) or
 * runs in the daemon with this file.  Until the library is loaded each
 * one fails the way libcurl reports failure.  The release binary
 * exports none of these names, so libcurl's own internal calls never
 * land here.
 */
#define CURL_DISABLE_TYPECHECK /* the macros would rename our definitions */

#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>

#include <curl/curl.h>

#include "common/log.h"

/* The soname of Debian's libcurl4 (deploy/image/packages). */
#define CURL_DL_SONAME "libcurl.so.4"

typedef void (*curl_dl_fnptr)(void);

#define CURL_DL_FNS(X) \
	X(curl_global_init) \
	X(curl_global_cleanup) \
	X(curl_free) \
	X(curl_slist_append) \
	X(curl_slist_free_all) \
	X(curl_easy_init) \
	X(curl_easy_cleanup) \
	X(curl_easy_setopt) \
	X(curl_easy_getinfo) \
	X(curl_easy_strerror) \
	X(curl_easy_escape) \
	X(curl_multi_init) \
	X(curl_multi_cleanup) \
	X(curl_multi_setopt) \
	X(curl_multi_add_handle) \
	X(curl_multi_remove_handle) \
	X(curl_multi_perform) \
	X(curl_multi_poll) \
	X(curl_multi_socket_action) \
	X(curl_multi_info_read) \
	X(curl_url) \
	X(curl_url_cleanup) \
	X(curl_url_get) \
	X(curl_url_set)

/* One pointer per function, typed from curl.h's own declaration. */
#define CURL_DL_FIELD(f) __typeof__(&f) f;
static struct {
	CURL_DL_FNS(CURL_DL_FIELD)
} fn;

/*
 * Load libcurl on the first call of any of its functions, as the
 * dynamic loader did at exec: the hcloud worker parses its endpoint
 * with curl_url() before curl_global_init().  Both workers make these
 * first calls before their sandbox, which allows no open or mmap of a
 * library.  1 when loaded; 0 when it cannot be (logged once).
 */
static int
curl_dl_ok(void)
{
	static int state; /* 0 not tried, 1 loaded, -1 failed */
	void *h;

	if (state != 0)
		return state == 1;
	state = -1;
	/* RTLD_LOCAL: libcurl's dependencies stay out of the global
	 * scope, as nothing but libcurl uses them. */
	if ((h = dlopen(CURL_DL_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		log_error("cannot load libcurl", "err", dlerror(), NULL);
		return 0;
	}
#define CURL_DL_SYM(f) \
	if ((fn.f = (__typeof__(fn.f))dlsym(h, #f)) == NULL) { \
		log_error("libcurl lacks a function", "name", #f, NULL); \
		return 0; \
	}
	CURL_DL_FNS(CURL_DL_SYM)
#undef CURL_DL_SYM
	state = 1;
	return 1;
}

CURLcode
curl_global_init(long flags)
{
	return curl_dl_ok() ? fn.curl_global_init(flags) : CURLE_FAILED_INIT;
}

void
curl_global_cleanup(void)
{
	if (curl_dl_ok())
		fn.curl_global_cleanup();
}

void
curl_free(void *p)
{
	if (curl_dl_ok())
		fn.curl_free(p);
}

struct curl_slist *
curl_slist_append(struct curl_slist *l, const char *s)
{
	return curl_dl_ok() ? fn.curl_slist_append(l, s) : NULL;
}

void
curl_slist_free_all(struct curl_slist *l)
{
	if (curl_dl_ok())
		fn.curl_slist_free_all(l);
}

CURL *
curl_easy_init(void)
{
	return curl_dl_ok() ? fn.curl_easy_init() : NULL;
}

void
curl_easy_cleanup(CURL *c)
{
	if (curl_dl_ok())
		fn.curl_easy_cleanup(c);
}

/*
 * The option's number says the type of its one argument (curl.h's
 * CURLOPTTYPE_ ranges, shared by the multi options), as libcurl itself
 * reads it; pass it on as exactly that type.
 */
#define CURL_DL_SETOPT(real, h, opt, ap) \
	((opt) < CURLOPTTYPE_OBJECTPOINT ? real(h, opt, va_arg(ap, long)) \
		: (opt) < CURLOPTTYPE_FUNCTIONPOINT \
		? real(h, opt, va_arg(ap, void *)) \
		: (opt) < CURLOPTTYPE_OFF_T \
		? real(h, opt, va_arg(ap, curl_dl_fnptr)) \
		: (opt) < CURLOPTTYPE_BLOB \
		? real(h, opt, va_arg(ap, curl_off_t)) \
		: real(h, opt, va_arg(ap, void *)))

CURLcode
curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
	CURLcode r;
	va_list ap;

	if (!curl_dl_ok())
		return CURLE_FAILED_INIT;
	va_start(ap, opt);
	r = CURL_DL_SETOPT(fn.curl_easy_setopt, c, opt, ap);
	va_end(ap);
	return r;
}

CURLMcode
curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
	CURLMcode r;
	va_list ap;

	if (!curl_dl_ok())
		return CURLM_INTERNAL_ERROR;
	va_start(ap, opt);
	r = CURL_DL_SETOPT(fn.curl_multi_setopt, m, opt, ap);
	va_end(ap);
	return r;
}

/* Every CURLINFO_ type is answered through a pointer. */
CURLcode
curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
	CURLcode r;
	va_list ap;

	if (!curl_dl_ok())
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	r = fn.curl_easy_getinfo(c, info, va_arg(ap, void *));
	va_end(ap);
	return r;
}

const char *
curl_easy_strerror(CURLcode e)
{
	return curl_dl_ok() ? fn.curl_easy_strerror(e) : "libcurl not loaded";
}

char *
curl_easy_escape(CURL *c, const char *s, int len)
{
	return curl_dl_ok() ? fn.curl_easy_escape(c, s, len) : NULL;
}

CURLM *
curl_multi_init(void)
{
	return curl_dl_ok() ? fn.curl_multi_init() : NULL;
}

CURLMcode
curl_multi_cleanup(CURLM *m)
{
	return curl_dl_ok() ? fn.curl_multi_cleanup(m) : CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_add_handle(CURLM *m, CURL *c)
{
	return curl_dl_ok() ? fn.curl_multi_add_handle(m, c)
			    : CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_remove_handle(CURLM *m, CURL *c)
{
	return curl_dl_ok() ? fn.curl_multi_remove_handle(m, c)
			    : CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_perform(CURLM *m, int *running)
{
	return curl_dl_ok() ? fn.curl_multi_perform(m, running)
			    : CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_poll(CURLM *m, struct curl_waitfd *extra, unsigned int n,
    int timeout_ms, int *numfds)
{
	return curl_dl_ok()
	    ? fn.curl_multi_poll(m, extra, n, timeout_ms, numfds)
	    : CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev, int *running)
{
	return curl_dl_ok() ? fn.curl_multi_socket_action(m, s, ev, running)
			    : CURLM_INTERNAL_ERROR;
}

CURLMsg *
curl_multi_info_read(CURLM *m, int *left)
{
	return curl_dl_ok() ? fn.curl_multi_info_read(m, left) : NULL;
}

CURLU *
curl_url(void)
{
	return curl_dl_ok() ? fn.curl_url() : NULL;
}

void
curl_url_cleanup(CURLU *u)
{
	if (curl_dl_ok())
		fn.curl_url_cleanup(u);
}

CURLUcode
curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
	return curl_dl_ok() ? fn.curl_url_get(u, what, part, flags)
			    : CURLUE_OUT_OF_MEMORY;
}

CURLUcode
curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
	return curl_dl_ok() ? fn.curl_url_set(u, what, part, flags)
			    : CURLUE_OUT_OF_MEMORY;
}
