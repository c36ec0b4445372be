/* kube.h: k8s-worker internals shared by its files */
#ifndef KUBE_H
#define KUBE_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "common/buf.h"
#include "common/proto.h"
#include "common/sandbox.h"

/*
 * Bounds on what the API server may make us hold.  A Node is tens of KB
 * (status.images), so 100 per page stays well under the reply cap; a
 * page that does not fit is asked again with fewer items.
 */
#define KUBE_REPLY_MAX (4u << 20) /* one non-watch reply */
#define KUBE_LINE_MAX (2u << 20) /* one watch event (etcd: 1.5 MiB) */
#define KUBE_ERRBODY_MAX (64u << 10) /* error body of a watch */
#define KUBE_FILE_MAX (1u << 20) /* kubeconfig, CA, cert, key */
#define KUBE_TOKEN_MAX (64u << 10)
#define KUBE_PAGE_LIMIT 100
/* cJSON's allocations for one reply: a tree is several times its text
 * (a tiny object costs ~100 B), so a 4 MiB page of pathological objects
 * could need ~100 MiB; a real 100-Node page needs a few.  Stays far
 * from a 64 MiB pod's limit with the reply itself and libcurl. */
#define KUBE_JSON_MAX (16u << 20)
#define KUBE_CONTINUE_MAX 8192 /* list continue token */
#define KUBE_URL_MAX 12288
#define KUBE_KEY_MAX 318 /* label key: prefix 253 + '/' + 63, NUL */
#define KUBE_VALUE_MAX 64 /* label value: 63, NUL */
#define KUBE_NS_MAX 64 /* namespace: DNS label 63, NUL */

/* ---- decode.c: JSON -> records ---- */

/* Decoder results: 0 or negative, first failure wins. */
enum kube_err {
	KUBE_OK = 0,
	KUBE_ERR_JSON = -1, /* not (complete) JSON */
	KUBE_ERR_TYPE = -2, /* a field of the wrong JSON type */
	KUBE_ERR_MISSING = -3, /* a required field is absent */
	KUBE_ERR_RANGE = -4, /* number out of range or not integral */
	KUBE_ERR_LONG = -5, /* longer than the protocol allows */
	KUBE_ERR_SYNTAX = -6, /* name, address or time not well formed */
	KUBE_ERR_UTF8 = -7, /* not valid UTF-8 */
	KUBE_ERR_EVENT = -8, /* unknown watch event type */
	KUBE_ERR_MEMORY = -9, /* the tree would pass the JSON memory budget */
	KUBE_ERR_MIN = -9,
};

const char *kube_strerror(int err);

/* ---- jsonmem.c: cJSON's memory, capped per reply ---- */

/* Installs cJSON allocation hooks that count what one parse allocates;
 * cap is the most one reply's tree may take (KUBE_JSON_MAX).  Memory
 * cJSON returns stays plain malloc memory: free() and cJSON_free()
 * both release it. */
void kube_json_init(size_t cap);
/* Parses text[0..n-1] into *out (free with cJSON_Delete).  Returns 0,
 * KUBE_ERR_MEMORY when the tree would pass the cap (nothing is kept),
 * or KUBE_ERR_JSON. */
int kube_json_parse(const char *text, size_t n, cJSON **out);

/* A label requirement key=value, as configured. */
struct kube_sel {
	char key[KUBE_KEY_MAX];
	char value[KUBE_VALUE_MAX];
};

/* Parse "key=value" (a qualified key, a label value): 0 or -1. */
int kube_sel_parse(const char *s, struct kube_sel *out);
/* Write the URL-encoded selector "key=value" into out: 0 or -1. */
int kube_sel_query(const struct kube_sel *, char *out, size_t outlen);

/* 1 when s is a DNS subdomain (node, pod, lease names), else 0. */
int kube_name_valid(const char *s);
/* 1 when h[0..n) is a host name or IPv4 (with v6: IPv6 too). */
int kube_host_valid(const char *h, size_t n, int v6);
/* 1 when s is a DNS label (namespaces), else 0. */
int kube_label_name_valid(const char *s);
/* 1 when s[0..n) is valid UTF-8 without NUL, else 0. */
int kube_utf8_valid(const char *s, size_t n);
/* 1 when s is a MicroTime: YYYY-MM-DDTHH:MM:SS.ffffffZ, else 0. */
int kube_microtime_valid(const char *s);
/* Server id of "hcloud://<id>", id in 1..2^53-1; 0 for anything else. */
uint64_t kube_provider_id(const char *s);
/* resourceVersion as a number for ordering, 0 when not decimal. */
uint64_t kube_rv_number(const char *rv);
/* Percent-encode src (all but unreserved bytes) into out: 0 or -1. */
int kube_urlenc(const char *src, char *out, size_t outlen);

enum kube_event_type {
	KUBE_EV_ADDED = 1,
	KUBE_EV_MODIFIED,
	KUBE_EV_DELETED,
	KUBE_EV_BOOKMARK,
	KUBE_EV_ERROR,
};

/* A decoded watch line or list page; *root owns the tree. */
struct kube_doc {
	cJSON *root;
	const cJSON *object; /* event object, or list items array */
	int type; /* enum kube_event_type (events only) */
	char rv[PROTO_RV_MAX]; /* object's or list's resourceVersion */
	char *cont; /* list continue token (owned) or NULL */
};

/* Parse one watch line: type, object and its resourceVersion (required
 * for every type but ERROR).  0 or kube_err; kube_doc_free() after. */
int kube_decode_event(const char *line, size_t n, struct kube_doc *);
/* Parse a list page: items, metadata.resourceVersion, continue. */
int kube_decode_list(const char *body, size_t n, struct kube_doc *);
void kube_doc_free(struct kube_doc *);

/* A Node reduced to what the controller uses; rv for ordering. */
struct kube_node_obj {
	struct msg_kube_node m;
	uint64_t rv;
	unsigned int bad_addrs; /* left out: not a numeric IP */
};

/* Decode one Node.  m.name is filled first, so a DELETED whose other
 * fields are bad can still be applied.  *where names the bad field. */
int kube_decode_node(const cJSON *, const struct kube_sel *cand,
    const struct kube_sel *active, struct kube_node_obj *out,
    const char **where);

struct kube_pod_obj {
	struct msg_kube_pod m;
	uint64_t rv;
};

int
kube_decode_pod(const cJSON *, struct kube_pod_obj *out, const char **where);
/* A Lease's spec and resourceVersion; absent fields "" / 0. */
int kube_decode_lease(const cJSON *, struct msg_lease *out, const char **where);
/* Decode a Lease reply body (rejects an escaped NUL anywhere). */
int kube_decode_lease_body(const char *body, size_t n, struct msg_lease *out,
    const char **where);

/* A Status object, what we read of it. */
struct kube_status {
	int code;
	char reason[64];
	char message[PROTO_TEXT_MAX];
	uint32_t retry_after_s; /* details.retryAfterSeconds */
};

int kube_decode_status(const cJSON *, struct kube_status *out);
int
kube_decode_status_body(const char *body, size_t n, struct kube_status *out);

/* ---- kubeconfig.c: credentials and endpoint ---- */

struct kube_auth {
	char *base_url; /* https://host:port[/prefix], no '/' end */
	char *connect_to; /* CURLOPT_CONNECT_TO entry or NULL */
	struct buf *ca; /* PEM bundle */
	struct buf *cert; /* client certificate PEM or NULL */
	struct buf *key; /* client key PEM (secret) or NULL */
	struct buf *token; /* bearer token (secret) or NULL */
	char *token_path; /* re-read periodically, or NULL */
	char *token_dir; /* its directory (Landlock) */
	char *namespace; /* context / service-account namespace */
	char *source; /* "kubeconfig /x/y": names it in errors */
};

/* kube_kubeconfig_parse flags */
#define KUBE_KC_NOFILES 0x1 /* fuzzing: referenced files are errors */

/* Load a kubeconfig: 0, or -1 with one line naming the file in err. */
int kube_kubeconfig_load(const char *path, struct kube_auth *, char *err,
    size_t errlen);
/* The same from memory; path names it in errors, relative file names
 * resolve against its directory. */
int kube_kubeconfig_parse(const char *path, const char *data, size_t n,
    int flags, struct kube_auth *, char *err, size_t errlen);
/* In-cluster: host, port and the service-account directory. */
int kube_incluster_load(const char *host, const char *port, const char *sa_dir,
    struct kube_auth *, char *err, size_t errlen);
void kube_auth_free(struct kube_auth *);

/* Read a token file into a new secret buffer (trimmed, NUL-terminated,
 * len without the NUL): 0, or -1 with a reason in err. */
int
kube_token_read(const char *path, struct buf **out, char *err, size_t errlen);
/* What Landlock leaves readable of a token file: the file itself, or
 * its directory when that is a projected volume ("..data" link); NULL
 * without a token file.  buf (len bytes) is scratch; the result
 * points into a. */
const char *kube_token_grant(const struct kube_auth *a, char *buf, size_t len);
/* Trim a token in place and check it can go into a header: 0, or -1
 * with a reason in err. */
int kube_token_check(struct buf *, char *err, size_t errlen);
/* Read a whole file (at most max bytes) into a new buffer: 0 or -1. */
/* Why buf_read_file() failed: toobig for EFBIG, else a short text. */
const char *kube_file_strerror(int err, const char *toobig);
/* Strict base64 (whitespace skipped) into a new buffer: 0 or -1. */
int kube_base64_decode(const char *s, size_t n, int secret, struct buf **out);

/* ---- store.c: the compact records, by name ---- */

/*
 * One Node or prepared Pod.  Strings live inline after the struct:
 * name, then a (the node's addresses as in msg_kube_node / the pod's
 * nodeName).
 */
struct kube_rec {
	struct kube_rec *next; /* hash chain */
	uint64_t id; /* node: server id */
	uint64_t rv; /* newest resourceVersion applied */
	uint8_t flags; /* node: NODE_F_*; pod: ready */
	uint8_t member; /* selectors it is in, one bit each */
	uint8_t seen; /* selectors that listed it this list */
	uint16_t a_off;
	char str[];
};

struct kube_store {
	struct kube_rec **tab;
	size_t nbuckets; /* power of two */
	size_t count;
};

#define KUBE_REC_A(r) ((r)->str + (r)->a_off)

int kube_store_init(struct kube_store *);
void kube_store_free(struct kube_store *);
struct kube_rec *kube_store_get(const struct kube_store *, const char *name);
/* Insert or update; *changed is 1 when name/a/id/flags differ from
 * before (or the record is new).  The record may move: use *out. */
int kube_store_put(struct kube_store *, const char *name, const char *a,
    uint64_t id, uint8_t flags, struct kube_rec **out, int *changed);
void kube_store_del(struct kube_store *, struct kube_rec *);
/* Iterate from a zeroed kube_iter; NULL at the end.  The record
 * returned may be deleted, but nothing may be put meanwhile. */
struct kube_iter {
	size_t pos;
	struct kube_rec *next;
};

struct kube_rec *kube_store_iter(const struct kube_store *, struct kube_iter *);

/* ---- http.c: libcurl multi transport ---- */

struct kube_ctx;
struct kube_req;

/* Why our own callback stopped a transfer. */
enum kube_stop {
	KUBE_STOP_NONE = 0,
	KUBE_STOP_TOOBIG, /* reply over KUBE_REPLY_MAX */
	KUBE_STOP_LINE, /* watch line over KUBE_LINE_MAX */
	KUBE_STOP_WATCH, /* the line handler ended the watch */
	KUBE_STOP_NOMEM,
};

struct kube_req {
	struct kube_ctx *ctx;
	CURL *easy;
	struct curl_slist *hdrs;
	char *body; /* request body (owned) or NULL */
	struct buf *reply; /* reply body (non-watch, or watch error) */
	struct buf *line; /* watch: bytes of an unfinished line */
	long code; /* HTTP status, 0 before/without one */
	uint32_t retry_after_ms; /* Retry-After header */
	int64_t t0_us;
	int watch;
	int stop; /* enum kube_stop */
	int ok_seen; /* a 2xx status was reported */
	CURLcode rc; /* transfer result */
	void *owner; /* reflector or write operation */
	/* watch: one complete line (no '\n'); -1 ends the watch */
	int (*on_line)(struct kube_req *, const char *line, size_t n);
	/* transfer finished (rc, code, stop set); req freed after */
	void (*on_done)(struct kube_req *);
	struct kube_req *next; /* ctx's list of transfers */
	char errbuf[CURL_ERROR_SIZE];
};

/* Multi handle, callbacks, CA (the system bundle when none was
 * configured): 0, or -1 with a one-line reason. */
int kube_http_init(struct kube_ctx *, char *err, size_t errlen);
void kube_http_cleanup(struct kube_ctx *);
/* New request for method + path (with query) under the base URL;
 * body is taken (freed with the request).  NULL on error (logged). */
struct kube_req *kube_http_new(struct kube_ctx *, const char *method,
    const char *path, const char *ctype, char *body, int watch, long timeout_s);
/* Hand the request to libcurl: 0, or -1 (request freed). */
int kube_http_start(struct kube_req *);
/* Abandon a running request without calling on_done. */
void kube_http_cancel(struct kube_req *);
/* Poll set: fill up to max entries after the caller's own. */
size_t kube_http_pollfds(struct kube_ctx *, struct pollfd *, size_t max);
/* Feed poll results and expired timers to libcurl, finish transfers. */
void kube_http_run(struct kube_ctx *, const struct pollfd *, size_t n);
/* Next libcurl deadline (ms, monotonic) or -1. */
int64_t kube_http_due(const struct kube_ctx *);
/* A short text for a failed transfer (curl's message, sanitised). */
void kube_http_errtext(const struct kube_req *, char *out, size_t outlen);
/* Token: re-read now if due (or forced after a 401). */
void kube_token_refresh(struct kube_ctx *, int force);

/* ---- reflector.c: list + watch ---- */

enum kube_refl_kind {
	REFL_CAND = 0, /* nodes with the candidate label */
	REFL_ACTIVE = 1, /* nodes with the active label */
	REFL_PODS = 2, /* prepared pods */
	REFL_COUNT = 3,
};

enum kube_refl_state {
	RS_IDLE = 0, /* not started */
	RS_WAIT, /* backing off until due */
	RS_LIST,
	RS_WATCH,
};

struct kube_refl {
	int kind;
	const char *name; /* for logs */
	uint8_t bit; /* member bit in its store */
	struct kube_store *store;
	char path[160]; /* collection path */
	char selector[3 * (KUBE_KEY_MAX + KUBE_VALUE_MAX) + 8];
	char rv[PROTO_RV_MAX]; /* last synced resourceVersion */
	char *cont; /* continue token of the page to get */
	int limit; /* page size */
	int state;
	int relist; /* RS_WAIT: list (1) or watch (0) when due */
	int64_t due;
	int64_t backoff_ms; /* next base delay */
	int64_t trouble_at; /* last failure, for the 2 min reset */
	int synced; /* a list completed at least once */
	unsigned int listed; /* records in the list being read */
	int64_t watch_t0;
	int64_t last_event;
	unsigned int events;
	int end; /* enum kube_watch_end, set by the line handler */
	uint32_t retry_after_ms;
	struct kube_req *req;
};

void kube_refl_setup(struct kube_ctx *);
void kube_refl_start(struct kube_ctx *);
void kube_refl_free(struct kube_ctx *);
/* Start what is due, restart stalled watches. */
void kube_refl_tick(struct kube_ctx *, int64_t now);
/* Earliest deadline among the reflectors (ms) or -1. */
int64_t kube_refl_due(const struct kube_ctx *);
/* Backoff after a failure: the delay in ms (exposed for tests). */
int64_t kube_backoff_next(struct kube_refl *, int64_t now, uint64_t *rng,
    uint32_t retry_after_ms);

/* ---- apply.c: objects into the store, frames out ---- */

/* Upsert a decoded-or-not object from a list page (listing: no delta,
 * marked seen) or a watch event (delta when a compact field changed). */
void
kube_apply(struct kube_ctx *, struct kube_refl *, const cJSON *, int listing);
/* A DELETED event: the object leaves this reflector's selector. */
void kube_deleted(struct kube_ctx *, struct kube_refl *, const cJSON *);
/* After a complete list: records this selector did not list leave it. */
void kube_sweep(struct kube_refl *, struct kube_ctx *);
void kube_clear_seen(struct kube_refl *);
/* The full snapshot of the reflector's kind (nodes: once both node
 * selectors have listed). */
void kube_announce(struct kube_ctx *, const struct kube_refl *);

/* ---- writes.c: label, lease, event ---- */

/* Typed result of an HTTP status (and the Status reason for 409). */
int kube_result_of(long code, const char *reason);
void kube_on_label(struct kube_ctx *, uint32_t seq, const union msg_payload *);
void
kube_on_lease_get(struct kube_ctx *, uint32_t seq, const union msg_payload *);
void kube_on_lease_create(struct kube_ctx *, uint32_t seq,
    const union msg_payload *);
void kube_on_lease_update(struct kube_ctx *, uint32_t seq,
    const union msg_payload *);
void kube_on_event(struct kube_ctx *, uint32_t seq, const union msg_payload *);

/* ---- sandbox.c ---- */

/* The worker's seccomp allowlist; keep_fds {2, WORKER_FD}.  main.c
 * adds the Landlock paths (token directory, resolver files). */
const struct sandbox_policy *kube_sandbox_policy(void);

/* ---- main.c: context, frames to the supervisor ---- */

#define KUBE_WRITES_MAX 32 /* writes in flight */

struct kube_ctx {
	int fd; /* socket to the supervisor */
	int check; /* check=1: no API request */
	struct kube_auth auth;
	struct kube_sel cand;
	struct kube_sel active;
	struct kube_sel prepared;
	int have_prepared;
	char prepared_ns[KUBE_NS_MAX];
	char lease_ns[KUBE_NS_MAX];
	char lease_name[PROTO_NAME_MAX];
	char identity[PROTO_IDENT_MAX];
	int64_t stall_ms; /* a watch silent this long is restarted */
	int64_t token_every_ms;

	/* transport */
	CURLM *multi;
	struct curl_slist *connect_to;
	struct pollfd *cfds; /* libcurl's sockets */
	size_t ncfds;
	size_t capfds;
	int64_t curl_due; /* -1: no timer */
	struct kube_req *reqs; /* running transfers */
	int nwrites;
	int64_t token_due; /* -1: static token */
	int token_bad; /* a re-read failed: logged once */
	/* Events: 0 events.k8s.io until it answers 403/404, then core/v1
	 * for good (the reference chart grants only core events). */
	int events_core;
	int64_t events_denied_until; /* both APIs said 403: none till then */

	/* state */
	struct kube_store nodes;
	struct kube_store pods;
	struct kube_refl refl[REFL_COUNT];
	int nodes_announced; /* a node snapshot went out */
	int pods_announced;
	int api_ok; /* -1 unknown, 0, 1 */
	uint64_t rng;

	/* frames waiting for the socket to drain */
	struct buf *outq;
	uint8_t *scratch; /* FRAME_MAX: encoding */
	uint8_t *scratch_in; /* FRAME_MAX: receiving */
	int stop; /* SHUTDOWN or EOF */
};

/* Queue or send a frame; a supervisor that stopped reading is fatal. */
void
kube_send(struct kube_ctx *, uint16_t type, uint32_t seq, const void *payload);
/* API reachability changed (0/1): sent once per change. */
void kube_set_api(struct kube_ctx *, int ok);
/* A request succeeded: the API is reachable. */
void kube_api_success(struct kube_ctx *);
/* 1 when every reflector has listed at least once. */
int kube_all_synced(const struct kube_ctx *);
uint64_t kube_rand(uint64_t *state);

#endif /* KUBE_H */
