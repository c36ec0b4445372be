"""peer.py: a fake supervisor (or worker) peer speaking the frame protocol.

Mirrors common/proto.h and common/msg.c so tests written in Python can
drive a real worker binary over its socketpair, or play a worker to a
real supervisor.  Layouts here must match msg.c field for field; a
mismatch shows up at once as FRAME_ERR_SIZE / TRAILING in the worker.

    from peer import spawn_worker, Peer
    proc, peer = spawn_worker("build/stable-egressd", "k8s", {"kubeconfig": p})
    hello = peer.recv()           # ("MSG_HELLO", seq, {...})
    peer.send("MSG_PING_REQ", {"nonce": 7}, seq=1)
"""
import os
import socket
import struct
import subprocess
import time

FRAME_MAX = 65536
HDR = struct.Struct(">HHII")

# (kind, name, size) ; kinds: u8 u16 u32 u64 str(size) sub(layout) arr(max, layout)
HELLO = [("u32", "version"), ("u32", "pid"), ("u8", "worker"), ("u8", "status"),
         ("str", "err", 512)]
PING = [("u64", "nonce")]
PING_ANS = [("u64", "nonce"), ("u64", "cpu_usec"), ("u64", "rss_bytes"),
            ("u64", "vsz_bytes"), ("u32", "open_fds"), ("u32", "max_fds"),
            ("u64", "start_usec")]
API_STAT = [("u8", "api"), ("u16", "code"), ("u32", "usec")]
TEST_SYSCALL = [("u32", "nr")]
SYNC = [("u8", "kind"), ("u32", "count")]
NODE = [("str", "name", 254), ("u64", "server_id"), ("str", "addrs", 368),
        ("u8", "flags")]
NAME = [("str", "name", 254)]
POD = [("str", "name", 254), ("str", "node", 254), ("u8", "ready")]
STATUS = [("u8", "api_ok")]
LABEL = [("str", "node", 254), ("u8", "set")]
RESULT = [("u8", "result"), ("u16", "code"), ("u32", "retry_after_ms"),
          ("str", "err", 512)]
LEASE = [("str", "holder", 129), ("u32", "duration_s"), ("str", "acquire_time", 32),
         ("str", "renew_time", 32), ("u32", "transitions"), ("str", "rv", 64)]
LEASE_REQ = [("sub", "lease", LEASE)]
LEASE_ANS = RESULT + [("sub", "lease", LEASE)]
EVENT = [("str", "node", 254), ("u8", "warning"), ("str", "reason", 129),
         ("str", "action", 129), ("str", "note", 1025)]
RL = [("u32", "limit"), ("u32", "remaining"), ("u64", "reset")]
FIP = [("str", "name", 128), ("u8", "found"), ("u64", "id"), ("str", "ip", 64),
       ("u8", "is_v6"), ("u64", "server_id"), ("u8", "blocked")]
FIPS_ANS = [("u8", "result"), ("u16", "code"), ("u32", "retry_after_ms"),
            ("sub", "rl", RL), ("str", "err", 512), ("arr", "fips", 17, FIP)]
ASSIGN = [("u64", "fip_id"), ("u64", "server_id")]
FIP_ID = [("u64", "fip_id")]
HC_ANS = [("u8", "result"), ("u16", "code"), ("u32", "retry_after_ms"),
          ("sub", "rl", RL), ("u8", "running"), ("u32", "requests"),
          ("str", "err", 512)]
PROBE_SYNC = [("u32", "count")]
TARGET = [("str", "node", 254), ("str", "addrs", 368)]
PROBE = [("str", "node", 254), ("u8", "ok"), ("u32", "usec"), ("u32", "failed")]

TYPES = {
    "MSG_HELLO": (1, HELLO), "MSG_PING_REQ": (2, PING), "MSG_PING_ANS": (3, PING_ANS),
    "MSG_SHUTDOWN": (4, PING), "MSG_API_STAT": (5, API_STAT),
    "MSG_TEST_SYSCALL_REQ": (9, TEST_SYSCALL),
    "MSG_KUBE_SYNC_BEGIN": (100, SYNC), "MSG_KUBE_NODE": (101, NODE),
    "MSG_KUBE_NODE_DEL": (102, NAME), "MSG_KUBE_POD": (103, POD),
    "MSG_KUBE_POD_DEL": (104, NAME), "MSG_KUBE_SYNC_END": (105, SYNC),
    "MSG_KUBE_STATUS": (106, STATUS), "MSG_KUBE_LABEL_REQ": (110, LABEL),
    "MSG_KUBE_LABEL_ANS": (111, RESULT), "MSG_KUBE_LEASE_GET_REQ": (112, LEASE_REQ),
    "MSG_KUBE_LEASE_ANS": (113, LEASE_ANS), "MSG_KUBE_LEASE_CREATE_REQ": (114, LEASE_REQ),
    "MSG_KUBE_LEASE_UPDATE_REQ": (115, LEASE_REQ), "MSG_KUBE_EVENT_REQ": (116, EVENT),
    "MSG_KUBE_EVENT_ANS": (117, RESULT),
    "MSG_HC_FIPS_REQ": (200, FIP_ID), "MSG_HC_FIPS_ANS": (201, FIPS_ANS),
    "MSG_HC_ASSIGN_REQ": (202, ASSIGN), "MSG_HC_ASSIGN_ANS": (203, HC_ANS),
    "MSG_HC_ACTION_REQ": (204, FIP_ID), "MSG_HC_ACTION_ANS": (205, HC_ANS),
    "MSG_PROBE_TARGETS_BEGIN": (300, PROBE_SYNC), "MSG_PROBE_TARGET": (301, TARGET),
    "MSG_PROBE_TARGETS_END": (302, PROBE_SYNC), "MSG_PROBE_RESULT": (303, PROBE),
}
BY_NUM = {num: (name, layout) for name, (num, layout) in TYPES.items()}

RESULTS = ["OK", "CONFLICT", "NOT_FOUND", "FORBIDDEN", "UNAUTHORIZED", "THROTTLED",
           "TRANSIENT", "INVALID", "LOCKED", "UNKNOWN", "ACTION_FAILED", "MALFORMED",
           "EXISTS", "REFUSED"]
NODE_F = {"ready": 1, "unsched": 2, "deleting": 4, "candidate": 8, "active": 16}
INTS = {"u8": ">B", "u16": ">H", "u32": ">I", "u64": ">Q"}


def _enc(layout, d):
    out = b""
    for f in layout:
        kind, name = f[0], f[1]
        v = d.get(name)
        if kind in INTS:
            out += struct.pack(INTS[kind], v or 0)
        elif kind == "str":
            b = (v or "").encode()
            if len(b) >= f[2]:
                raise ValueError("%s too long" % name)
            out += struct.pack(">H", len(b)) + b + b"\0"
        elif kind == "sub":
            out += _enc(f[2], v or {})
        elif kind == "arr":
            items = v or []
            out += struct.pack(">B", len(items))
            for it in items:
                out += _enc(f[3], it)
    return out


def _dec(layout, data, off):
    d = {}
    for f in layout:
        kind, name = f[0], f[1]
        if kind in INTS:
            st = struct.Struct(INTS[kind])
            (d[name],) = st.unpack_from(data, off)
            off += st.size
        elif kind == "str":
            (n,) = struct.unpack_from(">H", data, off)
            off += 2
            if n >= f[2] or data[off + n] != 0:
                raise ValueError("bad string " + name)
            d[name] = data[off:off + n].decode(errors="replace")
            off += n + 1
        elif kind == "sub":
            d[name], off = _dec(f[2], data, off)
        elif kind == "arr":
            (n,) = struct.unpack_from(">B", data, off)
            off += 1
            items = []
            for _ in range(n):
                it, off = _dec(f[3], data, off)
                items.append(it)
            d[name] = items
    return d, off


def encode(mtype, payload=None, seq=0):
    num, layout = TYPES[mtype]
    body = _enc(layout, payload or {})
    return HDR.pack(num, 0, len(body), seq) + body


def decode(dgram):
    t, flags, n, seq = HDR.unpack_from(dgram, 0)
    if flags or n != len(dgram) - HDR.size:
        raise ValueError("bad header")
    name, layout = BY_NUM[t]
    d, off = _dec(layout, dgram, HDR.size)
    if off != len(dgram):
        raise ValueError("trailing bytes")
    return name, seq, d


class Peer:
    """One end of a SOCK_SEQPACKET socketpair."""

    def __init__(self, sock):
        self.sock = sock

    def send(self, mtype, payload=None, seq=0):
        self.sock.send(encode(mtype, payload, seq))

    def send_raw(self, data):
        self.sock.send(data)

    def recv(self, timeout=5.0):
        self.sock.settimeout(timeout)
        data = self.sock.recv(FRAME_MAX + 1)
        if not data:
            raise EOFError("peer closed")
        return decode(data)

    def recv_until(self, mtype, timeout=5.0, keep=None):
        """Frames until one of type mtype; others go to keep (a list)."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no %s within %.1fs" % (mtype, timeout))
            name, seq, d = self.recv(left)
            if name == mtype:
                return seq, d
            if keep is not None:
                keep.append((name, seq, d))

    def close(self):
        self.sock.close()


def spawn_worker(binary, name, args, env=None, stderr=None):
    """Start binary as worker `name` with fd 3 on a fresh socketpair,
    as the supervisor does.  Returns (Popen, Peer)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    argv = [binary, "--worker", name] + ["%s=%s" % kv for kv in args.items()]
    e = {"STABLE_EGRESSD_WORKER": name}
    e.update(env or {})

    def child():
        # dup2 clears close-on-exec on fd 3, and close_fds=False keeps
        # Popen from closing it again after this hook.
        os.dup2(theirs.fileno(), 3)
        os.set_inheritable(3, True)

    proc = subprocess.Popen(argv, env=e, preexec_fn=child, close_fds=False,
                            stdin=subprocess.DEVNULL, stderr=stderr)
    theirs.close()
    return proc, Peer(ours)
