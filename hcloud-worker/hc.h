/* hc.h: the hcloud worker's internal interfaces (decoders, client, ops) */
#ifndef HC_H
#define HC_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "common/buf.h"
#include "common/proto.h"
#include "common/sandbox.h"

/* Largest Hetzner ID: the API promises IDs fit a double exactly. */
#define HC_ID_MAX ((uint64_t)9007199254740991ULL) /* 2^53 - 1 */
/* A reply body larger than this is refused, never buffered. */
#define HC_REPLY_MAX (1024 * 1024)
/* Bound on JSON values per reply, so a 1 MiB "[0,0,...]" cannot make
 * cJSON allocate half a million nodes. */
#define HC_JSON_NODES_MAX 32768
/* per_page of every list request (the API maximum). */
#define HC_PER_PAGE 50
#define HC_CODE_MAX 64 /* error / action codes */
#define HC_MSG_MAX 256 /* error / action messages */
#define HC_CORR_MAX 64 /* X-Correlation-Id */
#define HC_URL_MAX 2048

/* ---- decode.c: JSON -> typed records -------------------------------- */

/* Decoder errors: negative, first failure wins; the output record is
 * only written when the whole input decoded. */
enum hc_derr {
	HC_DERR_OK = 0,
	HC_DERR_JSON = -1, /* not JSON, truncated or trailing bytes */
	HC_DERR_TYPE = -2, /* a key has the wrong JSON type */
	HC_DERR_MISSING = -3, /* a required key is absent */
	HC_DERR_ID = -4, /* id not integral or outside 1..2^53-1 */
	HC_DERR_VALUE = -5, /* value outside its allowed set */
	HC_DERR_LONG = -6, /* string longer than its field */
	HC_DERR_SIZE = -7, /* body or value count over the cap */
	HC_DERR_COUNT = -8, /* more items than requested */
	HC_DERR_DUP = -9, /* one name twice in a list */
	HC_DERR_MIN = -9,
};

enum hc_action_status {
	HC_ACTION_RUNNING = 1,
	HC_ACTION_SUCCESS,
	HC_ACTION_ERROR,
};

struct hc_fip {
	uint64_t id;
	char name[PROTO_FIPNAME_MAX];
	char ip[PROTO_IP_MAX]; /* ipv6: the network as given */
	int is_v6;
	uint64_t server; /* 0 = unassigned */
	int blocked;
};

/* meta.pagination; 0 stands for null. */
struct hc_page {
	uint32_t page;
	uint32_t next_page;
	uint32_t last_page;
	uint32_t total_entries;
};

/* Floating IPs of a list reply whose names are in the asked set:
 * found[i] says whether names[i] was in this page. */
struct hc_fip_list {
	struct hc_fip fips[PROTO_FIPS_MAX];
	int found[PROTO_FIPS_MAX];
	size_t items; /* items in the page, matching or not */
	struct hc_page page;
};

struct hc_action {
	uint64_t id;
	int status; /* enum hc_action_status */
	char code[HC_CODE_MAX]; /* error.code when status is error */
	char message[HC_MSG_MAX];
};

struct hc_action_list {
	size_t count;
	size_t running;
	uint64_t running_id; /* first running action, 0 if none */
};

/* The error envelope {"error":{"code","message","details"}}. */
struct hc_error {
	char code[HC_CODE_MAX];
	char message[HC_MSG_MAX];
	char announcement[HC_MSG_MAX]; /* deprecated_api_endpoint only */
};

/* A server's labels: keys may carry a DNS prefix ("a.b/name"). */
#define HC_LABELS_MAX 64
#define HC_LABEL_KEY_MAX 320 /* 253 prefix + "/" + 63 name + NUL */
#define HC_LABEL_VAL_MAX 64
struct hc_labels {
	size_t n;
	struct hc_label {
		char key[HC_LABEL_KEY_MAX];
		char val[HC_LABEL_VAL_MAX];
	} kv[HC_LABELS_MAX];
};

struct hc_server {
	uint64_t id;
	int status; /* enum proto_server_status */
	struct hc_labels labels;
};

const char *hc_decode_strerror(int);
/* Parse body[len] as one JSON value (nothing but whitespace after it),
 * with the size and node caps; *out is freed by cJSON_Delete. */
int hc_json_parse(const void *body, size_t len, cJSON **out);
/* A JSON number that is an integral 1..2^53-1. */
int hc_decode_id(const cJSON *, uint64_t *);
int hc_decode_fip(const cJSON *obj, struct hc_fip *);
int hc_decode_page(const cJSON *root, struct hc_page *);
int hc_decode_action(const cJSON *obj, struct hc_action *);
/* {"floating_ip":{...}} */
int hc_decode_fip_reply(const void *body, size_t len, struct hc_fip *);
/* {"floating_ips":[...],"meta":{"pagination":...}}, keeping the items
 * named in names[0..nnames-1] (nnames <= PROTO_FIPS_MAX). */
int hc_decode_fip_list(const void *body, size_t len, const char *const *names,
    size_t nnames, struct hc_fip_list *);
/* {"action":{...}} */
int hc_decode_action_reply(const void *body, size_t len, struct hc_action *);
/* {"actions":[...]}: every item decoded, running ones counted. */
int
hc_decode_action_list(const void *body, size_t len, struct hc_action_list *);
int hc_decode_error(const void *body, size_t len, struct hc_error *);
/* {"server":{...}}: id, status (unknown words are SERVER_ST_OTHER) and
 * labels (an object of strings). */
int hc_decode_server_reply(const void *body, size_t len, struct hc_server *);

/* ---- selector.c: Hetzner label selectors ------------------------------ */

#define HC_SEL_MAX 16 /* requirements, comma = AND */
#define HC_SEL_VALS 8 /* values of one "in (..)" */

enum hc_sel_op {
	HC_SEL_EQ = 1, /* k=v, k==v */
	HC_SEL_NE, /* k!=v: also true without k */
	HC_SEL_EXISTS, /* k */
	HC_SEL_ABSENT, /* !k */
	HC_SEL_IN, /* k in (a,b) */
	HC_SEL_NOTIN, /* k notin (a,b): also true without k */
};

struct hc_selector {
	size_t n; /* 0: no check */
	struct hc_sel_req {
		int op; /* enum hc_sel_op */
		char key[HC_LABEL_KEY_MAX];
		size_t nvals;
		char vals[HC_SEL_VALS][HC_LABEL_VAL_MAX];
	} req[HC_SEL_MAX];
};

/* Parse text ("" or NULL: no requirement) into *sel.  0, or -1 with a
 * line in err naming the flag. */
int hc_selector_parse(const char *text, struct hc_selector *sel, char *err,
    size_t errlen);
/* 1 when the labels satisfy every requirement. */
int hc_selector_match(const struct hc_selector *, const struct hc_labels *);

/* ---- result.c: headers, typed results, err text ----------------------- */

/* Parse one raw header line ("RateLimit-Remaining: 17\r\n") into rl or
 * corr[HC_CORR_MAX]; other headers and bad values are ignored. */
void hc_parse_header(const char *line, size_t len, struct msg_ratelimit *rl,
    char *corr);
/* Milliseconds until the bucket holds a token again after a 429: one
 * refill interval (3600/Limit s), or until Reset if that is sooner;
 * never "wait until full".  now is unix seconds. */
uint32_t hc_retry_after_ms(const struct msg_ratelimit *, int64_t now);
/* Map a non-2xx reply to a result: the envelope's code first (when
 * code[0] != 0), else the HTTP status. */
int hc_result_for(long status, const char *code);
/* Copy s into out[outlen] as one printable-ASCII line; any occurrence
 * of secret (if not NULL) becomes "REDACTED". */
void hc_sanitize(char *out, size_t outlen, const char *s, const char *secret);

/* ---- client.c: one keep-alive HTTPS client on the multi interface --- */

enum hc_method {
	HC_GET = 0,
	HC_POST,
};

struct hc_reply {
	long status; /* HTTP status, 0 = transport failure */
	CURLcode cerr;
	int oversize; /* body went past HC_REPLY_MAX */
	int sent; /* request may have reached the server */
	const uint8_t *body; /* valid until the next request */
	size_t len;
	struct msg_ratelimit rl;
	char corr[HC_CORR_MAX];
	uint32_t usec;
	char errbuf[CURL_ERROR_SIZE];
};

struct hc_client {
	CURL *easy;
	CURLM *multi; /* made after the sandbox is entered */
	struct curl_slist *hdr_get; /* hold the Authorization header */
	struct curl_slist *hdr_post;
	char base[HC_URL_MAX];
	char url[HC_URL_MAX];
	char post[64];
	struct buf *body;
	int method; /* enum hc_method of the running request */
	int busy;
	int64_t started_us;
	struct hc_reply reply;
};

/* Set up the easy handle: base URL, token (copied into header lists
 * that hc_client_free wipes), CA (blob copied by libcurl; NULL for
 * plain http).  0, or -1 with a line in err. */
int hc_client_init(struct hc_client *, const char *base,
    const struct buf *token, const struct buf *ca, char *err, size_t errlen);
/* Create the multi handle (its wakeup fds must survive close_range,
 * so this runs after sandbox_enter). */
int hc_client_start(struct hc_client *);
/* Start method path (below the base); body for POST.  0 or -1. */
int hc_client_request(struct hc_client *, int method, const char *path,
    const char *body);
/* Drive transfers; returns 1 and fills *out when the request finished,
 * 0 while it runs. */
int hc_client_poll(struct hc_client *, const struct hc_reply **out);
/* Wait up to timeout_ms for libcurl's sockets and timers or for fd to
 * become readable (*readable).  0, or -1 when polling failed. */
int hc_client_wait(struct hc_client *, int fd, int timeout_ms, int *readable);
/* Free everything, wiping the token's header copies; safe on a
 * client that was only partly set up. */
void hc_client_free(struct hc_client *);
/* Check an endpoint: https, or http to a loopback host.  0, or -1 with
 * a line in err. */
int hc_endpoint_check(const char *url, char *host, size_t hostlen, char *err,
    size_t errlen);

/* ---- sandbox.c ------------------------------------------------------ */

/* The worker's policy: the seccomp allowlist (argument checks included),
 * Landlock paths, kept fds; the caller adds the endpoint's TCP ports. */
const struct sandbox_policy *hc_sandbox_policy(void);

/* ---- ops.c: the operations ----------------------------------------- */

/* An assign whose action still runs this long after it was accepted
 * is answered RES_UNKNOWN: the supervisor re-reads the truth. */
#define HC_ASSIGN_DEADLINE_MS 60000

enum hc_op_kind {
	HC_OP_NONE = 0,
	HC_OP_FIPS,
	HC_OP_ASSIGN,
	HC_OP_ACTION,
	HC_OP_SERVER,
};

struct hc_op {
	int kind; /* enum hc_op_kind */
	int step;
	uint32_t seq;
	uint32_t requests; /* API requests made so far */
	uint16_t code; /* HTTP status of the last reply */
	struct msg_ratelimit rl; /* of the last reply */
	char what[160]; /* "GET /floating_ips/42", for err */
	int64_t timer_ms; /* next action poll, CLOCK_MONOTONIC */
	/* FIPS */
	struct msg_hc_fips_ans fips; /* filled as replies come */
	uint32_t page;
	int by_name;
	size_t next_name;
	size_t cur;
	/* ASSIGN / ACTION */
	uint64_t fip_id;
	uint64_t server_id;
	uint64_t action_id;
	int64_t t0_ms; /* when the assign was accepted */
	unsigned polls;
	char pending[PROTO_TEXT_MAX]; /* the 422 floating_ip_assigned */
	unsigned throttled; /* 429s on polls in a row */
	int64_t reply_ms; /* when the last reply came */
};

/* A pre-read (and server check) that passed and was followed by
 * nothing that changed anything: an assign retried after a 429 goes
 * straight to the POST instead of repeating reads that succeeded. */
#define HC_CHECKED_MS 30000
struct hc_checked {
	uint64_t fip_id;
	uint64_t server_id;
	int64_t at_ms;
	int server_ok; /* the selector check passed too (or none) */
};

struct hc_ctx {
	int fd; /* to the supervisor */
	struct hc_client client;
	const char *token; /* only to redact it from err strings */
	char names[PROTO_FIPS_MAX][PROTO_FIPNAME_MAX];
	size_t nnames;
	/* ids seen at the first successful read: a Floating IP renamed or
	 * replaced later is refused, never operated (0: not read yet) */
	uint64_t pinned[PROTO_FIPS_MAX];
	struct hc_selector selector; /* --hcloud-server-label-selector */
	struct hc_checked checked;
	struct hc_op op;
};

/* The request an operation waits for. */
enum hc_op_step {
	HC_ST_NONE = 0,
	HC_ST_FIPS_PAGE, /* GET /floating_ips?page=N */
	HC_ST_FIPS_NAME, /* GET /floating_ips?name=X */
	HC_ST_READ, /* GET /floating_ips/{id} before the assign */
	HC_ST_POST, /* POST /floating_ips/{id}/actions/assign */
	HC_ST_WAIT, /* timer until the next action poll */
	HC_ST_POLL, /* GET /floating_ips/actions/{id} */
	HC_ST_REREAD, /* GET /floating_ips/{id} after floating_ip_assigned */
	HC_ST_ACTIONS, /* GET /floating_ips/{id}/actions?status=running */
	HC_ST_SRVCHECK, /* GET /servers/{id}: the selector, before the POST */
	HC_ST_SERVER, /* GET /servers/{id}: the fast path */
};

/* ---- ops.c: what every operation shares (ops_assign.c uses it) ------- */

struct hc_fail {
	int result;
	uint32_t retry_after_ms;
	char err[PROTO_TEXT_MAX];
};

void hc_failf(struct hc_fail *, int result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hc_op_begin(struct hc_ctx *, int kind, uint32_t seq);
/* Send the running operation's answer and end it; running is the
 * ACTION/ASSIGN flag, or the server status of HC_OP_SERVER. */
int hc_op_finish(struct hc_ctx *, int result, uint32_t retry, int running,
    const char *err);
int hc_op_finish_fail(struct hc_ctx *, const struct hc_fail *);
/* 1 (answered "busy") or -1 when an operation already runs, else 0. */
int hc_op_busy(struct hc_ctx *, uint16_t type, uint32_t seq);
int hc_op_start(struct hc_ctx *, int step, int method, const char *path,
    const char *body);
/* 0 for a 2xx reply to decode, else -1 with the failure in *f. */
int
hc_op_reply_fail(struct hc_ctx *, const struct hc_reply *, struct hc_fail *f);
int hc_op_malformed(struct hc_ctx *, int result, int derr);
/* ops_assign.c: a reply to one of the assign's requests */
int hc_assign_reply(struct hc_ctx *, const struct hc_reply *);

/* Milliseconds after the assign was accepted at which poll k (0-based)
 * of its action happens, or -1 once past the deadline. */
int64_t hc_poll_at(unsigned k);
/* Start an operation for a request; answers at once (TRANSIENT "busy")
 * when one runs.  0, or -1 when the answer could not be sent. */
int hc_op_fips(struct hc_ctx *, uint32_t seq);
int hc_op_assign(struct hc_ctx *, uint32_t seq, uint64_t fip, uint64_t srv);
int hc_op_action(struct hc_ctx *, uint32_t seq, uint64_t fip);
int hc_op_server(struct hc_ctx *, uint32_t seq, uint64_t srv);
/* Feed a finished request / the clock to the running operation. */
int hc_op_reply(struct hc_ctx *, const struct hc_reply *);
int hc_op_tick(struct hc_ctx *, int64_t now_ms);
/* Milliseconds until the operation's timer, or -1 when none. */
int64_t hc_op_timeout(const struct hc_ctx *, int64_t now_ms);

#endif /* HC_H */
