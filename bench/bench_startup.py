#!/usr/bin/env python3
"""bench_startup.py: start -> all three workers sandboxed and answering.

`stable-egressd --check-config` starts the three workers, waits for each
one's HELLO (sent after its sandbox is in place and its loop runs), prints
the configuration and stops them: its wall time bounds the start-up from
above.  Median of 20 runs; goal < 20 ms.
"""
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import BIN, Cluster  # noqa: E402


def main():
    c = Cluster()
    try:
        argv = [BIN] + c.flags("bench") + ["--check-config", "--metrics-bind-address=0",
                                           "--health-probe-bind-address=0"]
        t = []
        for _ in range(20):
            t0 = time.monotonic()
            p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t.append(time.monotonic() - t0)
            if p.returncode != 0:
                print("check-config failed: exit %d" % p.returncode)
                return 1
        print("start -> 3 workers sandboxed and answering, then clean stop "
              "(--check-config), 20 runs:")
        print("  median %.1f ms  min %.1f ms  max %.1f ms  (goal < 20 ms for start-up)" %
              (statistics.median(t) * 1e3, min(t) * 1e3, max(t) * 1e3))
    finally:
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
