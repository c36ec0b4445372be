#!/usr/bin/env python3
"""bench_startup.py: start -> spawner and supervisor sandboxed, three workers answering.

Each run starts the daemon against the fakes and reads its "started" log
line, which the supervisor writes once every worker has sent HELLO (sent
after the worker's sandbox is in place and its loop runs); the figure is
that line's timestamp minus the moment the process was spawned.  Median
of 20 runs; goal < 25 ms.  The --check-config round trip (start, HELLO,
orderly stop) is printed too.
"""
import calendar
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from goal import goal  # noqa: E402
from harness import BIN, Cluster  # noqa: E402


def started_at(line):
    t = line["ts"]
    if isinstance(t, (int, float)):
        return float(t)     # zap's default epoch encoding
    return calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + t[20:23])


def one(argv):
    t0 = time.time()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for raw in p.stderr:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if line.get("msg") == "started":
                return started_at(line) - t0
        return None
    finally:
        p.terminate()
        p.wait(10)


def main():
    c = Cluster()
    try:
        base = [BIN] + c.flags("bench") + ["--metrics-bind-address=0",
                                           "--health-probe-bind-address=0",
                                           "--log-level=info"]
        up = [one(base) for _ in range(20)]
        up = [u for u in up if u is not None]
        chk = []
        for _ in range(20):
            t0 = time.monotonic()
            subprocess.run(base + ["--check-config"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            chk.append(time.monotonic() - t0)
        print("start -> spawner + supervisor sandboxed, 3 workers answering, %d runs:" % len(up))
        print("  median %.1f ms  min %.1f ms  max %.1f ms  (goal < 25 ms; log "
              "timestamps have ms resolution)" % (statistics.median(up) * 1e3,
                                                  min(up) * 1e3, max(up) * 1e3))
        print("--check-config (start, HELLO from all, orderly stop), 20 runs: "
              "median %.1f ms" % (statistics.median(chk) * 1e3))
        goal("start -> workers answering, median of %d" % len(up),
             "%.1f ms" % (statistics.median(up) * 1e3), "< 25 ms",
             len(up) == 20 and statistics.median(up) < 0.025)
        goal("--check-config, max of 20", "%.1f ms" % (max(chk) * 1e3), "<= 2 s",
             max(chk) <= 2.0)
    finally:
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
