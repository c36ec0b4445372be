#!/usr/bin/env python3
"""bench_idle.py: one replica in steady state for ten minutes.

Prints CPU seconds of the whole process tree (per 60 s), the Hetzner
request rate per hour at the default resync (30 s) from the fake's
request timestamps over the window (BENCH_IDLE_SECONDS, at least 600 for
a rate that means something), and private memory of the tree (sum of
Private_Dirty from smaps_rollup), with PSS and RSS for information.
Goals: < 0.3 CPU s per minute, <= 120 Hetzner requests per hour, < 10 MiB
private.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from goal import goal  # noqa: E402
from harness import BIN, Cluster, descendants  # noqa: E402

SECONDS = int(os.environ.get("BENCH_IDLE_SECONDS", "600"))
TICK = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rollup(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if v.strip().endswith("kB"):
                out[k] = int(v.split()[0])
    return out


def main():
    c = Cluster(lease=(15, 10, 2))
    try:
        r = c.replica("r1", binary=os.environ.get("SE_BENCH_BIN", BIN), extra=[
                             "--resync-interval=30s", "--node-health-interval=1s",
                             "--node-health-timeout=2s", "--log-level=info"])
        Cluster.wait(r.leading, 20)
        Cluster.wait(lambda: r.metric("tuist_stable_egress_gateway_available") == 1, 20)
        time.sleep(2)
        tree = [r.pid] + descendants(r.pid)
        c0 = sum(cpu(p) for p in tree)
        w0 = time.time()
        time.sleep(SECONDS)
        tree = [r.pid] + descendants(r.pid)
        c1 = sum(cpu(p) for p in tree)
        w1 = time.time()
        # The rate from the fake's own timestamps over the window.
        n_req = len([q for q in c.hc_requests() if w0 <= q["time_wall"] < w1])
        per_hour = n_req * 3600.0 / (w1 - w0)
        cpu60 = (c1 - c0) * 60.0 / (w1 - w0)
        mem = [rollup(p) for p in tree]
        priv = sum(m.get("Private_Dirty", 0) for m in mem)
        pss = sum(m.get("Pss", 0) for m in mem)
        rss = sum(m.get("Rss", 0) for m in mem)
        print("idle %ds, one replica leading, 3 nodes probed every 1s:" % SECONDS)
        print("  CPU of the process tree: %.3f s, %.3f s per 60 s (goal < 0.3 s per 60 s)"
              % (c1 - c0, cpu60))
        print("  Hetzner requests: %d in %.0fs -> %.0f per hour (goal <= 120)" %
              (n_req, w1 - w0, per_hour))
        print("  private memory (Private_Dirty, %d processes): %.2f MiB (goal < 10 MiB)" %
              (len(tree), priv / 1024.0))
        goal("idle CPU per 60 s, over %ds" % SECONDS, "%.3f s" % cpu60, "< 0.3 s",
             cpu60 < 0.3)
        goal("idle Hetzner requests per hour, over %ds" % SECONDS, "%.0f" % per_hour,
             "<= 120", per_hour <= 120)
        goal("idle private memory of the tree", "%.2f MiB" % (priv / 1024.0), "< 10 MiB",
             priv / 1024.0 < 10)
        print("  PSS %.2f MiB, RSS %.2f MiB (information)" % (pss / 1024.0, rss / 1024.0))
        for p, m in zip(tree, mem):
            print("    %-15s Private_Dirty %6d kB  Rss %6d kB" %
                  (open("/proc/%d/comm" % p).read().strip(), m.get("Private_Dirty", 0),
                   m.get("Rss", 0)))
    finally:
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
