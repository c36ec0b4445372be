#!/usr/bin/env python3
"""bench_idle.py: one replica in steady state for a minute.

Prints CPU seconds of the whole process tree, Hetzner requests per hour
at the default resync (30 s) counted from the fake's request timestamps
(BENCH_IDLE_SECONDS=600 or more for the budget figure), and private
memory of the tree (sum of Private_Dirty from smaps_rollup), with PSS and
RSS for information.  Goals: < 0.3 CPU s per minute, <= 120 Hetzner
requests per hour, < 10 MiB private.  SE_BENCH_BIN runs another binary.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import BIN, Cluster, descendants  # noqa: E402

SECONDS = int(os.environ.get("BENCH_IDLE_SECONDS", "60"))
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
        m0 = time.monotonic()
        time.sleep(SECONDS)
        m1 = time.monotonic()
        tree = [r.pid] + descendants(r.pid)
        c1 = sum(cpu(p) for p in tree)
        # the fake stamps each request with the same CLOCK_MONOTONIC
        reqs = [q for q in c.hc_requests() if m0 <= q["time_mono"] < m1]
        mem = [rollup(p) for p in tree]
        priv = sum(m.get("Private_Dirty", 0) for m in mem)
        pss = sum(m.get("Pss", 0) for m in mem)
        rss = sum(m.get("Rss", 0) for m in mem)
        print("idle %ds, one replica leading, 3 nodes probed every 1s:" % SECONDS)
        print("  CPU of the process tree: %.3f s (goal < 0.3 s per 60 s)" % (c1 - c0))
        print("  Hetzner requests: %d in %.0fs by their timestamps -> %.0f per hour "
              "(goal <= 120)" % (len(reqs), m1 - m0, len(reqs) * 3600.0 / (m1 - m0)))
        print("  private memory (Private_Dirty, %d processes): %.2f MiB (goal < 10 MiB)" %
              (len(tree), priv / 1024.0))
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
