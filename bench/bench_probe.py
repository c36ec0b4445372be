#!/usr/bin/env python3
"""bench_probe.py: one probe round over 100 nodes, 20 of them unreachable.

The release probe worker gets 100 targets on loopback: 80 listeners that
are up and 20 accept-never-answer ones (a full accept queue: the kernel
drops the SYN, the connect hangs until the probe's timeout).  A round is
timed from the end of the target list to the 100th result; each round
sends fresh node names, so every target reports its first result.  Serial
probing would take 20 timeouts; all in parallel take one.  Figure: round
wall time / timeout, median over ROUNDS rounds; goal <= 1.2.

Then every node gets four addresses, the three hanging ones first and an
up one last, as a node whose first InternalIPs do not answer: all four are
dialled at once, so the round ends when the up ones connect, not after a
timeout.  Figure: that round's wall time / timeout; goal <= 0.2.
"""
import os
import socket
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "e2e"))
from test_probe_worker import BIN, Stuck, Up, Worker, addr  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from goal import goal  # noqa: E402

NODES, UNREACHABLE, ROUNDS, TIMEOUT_MS = 100, 20, 12, 500


def cpu_ms(pid):
    """Time the process has spent on a CPU (schedstat: nanoseconds)."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e6


def main():
    if not os.path.exists(BIN):
        print("skip: %s not built (run make)" % BIN)
        return 0
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ups = [Up(addr(), port, accept=False) for _ in range(NODES - UNREACHABLE)]
    stuck = [Stuck(addr(), port) for _ in range(UNREACHABLE)]
    hosts = [x.host for x in ups + stuck]
    w = Worker(binary=BIN, port=port, timeout_ms=TIMEOUT_MS,
               interval_ms=3600000, log_level="warn")
    try:
        assert w.hello()["status"] == 0
        ratios, cpu, bad = [], [], 0
        for r in range(ROUNDS):
            c0 = cpu_ms(w.pid)
            sent = w.targets([("r%d-n%d" % (r, i), h)
                              for i, h in enumerate(hosts)])
            got = w.first(NODES, seconds=10 * TIMEOUT_MS / 1000)
            if len(got) != NODES:
                print("round %d: only %d of %d results" % (r, len(got), NODES))
                return 1
            wall = max(v[0] for v in got.values()) - sent
            ratios.append(wall / (TIMEOUT_MS / 1000))
            cpu.append(cpu_ms(w.pid) - c0)
            bad += sum(1 for v in got.values() if v[1] == 0)
        if bad != UNREACHABLE * ROUNDS:
            print("unexpected verdicts: %d failures, want %d" %
                  (bad, UNREACHABLE * ROUNDS))
            return 1
        med = statistics.median(ratios)
        print("probe round: %d nodes, %d accept-never-answer, timeout %d ms, "
              "%d rounds:" % (NODES, UNREACHABLE, TIMEOUT_MS, ROUNDS))
        print("  wall/timeout  median %.3f  min %.3f  max %.3f  (goal <= 1.2: %s)"
              % (med, min(ratios), max(ratios), "met" if med <= 1.2 else "MISSED"))
        print("  (serial probing: %d)  worker CPU per round: median %.2f ms"
              % (UNREACHABLE, statistics.median(cpu)))
        goal("probe round wall/timeout, median of %d" % ROUNDS, "%.3f" % med, "<= 1.2",
             med <= 1.2)
        multi, cpu = [], []
        for r in range(ROUNDS):
            c0 = cpu_ms(w.pid)
            sent = w.targets([("m%d-n%d" % (r, i),) + tuple(
                x.host for x in stuck[:3]) + (u.host,)
                for i, u in enumerate(ups)])
            got = w.first(len(ups), seconds=10 * TIMEOUT_MS / 1000)
            if len(got) != len(ups) or any(v[1] != 1 for v in got.values()):
                print("round %d: %d results, %d healthy, want %d healthy" % (
                    r, len(got), sum(v[1] for v in got.values()), len(ups)))
                return 1
            multi.append((max(v[0] for v in got.values()) - sent) /
                         (TIMEOUT_MS / 1000))
            cpu.append(cpu_ms(w.pid) - c0)
        med = statistics.median(multi)
        print("probe round: %d nodes of 4 addresses each, the first 3 hanging, "
              "%d rounds:" % (len(ups), ROUNDS))
        print("  wall/timeout  median %.3f  min %.3f  max %.3f  (goal <= 0.2: %s)"
              % (med, min(multi), max(multi), "met" if med <= 0.2 else "MISSED"))
        print("  connects per round: %d  worker CPU per round: median %.2f ms"
              % (4 * len(ups), statistics.median(cpu)))
        goal("probe round, 3 of 4 addresses hanging, wall/timeout, median of %d"
             % ROUNDS, "%.3f" % med, "<= 0.2", med <= 0.2)
    finally:
        w.close()
        for x in ups + stuck:
            x.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
