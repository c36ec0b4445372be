"""test_hcloud_worker.py: the real hcloud worker against the fake Hetzner API.

The worker binary is spawned exactly as the supervisor does (fd 3 on a
SOCK_SEQPACKET socketpair, key=value arguments) and driven with the
frames of tests/fakes/peer.py; the fake (tests/fakes/hcloud.py) runs in
this process and its request log is the witness of what the worker sent.
Nothing is built here: run `make test-bin` first (a missing binary skips
with the reason).  STABLE_EGRESSD_BIN / STABLE_EGRESSD_TEST_BIN override
the binaries' paths.
"""
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))

from hcloud import FakeHcloud  # noqa: E402
from peer import RESULTS, Peer, encode  # noqa: E402

BIN = os.environ.get("STABLE_EGRESSD_BIN",
                     os.path.join(ROOT, "build", "stable-egressd"))
TEST_BIN = os.environ.get("STABLE_EGRESSD_TEST_BIN",
                          os.path.join(ROOT, "build", "test", "stable-egressd"))

RES = {name: i for i, name in enumerate(RESULTS)}
HELLO_READY, HELLO_CONFIG = 0, 1
WORKER_HCLOUD = 2
NODE_A, NODE_B, NODE_C, NODE_ROUND = 2**40 + 1, 2**40 + 2, 2**40 + 3, 10**15
FIP_V4, FIP_V4B, FIP_V6 = 2**40 + 101, 2**40 + 102, 2**40 + 103
FIPS = "egress-v4,egress-v4-b,egress-v6"
# Syscall numbers for the test hook (SYS_getpid, SYS_execve).
SYSCALLS = {"x86_64": (39, 59), "aarch64": (172, 221)}

# Every frame and stderr byte any worker produced, for the leak check.
SEEN = {"frames": [], "stderr": []}


def need(path):
    if not os.path.exists(path):
        print("skip: %s missing (run `make test-bin`)" % path, file=sys.stderr)
        raise unittest.SkipTest("%s missing: run `make test-bin`" % path)


def spawn(binary, args):
    """The supervisor's way: fd 3 = our socketpair's other end.  The fd
    is made in the child and close_fds is off (Python's own descriptors
    are close-on-exec), so fd 3 survives whatever number theirs had."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fd = theirs.fileno()

    def child():
        os.dup2(fd, 3)
        os.set_inheritable(3, True)

    err = tempfile.TemporaryFile()
    argv = [binary, "--worker", "hcloud"] + ["%s=%s" % kv for kv in args.items()]
    proc = subprocess.Popen(argv, env={"STABLE_EGRESSD_WORKER": "hcloud"},
                            preexec_fn=child, close_fds=False,
                            stdin=subprocess.DEVNULL, stderr=err)
    theirs.close()
    return proc, Peer(ours), err


class Worker:
    """One hcloud worker process and the supervisor's end of its socket."""

    seq = 100

    def __init__(self, fake, binary=None, token=None, endpoint=None,
                 ca_file=None, fips=FIPS, **extra):
        self.dir = tempfile.mkdtemp(prefix="hc-e2e-")
        self.token_path = os.path.join(self.dir, "token")
        with open(self.token_path, "w") as f:
            f.write((fake.token if token is None else token) + "\n")
        args = {"token_path": self.token_path,
                "endpoint": endpoint or fake.endpoint, "fips": fips,
                "log_format": "json", "log_level": "debug"}
        if ca_file:
            args["ca_file"] = ca_file
        args.update(extra)
        self.proc, self.peer, self.err = spawn(binary or BIN, args)
        self.pid = self.proc.pid

    def recv(self, timeout=5.0):
        name, seq, d = self.peer.recv(timeout)
        SEEN["frames"].append((name, d))
        return name, seq, d

    def hello(self):
        name, _, d = self.recv(5)
        assert name == "MSG_HELLO", name
        return d

    def send(self, mtype, payload):
        Worker.seq += 1
        self.peer.send(mtype, payload, seq=Worker.seq)
        return Worker.seq

    def call(self, mtype, payload, timeout=30):
        """Request, then frames until its answer: (answer, API_STATs)."""
        ans = mtype.replace("_REQ", "_ANS")
        seq = self.send(mtype, payload)
        stats, end = [], time.monotonic() + timeout
        while True:
            name, s, d = self.recv(max(0.1, end - time.monotonic()))
            if name == "MSG_API_STAT":
                stats.append(d)
                continue
            assert name == ans and s == seq, (name, s, seq, d)
            return d, stats

    def ping(self, nonce=7):
        t = time.monotonic()
        seq = self.send("MSG_PING_REQ", {"nonce": nonce})
        while True:
            name, s, d = self.recv(2)
            if name == "MSG_PING_ANS":
                assert s == seq and d["nonce"] == nonce
                return time.monotonic() - t

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.peer.send("MSG_SHUTDOWN", {"nonce": 0})
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.peer.close()
        SEEN["stderr"].append(self.stderr())
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class HcloudWorkerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        need(BIN)
        cls.fake = FakeHcloud(action_seconds=1.0).start()
        cls.tls = FakeHcloud(tls=True, action_seconds=1.0).start()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()
        cls.tls.stop()

    def setUp(self):
        self.fake.reset()
        self.workers = []

    def tearDown(self):
        for w in self.workers:
            w.close()

    def worker(self, **kw):
        w = Worker(self.fake, **kw)
        self.workers.append(w)
        return w

    def ready(self, **kw):
        w = self.worker(**kw)
        h = w.hello()
        self.assertEqual(h["status"], HELLO_READY, h["err"])
        w.ping()    # as the supervisor does: releases held log lines
        return w

    def api_log(self):
        return [(r["method"], r["path"], r["query"]) for r in self.fake.requests()]

    def assertResult(self, ans, res):
        self.assertEqual(RESULTS[ans["result"]], res, ans)

    # ---- start-up and confinement ----------------------------------------

    def test_hello_and_confinement(self):
        w = self.worker()
        h = w.hello()
        self.assertEqual((h["status"], h["version"], h["worker"], h["pid"]),
                         (HELLO_READY, 1, WORKER_HCLOUD, w.pid))
        with open("/proc/%d/status" % w.pid) as f:
            st = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        self.assertEqual(st["CapEff"], "0000000000000000")
        self.assertEqual(st["CapPrm"], "0000000000000000")
        self.assertEqual(st["CapBnd"], "0000000000000000")
        self.assertEqual(st["NoNewPrivs"], "1")
        self.assertEqual(st["Seccomp"], "2")
        with open("/proc/%d/comm" % w.pid) as f:
            self.assertEqual(f.read().strip(), "hcloud-worker")
        w.call("MSG_HC_FIPS_REQ", {})     # a connection in the cache too
        if os.geteuid() != 0:
            # Not dumpable: /proc/PID/fd is root's alone.  A skip, never
            # a pass: tests/run.py fails it unless tests/skips lists it.
            self.skipTest("not root: the worker's descriptors are unreadable")
        fds = {int(n): os.readlink("/proc/%d/fd/%s" % (w.pid, n))
               for n in os.listdir("/proc/%d/fd" % w.pid)}
        self.assertEqual(fds[0], "/dev/null")
        self.assertEqual(fds[1], "/dev/null")
        self.assertIn(2, fds)
        self.assertTrue(fds[3].startswith("socket:"), fds)
        others = {n: t for n, t in fds.items() if n > 3}
        # libcurl's wake-up pair and the kept-alive API connection only.
        self.assertTrue(all(t.startswith("socket:") for t in others.values()), fds)
        self.assertLessEqual(len(others), 4, fds)

    def test_check_mode(self):
        w = self.ready(check="1")
        self.assertLess(w.ping(), 0.1)
        w.peer.send("MSG_SHUTDOWN", {"nonce": 1})
        self.assertEqual(w.proc.wait(5), 0)
        w = self.ready(check="1")
        w.peer.close()                    # EOF is a shutdown too
        self.assertEqual(w.proc.wait(5), 0)
        self.assertEqual(self.api_log(), [])

    def config_error(self, **kw):
        w = self.worker(**kw)
        h = w.hello()
        self.assertEqual(h["status"], HELLO_CONFIG, h)
        self.assertEqual(w.proc.wait(5), 2)
        self.assertNotIn("\n", h["err"])
        self.assertEqual(w.stderr(), "")  # the supervisor prints the line
        return w, h["err"]

    def test_token_file_errors(self):
        missing = os.path.join(tempfile.gettempdir(), "hc-e2e-no-such-token")
        _, err = self.config_error(token_path=missing)
        self.assertEqual(err, "hcloud token file %s: No such file or directory" % missing)
        for content, why in (("", "empty"), ("  \n\n", "empty"),
                             ("abc\x01def", "contains bytes not allowed"),
                             ("abc\r\nX-Evil: 1", "contains bytes not allowed")):
            d = tempfile.mkdtemp(prefix="hc-e2e-")
            p = os.path.join(d, "token")
            with open(p, "w") as f:
                f.write(content)
            _, err = self.config_error(token_path=p)
            self.assertTrue(err.startswith("hcloud token file %s: %s" % (p, why)), err)
            shutil.rmtree(d)
        _, err = self.config_error(token_path=tempfile.gettempdir())
        self.assertIn("not a regular file", err)
        self.assertEqual(self.api_log(), [])

    def test_config_errors(self):
        _, err = self.config_error(ca_file="/nonexistent/ca.pem")
        self.assertEqual(err, "hcloud CA file /nonexistent/ca.pem: No such file or directory")
        with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
            f.write("not a certificate\n")
            f.flush()
            _, err = self.config_error(ca_file=f.name)
            self.assertIn("no PEM certificate", err)
        _, err = self.config_error(endpoint="http://api.hetzner.cloud/v1")
        self.assertIn("loopback", err)
        _, err = self.config_error(fips="a,,b")
        self.assertIn("fips", err)
        _, err = self.config_error(fips="a,b,a")
        self.assertIn("twice", err)

    # ---- reading Floating IPs ----------------------------------------------

    def test_fips_one_list_request(self):
        w = self.ready()
        ans, stats = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "OK")
        got = {f["name"]: f for f in ans["fips"]}
        self.assertEqual([f["name"] for f in ans["fips"]], FIPS.split(","))
        self.assertEqual((got["egress-v4"]["found"], got["egress-v4"]["id"],
                          got["egress-v4"]["ip"], got["egress-v4"]["is_v6"]),
                         (1, FIP_V4, "203.0.113.10", 0))
        self.assertEqual((got["egress-v6"]["id"], got["egress-v6"]["ip"],
                          got["egress-v6"]["is_v6"]), (FIP_V6, "2001:db8:1:2::/64", 1))
        self.assertEqual(got["egress-v4-b"]["id"], FIP_V4B)
        self.assertTrue(all(f["server_id"] == 0 and f["blocked"] == 0 for f in ans["fips"]))
        self.assertEqual(self.api_log(), [("GET", "/v1/floating_ips", "page=1&per_page=50")])
        self.assertEqual([s["code"] for s in stats], [200])
        self.assertEqual(ans["code"], 200)
        self.assertEqual(ans["rl"]["limit"], 3600)

    def test_fips_missing_and_single(self):
        self.fake.patch_floating_ip(FIP_V4B, server=NODE_ROUND, blocked=True)
        w = self.ready(fips="egress-v4-b,no-such-fip")
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "OK")
        self.assertEqual([(f["name"], f["found"]) for f in ans["fips"]],
                         [("egress-v4-b", 1), ("no-such-fip", 0)])
        self.assertEqual((ans["fips"][0]["server_id"], ans["fips"][0]["blocked"]),
                         (NODE_ROUND, 1))
        self.assertEqual(len(self.api_log()), 1)
        self.fake.clear_requests()
        w2 = self.ready(fips="egress-v6")
        ans, _ = w2.call("MSG_HC_FIPS_REQ", {})
        self.assertEqual((ans["fips"][0]["found"], ans["fips"][0]["id"]), (1, FIP_V6))
        self.assertEqual(self.api_log(), [("GET", "/v1/floating_ips", "name=egress-v6")])

    def test_fips_paging(self):
        # 120 older Floating IPs sort before ours: page 3 holds them.
        for i in range(120):
            self.fake.add_floating_ip(id=1000 + i, name="filler-%03d" % i,
                                      ip="10.0.%d.%d" % (i // 200, i % 200 + 1))
        w = self.ready()
        ans, stats = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "OK")
        self.assertTrue(all(f["found"] for f in ans["fips"]), ans)
        self.assertEqual(self.api_log(), [
            ("GET", "/v1/floating_ips", "page=%d&per_page=50" % p) for p in (1, 2, 3)])
        self.assertEqual(len(stats), 3)

    def test_fips_many_pages_switch_to_names(self):
        # 200 before ours and two names: 1 page + 2 names beats 5 pages.
        for i in range(200):
            self.fake.add_floating_ip(id=1000 + i, name="filler-%03d" % i,
                                      ip="10.0.%d.%d" % (i // 200, i % 200 + 1))
        w = self.ready(fips="egress-v4,egress-v6")
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "OK")
        self.assertEqual([(f["name"], f["found"], f["id"]) for f in ans["fips"]],
                         [("egress-v4", 1, FIP_V4), ("egress-v6", 1, FIP_V6)])
        self.assertEqual(self.api_log(), [
            ("GET", "/v1/floating_ips", "page=1&per_page=50"),
            ("GET", "/v1/floating_ips", "name=egress-v4"),
            ("GET", "/v1/floating_ips", "name=egress-v6")])

    # ---- assign ---------------------------------------------------------------

    def test_assign_waits_through_running(self):
        self.fake.script_actions(delay=2.0)
        w = self.ready()
        t = time.monotonic()
        ans, stats = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": NODE_ROUND})
        took = time.monotonic() - t
        self.assertResult(ans, "OK")
        log = self.fake.requests()
        self.assertEqual([(r["method"], r["path"]) for r in log], [
            ("GET", "/v1/floating_ips/%d" % FIP_V4),
            ("POST", "/v1/floating_ips/%d/actions/assign" % FIP_V4),
            ("GET", "/v1/floating_ips/actions/%d" % 10**15),   # running
            ("GET", "/v1/floating_ips/actions/%d" % 10**15),   # success
        ])
        self.assertEqual(log[1]["body"], '{"server":1000000000000000}')
        self.assertEqual(log[1]["content_type"], "application/json")
        self.assertTrue(log[0]["user_agent"].startswith("stable-egressd/"))
        self.assertEqual(ans["requests"], 4)
        self.assertEqual(len(stats), 4)
        self.assertEqual(self.fake.deprecated_calls()["count"], 0)
        self.assertGreater(took, 2.0)
        self.assertLess(took, 2.9)
        st = {f["name"]: f for f in self.fake.state()["floating_ips"]}
        self.assertEqual(st["egress-v4"]["server"], NODE_ROUND)
        # Already there: one read, no write.
        self.fake.clear_requests()
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": NODE_ROUND})
        self.assertResult(ans, "OK")
        self.assertEqual(ans["requests"], 1)
        self.assertEqual([m for m, _, _ in self.api_log()], ["GET"])

    def test_assign_refuses_unconfigured_floating_ip(self):
        # Only configured Floating IPs move, whatever id the supervisor
        # sends: a compromised supervisor cannot take another one.
        w = self.ready(fips="egress-v4")
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V6, "server_id": NODE_A})
        self.assertResult(ans, "REFUSED")
        self.assertIn("not a configured", ans["err"])
        self.assertEqual([m for m, _, _ in self.api_log()], ["GET"])

    def test_assign_action_error(self):
        self.fake.script_actions(outcome="error", delay=0.2, message="no route today")
        w = self.ready()
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": NODE_A})
        self.assertResult(ans, "ACTION_FAILED")
        self.assertIn("action_failed", ans["err"])
        self.assertIn("no route today", ans["err"])
        self.assertEqual(ans["requests"], 3)

    def test_assign_locked_and_action_running(self):
        self.fake.script_actions(outcome="never")
        w = self.ready()
        # Someone else's assign that never ends holds the FIP.
        first = w.call("MSG_HC_ACTION_REQ", {"fip_id": FIP_V4})[0]
        self.assertEqual((RESULTS[first["result"]], first["running"]), ("OK", 0))
        req = urllib.request.Request(
            "%s/floating_ips/%d/actions/assign" % (self.fake.endpoint, FIP_V4),
            data=b'{"server":%d}' % NODE_B, method="POST",
            headers={"Authorization": "Bearer " + self.fake.token,
                     "Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()
        self.fake.clear_requests()
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": NODE_C})
        self.assertResult(ans, "LOCKED")
        self.assertEqual(ans["code"], 423)
        self.assertEqual(ans["requests"], 2)
        self.assertIn("locked", ans["err"])
        act, _ = w.call("MSG_HC_ACTION_REQ", {"fip_id": FIP_V4})
        self.assertEqual((RESULTS[act["result"]], act["running"], act["requests"]), ("OK", 1, 1))
        self.assertEqual(self.api_log()[-1],
                         ("GET", "/v1/floating_ips/%d/actions" % FIP_V4,
                          "status=running&per_page=50"))
        self.fake.finish_action(10**15)
        act, _ = w.call("MSG_HC_ACTION_REQ", {"fip_id": FIP_V4})
        self.assertEqual(act["running"], 0)

    def test_assign_already_assigned_race(self):
        # The read sees it elsewhere, the POST says it is already on the
        # target (422 floating_ip_assigned): the re-read decides.
        self.fake.patch_floating_ip(FIP_V4, server=NODE_A)
        stale = ('{"floating_ip":{"id":%d,"name":"egress-v4","description":null,'
                 '"ip":"203.0.113.10","type":"ipv4","server":%d,"dns_ptr":[],'
                 '"blocked":false,"labels":{}}}' % (FIP_V4, NODE_B))
        self.fake.add_fault("garbage", path="/floating_ips/%d" % FIP_V4, method="GET",
                            body=stale)
        w = self.ready()
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": NODE_A})
        self.assertResult(ans, "OK")
        self.assertEqual([m for m, _, _ in self.api_log()], ["GET", "POST", "GET"])
        self.assertEqual(self.fake.requests()[1]["status"], 422)

    def test_assign_errors_by_code(self):
        w = self.ready()
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": 424242, "server_id": NODE_A})
        self.assertResult(ans, "NOT_FOUND")
        self.assertEqual((ans["code"], ans["requests"]), (404, 1))
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": 2**53})
        self.assertResult(ans, "INVALID")
        self.assertEqual(ans["requests"], 0)
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": 77})
        self.assertResult(ans, "INVALID")          # unknown server: 422
        self.fake.add_fault("error", status=409, code="conflict", method="POST")
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": NODE_A})
        self.assertResult(ans, "CONFLICT")
        self.fake.add_fault("error", status=403, code="forbidden", method="POST")
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": NODE_A})
        self.assertResult(ans, "FORBIDDEN")
        # A 5xx to the POST may have been applied: unknown, not retried.
        self.fake.clear_requests()
        self.fake.add_fault("bad_gateway_html", method="POST", apply=True)
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4B, "server_id": NODE_A})
        self.assertResult(ans, "UNKNOWN")
        self.assertEqual(ans["code"], 502)
        time.sleep(0.3)
        self.assertEqual([m for m, _, _ in self.api_log()], ["GET", "POST"])

    def test_assign_reset_after_send_is_unknown(self):
        w = self.ready()
        self.fake.add_fault("reset", method="POST", apply=True)
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": NODE_A})
        self.assertResult(ans, "UNKNOWN")
        time.sleep(0.5)
        self.assertEqual([m for m, _, _ in self.api_log()], ["GET", "POST"])

    def test_read_only_token(self):
        ro = self.fake.add_token("ro")
        w = self.ready(token=ro)
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": NODE_A})
        self.assertResult(ans, "UNAUTHORIZED")
        self.assertIn("token_readonly", ans["err"])

    # ---- errors ----------------------------------------------------------------

    def test_unauthorized(self):
        w = self.ready(token="x" * 64)
        ans, stats = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "UNAUTHORIZED")
        self.assertEqual((ans["code"], len(ans["fips"])), (401, 0))
        self.assertIn("unauthorized", ans["err"])
        self.assertIn("correlation", ans["err"])
        self.assertEqual([s["code"] for s in stats], [401])

    def test_throttled_not_retried(self):
        self.fake.set_rate_limit(limit=60, remaining=0)
        w = self.ready()
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "THROTTLED")
        rl = self.fake.rate_limit()["project"]
        self.assertEqual((ans["code"], ans["rl"]["limit"], ans["rl"]["remaining"]),
                         (429, 60, 0))
        self.assertEqual(ans["rl"]["reset"], rl["reset"])
        self.assertGreater(ans["rl"]["reset"], time.time() + 3000)
        # The next token, not the full bucket: 3600/60 s.
        self.assertEqual(ans["retry_after_ms"], 60000)
        time.sleep(0.5)
        self.assertEqual(len(self.api_log()), 1)
        self.assertLess(w.ping(), 0.1)

    def test_malformed_and_transient(self):
        w = self.ready()
        self.fake.add_fault("garbage", path="/floating_ips")
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "MALFORMED")
        self.fake.add_fault("garbage", body='{"floating_ips":[],"meta":{"pagination":'
                            '{"page":1,"next_page":1,"last_page":null,"total_entries":0}}}')
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "MALFORMED")     # a page that loops
        self.fake.add_fault("garbage", body='{"floating_ips":[{"id":1e+16,'
                            '"name":"egress-v4","ip":"203.0.113.10","type":"ipv4",'
                            '"server":null,"blocked":false}],"meta":{"pagination":'
                            '{"page":1,"next_page":null,"last_page":1,"total_entries":1}}}')
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "MALFORMED")     # an id past 2^53
        self.fake.add_fault("garbage", body="[" + "0," * 600000 + "0]")
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "MALFORMED")     # over 1 MiB
        self.fake.add_fault("bad_gateway_html")
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "TRANSIENT")
        self.assertEqual(ans["code"], 502)
        self.fake.add_fault("unavailable")
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "TRANSIENT")
        self.fake.add_fault("truncated")
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "TRANSIENT")
        self.fake.add_fault("error", status=403, code="maintenance")
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "TRANSIENT")
        self.fake.add_fault("error", status=410, code="deprecated_api_endpoint",
                            details={"announcement": "https://docs.example/changelog#gone"})
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "REFUSED")
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "OK")            # nothing sticks
        self.assertEqual(len(self.api_log()), 10)   # one each, no retries
        w.close()
        self.workers.remove(w)
        warn = [l for l in SEEN["stderr"][-1].splitlines() if "removed" in l]
        self.assertEqual(len(warn), 1)
        self.assertIn("https://docs.example/changelog#gone", warn[0])

    def wait_log(self, n, timeout=3):
        end = time.monotonic() + timeout
        while len(self.api_log()) < n and time.monotonic() < end:
            time.sleep(0.05)
        return self.api_log()

    def test_slow_replies_time_out(self):
        w = self.ready()
        self.fake.add_fault("slow", delay=10.6, path="/floating_ips")
        t = time.monotonic()
        seq = w.send("MSG_HC_FIPS_REQ", {})
        time.sleep(0.3)
        # The loop answers at once while a transfer is in flight.
        rtts = [w.ping(n) for n in range(5)]
        self.assertLess(max(rtts), 0.1, rtts)
        while True:
            name, s, ans = w.recv(12)
            if name == "MSG_HC_FIPS_ANS":
                self.assertEqual(s, seq)
                break
        self.assertResult(ans, "TRANSIENT")
        self.assertIn("curl 28", ans["err"])
        self.assertLess(time.monotonic() - t, 10.5)
        self.assertEqual(len(self.wait_log(1)), 1)  # the fake is done too
        # The POST timed out: it may have been applied, so unknown, and
        # it is never sent again.
        self.fake.clear_requests()
        self.fake.add_fault("slow", delay=10.6, method="POST")
        ans, _ = w.call("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": NODE_A})
        self.assertResult(ans, "UNKNOWN")
        self.assertIn("curl 28", ans["err"])
        self.assertEqual(ans["requests"], 2)
        self.wait_log(2)
        time.sleep(0.5)
        self.assertEqual([m for m, _, _ in self.api_log()], ["GET", "POST"])

    # ---- the loop --------------------------------------------------------------

    def test_ping_while_assign_waits(self):
        self.fake.script_actions(delay=2.5)
        w = self.ready()
        seq = w.send("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": NODE_A})
        rtts, ans, nonce = [], None, 1000
        end = time.monotonic() + 10
        while ans is None and time.monotonic() < end:
            nonce += 1
            t = time.monotonic()
            w.peer.send("MSG_PING_REQ", {"nonce": nonce}, seq=nonce)
            while True:
                name, s, d = w.recv(2)
                if name == "MSG_PING_ANS":
                    self.assertEqual(d["nonce"], nonce)
                    rtts.append(time.monotonic() - t)
                    break
                if name == "MSG_HC_ASSIGN_ANS":
                    self.assertEqual(s, seq)
                    ans = d
            time.sleep(0.05)
        self.assertIsNotNone(ans)
        self.assertResult(ans, "OK")
        self.assertGreater(len(rtts), 20)
        self.assertLess(max(rtts), 0.1, rtts)

    def test_busy_answered_at_once(self):
        self.fake.script_actions(delay=1.0)
        w = self.ready()
        aseq = w.send("MSG_HC_ASSIGN_REQ", {"fip_id": FIP_V4, "server_id": NODE_A})
        fseq = w.send("MSG_HC_FIPS_REQ", {})
        order = []
        while len(order) < 2:
            name, s, d = w.recv(10)
            if name != "MSG_API_STAT":
                order.append((name, s, d))
        self.assertEqual((order[0][0], order[0][1]), ("MSG_HC_FIPS_ANS", fseq))
        self.assertResult(order[0][2], "TRANSIENT")
        self.assertIn("busy", order[0][2]["err"])
        self.assertEqual((order[1][0], order[1][1]), ("MSG_HC_ASSIGN_ANS", aseq))
        self.assertResult(order[1][2], "OK")

    def test_bad_frame_ends_worker(self):
        w = self.ready()
        w.peer.send_raw(b"\x00\xc8\x00\x00\x00\x00\x00\x03\x00\x00\x00\x01abc")
        self.assertEqual(w.proc.wait(5), 1)
        w = self.ready()
        w.peer.send("MSG_KUBE_LABEL_REQ", {"node": "x", "set": 1})
        self.assertEqual(w.proc.wait(5), 1)

    def test_test_hook_only_in_test_build(self):
        nrs = SYSCALLS.get(platform.machine())
        if nrs is None:
            self.skipTest("no syscall numbers for %s" % platform.machine())
        need(TEST_BIN)
        w = self.ready(binary=TEST_BIN)
        w.peer.send("MSG_TEST_SYSCALL_REQ", {"nr": nrs[0]})     # allowed
        self.assertLess(w.ping(), 0.1)
        w.peer.send("MSG_TEST_SYSCALL_REQ", {"nr": nrs[1]})     # execve
        self.assertEqual(w.proc.wait(5), -signal.SIGSYS)
        # The release build has no such handler: a bad frame, exit 1.
        w = self.ready()
        w.peer.send("MSG_TEST_SYSCALL_REQ", {"nr": nrs[0]})
        self.assertEqual(w.proc.wait(5), 1)

    # ---- TLS and names ----------------------------------------------------------

    def test_https_with_ca_file(self):
        w = self.ready(token=self.tls.token, endpoint=self.tls.endpoint,
                       ca_file=self.tls.ca_file)
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "OK")
        ep = self.tls.endpoint.replace("127.0.0.1", "localhost")
        w = self.ready(token=self.tls.token, endpoint=ep, ca_file=self.tls.ca_file)
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "OK")
        # Verification is on: the system CAs do not know the fake.
        w = self.ready(token=self.tls.token, endpoint=self.tls.endpoint)
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "TRANSIENT")
        self.assertIn("curl 60", ans["err"])

    def test_localhost_endpoint(self):
        w = self.ready(endpoint=self.fake.endpoint.replace("127.0.0.1", "localhost"))
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "OK")

    def test_resolver_inside_sandbox(self):
        # libcurl answers "localhost" itself; a name from /etc/hosts goes
        # through getaddrinfo() in the resolver thread, in the sandbox.
        name = None
        with open("/etc/hosts") as f:
            for line in f:
                parts = line.split("#")[0].split()
                if len(parts) >= 2 and (parts[0].startswith("127.") or parts[0] == "::1"):
                    name = next((n for n in parts[1:] if "localhost" not in n), None)
                    if name:
                        break
        if name is None:
            self.skipTest("no loopback name besides localhost in /etc/hosts")
        ep = self.tls.endpoint.replace("127.0.0.1", name)
        w = self.ready(token=self.tls.token, endpoint=ep, ca_file=self.tls.ca_file)
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        # Resolved: then the certificate (it names only localhost) or,
        # where the name is not 127.0.0.1, the connection fails.
        self.assertResult(ans, "TRANSIENT")
        self.assertNotIn("resolve", ans["err"].lower())
        self.assertNotIn("(curl 6)", ans["err"])
        self.assertLess(w.ping(), 0.1)    # alive: no SIGSYS on the way

    # ---- last: nothing leaked -----------------------------------------------------

    def test_zz_token_in_no_frame_or_log(self):
        # A server that echoes the token back in its error message.
        tok = self.fake.token
        self.fake.add_fault("error", status=400, code="invalid_input",
                            message="bad request with Bearer %s attached" % tok)
        w = self.ready()
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertResult(ans, "INVALID")
        self.assertIn("REDACTED", ans["err"])
        self.fake.add_fault("error", status=422, code="invalid_input",
                            message="partial %s" % tok[10:30])
        ans, _ = w.call("MSG_HC_FIPS_REQ", {})
        self.assertIn("REDACTED", ans["err"])
        w.close()
        self.workers.remove(w)
        for name, d in SEEN["frames"]:
            text = repr(d)
            self.assertNotIn(tok, text, name)
            self.assertNotIn(tok[10:30], text, name)
        for err in SEEN["stderr"]:
            self.assertNotIn(tok, err)
            self.assertNotIn(tok[10:30], err)
        self.assertGreater(len(SEEN["frames"]), 5)


if __name__ == "__main__":
    unittest.main()
