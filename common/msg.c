/* msg.c: the field layout of every payload in proto.h */
#include <stddef.h>

#include "frame.h"
#include "msg.h"
#include "proto.h"

/* One descriptor per line reads as a table: keep it out of clang-format. */
/* clang-format off */
#define NF(a)		(sizeof(a) / sizeof((a)[0]))
#define U8(s, f)	{ MF_U8, offsetof(struct s, f), 1, 0, 0, NULL }
#define U16(s, f)	{ MF_U16, offsetof(struct s, f), 2, 0, 0, NULL }
#define U32(s, f)	{ MF_U32, offsetof(struct s, f), 4, 0, 0, NULL }
#define U64(s, f)	{ MF_U64, offsetof(struct s, f), 8, 0, 0, NULL }
#define STR(s, f)	{ MF_STR, offsetof(struct s, f), \
			    sizeof(((struct s *)0)->f), 0, 0, NULL }
#define SUB(s, f, l)	{ MF_STRUCT, offsetof(struct s, f), \
			    sizeof(((struct s *)0)->f), 0, 0, &l }
#define ARR(s, f, c, l)	{ MF_ARRAY, offsetof(struct s, f), \
			    sizeof(((struct s *)0)->f[0]), \
			    NF(((struct s *)0)->f), offsetof(struct s, c), &l }
#define LAYOUT(n, s, a)	static const struct msg_layout n = \
			    { sizeof(struct s), a, NF(a) }

static const struct msg_field hello_f[] = {
	U32(msg_hello, version), U32(msg_hello, pid),
	U8(msg_hello, worker), U8(msg_hello, status), STR(msg_hello, err),
};
LAYOUT(hello_l, msg_hello, hello_f);

static const struct msg_field ping_f[] = { U64(msg_ping, nonce) };
LAYOUT(ping_l, msg_ping, ping_f);

static const struct msg_field ping_ans_f[] = {
	U64(msg_ping_ans, nonce), U64(msg_ping_ans, cpu_usec),
	U64(msg_ping_ans, rss_bytes), U64(msg_ping_ans, vsz_bytes),
	U32(msg_ping_ans, open_fds),
	U32(msg_ping_ans, max_fds), U64(msg_ping_ans, start_usec),
};
LAYOUT(ping_ans_l, msg_ping_ans, ping_ans_f);

static const struct msg_field api_stat_f[] = {
	U8(msg_api_stat, api), U16(msg_api_stat, code),
	U32(msg_api_stat, usec),
};
LAYOUT(api_stat_l, msg_api_stat, api_stat_f);

static const struct msg_field test_syscall_f[] = {
	U32(msg_test_syscall, nr),
};
LAYOUT(test_syscall_l, msg_test_syscall, test_syscall_f);

static const struct msg_field sync_f[] = {
	U8(msg_kube_sync, kind), U32(msg_kube_sync, count),
};
LAYOUT(sync_l, msg_kube_sync, sync_f);

static const struct msg_field node_f[] = {
	STR(msg_kube_node, name), U64(msg_kube_node, server_id),
	STR(msg_kube_node, addrs), U8(msg_kube_node, flags),
};
LAYOUT(node_l, msg_kube_node, node_f);

static const struct msg_field name_f[] = { STR(msg_kube_name, name) };
LAYOUT(name_l, msg_kube_name, name_f);

static const struct msg_field pod_f[] = {
	STR(msg_kube_pod, name), STR(msg_kube_pod, node),
	U8(msg_kube_pod, ready),
};
LAYOUT(pod_l, msg_kube_pod, pod_f);

static const struct msg_field status_f[] = { U8(msg_kube_status, api_ok) };
LAYOUT(status_l, msg_kube_status, status_f);

static const struct msg_field label_f[] = {
	STR(msg_kube_label, node), U8(msg_kube_label, set),
};
LAYOUT(label_l, msg_kube_label, label_f);

static const struct msg_field result_f[] = {
	U8(msg_result, result), U16(msg_result, code),
	U32(msg_result, retry_after_ms), STR(msg_result, err),
};
LAYOUT(result_l, msg_result, result_f);

static const struct msg_field lease_f[] = {
	STR(msg_lease, holder), U32(msg_lease, duration_s),
	STR(msg_lease, acquire_time), STR(msg_lease, renew_time),
	U32(msg_lease, transitions), STR(msg_lease, rv),
};
LAYOUT(lease_l, msg_lease, lease_f);

static const struct msg_field lease_req_f[] = {
	SUB(msg_lease_req, lease, lease_l),
};
LAYOUT(lease_req_l, msg_lease_req, lease_req_f);

static const struct msg_field lease_ans_f[] = {
	U8(msg_lease_ans, result), U16(msg_lease_ans, code),
	U32(msg_lease_ans, retry_after_ms), STR(msg_lease_ans, err),
	SUB(msg_lease_ans, lease, lease_l),
};
LAYOUT(lease_ans_l, msg_lease_ans, lease_ans_f);

static const struct msg_field event_f[] = {
	STR(msg_kube_event, node), U8(msg_kube_event, warning),
	STR(msg_kube_event, reason), STR(msg_kube_event, action),
	STR(msg_kube_event, note),
};
LAYOUT(event_l, msg_kube_event, event_f);

static const struct msg_field rl_f[] = {
	U32(msg_ratelimit, limit), U32(msg_ratelimit, remaining),
	U64(msg_ratelimit, reset),
};
LAYOUT(rl_l, msg_ratelimit, rl_f);

static const struct msg_field fip_f[] = {
	STR(msg_fip, name), U8(msg_fip, found), U64(msg_fip, id),
	STR(msg_fip, ip), U8(msg_fip, is_v6), U64(msg_fip, server_id),
	U8(msg_fip, blocked),
};
LAYOUT(fip_l, msg_fip, fip_f);

static const struct msg_field fips_f[] = {
	U8(msg_hc_fips_ans, result), U16(msg_hc_fips_ans, code),
	U32(msg_hc_fips_ans, retry_after_ms), SUB(msg_hc_fips_ans, rl, rl_l),
	STR(msg_hc_fips_ans, err), ARR(msg_hc_fips_ans, fips, count, fip_l),
};
LAYOUT(fips_l, msg_hc_fips_ans, fips_f);

static const struct msg_field assign_f[] = {
	U64(msg_hc_assign, fip_id), U64(msg_hc_assign, server_id),
};
LAYOUT(assign_l, msg_hc_assign, assign_f);

static const struct msg_field fip_id_f[] = { U64(msg_hc_fip_id, fip_id) };
LAYOUT(fip_id_l, msg_hc_fip_id, fip_id_f);

static const struct msg_field hc_f[] = {
	U8(msg_hc_ans, result), U16(msg_hc_ans, code),
	U32(msg_hc_ans, retry_after_ms), SUB(msg_hc_ans, rl, rl_l),
	U8(msg_hc_ans, running), U32(msg_hc_ans, requests),
	STR(msg_hc_ans, err),
};
LAYOUT(hc_l, msg_hc_ans, hc_f);

static const struct msg_field server_id_f[] = {
	U64(msg_hc_server_id, server_id),
};
LAYOUT(server_id_l, msg_hc_server_id, server_id_f);

static const struct msg_field server_f[] = {
	U8(msg_hc_server_ans, result), U16(msg_hc_server_ans, code),
	U32(msg_hc_server_ans, retry_after_ms),
	SUB(msg_hc_server_ans, rl, rl_l), U8(msg_hc_server_ans, status),
	STR(msg_hc_server_ans, err),
};
LAYOUT(server_l, msg_hc_server_ans, server_f);

static const struct msg_field probe_sync_f[] = {
	U32(msg_probe_sync, count),
};
LAYOUT(probe_sync_l, msg_probe_sync, probe_sync_f);

static const struct msg_field target_f[] = {
	STR(msg_probe_target, node), STR(msg_probe_target, addrs),
};
LAYOUT(target_l, msg_probe_target, target_f);

static const struct msg_field probe_f[] = {
	STR(msg_probe_result, node), U8(msg_probe_result, ok),
	U32(msg_probe_result, usec), U32(msg_probe_result, failed),
};
LAYOUT(probe_l, msg_probe_result, probe_f);

static const struct msg_field spawn_f[] = {
	U8(msg_spawn, role), U32(msg_spawn, pid), U32(msg_spawn, status),
	U32(msg_spawn, err),
};
LAYOUT(spawn_l, msg_spawn, spawn_f);

#define W	MSG_TO_WORKER
#define S	MSG_TO_SUP
#define D(t, dir, w, l)	{ t, #t, dir, w, &l }

static const struct msg_desc table[] = {
	D(MSG_HELLO, S, 0, hello_l),
	D(MSG_PING_REQ, W, 0, ping_l),
	D(MSG_PING_ANS, S, 0, ping_ans_l),
	D(MSG_SHUTDOWN, W, 0, ping_l),
	D(MSG_API_STAT, S, 0, api_stat_l),
	D(MSG_TEST_SYSCALL_REQ, W, 0, test_syscall_l),
	D(MSG_SPAWN_START_REQ, W, PROTO_SPAWNER, spawn_l),
	D(MSG_SPAWN_STOP_REQ, W, PROTO_SPAWNER, spawn_l),
	D(MSG_SPAWN_STARTED, S, PROTO_SPAWNER, spawn_l),
	D(MSG_SPAWN_EXITED, S, PROTO_SPAWNER, spawn_l),
	D(MSG_KUBE_SYNC_BEGIN, S, WORKER_K8S, sync_l),
	D(MSG_KUBE_NODE, S, WORKER_K8S, node_l),
	D(MSG_KUBE_NODE_DEL, S, WORKER_K8S, name_l),
	D(MSG_KUBE_POD, S, WORKER_K8S, pod_l),
	D(MSG_KUBE_POD_DEL, S, WORKER_K8S, name_l),
	D(MSG_KUBE_SYNC_END, S, WORKER_K8S, sync_l),
	D(MSG_KUBE_STATUS, S, WORKER_K8S, status_l),
	D(MSG_KUBE_LABEL_REQ, W, WORKER_K8S, label_l),
	D(MSG_KUBE_LABEL_ANS, S, WORKER_K8S, result_l),
	D(MSG_KUBE_LEASE_GET_REQ, W, WORKER_K8S, lease_req_l),
	D(MSG_KUBE_LEASE_ANS, S, WORKER_K8S, lease_ans_l),
	D(MSG_KUBE_LEASE_CREATE_REQ, W, WORKER_K8S, lease_req_l),
	D(MSG_KUBE_LEASE_UPDATE_REQ, W, WORKER_K8S, lease_req_l),
	D(MSG_KUBE_EVENT_REQ, W, WORKER_K8S, event_l),
	D(MSG_KUBE_EVENT_ANS, S, WORKER_K8S, result_l),
	D(MSG_HC_FIPS_REQ, W, WORKER_HCLOUD, fip_id_l),
	D(MSG_HC_FIPS_ANS, S, WORKER_HCLOUD, fips_l),
	D(MSG_HC_ASSIGN_REQ, W, WORKER_HCLOUD, assign_l),
	D(MSG_HC_ASSIGN_ANS, S, WORKER_HCLOUD, hc_l),
	D(MSG_HC_ACTION_REQ, W, WORKER_HCLOUD, fip_id_l),
	D(MSG_HC_ACTION_ANS, S, WORKER_HCLOUD, hc_l),
	D(MSG_HC_SERVER_REQ, W, WORKER_HCLOUD, server_id_l),
	D(MSG_HC_SERVER_ANS, S, WORKER_HCLOUD, server_l),
	D(MSG_PROBE_TARGETS_BEGIN, W, WORKER_PROBE, probe_sync_l),
	D(MSG_PROBE_TARGET, W, WORKER_PROBE, target_l),
	D(MSG_PROBE_TARGETS_END, W, WORKER_PROBE, probe_sync_l),
	D(MSG_PROBE_RESULT, S, WORKER_PROBE, probe_l),
};

/* clang-format on */

const struct msg_desc *
msg_table(size_t *count)
{
	*count = NF(table);
	return table;
}
