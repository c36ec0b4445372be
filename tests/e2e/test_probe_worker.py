#!/usr/bin/env python3
"""test_probe_worker.py: the real probe worker against loopback listeners.

The test plays the supervisor: it starts `stable-egressd --worker probe`
exactly as the supervisor does (its end of a SOCK_SEQPACKET socketpair
on fd 3) and speaks the frame protocol through tests/fakes/peer.py.
Nodes are listeners on their own addresses in 127.0.0.0/8 (Linux routes
all of it to lo), all on one port, as every node's health port is one:

  up       listen() and accept-and-close in a thread
  closed   no listener: the kernel answers RST, the probe fails fast
  stuck    accept-never-answer: listen(0) with its accept queue filled
           by one connection nobody accepts; the kernel then drops
           every SYN, so a connect hangs until the probe's timeout.
           (A real blackhole, an address that drops SYNs, needs
           firewall rules on lo; the full backlog needs nothing.)

Needs `make test-bin`; skipped with the reason printed otherwise.

    python3 -m unittest -v tests/e2e/test_probe_worker.py
"""
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
from peer import Peer  # noqa: E402

BIN = os.path.join(ROOT, "build", "stable-egressd")
TEST_BIN = os.path.join(ROOT, "build", "test", "stable-egressd")

TIMEOUT_MS = 600
_next = [0]


def addr():
    """A fresh loopback address per node, so tests never share one."""
    _next[0] += 1
    return "127.0.%d.%d" % (10 + _next[0] // 250, 1 + _next[0] % 250)


class Up:
    """A health listener that accepts and closes, like a live agent."""

    def __init__(self, host, port, accept=True):
        self.host, self.port, self.stop = host, port, False
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind((host, port))
        self.s.listen(128)
        self.t = None
        if accept:
            self.t = threading.Thread(target=self._run, daemon=True)
            self.t.start()

    def _run(self):
        while not self.stop:
            r, _, _ = select.select([self.s], [], [], 0.05)
            if r:
                try:
                    self.s.accept()[0].close()
                except OSError:
                    pass

    def close(self):
        self.stop = True
        if self.t is not None:
            self.t.join()
        self.s.close()


class Stuck:
    """Accept-never-answer: a listener whose accept queue is full."""

    def __init__(self, host, port):
        self.host = host
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind((host, port))
        self.s.listen(0)
        self.fill = []
        for _ in range(8):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex((host, port))
            _, w, _ = select.select([], [c], [], 0.2)
            if not w or c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                c.close()       # its SYN was dropped: the queue is full
                break
            self.fill.append(c)
        else:
            raise AssertionError("the accept queue never filled")

    def drain(self):
        """Accept what is queued, so the next SYN is answered again."""
        self.s.setblocking(False)
        for _ in self.fill:
            try:
                self.s.accept()[0].close()
            except BlockingIOError:
                pass

    def close(self):
        for c in self.fill:
            c.close()
        self.s.close()


class Worker:
    """One probe worker process and the supervisor's end of its socket."""

    def __init__(self, binary=None, nofile=None, **args):
        a = {"timeout_ms": TIMEOUT_MS, "interval_ms": 300,
             "log_format": "json", "log_level": "info"}
        a.update(args)
        a = {k: v for k, v in a.items() if v is not None}
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fd = theirs.fileno()

        def child():
            os.dup2(fd, 3)
            os.set_inheritable(3, True)     # also when fd already was 3
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.err = tempfile.TemporaryFile()
        argv = [binary or TEST_BIN, "--worker", "probe"] + [
            "%s=%s" % kv for kv in a.items()]
        # close_fds=False: fd 3 is made in child(), and close_fds would
        # close it again (so peer.spawn_worker only works when the
        # socket already is fd 3).  Python's own fds are close-on-exec
        # anyway, so nothing else leaks into the worker.
        self.proc = subprocess.Popen(
            argv, env={"STABLE_EGRESSD_WORKER": "probe"}, preexec_fn=child,
            close_fds=False, stdin=subprocess.DEVNULL, stderr=self.err)
        theirs.close()
        self.peer = Peer(ours)
        self.pid = self.proc.pid

    def hello(self):
        name, _, d = self.peer.recv(3)
        assert name == "MSG_HELLO", name
        return d

    def targets(self, ts, count=None):
        self.peer.sock.settimeout(3)
        self.peer.send("MSG_PROBE_TARGETS_BEGIN", {"count": len(ts)})
        for t in ts:
            self.peer.send("MSG_PROBE_TARGET", {
                "node": t[0], "addrs": " ".join(a for a in t[1:] if a)})
        # Taken before END: once END is in, the worker may run first.
        t = time.monotonic()
        self.peer.send("MSG_PROBE_TARGETS_END",
                       {"count": len(ts) if count is None else count})
        return t

    def results(self, seconds, until=None):
        """(arrival, node, ok, usec) for `seconds`, or until `until`
        distinct nodes reported."""
        out, seen = [], set()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                name, _, d = self.peer.recv(max(0.01, end - time.monotonic()))
            except (socket.timeout, TimeoutError):
                continue
            if name == "MSG_PROBE_RESULT":
                out.append((time.monotonic(), d["node"], d["ok"], d["usec"]))
                seen.add(d["node"])
                if until is not None and len(seen) >= until:
                    break
        return out

    def first(self, n, seconds=3):
        """{node: (arrival, ok, usec)} of the first n nodes to report."""
        got = {}
        for t, node, ok, usec in self.results(seconds, until=n):
            got.setdefault(node, (t, ok, usec))
        return got

    def wait(self, timeout=3):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def logs(self):
        self.err.seek(0)
        return [json.loads(l) for l in self.err.read().decode().splitlines()
                if l.startswith("{")]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.peer.send("MSG_SHUTDOWN", {"nonce": 0})
            except OSError:
                pass
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.peer.close()
        self.err.close()


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)


def need(path):
    if not os.path.exists(path):
        print("skip: %s not built (run make test-bin)" % path, file=sys.stderr)
        raise unittest.SkipTest("%s not built (run make test-bin)" % path)


class ProbeWorkerTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        need(TEST_BIN)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        cls.port = s.getsockname()[1]
        s.close()

    def setUp(self):
        self.t0 = time.monotonic()

    def tearDown(self):
        self.assertLess(time.monotonic() - self.t0, 10, "test too slow")

    def worker(self, **kw):
        kw.setdefault("port", self.port)
        w = Worker(**kw)
        self.addCleanup(w.close)
        return w

    def ready(self, **kw):
        w = self.worker(**kw)
        h = w.hello()
        self.assertEqual((h["status"], h["worker"], h["version"]), (0, 3, 1), h)
        self.assertEqual(h["pid"], w.pid)
        # The supervisor pings once every worker is ready; only then does
        # a worker release its held start-up log lines.
        w.peer.send("MSG_PING_REQ", {"nonce": 1}, seq=999)
        w.peer.recv_until("MSG_PING_ANS", 2)
        return w

    def up(self, accept=True):
        a = addr()
        u = Up(a, self.port, accept)
        self.addCleanup(u.close)
        return a, u

    def stuck(self):
        a = addr()
        s = Stuck(a, self.port)
        self.addCleanup(s.close)
        return a, s

    # ---- health verdicts ----------------------------------------------

    def test_up_is_ok(self):
        a, _ = self.up()
        w = self.ready()
        sent = w.targets([("n", a)])
        t, ok, usec = w.first(1)["n"]
        self.assertEqual(ok, 1)
        self.assertLess(usec, TIMEOUT_MS * 1000 / 4)
        self.assertLess(t - sent, 0.3)

    def test_closed_port_fails_fast(self):
        w = self.ready()
        sent = w.targets([("n", addr())])
        t, ok, usec = w.first(1)["n"]
        self.assertEqual(ok, 0)
        self.assertLess(usec, 100000)
        self.assertLess(t - sent, 0.3)

    def test_accept_never_answer_fails_after_timeout(self):
        a, _ = self.stuck()
        w = self.ready()
        sent = w.targets([("n", a)])
        t, ok, usec = w.first(1)["n"]
        self.assertEqual(ok, 0)
        self.assertGreaterEqual(usec, TIMEOUT_MS * 1000)
        self.assertLess(usec, TIMEOUT_MS * 1000 + 200000)
        self.assertGreaterEqual(t - sent, TIMEOUT_MS / 1000 - 0.05)

    def test_up_but_never_accepting_is_ok(self):
        # The kernel completes the handshake; nobody need accept.
        a, _ = self.up(accept=False)
        w = self.ready(interval_ms=5000)
        w.targets([("n", a)])
        self.assertEqual(w.first(1)["n"][1], 1)

    def test_slow_but_up_is_ok(self):
        # The first SYN meets a full queue and is dropped; the queue is
        # drained meanwhile and the kernel's SYN retransmit, about 1 s
        # later, connects: slow, but inside the 2 s timeout.
        a, s = self.stuck()
        w = self.ready(timeout_ms=2000, interval_ms=5000)
        w.targets([("n", a)])
        time.sleep(0.3)
        s.drain()
        t, ok, usec = w.first(1)["n"]
        self.assertEqual(ok, 1)
        self.assertGreater(usec, 700000)
        self.assertLess(usec, 2000000)

    def test_either_address_healthy(self):
        up1, _ = self.up()
        up2, _ = self.up()
        st1, _ = self.stuck()
        st2, _ = self.stuck()
        w = self.ready()
        sent = w.targets([
            ("dead-up", addr(), up1),       # InternalIP dead, External up
            ("up-stuck", up2, st1),         # no need to wait for the other
            ("stuck-dead", st2, addr()),    # both fail: after the timeout
        ])
        got = w.first(3)
        self.assertEqual(got["dead-up"][1], 1)
        self.assertEqual(got["up-stuck"][1], 1)
        self.assertLess(got["up-stuck"][0] - sent, 0.3)
        self.assertEqual(got["stuck-dead"][1], 0)
        self.assertGreaterEqual(got["stuck-dead"][2], TIMEOUT_MS * 1000)

    def test_every_address_dialled_at_once(self):
        # Seven addresses that hang or refuse ahead of the one that
        # answers: healthy at once, not after the hanging ones time out.
        up, _ = self.up()
        late, _ = self.up()
        many = [self.stuck()[0] for _ in range(4)] + [addr() for _ in range(3)]
        hung = [self.stuck()[0] for _ in range(8)]
        w = self.ready()
        sent = w.targets([
            ("many", *(many + [up])),
            ("hung", *hung),                # one timeout for all eight
            ("capped", *(hung + [late])),   # the ninth is never dialled
        ])
        got = w.first(3)
        self.assertEqual(got["many"][1], 1)
        self.assertLess(got["many"][0] - sent, 0.3)
        for n in ("hung", "capped"):
            self.assertEqual(got[n][1], 0, n)
            self.assertGreaterEqual(got[n][2], TIMEOUT_MS * 1000)
            self.assertLess(got[n][0] - sent, TIMEOUT_MS / 1000 + 0.3)

    def test_bad_address_fails_and_is_logged_once(self):
        a, _ = self.up()
        w = self.ready(interval_ms=100)
        w.targets([("bad", "not-an-ip"), ("half", "10.1.2.300", a)])
        got = w.first(2)
        self.assertEqual(got["bad"][1], 0)
        self.assertEqual(got["half"][1], 1)
        w.targets([("bad", "not-an-ip"), ("half", "10.1.2.300", a)])
        w.results(0.5)
        lines = [l for l in w.logs() if "not numeric" in l["msg"]]
        self.assertEqual(sorted(l["addr"] for l in lines),
                         ["10.1.2.300", "not-an-ip"], lines)

    # ---- what reaches the supervisor ----------------------------------

    def test_change_reported_once_not_per_probe(self):
        a, u = self.up()
        w = self.ready(interval_ms=100, timeout_ms=300)
        w.targets([("n", a)])
        self.assertEqual(w.first(1)["n"][1], 1)
        time.sleep(0.15)
        u.close()                       # the node goes down: ~7 probes
        r = w.results(0.7)
        self.assertEqual([x[2] for x in r], [0], r)
        u2 = Up(a, self.port)           # and comes back
        self.addCleanup(u2.close)
        r = w.results(0.7)
        self.assertEqual([x[2] for x in r], [1], r)

    def test_periodic_confirmations(self):
        # One frame per 10 unchanged results: at 100 ms, about 1/s.
        a, _ = self.up()
        w = self.ready(interval_ms=100)
        w.targets([("n", a)])
        r = w.results(2.6)
        self.assertTrue(all(x[1] == "n" and x[2] == 1 for x in r), r)
        self.assertIn(len(r), (3, 4), r)    # first + 2 (or 3) confirms
        gaps = [b[0] - a_[0] for a_, b in zip(r, r[1:])]
        self.assertTrue(all(0.8 < g < 1.3 for g in gaps), gaps)

    def test_list_replacement_keeps_state(self):
        ka, _ = self.up()
        ba, _ = self.up()
        ca, _ = self.up()
        da, _ = self.up()
        d2, _ = self.up()
        w = self.ready(interval_ms=200)
        t0 = w.targets([("keep", ka), ("drop", ba), ("move", da)])
        self.assertEqual(set(w.first(3)), {"keep", "drop", "move"})
        time.sleep(0.3)
        # keep: same addresses, so state and schedule carry over; move:
        # its ExternalIP appeared, so it starts afresh; drop: gone.
        w.targets([("keep", ka), ("move", da, d2), ("new", ca)])
        r = w.results(1.0)
        self.assertEqual(sorted(x[1] for x in r), ["move", "new"], r)
        # keep's confirmation comes 10 results after its first one,
        # counted from the first list, not from the replacement.
        r = w.results(1.2, until=1)
        self.assertEqual([x[1] for x in r], ["keep"], r)
        self.assertLess(r[0][0] - t0, 2.5)

    def test_many_targets_take_one_timeout(self):
        ups = [self.up()[0] for _ in range(20)]
        stuck = [self.stuck()[0] for _ in range(10)]
        w = self.ready(timeout_ms=500, interval_ms=5000)
        ts = [("s%d" % i, a) for i, a in enumerate(stuck)] + \
             [("u%d" % i, a) for i, a in enumerate(ups)]
        sent = w.targets(ts)
        got = w.first(30)
        self.assertEqual(len(got), 30)
        last = max(v[0] for v in got.values()) - sent
        self.assertLess(last, 0.5 * 1.5)    # parallel: not 10 x 0.5 s
        self.assertTrue(all(got["u%d" % i][1] == 1 for i in range(20)))
        self.assertTrue(all(got["s%d" % i][1] == 0 for i in range(10)))

    def test_socket_cap_queues_the_rest(self):
        # RLIMIT_NOFILE 40 leaves 24 sockets: 10 held by stuck nodes for
        # the whole timeout, 40 up nodes share the other 14.
        ups = [self.up()[0] for _ in range(40)]
        stuck = [self.stuck()[0] for _ in range(10)]
        w = self.ready(nofile=40, timeout_ms=500, interval_ms=5000)
        ts = [("s%d" % i, a) for i, a in enumerate(stuck)] + \
             [("u%d" % i, a) for i, a in enumerate(ups)]
        w.targets(ts)
        got = w.first(50)
        self.assertEqual(len(got), 50)
        self.assertTrue(all(got["u%d" % i][1] == 1 for i in range(40)))
        self.assertTrue(all(got["s%d" % i][1] == 0 for i in range(10)))
        self.assertIsNone(w.proc.poll())

    def test_ping_answered_quickly_while_probing(self):
        ups = [self.up()[0] for _ in range(10)]
        stuck = [self.stuck()[0] for _ in range(10)]
        w = self.ready(timeout_ms=1000, interval_ms=100)
        w.targets([("n%d" % i, a) for i, a in enumerate(ups + stuck)])
        for i in range(10):
            t = time.monotonic()
            w.peer.send("MSG_PING_REQ", {"nonce": 1000 + i}, seq=50 + i)
            keep = []
            seq, d = w.peer.recv_until("MSG_PING_ANS", 1, keep)
            self.assertLess(time.monotonic() - t, 0.1)
            self.assertEqual((seq, d["nonce"]), (50 + i, 1000 + i))
            time.sleep(0.1)

    # ---- sandbox and process --------------------------------------------

    def test_sandboxed_with_no_files(self):
        w = self.ready()
        st = proc_status(w.pid)
        self.assertEqual(int(st["CapEff"], 16), 0)
        self.assertEqual(int(st["CapPrm"], 16), 0)
        self.assertEqual(int(st["CapBnd"], 16), 0)
        self.assertEqual(st["NoNewPrivs"], "1")
        self.assertEqual(st["Seccomp"], "2")
        with open("/proc/%d/comm" % w.pid) as f:
            self.assertEqual(f.read().strip(), "probe-worker")
        # stderr and the supervisor socket; no stdin, no file at all.
        self.assertEqual(sorted(os.listdir("/proc/%d/fd" % w.pid)), ["2", "3"])
        self.assertTrue(os.readlink("/proc/%d/fd/3" % w.pid).startswith("socket:"))
        w.peer.send("MSG_SHUTDOWN", {"nonce": 0})
        self.assertEqual(w.wait(), 0)
        sb = [l for l in w.logs() if l["msg"].startswith("sandbox entered")]
        self.assertEqual(len(sb), 1, w.logs())
        self.assertTrue("landlock_abi" in sb[0] or sb[0]["level"] == "warn")

    def test_forbidden_syscall_dies_of_sigsys(self):
        w = self.ready()
        nr = {"x86_64": 257, "aarch64": 56}.get(os.uname().machine)
        if nr is None:
            self.skipTest("openat number unknown on " + os.uname().machine)
        w.peer.send("MSG_TEST_SYSCALL_REQ", {"nr": nr})
        self.assertEqual(w.wait(), -signal.SIGSYS)

    def test_release_build_has_no_test_hook(self):
        need(BIN)
        w = self.ready(binary=BIN)
        w.peer.send("MSG_TEST_SYSCALL_REQ", {"nr": 257})
        self.assertEqual(w.wait(), 1)      # an unexpected frame, no call
        self.assertIn("unexpected frame", json.dumps(w.logs()))

    def test_stop_continue_and_ctrl_c_survive(self):
        # poll() with a timeout resumes through restart_syscall after
        # SIGCONT; stop it inside poll, not on its way there.
        w = self.ready()
        end = time.monotonic() + 2
        while time.monotonic() < end:
            with open("/proc/%d/wchan" % w.pid) as f:
                if "poll" in f.read():
                    break
            time.sleep(0.01)
        os.kill(w.pid, signal.SIGSTOP)
        time.sleep(0.1)
        os.kill(w.pid, signal.SIGCONT)
        os.kill(w.pid, signal.SIGINT)   # Ctrl-C: the supervisor decides
        time.sleep(0.1)
        w.peer.send("MSG_PING_REQ", {"nonce": 9}, seq=4)
        seq, ans = w.peer.recv_until("MSG_PING_ANS", 1)
        self.assertEqual((seq, ans["nonce"]), (4, 9))
        self.assertIsNone(w.proc.poll())

    def test_shutdown_and_eof_exit_zero(self):
        w = self.ready()
        w.peer.send("MSG_SHUTDOWN", {"nonce": 0})
        self.assertEqual(w.wait(), 0)
        w = self.ready()
        w.targets([("n", addr())])
        w.peer.sock.shutdown(socket.SHUT_RDWR)
        self.assertEqual(w.wait(), 0)

    def test_check_mode_waits_for_eof(self):
        w = self.ready(check=1)
        w.peer.send("MSG_PING_REQ", {"nonce": 1}, seq=1)
        seq, ans = w.peer.recv_until("MSG_PING_ANS", 1)
        self.assertEqual((seq, ans["nonce"]), (1, 1))
        # the worker's own figures ride on the answer (process_* metrics)
        self.assertGreater(ans["rss_bytes"], 0)
        self.assertGreaterEqual(ans["open_fds"], 2)
        w.peer.sock.shutdown(socket.SHUT_RDWR)
        self.assertEqual(w.wait(), 0)

    # ---- rejections -----------------------------------------------------

    def test_bad_args_hello_config_exit_2(self):
        cases = [({"port": 0}, "port"), ({"port": 65536}, "port"),
                 ({"port": "9x"}, "port"), ({"timeout_ms": 0}, "timeout_ms"),
                 ({"timeout_ms": -5}, "timeout_ms"),
                 ({"interval_ms": ""}, "interval_ms"),
                 ({"log_format": "xml"}, "log_format"),
                 ({"log_level": "loud"}, "log_level"),
                 ({"check": "yes"}, "check")]
        for args, key in cases:
            w = self.worker(**args)
            h = w.hello()
            self.assertEqual(h["status"], 1, (args, h))
            self.assertIn(key, h["err"])
            self.assertNotIn("\n", h["err"])
            self.assertEqual(w.wait(), 2, args)
            self.assertEqual(w.logs(), [])      # the one line is HELLO's

    def test_missing_arg_names_it(self):
        for key in ("port", "timeout_ms", "interval_ms"):
            w = self.worker(**{key: None})
            h = w.hello()
            self.assertEqual(h["status"], 1)
            self.assertIn(key, h["err"])
            self.assertEqual(w.wait(), 2)

    def test_out_of_order_frames_are_fatal(self):
        for what in ("target-first", "end-first", "begin-twice", "count",
                     "check-targets", "garbage", "wrong-direction"):
            w = self.ready(**({"check": 1} if what == "check-targets" else {}))
            p = w.peer
            if what == "target-first":
                p.send("MSG_PROBE_TARGET", {"node": "n", "addrs": "127.0.0.1"})
            elif what == "end-first":
                p.send("MSG_PROBE_TARGETS_END", {"count": 0})
            elif what == "begin-twice":
                p.send("MSG_PROBE_TARGETS_BEGIN", {"count": 0})
                p.send("MSG_PROBE_TARGETS_BEGIN", {"count": 0})
            elif what == "count":
                w.targets([("a", "127.0.0.1"), ("b", "127.0.0.1")], count=3)
            elif what == "check-targets":
                w.targets([("a", "127.0.0.1")])
            elif what == "garbage":
                p.send_raw(b"\x01\x2d\x00\x00\x00\x00\x00\x09" + b"\0" * 4)
            else:
                p.send("MSG_PROBE_RESULT", {"node": "n", "ok": 1})
            self.assertEqual(w.wait(), 1, what)
            self.assertEqual(w.logs()[-1]["level"], "error", what)


if __name__ == "__main__":
    unittest.main()
