/* proto.h: the whole supervisor <-> worker wire protocol */
#ifndef PROTO_H
#define PROTO_H

#include <stddef.h>
#include <stdint.h>

/*
 * One frame per SOCK_SEQPACKET datagram: a 12-byte header, then the
 * payload.  All integers are big-endian.  A datagram longer than
 * FRAME_MAX is rejected before anything is parsed; a payload must then
 * match its type's layout exactly (no trailing bytes).  No JSON, no
 * pointers and no file descriptors ever cross the socket.
 *
 * Header: u16 type, u16 flags (0), u32 payload length, u32 seq.
 * A request's seq is echoed in its answer so the supervisor can match
 * them; unsolicited frames (snapshots, probe results) carry seq 0.
 */
#define PROTO_VERSION 1
#define FRAME_MAX 65536
#define FRAME_HDR_LEN 12

/* Field limits, each including the terminating NUL. */
#define PROTO_NAME_MAX 254 /* DNS subdomain (253) */
#define PROTO_IP_MAX 64 /* INET6_ADDRSTRLEN + "/128" */
#define PROTO_TEXT_MAX 512 /* error text, already sanitised */
#define PROTO_FIPNAME_MAX 128
#define PROTO_TIME_MAX 32 /* MicroTime "2026-03-01T10:04:58.517204Z" */
#define PROTO_RV_MAX 64 /* resourceVersion, opaque */
#define PROTO_IDENT_MAX 129 /* Lease holderIdentity */
#define PROTO_REASON_MAX 129 /* Event reason / action */
#define PROTO_NOTE_MAX 1025 /* Event note */
#define PROTO_FIPS_MAX 17 /* primary + 16 additional */
/*
 * A node's addresses travel as one text field: numeric IPv4 or IPv6
 * addresses separated by single spaces, InternalIPs first, each at most
 * 45 characters (INET6_ADDRSTRLEN - 1), no repeats, at most
 * PROTO_ADDRS_MAX of them.  The k8s-worker writes it from validated
 * addresses; the probe worker, the only reader that dials them, checks
 * every address again; the supervisor only stores and compares it.
 */
#define PROTO_ADDRS_MAX 8
#define PROTO_ADDR_LEN 46 /* INET6_ADDRSTRLEN: 45 characters and NUL */
#define PROTO_ADDRS_LEN (PROTO_ADDRS_MAX * PROTO_ADDR_LEN)

/*
 * Message types.  Values are explicit and never reused; a retired type
 * keeps its number reserved.  REQ goes supervisor -> worker and is
 * answered by the matching ANS; other worker -> supervisor frames are
 * unsolicited.
 */
enum msg_type {
	/* every worker */
	MSG_HELLO = 1, /* w->s: ready, or start-up error */
	MSG_PING_REQ = 2, /* s->w: heartbeat */
	MSG_PING_ANS = 3, /* w->s: with the worker's resource figures */
	MSG_SHUTDOWN = 4, /* s->w: exit now */
	MSG_API_STAT = 5, /* w->s: one API request finished */
	MSG_TEST_SYSCALL_REQ = 9, /* s->w: test builds only */

	/* supervisor <-> spawner: fixed sizes, the only frames the
	 * spawner reads, and the only place a descriptor crosses */
	MSG_SPAWN_START_REQ = 20, /* s->sp: start worker `role` */
	MSG_SPAWN_STOP_REQ = 21, /* s->sp: SIGKILL worker `role` if `pid` */
	MSG_SPAWN_STARTED = 22, /* sp->s: pid (+ its socket, SCM_RIGHTS) */
	MSG_SPAWN_EXITED = 23, /* sp->s: role, pid, wait status */

	/* k8s worker */
	MSG_KUBE_SYNC_BEGIN = 100, /* w->s: full snapshot follows */
	MSG_KUBE_NODE = 101, /* w->s: upsert one node */
	MSG_KUBE_NODE_DEL = 102, /* w->s: node gone or unselected */
	MSG_KUBE_POD = 103, /* w->s: upsert one prepared pod */
	MSG_KUBE_POD_DEL = 104, /* w->s */
	MSG_KUBE_SYNC_END = 105, /* w->s: snapshot complete */
	MSG_KUBE_STATUS = 106, /* w->s: API reachable or not */
	MSG_KUBE_LABEL_REQ = 110, /* s->w: set/remove active label */
	MSG_KUBE_LABEL_ANS = 111,
	MSG_KUBE_LEASE_GET_REQ = 112,
	MSG_KUBE_LEASE_ANS = 113, /* answers GET, CREATE, UPDATE */
	MSG_KUBE_LEASE_CREATE_REQ = 114,
	MSG_KUBE_LEASE_UPDATE_REQ = 115,
	MSG_KUBE_EVENT_REQ = 116,
	MSG_KUBE_EVENT_ANS = 117,

	/* hcloud worker */
	MSG_HC_FIPS_REQ = 200, /* s->w: read configured FIPs */
	MSG_HC_FIPS_ANS = 201,
	MSG_HC_ASSIGN_REQ = 202, /* s->w: assign and wait */
	MSG_HC_ASSIGN_ANS = 203,
	MSG_HC_ACTION_REQ = 204, /* s->w: is an action running? */
	MSG_HC_ACTION_ANS = 205,
	MSG_HC_SERVER_REQ = 206, /* s->w: read one server (fast path) */
	MSG_HC_SERVER_ANS = 207,

	/* probe worker */
	MSG_PROBE_TARGETS_BEGIN = 300, /* s->w: target list follows */
	MSG_PROBE_TARGET = 301, /* s->w */
	MSG_PROBE_TARGETS_END = 302, /* s->w: list complete */
	MSG_PROBE_RESULT = 303, /* w->s */
};

/* Which process kind a frame belongs to (also HELLO's worker field). */
enum proto_worker {
	WORKER_NONE = 0,
	WORKER_K8S = 1,
	WORKER_HCLOUD = 2,
	WORKER_PROBE = 3,
	WORKER_COUNT = 4,
};

/* msg_info's worker field for supervisor <-> spawner frames: no
 * worker may send or be sent one. */
#define PROTO_SPAWNER 0x0f

/* Typed outcome of every request, shared by both API workers. */
enum proto_result {
	RES_OK = 0,
	RES_CONFLICT = 1, /* k8s 409 Conflict, hcloud conflict */
	RES_NOT_FOUND = 2,
	RES_FORBIDDEN = 3,
	RES_UNAUTHORIZED = 4,
	RES_THROTTLED = 5, /* 429; retry_after_ms says when */
	RES_TRANSIENT = 6, /* 5xx, timeout, connection error */
	RES_INVALID = 7, /* 400/422: our request was wrong */
	RES_LOCKED = 8, /* hcloud 423: an action runs */
	RES_UNKNOWN = 9, /* write may or may not have happened */
	RES_ACTION_FAILED = 10, /* hcloud action ended in error */
	RES_MALFORMED = 11, /* reply could not be decoded */
	RES_EXISTS = 12, /* k8s 409 AlreadyExists */
	RES_REFUSED = 13, /* other 4xx: do not retry soon */
	RES_SERVER_REFUSED = 14, /* target failed the server check; unsent */
	RES_MAX = 14,
};

/* HELLO status */
enum proto_hello_status {
	HELLO_READY = 0,
	HELLO_CONFIG = 1, /* credential/config unusable: exit 2 */
	HELLO_FATAL = 2, /* other start-up failure: exit 1 */
};

/* API_STAT api */
enum proto_api {
	API_KUBE = 1,
	API_HCLOUD = 2,
};

/* KUBE_SYNC kind */
enum proto_sync_kind {
	SYNC_NODES = 1,
	SYNC_PODS = 2,
};

/* KUBE_NODE flags */
#define NODE_F_READY 0x01 /* condition Ready == True */
#define NODE_F_UNSCHED 0x02 /* spec.unschedulable (cordoned) */
#define NODE_F_DELETING 0x04 /* metadata.deletionTimestamp set */
#define NODE_F_CANDIDATE 0x08 /* carries the candidate label */
#define NODE_F_ACTIVE 0x10 /* carries the active label */
#define NODE_F_ALL 0x1f

/* ---- payloads: the decoded form of each type's layout ---- */

struct msg_hello { /* MSG_HELLO */
	uint32_t version;
	uint32_t pid;
	uint8_t worker; /* enum proto_worker */
	uint8_t status; /* enum proto_hello_status */
	char err[PROTO_TEXT_MAX]; /* one line, names the file/flag */
};

struct msg_ping { /* MSG_PING_REQ, MSG_PING_ANS, MSG_SHUTDOWN */
	uint64_t nonce;
};

/*
 * The heartbeat answer also carries the worker's own resource figures
 * (common/procstat.c), which the supervisor sums into the process_*
 * metrics: a sandboxed supervisor cannot read /proc.
 */
struct msg_ping_ans { /* MSG_PING_ANS */
	uint64_t nonce;
	uint64_t cpu_usec; /* user + system, all threads */
	uint64_t rss_bytes; /* resident at exec + heap grown since */
	uint64_t vsz_bytes; /* address space at exec + heap grown since */
	uint32_t open_fds;
	uint32_t max_fds; /* RLIMIT_NOFILE soft, at exec */
	uint64_t start_usec; /* wall clock at exec */
};

struct msg_api_stat { /* MSG_API_STAT */
	uint8_t api; /* enum proto_api */
	uint16_t code; /* HTTP status, 0 = transport error */
	uint32_t usec; /* request duration */
};

struct msg_test_syscall { /* MSG_TEST_SYSCALL_REQ */
	uint32_t nr; /* syscall the worker must attempt */
};

struct msg_kube_sync { /* MSG_KUBE_SYNC_BEGIN, MSG_KUBE_SYNC_END */
	uint8_t kind; /* enum proto_sync_kind */
	uint32_t count; /* END: records sent since BEGIN */
};

struct msg_kube_node { /* MSG_KUBE_NODE */
	char name[PROTO_NAME_MAX];
	uint64_t server_id; /* hcloud://<id>; 0 = none or not cloud */
	char addrs[PROTO_ADDRS_LEN]; /* InternalIPs, ExternalIPs; "" none */
	uint8_t flags; /* NODE_F_* */
};

struct msg_kube_name { /* MSG_KUBE_NODE_DEL, MSG_KUBE_POD_DEL */
	char name[PROTO_NAME_MAX];
};

struct msg_kube_pod { /* MSG_KUBE_POD */
	char name[PROTO_NAME_MAX];
	char node[PROTO_NAME_MAX]; /* spec.nodeName, may be empty */
	uint8_t ready;
};

struct msg_kube_status { /* MSG_KUBE_STATUS */
	uint8_t api_ok;
};

/*
 * The worker only ever patches the configured active label, so a
 * compromised supervisor cannot write arbitrary labels.
 */
struct msg_kube_label { /* MSG_KUBE_LABEL_REQ */
	char node[PROTO_NAME_MAX];
	uint8_t set; /* 1 set key=value, 0 remove (null) */
};

struct msg_result { /* MSG_KUBE_LABEL_ANS, MSG_KUBE_EVENT_ANS */
	uint8_t result; /* enum proto_result */
	uint16_t code; /* HTTP status, 0 if none */
	uint32_t retry_after_ms;
	char err[PROTO_TEXT_MAX];
};

struct msg_lease { /* spec + resourceVersion of our Lease */
	char holder[PROTO_IDENT_MAX];
	uint32_t duration_s;
	char acquire_time[PROTO_TIME_MAX]; /* "" = null */
	char renew_time[PROTO_TIME_MAX];
	uint32_t transitions;
	char rv[PROTO_RV_MAX]; /* "" on create */
};

struct msg_lease_req { /* MSG_KUBE_LEASE_{GET,CREATE,UPDATE}_REQ */
	struct msg_lease lease; /* ignored for GET */
};

struct msg_lease_ans { /* MSG_KUBE_LEASE_ANS */
	uint8_t result;
	uint16_t code;
	uint32_t retry_after_ms;
	char err[PROTO_TEXT_MAX];
	struct msg_lease lease; /* valid when result == RES_OK */
};

struct msg_kube_event { /* MSG_KUBE_EVENT_REQ, regarding a Node */
	char node[PROTO_NAME_MAX];
	uint8_t warning; /* type Warning, else Normal */
	char reason[PROTO_REASON_MAX];
	char action[PROTO_REASON_MAX];
	char note[PROTO_NOTE_MAX];
};

struct msg_ratelimit { /* from every Hetzner reply's headers */
	uint32_t limit; /* 0 = header absent */
	uint32_t remaining;
	uint64_t reset; /* unix seconds */
};

struct msg_fip {
	char name[PROTO_FIPNAME_MAX];
	uint8_t found; /* 0: no FIP of that name */
	uint64_t id;
	char ip[PROTO_IP_MAX]; /* ipv6: the /64 network */
	uint8_t is_v6;
	uint64_t server_id; /* 0 = unassigned */
	uint8_t blocked;
};

struct msg_hc_fips_ans { /* MSG_HC_FIPS_ANS */
	uint8_t result;
	uint16_t code;
	uint32_t retry_after_ms;
	struct msg_ratelimit rl;
	char err[PROTO_TEXT_MAX];
	uint8_t count;
	struct msg_fip fips[PROTO_FIPS_MAX];
};

struct msg_hc_assign { /* MSG_HC_ASSIGN_REQ */
	uint64_t fip_id;
	uint64_t server_id;
};

struct msg_hc_fip_id { /* MSG_HC_ACTION_REQ */
	uint64_t fip_id;
};

struct msg_hc_ans { /* MSG_HC_ASSIGN_ANS, MSG_HC_ACTION_ANS */
	uint8_t result;
	uint16_t code;
	uint32_t retry_after_ms;
	struct msg_ratelimit rl;
	uint8_t running; /* ACTION_ANS: an action runs on the FIP */
	uint32_t requests; /* API requests this operation made */
	char err[PROTO_TEXT_MAX]; /* action error code and message */
};

struct msg_hc_server_id { /* MSG_HC_SERVER_REQ */
	uint64_t server_id;
};

/* MSG_HC_SERVER_ANS status */
enum proto_server_status {
	SERVER_ST_UNKNOWN = 0, /* not read: see result */
	SERVER_ST_RUNNING = 1,
	SERVER_ST_OFF = 2,
	SERVER_ST_STOPPING = 3,
	SERVER_ST_DELETING = 4,
	SERVER_ST_GONE = 5, /* 404 */
	SERVER_ST_OTHER = 6, /* starting, migrating, rebuilding, ... */
	SERVER_ST_MAX = 6,
};

struct msg_hc_server_ans { /* MSG_HC_SERVER_ANS */
	uint8_t result; /* RES_OK also for a 404 (status GONE) */
	uint16_t code;
	uint32_t retry_after_ms;
	struct msg_ratelimit rl;
	uint8_t status; /* enum proto_server_status */
	char err[PROTO_TEXT_MAX];
};

struct msg_probe_sync { /* MSG_PROBE_TARGETS_BEGIN, _END */
	uint32_t count;
};

struct msg_probe_target { /* MSG_PROBE_TARGET */
	char node[PROTO_NAME_MAX];
	char addrs[PROTO_ADDRS_LEN]; /* as in msg_kube_node, not empty */
};

struct msg_probe_result { /* MSG_PROBE_RESULT */
	char node[PROTO_NAME_MAX];
	uint8_t ok;
	uint32_t usec; /* connect time, or time to failure */
	uint32_t failed; /* failed probes since the previous report */
};

struct msg_spawn { /* MSG_SPAWN_* */
	uint8_t role; /* enum proto_worker: K8S, HCLOUD or PROBE */
	uint32_t pid; /* STOP, STARTED, EXITED; 0 in START */
	uint32_t status; /* EXITED: wait status */
	uint32_t err; /* STARTED with pid 0: errno of the failure */
};

/* The largest decoded payload; callers decode into this. */
union msg_payload {
	struct msg_hello hello;
	struct msg_ping ping;
	struct msg_ping_ans ping_ans;
	struct msg_api_stat api_stat;
	struct msg_test_syscall test_syscall;
	struct msg_kube_sync sync;
	struct msg_kube_node node;
	struct msg_kube_name name;
	struct msg_kube_pod pod;
	struct msg_kube_status status;
	struct msg_kube_label label;
	struct msg_result result;
	struct msg_lease_req lease_req;
	struct msg_lease_ans lease_ans;
	struct msg_kube_event event;
	struct msg_hc_fips_ans fips;
	struct msg_hc_assign assign;
	struct msg_hc_fip_id fip_id;
	struct msg_hc_ans hc;
	struct msg_hc_server_id server_id;
	struct msg_hc_server_ans server;
	struct msg_probe_sync probe_sync;
	struct msg_probe_target target;
	struct msg_probe_result probe;
	struct msg_spawn spawn;
};

#endif /* PROTO_H */
