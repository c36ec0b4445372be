#!/usr/bin/env python3
"""bench_k8s.py: k8s worker memory and change latency against the fake API.

Prints figures:
  - the worker's private memory (Private_Dirty of /proc/PID/smaps_rollup)
    and RSS with 5,000 candidate nodes of ~30 KB each and with 3: at the
    peak of the initial list (sampled every ~2 ms) and at steady state.
    Goals: steady < 6 MiB and <= 2x the 3-node figure, peak < 64 MiB.
  - node change in the fake -> MSG_KUBE_NODE at the peer: median and p99
    over >= 1,000 changes.  Goal: p99 < 5 ms.

Uses the release binary build/stable-egressd (run `make` first) and the
fake API tests/fakes/kube.py in its own process, both on 127.0.0.1.
  python3 bench/bench_k8s.py [--nodes 5000] [--node-bytes 30000]
      [--changes 1000]
"""
import argparse
import http.client
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))

from peer import FRAME_MAX, decode, encode  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "bench"))
from goal import goal, p99  # noqa: E402

BIN = os.path.join(ROOT, "build", "stable-egressd")
FAKE = os.path.join(ROOT, "tests", "fakes", "kube.py")
MIB = 1024


def rollup(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            p = line.split()
            if len(p) >= 3 and p[2] == "kB":
                out[p[0].rstrip(":")] = int(p[1])
    return out


class Fake:
    """tests/fakes/kube.py in a process of its own."""

    def __init__(self, nodes, node_bytes):
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-k8s-")
        self.dir = self.tmp.name
        args = [sys.executable, FAKE, "--dir", self.dir,
                "--candidate-nodes", str(nodes)]
        if node_bytes:
            args += ["--node-bytes", str(node_bytes)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while not os.path.exists(os.path.join(self.dir, "ready")):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench_k8s: the fake API did not start")
            time.sleep(0.1)
        with open(os.path.join(self.dir, "ready")) as f:
            admin = urllib.parse.urlsplit(json.load(f)["admin"])
        self.admin = http.client.HTTPConnection(admin.hostname, admin.port)

    def patch_node(self, name, fields):
        """Send the change; patched() reads the answer.  The watch event
        is out before the admin answer, whose delivery (Nagle and
        delayed ACKs on the fake's side) is no part of the latency."""
        self.admin.request("PATCH", "/nodes/" + name,
                           json.dumps(fields).encode(),
                           {"Content-Type": "application/json"})

    def patched(self):
        r = self.admin.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit("bench_k8s: admin PATCH: %d" % r.status)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.tmp.cleanup()


class Worker:
    """The worker as the supervisor starts it: fd 3 a SEQPACKET socket."""

    def __init__(self, kubeconfig):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        null = os.open("/dev/null", os.O_RDWR)
        argv = [BIN, "--worker", "k8s", "kubeconfig=" + kubeconfig,
                "log_level=warn", "identity=bench"]
        self.pid = os.posix_spawn(BIN, argv, {"STABLE_EGRESSD_WORKER": "k8s"},
                                  file_actions=[
                                      (os.POSIX_SPAWN_DUP2, null, 0),
                                      (os.POSIX_SPAWN_DUP2, theirs.fileno(),
                                       3)])
        os.close(null)
        theirs.close()
        self.sock = ours

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        data = self.sock.recv(FRAME_MAX + 1)
        if not data:
            raise SystemExit("bench_k8s: the worker closed its socket")
        return decode(data)

    def until(self, pred, timeout):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise SystemExit("bench_k8s: timed out waiting for a frame")
            f = self.recv(left)
            if pred(f):
                return f

    def stop(self):
        try:
            self.sock.send(encode("MSG_SHUTDOWN", {"nonce": 0}))
        except OSError:
            pass
        os.waitpid(self.pid, 0)
        self.sock.close()


def memory(nodes, node_bytes):
    fake = Fake(nodes, node_bytes)
    w = Worker(os.path.join(fake.dir, "kubeconfig"))
    peak = {"Private_Dirty": 0, "Rss": 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                r = rollup(w.pid)
            except (OSError, KeyError):
                return
            for k in peak:
                peak[k] = max(peak[k], r.get(k, 0))
            time.sleep(0.002)

    t = threading.Thread(target=sample, daemon=True)
    w.until(lambda f: f[0] == "MSG_HELLO", 10)
    t0 = time.monotonic()
    t.start()
    # PINGs every 10 ms while the list runs: each must be answered fast.
    pings, sent, seq, count, last = [], {}, 0, None, 0.0
    while count is None:
        now = time.monotonic()
        if now - t0 > 600:
            raise SystemExit("bench_k8s: no snapshot")
        if now - last >= 0.01:
            seq += 1
            w.sock.send(encode("MSG_PING_REQ", {"nonce": seq}, seq))
            sent[seq] = last = now
        try:
            name, fseq, d = w.recv(0.005)
        except socket.timeout:
            continue
        if name == "MSG_PING_ANS":
            pings.append((time.monotonic() - sent.pop(fseq)) * 1000)
        elif name == "MSG_KUBE_SYNC_END":
            count = d["count"]
    listed = time.monotonic() - t0
    # Steady: watches open, bookmarks flowing, the list long freed.
    time.sleep(3)
    done.set()
    t.join()
    steady = []
    for _ in range(5):
        steady.append(rollup(w.pid))
        time.sleep(0.2)
    pd = statistics.median(s["Private_Dirty"] for s in steady)
    rss = statistics.median(s["Rss"] for s in steady)
    w.stop()
    fake.stop()
    return {"nodes": count, "list_s": listed, "peak_pd": peak["Private_Dirty"],
            "peak_rss": peak["Rss"], "steady_pd": pd, "steady_rss": rss,
            "pings": pct(pings) if pings else None, "npings": len(pings)}


class Watcher(threading.Thread):
    """A second client watching one node, to split the latency: when the
    event left the fake vs when the worker's frame arrived."""

    def __init__(self, fake, node):
        super().__init__(daemon=True)
        with open(os.path.join(fake.dir, "ready")) as f:
            api = urllib.parse.urlsplit(json.load(f)["api"])
        with open(os.path.join(fake.dir, "token")) as f:
            token = f.read().strip()
        ctx = ssl.create_default_context(cafile=os.path.join(fake.dir,
                                                             "ca.crt"))
        self.conn = http.client.HTTPSConnection(api.hostname, api.port,
                                                context=ctx)
        self.conn.request("GET", "/api/v1/nodes?watch=true&timeoutSeconds="
                          "600&fieldSelector=metadata.name%3D" + node,
                          headers={"Authorization": "Bearer " + token})
        self.resp = self.conn.getresponse()
        self.times = []
        self.cond = threading.Condition()

    def run(self):
        buf = b""
        while True:
            try:
                data = self.resp.read1(1 << 20)
            except (OSError, http.client.HTTPException):
                return
            if not data:
                return
            now = time.perf_counter()
            buf += data
            with self.cond:
                while b"\n" in buf:
                    buf = buf.split(b"\n", 1)[1]
                    self.times.append(now)
                self.cond.notify_all()

    def event_time(self, i, timeout=5):
        with self.cond:
            self.cond.wait_for(lambda: len(self.times) > i, timeout)
            return self.times[i] if len(self.times) > i else None


def latency(changes, nodes=3, node_bytes=0):
    fake = Fake(nodes, node_bytes)
    w = Worker(os.path.join(fake.dir, "kubeconfig"))
    w.until(lambda f: f[0] == "MSG_KUBE_SYNC_END", 600)
    watcher = Watcher(fake, "candidate-00000")
    watcher.start()
    watcher.event_time(0)          # its initial ADDED
    time.sleep(1.5)
    samples, share = [], []
    for i in range(changes):
        ready = "False" if i % 2 == 0 else "True"
        t0 = time.perf_counter()
        fake.patch_node("candidate-00000", {"ready": ready})
        w.until(lambda f: f[0] == "MSG_KUBE_NODE" and
                f[2]["name"] == "candidate-00000", 5)
        t1 = time.perf_counter()
        samples.append((t1 - t0) * 1000)
        seen = watcher.event_time(i + 1)
        if seen is not None:
            share.append((t1 - seen) * 1000)
        fake.patched()
    w.stop()
    fake.stop()
    return {"n": len(samples), "all": pct(samples), "worker": pct(share)}


def pct(samples):
    s = sorted(samples)
    v, what = p99(s)
    return {"median": statistics.median(s), "p99": v, "what": what,
            "max": s[-1]}


def verdict(ok):
    return "ok" if ok else "MISSED"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--node-bytes", type=int, default=30000)
    p.add_argument("--changes", type=int, default=1000)
    a = p.parse_args()
    if not os.access(BIN, os.X_OK):
        print("bench_k8s: %s missing (run make); skipped" % BIN)
        return 0
    small = memory(3, 0)
    big = memory(a.nodes, a.node_bytes)
    for m, label in ((small, "3 nodes"), (big, "%d nodes of ~%d KB" % (
            a.nodes, a.node_bytes // 1000))):
        print("k8s worker memory, %-22s list %6.2f s  peak Private_Dirty "
              "%6.1f MiB RSS %6.1f MiB  steady Private_Dirty %5.2f MiB "
              "RSS %5.2f MiB" % (label, m["list_s"], m["peak_pd"] / MIB,
                                 m["peak_rss"] / MIB, m["steady_pd"] / MIB,
                                 m["steady_rss"] / MIB))
        if m["pings"]:
            print("  %d PINGs during the list: median %.2f ms, max %.2f ms "
                  "(goal < 100 ms: %s)" % (
                      m["npings"], m["pings"]["median"], m["pings"]["max"],
                      verdict(m["pings"]["max"] < 100)))
            goal("k8s PING during the list, %s, max of %d" % (label, m["npings"]),
                 "%.2f ms" % m["pings"]["max"], "< 100 ms", m["pings"]["max"] < 100)
    ratio = big["steady_pd"] / max(small["steady_pd"], 1)
    print("  goal steady < 6 MiB: %s; <= 2x the 3-node figure (%.2fx): %s; "
          "peak < 64 MiB: %s" % (
              verdict(big["steady_pd"] < 6 * MIB), ratio,
              verdict(ratio <= 2.0), verdict(big["peak_pd"] < 64 * MIB)))
    goal("k8s worker steady Private_Dirty, %d nodes" % a.nodes,
         "%.2f MiB" % (big["steady_pd"] / MIB), "< 6 MiB", big["steady_pd"] < 6 * MIB)
    goal("k8s steady memory, %d nodes / 3 nodes" % a.nodes, "%.2fx" % ratio, "<= 2x",
         ratio <= 2.0)
    goal("k8s worker peak Private_Dirty, %d nodes" % a.nodes,
         "%.1f MiB" % (big["peak_pd"] / MIB), "< 64 MiB", big["peak_pd"] < 64 * MIB)
    for label, n, size in (("3 nodes", 3, 0), ("%d nodes of ~%d KB" % (
            a.nodes, a.node_bytes // 1000), a.nodes, a.node_bytes)):
        lat = latency(a.changes, n, size)
        t, k = lat["all"], lat["worker"]
        print("node change -> MSG_KUBE_NODE, %-22s %d changes: median "
              "%.2f ms, %s %.2f ms, max %.2f ms (goal p99 < 5 ms: %s)" % (
                  label, lat["n"], t["median"], t["what"], t["p99"], t["max"],
                  verdict(t["p99"] < 5)))
        goal("node change -> MSG_KUBE_NODE, %s, %s" % (label, t["what"]),
             "%.2f ms" % t["p99"], "p99 < 5 ms", t["p99"] < 5)
        print("  of which after the event left the fake (a second watch "
              "saw it): median %.2f ms, %s %.2f ms" % (
                  k["median"], k["what"], k["p99"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
