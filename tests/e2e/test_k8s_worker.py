"""test_k8s_worker.py: the real k8s worker binary against the fake API.

The worker is started exactly as the supervisor starts it (fork + exec of
the binary with `--worker k8s key=value ...`, its end of a SOCK_SEQPACKET
pair on fd 3, stdin on /dev/null), and this test plays the supervisor:
it reads the worker's frames and sends requests.  One fake API server per
class.  Needs `make test-bin` (build/test/stable-egressd); skipped with a
printed reason when the binary is missing.
"""
import base64
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))

from kube import FakeKube, NODES, make_certs  # noqa: E402
from peer import FRAME_MAX, NODE_F, RESULTS, decode, encode  # noqa: E402

TEST_BIN = os.path.join(ROOT, "build", "test", "stable-egressd")
REL_BIN = os.path.join(ROOT, "build", "stable-egressd")
CAND = ("tuist.dev/stable-egress-candidate", "server")
ACTIVE = ("tuist.dev/stable-egress-gateway", "server")
PREP = ("tuist.dev/stable-egress-host-configurer", "true")
RES = {name: i for i, name in enumerate(RESULTS)}
SYS_PTRACE = 101      # x86_64
SYS_EXECVE = 59


def setUpModule():
    if not os.access(TEST_BIN, os.X_OK):
        print("test_k8s_worker: %s missing, run `make test-bin`; skipped"
              % TEST_BIN, file=sys.stderr)
        raise unittest.SkipTest("build/test/stable-egressd missing")


class Worker:
    """A k8s worker process and the supervisor end of its socket."""

    def __init__(self, args, binary=TEST_BIN):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        rd, wr = os.pipe()
        null = os.open("/dev/null", os.O_RDONLY)
        argv = [binary, "--worker", "k8s"] + [
            "%s=%s" % kv for kv in sorted(args.items())]
        # posix_spawn: fd 3 is the socket, everything of ours is close-
        # on-exec, so the worker starts with 0, 1, 2 and 3 only.
        self.pid = os.posix_spawn(binary, argv, {
            "STABLE_EGRESSD_WORKER": "k8s"}, file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, wr, 2),
            (os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)])
        os.close(wr)
        os.close(null)
        theirs.close()
        self.sock = ours
        self.raw = []           # every datagram received
        self.frames = []        # decoded, not yet consumed
        self.stats = []         # MSG_API_STAT payloads
        self.stderr = []
        self.status = None
        self.seq = 0
        self.reader = threading.Thread(target=self._stderr, args=(rd,),
                                       daemon=True)
        self.reader.start()

    def _stderr(self, fd):
        with os.fdopen(fd, "rb", 0) as f:
            for line in f:
                self.stderr.append(line.decode("utf-8", "replace"))

    def send(self, mtype, payload=None):
        self.seq += 1
        self.sock.send(encode(mtype, payload, self.seq))
        return self.seq

    def _recv(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(FRAME_MAX + 1)
        except socket.timeout:
            return None
        if not data:
            raise EOFError("worker closed its socket")
        self.raw.append(data)
        name, seq, d = decode(data)
        if name == "MSG_API_STAT":
            self.stats.append(d)
        return name, seq, d

    def pump(self, timeout):
        """Read frames for timeout seconds (or until none is pending)."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            f = self._recv(left if left > 0 else 0.001)
            if f is None:
                return
            if f[0] != "MSG_API_STAT":
                self.frames.append(f)
            if left <= 0:
                return

    def expect(self, pred, timeout=5.0, what="frame"):
        """First unconsumed frame matching pred, consumed."""
        end = time.monotonic() + timeout
        while True:
            for i, f in enumerate(self.frames):
                if pred(f):
                    return self.frames.pop(i)
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %.1fs; got %r" % (
                    what, timeout, self.frames[-10:]))
            f = self._recv(min(left, 0.2))
            if f is not None and f[0] != "MSG_API_STAT":
                self.frames.append(f)

    def request(self, mtype, payload, timeout=10.0):
        seq = self.send(mtype, payload)
        ans = mtype.replace("_REQ", "_ANS").replace(
            "LEASE_GET", "LEASE").replace("LEASE_CREATE", "LEASE").replace(
            "LEASE_UPDATE", "LEASE")
        return self.expect(lambda f: f[0] == ans and f[1] == seq, timeout,
                           ans)[2]

    def ping(self, nonce=77):
        """As the supervisor does once every worker is ready; the worker
        releases its held start-up log lines on it."""
        seq = self.send("MSG_PING_REQ", {"nonce": nonce})
        return self.expect(lambda f: f[0] == "MSG_PING_ANS" and
                           f[1] == seq, 2, "PING_ANS")[2]

    def hello(self, timeout=5.0):
        return self.expect(lambda f: f[0] == "MSG_HELLO", timeout, "HELLO")[2]

    def node(self, name, timeout=5.0):
        return self.expect(lambda f: f[0] == "MSG_KUBE_NODE" and
                           f[2]["name"] == name, timeout,
                           "NODE " + name)[2]

    def snapshot(self, kind=1, timeout=10.0):
        """The next full snapshot: {name: record}."""
        self.expect(lambda f: f[0] == "MSG_KUBE_SYNC_BEGIN" and
                    f[2]["kind"] == kind, timeout, "SYNC_BEGIN")
        out = {}
        rec = "MSG_KUBE_NODE" if kind == 1 else "MSG_KUBE_POD"
        while True:
            f = self.expect(lambda f: f[0] == rec or (
                f[0] == "MSG_KUBE_SYNC_END" and f[2]["kind"] == kind),
                timeout, "snapshot record")
            if f[0] == "MSG_KUBE_SYNC_END":
                assert f[2]["count"] == len(out), (f, len(out))
                return out
            out[f[2]["name"]] = f[2]

    def wait(self, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = st
                self.reader.join(2)
                return st
            time.sleep(0.01)
        raise AssertionError("worker did not exit")

    def stop(self):
        if self.status is None:
            try:
                self.send("MSG_SHUTDOWN", {"nonce": 1})
            except OSError:
                pass
            try:
                self.wait(5)
            except AssertionError:
                os.kill(self.pid, signal.SIGKILL)
                self.wait(5)
        self.sock.close()


def kube_args(fake, **extra):
    args = {"kubeconfig": fake.kubeconfig_path, "log_format": "json",
            "log_level": "debug", "candidate_label": "%s=%s" % CAND,
            "active_label": "%s=%s" % ACTIVE, "lease_namespace": "default",
            "lease_name": "stable-egress-controller.tuist.dev",
            "identity": "e2e-1_abcdef"}
    args.update(extra)
    return args


def watches(fake, selector_key, since=0.0):
    """Watch requests of one selector (by label key) after since."""
    out = []
    for e in fake.request_log("/api/v1/nodes"):
        q = urllib.parse.parse_qs(e["query"])
        if e["time"] >= since and q.get("watch") == ["true"] and \
                selector_key in q.get("labelSelector", [""])[0]:
            out.append((e, q))
    return out


def snapshot_names(fake):
    """Nodes the worker reports: candidates or active ones."""
    return [n["metadata"]["name"] for n in fake.nodes()
            if n["metadata"].get("labels", {}).get(CAND[0]) == CAND[1] or
            n["metadata"].get("labels", {}).get(ACTIVE[0]) == ACTIVE[1]]


def lists(fake, since=0.0, path="/api/v1/nodes"):
    return [e for e in fake.request_log(path) if e["time"] >= since and
            e["method"] == "GET" and "watch=true" not in e["query"]]


class FakeCase(unittest.TestCase):
    """One fake API server for the class; a fresh worker per test."""
    extra = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="k8s-worker-e2e-")
        cls.fake = FakeKube(cls.tmp.name, candidate_nodes=3,
                            bookmark_interval=1.0).start()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()
        cls.tmp.cleanup()

    def start_worker(self, **extra):
        args = kube_args(self.fake, **dict(self.extra, **extra))
        w = Worker(args)
        self.addCleanup(w.stop)
        hello = w.hello()
        self.assertEqual(hello["status"], 0, hello)
        w.ping()
        return w

    def setUp(self):
        self.fake.clear_faults()

    def settle(self, n=2):
        """Until n watches are open and each saw a bookmark: a watch that
        ends within 1 s without events is an error (client-go), and a
        fault set now must hit the next request, not a first watch."""
        deadline = time.monotonic() + 5
        while self.fake.state()["watches"] < n:
            self.assertLess(time.monotonic(), deadline, "watches not open")
            time.sleep(0.05)
        time.sleep(1.3)


class TestNodes(FakeCase):

    def test_hello_and_lockdown(self):
        w = self.start_worker()
        w.snapshot()
        with open("/proc/%d/status" % w.pid) as f:
            st = dict(line.rstrip("\n").split(":\t", 1) for line in f
                      if ":\t" in line)
        self.assertEqual(st["CapEff"], "0000000000000000")
        self.assertEqual(st["CapPrm"], "0000000000000000")
        self.assertEqual(st["NoNewPrivs"], "1")
        self.assertEqual(st["Seccomp"], "2")
        with open("/proc/%d/comm" % w.pid) as f:
            self.assertEqual(f.read().strip(), "k8s-worker")
        fds = {}
        for fd in os.listdir("/proc/%d/fd" % w.pid):
            fds[int(fd)] = os.readlink("/proc/%d/fd/%s" % (w.pid, fd))
        self.assertTrue(fds[2].startswith("pipe:"), fds)
        self.assertTrue(fds[3].startswith("socket:"), fds)
        # Nothing else but the API connections (sockets).
        for fd, target in fds.items():
            self.assertTrue(fd == 2 or target.startswith("socket:"),
                            (fd, target))
        # PING is answered at once.
        for i in range(5):
            t0 = time.monotonic()
            seq = w.send("MSG_PING_REQ", {"nonce": 1000 + i})
            ans = w.expect(lambda f: f[0] == "MSG_PING_ANS" and f[1] == seq,
                           1.0)
            self.assertEqual(ans[2]["nonce"], 1000 + i)
            self.assertLess(time.monotonic() - t0, 0.1)

    def test_logs_held_until_first_ping(self):
        w = Worker(kube_args(self.fake))
        self.addCleanup(w.stop)
        self.assertEqual(w.hello()["status"], 0)
        w.snapshot()
        time.sleep(0.2)
        self.assertEqual(w.stderr, [])
        w.ping()
        deadline = time.monotonic() + 2
        while not any('"listed"' in line for line in w.stderr):
            self.assertLess(time.monotonic(), deadline, w.stderr)
            time.sleep(0.02)
        for line in w.stderr:
            self.assertEqual(json.loads(line)["component"], "k8s-worker")

    def test_snapshot_then_deltas(self):
        w = self.start_worker()
        snap = w.snapshot()
        for i in range(3):
            n = snap["candidate-%05d" % i]
            self.assertEqual(n["flags"], NODE_F["ready"] | NODE_F["candidate"])
            self.assertGreater(n["server_id"], 0)
            self.assertRegex(n["addrs"], r"^127\.1\.[0-9.]+( |$)")
        self.assertEqual(len([s for s in w.stats if s["code"] == 200]), 2)
        f = self.fake
        f.create_node({"name": "delta-a", "labels": dict([CAND]),
                       "providerID": "hcloud://777",
                       "externalIP": "127.9.0.1"})
        n = w.node("delta-a")
        self.assertEqual(n["server_id"], 777)
        self.assertRegex(n["addrs"], r"^127\.1\.[0-9.]+ 127\.9\.0\.1$")
        self.assertEqual(n["flags"], NODE_F["ready"] | NODE_F["candidate"])
        f.patch_node("delta-a", {"ready": "False"})
        self.assertEqual(w.node("delta-a")["flags"], NODE_F["candidate"])
        f.patch_node("delta-a", {"ready": "True", "unschedulable": True})
        self.assertEqual(w.node("delta-a")["flags"], NODE_F["ready"] |
                         NODE_F["candidate"] | NODE_F["unsched"])
        f.create_node({"name": "delta-robot", "labels": dict([CAND]),
                       "providerID": "hrobot://5"})
        self.assertEqual(w.node("delta-robot")["server_id"], 0)
        # A non-candidate gets the active label: one record, both flags
        # once it is a candidate too.
        f.create_node({"name": "delta-b"})
        f.patch_node("delta-b", {"labels": dict([ACTIVE])})
        self.assertEqual(w.node("delta-b")["flags"],
                         NODE_F["ready"] | NODE_F["active"])
        f.patch_node("delta-b", {"labels": dict([CAND])})
        self.assertEqual(w.node("delta-b")["flags"], NODE_F["ready"] |
                         NODE_F["active"] | NODE_F["candidate"])
        f.patch_node("delta-b", {"labels": {ACTIVE[0]: None}})
        self.assertEqual(w.node("delta-b")["flags"],
                         NODE_F["ready"] | NODE_F["candidate"])
        # Leaving both selectors is a deletion.
        f.patch_node("delta-b", {"labels": {CAND[0]: None}})
        w.expect(lambda f: f[0] == "MSG_KUBE_NODE_DEL" and
                 f[2]["name"] == "delta-b", 5, "NODE_DEL delta-b")
        f.patch_node("delta-a", {"deleting": True})
        self.assertTrue(w.node("delta-a")["flags"] & NODE_F["deleting"])
        f.delete_node("delta-a")
        f.patch_node("delta-a", {"finalizers": []})
        w.expect(lambda f: f[0] == "MSG_KUBE_NODE_DEL" and
                 f[2]["name"] == "delta-a", 5, "NODE_DEL delta-a")
        # A node outside both selectors is never reported.
        w.pump(0.3)
        self.assertFalse([x for x in w.frames if x[0] == "MSG_KUBE_NODE"
                          and x[2]["name"] == "delta-b"])

    def test_every_address_reaches_the_supervisor(self):
        # Every InternalIP, then every ExternalIP, each once; Hostname
        # is not an address to dial.
        w = self.start_worker()
        w.snapshot()
        self.fake.create_node({"name": "multi-a", "labels": dict([CAND]),
                               "providerID": "hcloud://778",
                               "internalIP": ["127.9.1.1", "127.9.1.2"],
                               "externalIP": ["127.9.1.3", "127.9.1.1"]})
        self.assertEqual(w.node("multi-a")["addrs"],
                         "127.9.1.1 127.9.1.2 127.9.1.3")
        self.fake.patch_node("multi-a", {"internalIP": ["127.9.1.2"]})
        self.assertEqual(w.node("multi-a")["addrs"],
                         "127.9.1.2 127.9.1.3 127.9.1.1")
        self.fake.delete_node("multi-a")

    def test_bad_address_left_out_node_kept(self):
        # An address that is not a numeric IP must not hide the node: it
        # arrives with its other addresses, and one line says why.
        w = self.start_worker()
        w.snapshot()
        self.fake.create_node({"name": "multi-b", "labels": dict([CAND]),
                               "providerID": "hcloud://779",
                               "internalIP": ["node-b.internal", "127.9.2.1"],
                               "unschedulable": True})
        n = w.node("multi-b")
        self.assertEqual(n["addrs"], "127.9.2.1")
        self.assertEqual(n["flags"], NODE_F["ready"] | NODE_F["candidate"] |
                         NODE_F["unsched"])
        w.pump(0.3)
        lines = [json.loads(l) for l in w.stderr if "left out" in l]
        self.assertEqual([(l["node"], l["count"]) for l in lines],
                         [("multi-b", "1")], w.stderr)
        self.fake.delete_node("multi-b")

    def test_heartbeat_sends_nothing(self):
        w = self.start_worker()
        w.snapshot()
        for _ in range(5):
            self.fake.patch_node("candidate-00001", {"heartbeat": True})
            time.sleep(0.1)
        w.pump(1.0)
        self.assertEqual([x for x in w.frames if x[0].startswith(
            "MSG_KUBE_NODE")], [])
        # But a real change right after still arrives.
        self.fake.patch_node("candidate-00001", {"externalIP": "127.9.9.9"})
        self.assertTrue(w.node("candidate-00001")["addrs"].endswith(
                        " 127.9.9.9"))

    def test_gone_relists_without_losing_a_change(self):
        w = self.start_worker()
        w.snapshot()
        self.settle()
        t0 = time.time()
        self.fake.add_fault({"gone_next_watch": 2})
        self.fake.close_watches("drop")
        self.fake.create_node({"name": "after-gone", "labels": dict([CAND])})
        # In the candidate selector's relist snapshot (the active one's
        # may come first).
        deadline = time.monotonic() + 10
        while "after-gone" not in w.snapshot(timeout=10):
            self.assertLess(time.monotonic(), deadline)
        self.assertTrue(lists(self.fake, t0), "no relist after 410")

    def test_dropped_watch_rewatches_from_rv(self):
        w = self.start_worker()
        w.snapshot()
        self.settle()
        t0 = time.time()
        self.fake.close_watches("drop")
        self.fake.create_node({"name": "after-drop", "labels": dict([CAND])})
        w.node("after-drop")
        self.assertEqual(lists(self.fake, t0), [], "dropped watch relisted")
        self.settle()
        self.fake.close_watches("clean")
        self.fake.patch_node("after-drop", {"ready": "False"})
        w.expect(lambda f: f[0] == "MSG_KUBE_NODE" and f[2]["name"] ==
                 "after-drop" and f[2]["flags"] == NODE_F["candidate"], 5,
                 "NODE after-drop not ready")
        self.assertEqual(lists(self.fake, t0), [], "clean end relisted")

    def test_bookmarks_advance_rv(self):
        w = self.start_worker()
        w.snapshot()
        # A change no watch of ours sees moves the store's RV; only a
        # bookmark can tell the worker about it.
        self.fake.create_node({"name": "unwatched-1"})
        rv = self.fake.state()["resourceVersion"]
        time.sleep(2.5)
        t0 = time.time()
        self.fake.close_watches("clean")
        deadline = time.time() + 5
        while time.time() < deadline and len(watches(
                self.fake, CAND[0], t0)) < 1:
            time.sleep(0.05)
        got = watches(self.fake, CAND[0], t0)
        self.assertTrue(got, "no re-watch")
        self.assertGreaterEqual(int(got[0][1]["resourceVersion"][0]),
                                int(rv))

    def test_throttled_watch_honours_retry_after(self):
        w = self.start_worker()
        w.snapshot()
        self.settle()
        self.fake.add_fault({"fail": {"count": 1, "mode": "429",
                                      "retry_after": 2,
                                      "path": "watch=true.*candidate"}})
        t0 = time.time()
        self.fake.close_watches("drop")
        deadline = time.time() + 8
        while time.time() < deadline:
            got = watches(self.fake, CAND[0], t0)
            if len(got) >= 2 and got[0][0]["status"] == 429:
                break
            time.sleep(0.1)
        self.assertGreaterEqual(len(got), 2, got)
        first, second = got[0][0], got[1][0]
        self.assertEqual(first["status"], 429)
        self.assertGreaterEqual(second["time"] - first["time"], 1.9)
        # Re-watched from the same RV, no list.
        self.assertEqual(got[0][1]["resourceVersion"],
                         got[1][1]["resourceVersion"])
        self.assertEqual(lists(self.fake, t0), [])

    def test_stalled_watch_is_restarted(self):
        w = self.start_worker(watch_stall_s="2")
        w.snapshot()
        self.settle()
        self.fake.add_fault({"stall_watches": True})
        t0 = time.time()
        time.sleep(3.5)
        self.fake.clear_faults()
        got = watches(self.fake, CAND[0], t0)
        self.assertTrue(got, "stalled watch not restarted")
        self.assertTrue(any("watch stalled" in line for line in w.stderr))
        self.fake.create_node({"name": "after-stall",
                               "labels": dict([CAND])})
        w.node("after-stall")

    def test_malformed_replies(self):
        w = self.start_worker()
        w.snapshot()
        t0 = time.time()
        for mode in ("garbage", "truncated"):
            self.fake.add_fault({"fail": {"count": 1, "mode": mode,
                                          "path": "watch=true.*candidate"}})
        self.fake.add_fault({"fail": {"count": 2, "mode": "garbage",
                                      "path": "nodes\\?limit"}})
        self.fake.close_watches("drop")
        self.fake.create_node({"name": "after-garbage",
                               "labels": dict([CAND])})
        # Each node selector relists on its own; the candidate one's
        # snapshot has the node.
        deadline = time.monotonic() + 20
        while "after-garbage" not in w.snapshot(timeout=20):
            self.assertLess(time.monotonic(), deadline)
        self.assertTrue(lists(self.fake, t0))
        self.assertTrue(any("undecodable" in line for line in w.stderr),
                        w.stderr[-5:])
        self.assertIsNone(w.status)

    def test_release_binary_has_no_test_hook(self):
        if not os.access(REL_BIN, os.X_OK):
            self.skipTest("build/stable-egressd missing")
        w = Worker(kube_args(self.fake), binary=REL_BIN)
        self.addCleanup(w.stop)
        self.assertEqual(w.hello()["status"], 0)
        w.send("MSG_TEST_SYSCALL_REQ", {"nr": 39})   # getpid
        st = w.wait(5)
        self.assertTrue(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 1, st)

    def test_forbidden_syscall_is_killed(self):
        for nr in (SYS_PTRACE, SYS_EXECVE):
            w = self.start_worker()
            w.send("MSG_TEST_SYSCALL_REQ", {"nr": nr})
            st = w.wait(5)
            self.assertTrue(os.WIFSIGNALED(st), st)
            self.assertEqual(os.WTERMSIG(st), signal.SIGSYS)

    def kubeconfig_variant(self, name, old, new):
        with open(self.fake.kubeconfig_path) as f:
            text = f.read()
        self.assertIn(old, text)
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text.replace(old, new, 1))
        return path

    def test_tls_server_name_and_verification(self):
        kc = self.kubeconfig_variant(
            "kc-sni", "certificate-authority-data",
            "tls-server-name: kubernetes\n    certificate-authority-data")
        w = self.start_worker(kubeconfig=kc)
        self.assertEqual(len(w.snapshot()), len(snapshot_names(self.fake)))
        w.stop()
        # A name the certificate does not carry, or another CA: refused.
        other = os.path.join(self.tmp.name, "other-ca")
        os.makedirs(other, exist_ok=True)
        make_certs(other)
        with open(os.path.join(other, "ca.crt"), "rb") as f:
            leaf = base64.b64encode(f.read()).decode()
        with open(self.fake.kubeconfig_path) as f:
            text = f.read()
        start = text.index("certificate-authority-data: ") + 28
        end = text.index("\n", start)
        for name, kc in (
                ("kc-badname", self.kubeconfig_variant(
                    "kc-badname", "certificate-authority-data",
                    "tls-server-name: elsewhere.example\n"
                    "    certificate-authority-data")),
                ("kc-otherca", self.kubeconfig_variant(
                    "kc-otherca", text[start:end], leaf))):
            w = self.start_worker(kubeconfig=kc)
            st = w.expect(lambda f: f[0] == "MSG_KUBE_STATUS", 5,
                          "STATUS")[2]
            self.assertEqual(st["api_ok"], 0, name)
            self.assertFalse([x for x in w.frames
                              if x[0] == "MSG_KUBE_SYNC_BEGIN"], name)
            self.assertTrue(all(s["code"] == 0 for s in w.stats), name)
            w.stop()

    def test_unreachable_api(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        kc = self.kubeconfig_variant(
            "kc-closed", "https://127.0.0.1:%d" % self.fake.api_port,
            "https://127.0.0.1:%d" % port)
        w = self.start_worker(kubeconfig=kc)
        st = w.expect(lambda f: f[0] == "MSG_KUBE_STATUS", 5, "STATUS")[2]
        self.assertEqual(st["api_ok"], 0)
        self.assertEqual(w.stats[0]["code"], 0)
        # Still answering while it backs off.
        seq = w.send("MSG_PING_REQ", {"nonce": 9})
        w.expect(lambda f: f[0] == "MSG_PING_ANS" and f[1] == seq, 1)

    def test_check_mode_makes_no_request(self):
        t0 = time.time()
        w = self.start_worker(check="1")
        seq = w.send("MSG_PING_REQ", {"nonce": 5})
        w.expect(lambda f: f[0] == "MSG_PING_ANS" and f[1] == seq, 2)
        time.sleep(0.5)
        self.assertEqual([e for e in self.fake.request_log()
                          if e["time"] >= t0], [])
        w.send("MSG_SHUTDOWN", {"nonce": 0})
        st = w.wait(3)
        self.assertTrue(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, st)


class TestWrites(FakeCase):

    def test_label_patch_only_active_key(self):
        w = self.start_worker()
        w.snapshot()
        self.fake.create_node({"name": "lab-1", "labels": dict([CAND])})
        ans = w.request("MSG_KUBE_LABEL_REQ", {"node": "lab-1", "set": 1})
        self.assertEqual(ans["result"], RES["OK"], ans)
        labels = self.fake.api.get(NODES, "", "lab-1").data["metadata"][
            "labels"]
        self.assertEqual(labels.get(ACTIVE[0]), ACTIVE[1])
        w.expect(lambda f: f[0] == "MSG_KUBE_NODE" and f[2]["name"] ==
                 "lab-1" and f[2]["flags"] & NODE_F["active"], 5,
                 "NODE lab-1 active")
        patch = [e for e in self.fake.request_log("/api/v1/nodes/lab-1")
                 if e["method"] == "PATCH"][-1]
        self.assertEqual(patch["content_type"],
                         "application/merge-patch+json")
        self.assertEqual(json.loads(patch["body"]), {
            "metadata": {"labels": {ACTIVE[0]: ACTIVE[1]}}})
        ans = w.request("MSG_KUBE_LABEL_REQ", {"node": "lab-1", "set": 0})
        self.assertEqual(ans["result"], RES["OK"])
        patch = [e for e in self.fake.request_log("/api/v1/nodes/lab-1")
                 if e["method"] == "PATCH"][-1]
        self.assertEqual(json.loads(patch["body"]), {
            "metadata": {"labels": {ACTIVE[0]: None}}})
        w.expect(lambda f: f[0] == "MSG_KUBE_NODE" and f[2]["name"] ==
                 "lab-1" and not f[2]["flags"] & NODE_F["active"], 5,
                 "NODE lab-1 not active")
        ans = w.request("MSG_KUBE_LABEL_REQ", {"node": "missing", "set": 1})
        self.assertEqual(ans["result"], RES["NOT_FOUND"])
        self.assertEqual(ans["code"], 404)
        n = len(self.fake.request_log())
        ans = w.request("MSG_KUBE_LABEL_REQ", {"node": "../x", "set": 1})
        self.assertEqual(ans["result"], RES["INVALID"])
        self.assertEqual(len(self.fake.request_log()), n)
        stats = [s for s in w.stats if s["code"] == 404]
        self.assertTrue(stats, "no API_STAT for the 404")

    def test_lease_create_get_update_conflict(self):
        w = self.start_worker(lease_name="e2e-lease")
        ans = w.request("MSG_KUBE_LEASE_GET_REQ", {"lease": {}})
        self.assertEqual(ans["result"], RES["NOT_FOUND"])
        lease = {"holder": "e2e-1_abcdef", "duration_s": 15,
                 "acquire_time": "2026-03-01T10:00:00.000000Z",
                 "renew_time": "2026-03-01T10:00:00.000000Z",
                 "transitions": 0}
        ans = w.request("MSG_KUBE_LEASE_CREATE_REQ", {"lease": lease})
        self.assertEqual(ans["result"], RES["OK"], ans)
        got = ans["lease"]
        self.assertEqual(got["holder"], "e2e-1_abcdef")
        self.assertEqual(got["duration_s"], 15)
        self.assertEqual(got["acquire_time"], lease["acquire_time"])
        self.assertTrue(got["rv"])
        ans = w.request("MSG_KUBE_LEASE_CREATE_REQ", {"lease": lease})
        self.assertEqual(ans["result"], RES["EXISTS"], ans)
        ans = w.request("MSG_KUBE_LEASE_GET_REQ", {"lease": {}})
        self.assertEqual(ans["result"], RES["OK"])
        self.assertEqual(ans["lease"], got)
        upd = dict(got, renew_time="2026-03-01T10:00:02.517204Z",
                   transitions=1)
        ans = w.request("MSG_KUBE_LEASE_UPDATE_REQ", {"lease": upd})
        self.assertEqual(ans["result"], RES["OK"], ans)
        self.assertEqual(ans["lease"]["renew_time"],
                         "2026-03-01T10:00:02.517204Z")
        self.assertEqual(ans["lease"]["transitions"], 1)
        self.assertNotEqual(ans["lease"]["rv"], got["rv"])
        # The RV we wrote against is stale now.
        ans = w.request("MSG_KUBE_LEASE_UPDATE_REQ", {"lease": upd})
        self.assertEqual(ans["result"], RES["CONFLICT"], ans)
        self.assertEqual(ans["code"], 409)
        # Validated before any request.
        n = len(self.fake.request_log())
        for bad in (dict(upd, renew_time="2026-03-01T10:00:02.517Z"),
                    dict(upd, rv="")):
            ans = w.request("MSG_KUBE_LEASE_UPDATE_REQ", {"lease": bad})
            self.assertEqual(ans["result"], RES["INVALID"], ans)
        self.assertEqual(len(self.fake.request_log()), n)
        stored = [x for x in self.fake.leases()
                  if x["metadata"]["name"] == "e2e-lease"][0]
        self.assertEqual(stored["spec"]["holderIdentity"], "e2e-1_abcdef")

    def test_event_create(self):
        w = self.start_worker()
        ans = w.request("MSG_KUBE_EVENT_REQ", {
            "node": "candidate-00000", "warning": 1, "reason": "Failover",
            "action": "AssignFloatingIP", "note": "moved to candidate-0"})
        self.assertEqual(ans["result"], RES["OK"], ans)
        ev = [e for e in self.fake.events() if e["reason"] == "Failover"][-1]
        self.assertEqual(ev["type"], "Warning")
        self.assertEqual(ev["regarding"]["kind"], "Node")
        self.assertEqual(ev["regarding"]["name"], "candidate-00000")
        self.assertEqual(ev["reportingController"],
                         "tuist.dev/stable-egress-controller")
        self.assertEqual(ev["reportingInstance"], "e2e-1_abcdef")
        self.assertEqual(ev["note"], "moved to candidate-0")
        self.assertEqual(ev["metadata"]["namespace"], "default")
        self.assertTrue(ev["metadata"]["name"].startswith("candidate-00000."))
        ans = w.request("MSG_KUBE_EVENT_REQ", {
            "node": "candidate-00000", "reason": "", "action": "x"})
        self.assertEqual(ans["result"], RES["INVALID"])

    def test_throttled_and_failed_writes(self):
        w = self.start_worker()
        self.fake.add_fault({"fail": {"count": 1, "mode": "429",
                                      "retry_after": 3, "method": "PATCH"}})
        ans = w.request("MSG_KUBE_LABEL_REQ", {"node": "candidate-00000",
                                               "set": 0})
        self.assertEqual(ans["result"], RES["THROTTLED"], ans)
        self.assertEqual(ans["retry_after_ms"], 3000)
        self.fake.add_fault({"fail": {"count": 1, "mode": "503",
                                      "method": "PATCH"}})
        ans = w.request("MSG_KUBE_LABEL_REQ", {"node": "candidate-00000",
                                               "set": 0})
        self.assertEqual(ans["result"], RES["TRANSIENT"], ans)
        self.fake.add_fault({"fail": {"count": 1, "mode": "garbage",
                                      "path": "leases"}})
        ans = w.request("MSG_KUBE_LEASE_GET_REQ", {"lease": {}})
        self.assertEqual(ans["result"], RES["MALFORMED"], ans)


class TestEventsFallback(FakeCase):
    """Events go to core/v1 when events.k8s.io answers 403 (the reference
    chart's RBAC grants only core events) or 404 (group not served); the
    worker remembers which API works and never loops on a 403."""

    def event(self, w, reason):
        return w.request("MSG_KUBE_EVENT_REQ", {
            "node": "candidate-00000", "warning": 0, "reason": reason,
            "action": "Label", "note": "n"})

    def event_posts(self, since):
        return [(e["path"], e["status"]) for e in self.fake.request_log(
            "/events") if e["time"] >= since and e["method"] == "POST"]

    def reference_rbac(self):
        sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
        from test_deploy import yaml_load_all
        with open(os.path.join(ROOT, "tests", "fixtures",
                               "reference-chart-rbac.yaml")) as f:
            objs = yaml_load_all(f.read())
        self.fake.set_rbac(objs, "kube-system", "stable-egress-controller")
        self.addCleanup(self.fake.set_rbac, None, None, None)

    def test_forbidden_falls_back_to_core_once(self):
        self.reference_rbac()
        w = self.start_worker(lease_namespace="kube-system")
        t0 = time.time()
        self.assertEqual(self.event(w, "First")["result"], RES["OK"])
        self.assertEqual(self.event(w, "Second")["result"], RES["OK"])
        self.assertEqual(self.event_posts(t0), [
            ("/apis/events.k8s.io/v1/namespaces/default/events", 403),
            ("/api/v1/namespaces/default/events", 201),
            ("/api/v1/namespaces/default/events", 201)])
        core = [e for e in self.fake.events("core")
                if e["reason"] in ("First", "Second")]
        self.assertEqual(len(core), 2)
        self.assertEqual(core[0]["involvedObject"]["name"],
                         "candidate-00000")

    def test_not_found_falls_back_to_core(self):
        w = self.start_worker()
        t0 = time.time()
        self.fake.add_fault({"fail": {"count": 1, "mode": "404",
                                      "path": "events.k8s.io"}})
        self.assertEqual(self.event(w, "Third")["result"], RES["OK"])
        self.assertEqual(self.event(w, "Fourth")["result"], RES["OK"])
        self.assertEqual(
            [p for p, _ in self.event_posts(t0)],
            ["/apis/events.k8s.io/v1/namespaces/default/events",
             "/api/v1/namespaces/default/events",
             "/api/v1/namespaces/default/events"])

    def test_forbidden_everywhere_is_not_retried(self):
        self.fake.set_rbac([], "kube-system", "stable-egress-controller")
        self.addCleanup(self.fake.set_rbac, None, None, None)
        w = self.start_worker(lease_namespace="kube-system")
        t0 = time.time()
        ans = self.event(w, "Denied")
        self.assertEqual(ans["result"], RES["FORBIDDEN"], ans)
        for _ in range(3):
            self.assertEqual(self.event(w, "Denied")["result"],
                             RES["FORBIDDEN"])
        # one try per API, then nothing more on the wire
        self.assertEqual(len(self.event_posts(t0)), 2)


class TestPods(FakeCase):
    extra = {"prepared_label": "%s=%s" % PREP,
             "prepared_namespace": "kube-system"}

    def test_prepared_pods(self):
        self.fake.create_pod({"namespace": "kube-system", "name": "hc-1",
                              "nodeName": "candidate-00000",
                              "labels": dict([PREP]), "ready": True})
        self.fake.create_pod({"namespace": "default", "name": "other",
                              "nodeName": "candidate-00000",
                              "labels": dict([PREP]), "ready": True})
        w = self.start_worker()
        pods = w.snapshot(kind=2)
        self.assertEqual(pods, {"hc-1": {"name": "hc-1",
                                         "node": "candidate-00000",
                                         "ready": 1}})
        self.fake.patch_pod("kube-system", "hc-1", {"ready": False})
        p = w.expect(lambda f: f[0] == "MSG_KUBE_POD", 5, "POD")[2]
        self.assertEqual(p["ready"], 0)

        self.fake.delete_pod("kube-system", "hc-1")
        w.expect(lambda f: f[0] == "MSG_KUBE_POD_DEL" and
                 f[2]["name"] == "hc-1", 5, "POD_DEL")
        # terminating but still Ready: not prepared (as the reference)
        self.fake.create_pod({"namespace": "kube-system", "name": "hc-2",
                              "nodeName": "candidate-00001",
                              "labels": dict([PREP]), "ready": True})
        p = w.expect(lambda f: f[0] == "MSG_KUBE_POD", 5, "POD")[2]
        self.assertEqual((p["name"], p["ready"]), ("hc-2", 1))
        self.fake.patch_pod("kube-system", "hc-2", {"deleting": True})
        p = w.expect(lambda f: f[0] == "MSG_KUBE_POD", 5, "POD")[2]
        self.assertEqual((p["name"], p["ready"]), ("hc-2", 0))


class TestBigPages(FakeCase):
    """List pages over the 4 MiB reply cap are asked for in halves."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="k8s-worker-e2e-")
        cls.fake = FakeKube(cls.tmp.name, candidate_nodes=120,
                            node_bytes=60000).start()

    def test_page_too_big_asks_for_fewer(self):
        w = self.start_worker()
        self.assertEqual(len(w.snapshot(timeout=30)), 120)
        self.assertTrue(any("fewer items" in line for line in w.stderr))
        limits = [urllib.parse.parse_qs(e["query"]).get("limit")
                  for e in lists(self.fake)]
        self.assertIn(["100"], limits)
        self.assertIn(["50"], limits)


class TestBigEvent(FakeCase):
    """A watch event over the line cap ends that watch, nothing else."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="k8s-worker-e2e-")
        cls.fake = FakeKube(cls.tmp.name, candidate_nodes=1,
                            node_bytes=2500000).start()

    def test_event_over_cap(self):
        w = self.start_worker()
        self.assertEqual(len(w.snapshot(timeout=30)), 1)
        self.settle(2)
        self.fake.patch_node("candidate-00000", {"ready": "False"})
        deadline = time.monotonic() + 5
        while not any("larger than 2 MiB" in line for line in w.stderr):
            self.assertLess(time.monotonic(), deadline, w.stderr[-3:])
            w.pump(0.1)
        seq = w.send("MSG_PING_REQ", {"nonce": 3})
        w.expect(lambda f: f[0] == "MSG_PING_ANS" and f[1] == seq, 1)
        self.assertIsNone(w.status)


class TestToken(FakeCase):
    """A tokenFile kubeconfig, so a rotation is visible to the worker."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with open(cls.fake.kubeconfig_path) as f:
            text = f.read()
        start = text.index("    token: ")
        end = text.index("\n", start)
        cls.kc = os.path.join(cls.tmp.name, "kubeconfig-tokenfile")
        with open(cls.kc, "w") as f:
            f.write(text[:start] + "    tokenFile: token" + text[end:])
        # The fake rotates by rename, as the kubelet's projected volume
        # does: mark the directory as one ("..data"), so Landlock grants
        # the directory and not the first token file alone.
        assert os.path.dirname(cls.fake.kubeconfig_path) == cls.tmp.name
        os.symlink(".", os.path.join(cls.tmp.name, "..data"))

    def test_token_reread(self):
        w = self.start_worker(kubeconfig=self.kc, token_reread_s="1")
        w.snapshot()
        self.fake.rotate_token(grace=3)
        time.sleep(4.5)
        t0 = time.time()
        ans = w.request("MSG_KUBE_LABEL_REQ", {"node": "candidate-00002",
                                               "set": 0})
        self.assertEqual(ans["result"], RES["OK"], ans)
        self.assertFalse([e for e in self.fake.request_log()
                          if e["time"] >= t0 and e["status"] == 401])
        self.assertTrue(any("token changed" in line for line in w.stderr))

    def test_unauthorized_then_reread(self):
        w = self.start_worker(kubeconfig=self.kc, token_reread_s="3600")
        w.snapshot()
        token = self.fake.rotate_token(grace=0)
        ans = w.request("MSG_KUBE_LABEL_REQ", {"node": "candidate-00002",
                                               "set": 0})
        self.assertEqual(ans["result"], RES["UNAUTHORIZED"], ans)
        ans = w.request("MSG_KUBE_LABEL_REQ", {"node": "candidate-00002",
                                               "set": 0})
        self.assertEqual(ans["result"], RES["OK"], ans)
        # Watches started before go on; new ones use the new token.
        self.fake.close_watches("drop")
        self.fake.create_node({"name": "after-401", "labels": dict([CAND])})
        w.node("after-401")
        self.assertNotIn(token, "".join(w.stderr))

    def test_token_in_no_frame_and_no_log(self):
        w = self.start_worker(kubeconfig=self.kc)
        w.snapshot()
        w.request("MSG_KUBE_LABEL_REQ", {"node": "candidate-00001",
                                         "set": 1})
        w.request("MSG_KUBE_LEASE_GET_REQ", {"lease": {}})
        w.request("MSG_KUBE_EVENT_REQ", {"node": "candidate-00001",
                                         "reason": "R", "action": "A"})
        self.fake.revoke_token()
        w.request("MSG_KUBE_LABEL_REQ", {"node": "candidate-00001",
                                         "set": 0})
        self.fake.rotate_token(grace=0)
        w.stop()
        with open(os.path.join(self.tmp.name, "token")) as f:
            tokens = [f.read().strip()]
        tokens += [t for t in self.fake.tokens]
        blob = b"".join(w.raw) + "".join(w.stderr).encode()
        for t in tokens:
            self.assertNotIn(t.encode(), blob)


class TestInCluster(unittest.TestCase):

    def test_in_cluster_config(self):
        with tempfile.TemporaryDirectory(prefix="k8s-incluster-") as d:
            fake = FakeKube(d, candidate_nodes=2).start()
            try:
                sa = os.path.join(d, "sa")
                os.mkdir(sa)
                with open(os.path.join(d, "ca.crt")) as f:
                    ca = f.read()
                with open(os.path.join(sa, "ca.crt"), "w") as f:
                    f.write(ca)
                with open(os.path.join(sa, "token"), "w") as f:
                    f.write(fake.token + "\n")
                with open(os.path.join(sa, "namespace"), "w") as f:
                    f.write("default\n")
                w = Worker({"service_host": "127.0.0.1",
                            "service_port": str(fake.api_port),
                            "sa_dir": sa, "identity": "ic"})
                self.addCleanup(w.stop)
                self.assertEqual(w.hello()["status"], 0)
                self.assertEqual(len(w.snapshot()), 2)
            finally:
                fake.stop()


class TestConfigErrors(unittest.TestCase):

    def check(self, text, needle, name="kubeconfig", args=None):
        with tempfile.TemporaryDirectory(prefix="k8s-config-") as d:
            path = os.path.join(d, name)
            if text is not None:
                with open(path, "w") as f:
                    f.write(text)
            t0 = time.monotonic()
            w = Worker(dict(args or {}, kubeconfig=path))
            self.addCleanup(w.stop)
            hello = w.hello()
            st = w.wait(3)
            self.assertLess(time.monotonic() - t0, 2.0)
        self.assertEqual(hello["status"], 1, hello)
        self.assertTrue(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 2, st)
        self.assertIn(path, hello["err"])
        self.assertIn(needle, hello["err"])
        self.assertNotIn("\n", hello["err"])
        # The supervisor prints the one line; the worker adds none.
        self.assertEqual(w.stderr, [])

    GOOD = ("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
            "clusters:\n- name: k\n  cluster:\n    server: "
            "https://127.0.0.1:6443\n    %s\n"
            "users:\n- name: u\n  user: {%s}\n")

    def test_malformed(self):
        self.check("apiVersion: v1\ncontexts: [\n", "line ")

    def test_missing_current_context(self):
        self.check(self.GOOD.replace("current-context: c\n", "") % (
            "certificate-authority-data: eA==", "token: t"),
            "no current-context")

    def test_insecure_refused(self):
        self.check(self.GOOD % ("insecure-skip-tls-verify: true",
                                "token: t"), "insecure-skip-tls-verify")

    def test_exec_refused(self):
        self.check(self.GOOD % ("insecure-skip-tls-verify: false",
                                "exec: {command: aws}"),
                   'user "u": exec')

    def test_dangling_context(self):
        self.check(self.GOOD.replace("current-context: c",
                                     "current-context: nope") % (
            "insecure-skip-tls-verify: false", "token: t"),
            'context "nope" not found')

    def test_missing_file(self):
        self.check(None, "No such file")


if __name__ == "__main__":
    unittest.main()
