/* test_frame.c: frame codec round trips and every rejection */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/proto.h"

static uint8_t out[FRAME_MAX];

static int
roundtrip(uint16_t type, const void *in, union msg_payload *dec, uint8_t dir)
{
	struct frame f;
	size_t n;
	int r;

	assert_int_equal(frame_encode(type, 42, in, out, &n), 0);
	if ((r = frame_parse(out, n, &f)) != 0)
		return r;
	assert_int_equal(f.seq, 42);
	assert_int_equal(f.type, type);
	return frame_decode(&f, dir, dec);
}

static void
test_node_roundtrip(void **state)
{
	struct msg_kube_node n = { 0 };
	union msg_payload d;

	(void)state;
	strcpy(n.name, "node-a");
	n.server_id = (1ULL << 53) - 1;
	strcpy(n.addrs, "10.0.0.2 2001:db8::2");
	n.flags = NODE_F_READY | NODE_F_ACTIVE;
	assert_int_equal(roundtrip(MSG_KUBE_NODE, &n, &d, MSG_TO_SUP), 0);
	assert_string_equal(d.node.name, "node-a");
	assert_true(d.node.server_id == (1ULL << 53) - 1);
	assert_string_equal(d.node.addrs, "10.0.0.2 2001:db8::2");
	assert_int_equal(d.node.flags, NODE_F_READY | NODE_F_ACTIVE);
}

static void
test_fips_array_roundtrip(void **state)
{
	struct msg_hc_fips_ans a = { 0 };
	union msg_payload d;
	int i;

	(void)state;
	a.count = PROTO_FIPS_MAX;
	a.rl.limit = 3600;
	a.rl.reset = 1800000000ULL;
	for (i = 0; i < PROTO_FIPS_MAX; i++) {
		memset(a.fips[i].name, 'a' + i, PROTO_FIPNAME_MAX - 1);
		a.fips[i].id = 1000000000000000ULL + (uint64_t)i;
		strcpy(a.fips[i].ip, "2001:db8:1:2::/64");
	}
	assert_int_equal(roundtrip(MSG_HC_FIPS_ANS, &a, &d, MSG_TO_SUP), 0);
	assert_int_equal(d.fips.count, PROTO_FIPS_MAX);
	assert_true(d.fips.fips[16].id == 1000000000000016ULL);
	assert_int_equal(strlen(d.fips.fips[16].name), PROTO_FIPNAME_MAX - 1);
	assert_true(d.fips.rl.reset == 1800000000ULL);
}

static void
test_lease_nested_roundtrip(void **state)
{
	struct msg_lease_ans a = { 0 };
	union msg_payload d;

	(void)state;
	a.result = RES_OK;
	strcpy(a.lease.holder, "pod-a_3f2c9e1b");
	a.lease.duration_s = 15;
	strcpy(a.lease.renew_time, "2026-03-01T10:04:58.517204Z");
	a.lease.transitions = 3;
	strcpy(a.lease.rv, "9031");
	assert_int_equal(roundtrip(MSG_KUBE_LEASE_ANS, &a, &d, MSG_TO_SUP), 0);
	assert_string_equal(d.lease_ans.lease.holder, "pod-a_3f2c9e1b");
	assert_string_equal(d.lease_ans.lease.rv, "9031");
	assert_int_equal(d.lease_ans.lease.transitions, 3);
}

static void
test_reject_short_header(void **state)
{
	struct frame f;

	(void)state;
	assert_int_equal(frame_parse(out, FRAME_HDR_LEN - 1, &f),
	    FRAME_ERR_SHORT);
	assert_int_equal(frame_parse(out, 0, &f), FRAME_ERR_SHORT);
}

static void
test_reject_oversize(void **state)
{
	struct frame f;

	(void)state;
	assert_int_equal(frame_parse(out, FRAME_MAX + 1, &f), FRAME_ERR_TOOBIG);
}

static size_t
encode_ping(uint16_t type)
{
	struct msg_ping p = { 7 };
	size_t n;

	assert_int_equal(frame_encode(MSG_PING_REQ, 1, &p, out, &n), 0);
	out[0] = (uint8_t)(type >> 8);
	out[1] = (uint8_t)type;
	return n;
}

static void
test_reject_length_mismatch(void **state)
{
	struct frame f;
	size_t n = encode_ping(MSG_PING_REQ);

	(void)state;
	out[7]++;
	assert_int_equal(frame_parse(out, n, &f), FRAME_ERR_LENGTH);
	out[7]--;
	assert_int_equal(frame_parse(out, n - 1, &f), FRAME_ERR_LENGTH);
}

static void
test_reject_flags(void **state)
{
	struct frame f;
	size_t n = encode_ping(MSG_PING_REQ);

	(void)state;
	out[3] = 1;
	assert_int_equal(frame_parse(out, n, &f), FRAME_ERR_FLAGS);
}

static void
test_reject_unknown_type(void **state)
{
	union msg_payload d;
	struct frame f;
	size_t n = encode_ping(4242);

	(void)state;
	assert_int_equal(frame_parse(out, n, &f), 0);
	assert_int_equal(frame_decode(&f, MSG_TO_WORKER, &d), FRAME_ERR_TYPE);
	assert_string_equal(msg_name(4242), "unknown");
}

static void
test_reject_direction(void **state)
{
	union msg_payload d;
	struct frame f;
	size_t n = encode_ping(MSG_PING_REQ);

	(void)state;
	assert_int_equal(frame_parse(out, n, &f), 0);
	assert_int_equal(frame_decode(&f, MSG_TO_SUP, &d), FRAME_ERR_DIRECTION);
	assert_int_equal(frame_decode(&f, MSG_TO_WORKER, &d), 0);
}

/* Hand-built payloads: header + body, so each malformation is exact. */
static size_t
handmade(uint16_t type, const uint8_t *body, size_t blen)
{
	out[0] = (uint8_t)(type >> 8);
	out[1] = (uint8_t)type;
	out[2] = out[3] = 0;
	out[4] = (uint8_t)(blen >> 24);
	out[5] = (uint8_t)(blen >> 16);
	out[6] = (uint8_t)(blen >> 8);
	out[7] = (uint8_t)blen;
	memset(out + 8, 0, 4);
	memcpy(out + FRAME_HDR_LEN, body, blen);
	return FRAME_HDR_LEN + blen;
}

static int
decode_hand(uint16_t type, const uint8_t *body, size_t blen, uint8_t dir)
{
	union msg_payload d;
	struct frame f;
	size_t n = handmade(type, body, blen);
	int r;

	if ((r = frame_parse(out, n, &f)) != 0)
		return r;
	return frame_decode(&f, dir, &d);
}

static void
test_reject_trailing(void **state)
{
	static const uint8_t b[] = { 0, 0, 0, 0, 0, 0, 0, 7, 0xff };

	(void)state;
	assert_int_equal(decode_hand(MSG_PING_REQ, b, 8, MSG_TO_WORKER), 0);
	/* 9 bytes is outside PING's exact size: caught before decoding. */
	assert_int_equal(decode_hand(MSG_PING_REQ, b, 9, MSG_TO_WORKER),
	    FRAME_ERR_SIZE);
}

static void
test_reject_short_payload(void **state)
{
	static const uint8_t b[] = { 0, 0, 0, 0, 0, 0, 0 };

	(void)state;
	assert_int_equal(decode_hand(MSG_PING_REQ, b, 7, MSG_TO_WORKER),
	    FRAME_ERR_SIZE);
}

static void
test_reject_string_cases(void **state)
{
	/* MSG_KUBE_NODE_DEL: one string of PROTO_NAME_MAX. */
	static const uint8_t ok[] = { 0, 2, 'a', 'b', 0 };
	static const uint8_t unterminated[] = { 0, 2, 'a', 'b', 'c' };
	static const uint8_t nul[] = { 0, 2, 'a', 0, 0 };
	static const uint8_t shortstr[] = { 0, 4, 'a', 'b', 0 };
	static const uint8_t trailing[] = { 0, 1, 'a', 0, 'x' };
	uint8_t big[3 + PROTO_NAME_MAX];

	(void)state;
	assert_int_equal(decode_hand(MSG_KUBE_NODE_DEL, ok, 5, MSG_TO_SUP), 0);
	assert_int_equal(decode_hand(MSG_KUBE_NODE_DEL, unterminated, 5,
			     MSG_TO_SUP),
	    FRAME_ERR_UNTERMINATED);
	assert_int_equal(decode_hand(MSG_KUBE_NODE_DEL, nul, 5, MSG_TO_SUP),
	    FRAME_ERR_NUL);
	assert_int_equal(decode_hand(MSG_KUBE_NODE_DEL, shortstr, 5,
			     MSG_TO_SUP),
	    FRAME_ERR_SHORT);
	assert_int_equal(decode_hand(MSG_KUBE_NODE_DEL, trailing, 5,
			     MSG_TO_SUP),
	    FRAME_ERR_TRAILING);
	/* A string exactly as long as its field leaves no room for NUL. */
	memset(big, 'x', sizeof(big));
	big[0] = 0;
	big[1] = PROTO_NAME_MAX;
	big[sizeof(big) - 1] = 0;
	assert_int_equal(decode_hand(MSG_KUBE_NODE_DEL, big, sizeof(big),
			     MSG_TO_SUP),
	    FRAME_ERR_SIZE);
	big[1] = PROTO_NAME_MAX - 1;
	big[2 + PROTO_NAME_MAX - 1] = 0;
	assert_int_equal(decode_hand(MSG_KUBE_NODE_DEL, big, sizeof(big) - 1,
			     MSG_TO_SUP),
	    0);
}

static void
test_reject_array_count(void **state)
{
	struct msg_hc_fips_ans a = { 0 };
	union msg_payload d;
	struct frame f;
	size_t n, countpos;

	(void)state;
	assert_int_equal(frame_encode(MSG_HC_FIPS_ANS, 0, &a, out, &n), 0);
	countpos = n - 1; /* empty array: count is the last byte */
	out[countpos] = PROTO_FIPS_MAX + 1;
	assert_int_equal(frame_parse(out, n, &f), 0);
	assert_int_equal(frame_decode(&f, MSG_TO_SUP, &d), FRAME_ERR_COUNT);
}

static void
test_encode_rejects_unterminated_field(void **state)
{
	struct msg_kube_name nm;
	size_t n;

	(void)state;
	memset(nm.name, 'x', sizeof(nm.name));
	assert_int_equal(frame_encode(MSG_KUBE_NODE_DEL, 0, &nm, out, &n), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(frame_encode(999, 0, &nm, out, &n), -1);
}

static void
test_info_bounds(void **state)
{
	struct msg_info mi;

	(void)state;
	assert_int_equal(msg_info(MSG_PING_REQ, &mi), 0);
	assert_int_equal(mi.min, 8);
	assert_int_equal(mi.max, 8);
	assert_int_equal(msg_info(MSG_HC_FIPS_ANS, &mi), 0);
	assert_true(mi.max <= FRAME_MAX - FRAME_HDR_LEN);
	assert_int_equal(msg_info(1234, &mi), FRAME_ERR_TYPE);
}

static void
test_every_type_fits_a_frame(void **state)
{
	struct msg_info mi;
	unsigned t;
	int seen = 0;

	(void)state;
	for (t = 0; t < 1024; t++) {
		if (msg_info((uint16_t)t, &mi) != 0)
			continue;
		seen++;
		assert_true(mi.max + FRAME_HDR_LEN <= FRAME_MAX);
		assert_true(mi.min <= mi.max);
	}
	assert_true(seen >= 30);
}

static void
test_socket_send_recv(void **state)
{
	struct msg_probe_result p = { 0 }, *q;
	union msg_payload d;
	uint8_t buf[FRAME_MAX];
	struct frame f;
	int sv[2];

	(void)state;
	assert_int_equal(frame_socketpair(sv), 0);
	strcpy(p.node, "node-b");
	p.ok = 1;
	p.usec = 1234;
	assert_int_equal(frame_send(sv[0], MSG_PROBE_RESULT, 9, &p), 0);
	assert_int_equal(frame_recv(sv[1], buf, &f), 0);
	assert_int_equal(frame_decode(&f, MSG_TO_SUP, &d), 0);
	q = &d.probe;
	assert_string_equal(q->node, "node-b");
	assert_int_equal(q->usec, 1234);
	close(sv[0]);
	assert_int_equal(frame_recv(sv[1], buf, &f), FRAME_ERR_EOF);
	close(sv[1]);
}

static void
test_socket_oversize_datagram(void **state)
{
	static uint8_t big[FRAME_MAX + 100];
	uint8_t buf[FRAME_MAX];
	struct frame f;
	int sv[2], sz = 4 * FRAME_MAX;

	(void)state;
	assert_int_equal(frame_socketpair(sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	memset(big, 0, sizeof(big));
	assert_int_equal(send(sv[0], big, sizeof(big), 0),
	    (ssize_t)sizeof(big));
	assert_int_equal(frame_recv(sv[1], buf, &f), FRAME_ERR_TOOBIG);
	close(sv[0]);
	close(sv[1]);
}

static void
test_strerror_total(void **state)
{
	int e;

	(void)state;
	for (e = 0; e >= FRAME_ERR_MIN; e--)
		assert_non_null(frame_strerror(e));
	assert_string_equal(frame_strerror(-999), "unknown frame error");
	assert_string_equal(frame_strerror(FRAME_ERR_TRAILING),
	    "trailing bytes after payload");
}

static void
test_buf_limits(void **state)
{
	struct buf *b = buf_new(4, 8);
	uint32_t v;

	(void)state;
	assert_non_null(b);
	assert_int_equal(buf_put_u32(b, 1), 0);
	assert_int_equal(buf_put_u32(b, 2), 0);
	assert_int_equal(buf_put_u8(b, 3), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(buf_get_u32(b, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(buf_get_u32(b, &v), 0);
	assert_int_equal(buf_get_u32(b, &v), FRAME_ERR_SHORT);
	buf_set_secret(b);
	buf_free(b);
	assert_null(buf_new(9, 8));
}

static void
test_buf_read_file(void **state)
{
	char dir[] = "/tmp/se-buf-XXXXXX", path[64], fifo[64];
	struct buf *b = NULL;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("secret-token\n", f);
	fclose(f);
	assert_int_equal(buf_read_file(path, 64, 1, &b), 0);
	assert_int_equal(b->len, 13);
	assert_string_equal((char *)b->data, "secret-token\n");
	assert_true(b->secret);
	buf_free(b);
	/* One byte over the cap is refused, not truncated. */
	assert_int_equal(buf_read_file(path, 12, 0, &b), -1);
	assert_int_equal(errno, EFBIG);
	assert_int_equal(buf_read_file(path, 13, 0, &b), 0);
	buf_free(b);
	/* A FIFO in place of a token is refused at once, never read. */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(buf_read_file(fifo, 64, 1, &b), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(buf_read_file(dir, 64, 1, &b), -1);
	unlink(fifo);
	unlink(path);
	assert_int_equal(buf_read_file(path, 64, 1, &b), -1);
	assert_int_equal(errno, ENOENT);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_roundtrip),
		cmocka_unit_test(test_fips_array_roundtrip),
		cmocka_unit_test(test_lease_nested_roundtrip),
		cmocka_unit_test(test_reject_short_header),
		cmocka_unit_test(test_reject_oversize),
		cmocka_unit_test(test_reject_length_mismatch),
		cmocka_unit_test(test_reject_flags),
		cmocka_unit_test(test_reject_unknown_type),
		cmocka_unit_test(test_reject_direction),
		cmocka_unit_test(test_reject_trailing),
		cmocka_unit_test(test_reject_short_payload),
		cmocka_unit_test(test_reject_string_cases),
		cmocka_unit_test(test_reject_array_count),
		cmocka_unit_test(test_encode_rejects_unterminated_field),
		cmocka_unit_test(test_info_bounds),
		cmocka_unit_test(test_every_type_fits_a_frame),
		cmocka_unit_test(test_socket_send_recv),
		cmocka_unit_test(test_socket_oversize_datagram),
		cmocka_unit_test(test_strerror_total),
		cmocka_unit_test(test_buf_limits),
		cmocka_unit_test(test_buf_read_file),
	};

	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
