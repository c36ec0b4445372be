#!/usr/bin/env python3
"""run.py: every benchmark under bench/, one after the other, figures printed.

C benchmarks are built by the Makefile (build/bench/bench_*); Python ones
(bench/bench_*.py) drive the real binary against the fakes.  Nothing here
asserts: goals are printed beside the figures.  BENCH=name runs one.
"""
import glob
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    only = os.environ.get("BENCH")
    runs = [[b] for b in sorted(glob.glob(os.path.join(ROOT, "build/bench/bench_*")))]
    runs += [[sys.executable, p] for p in sorted(glob.glob(os.path.join(ROOT, "bench/bench_*.py")))]
    rc = 0
    for argv in runs:
        name = os.path.basename(argv[-1])
        if only and only not in name:
            continue
        print("== %s" % name, flush=True)
        t0 = time.monotonic()
        p = subprocess.run(argv, cwd=ROOT, timeout=1800)
        print("== %s: exit %d, %.0fs\n" % (name, p.returncode, time.monotonic() - t0),
              flush=True)
        rc |= p.returncode != 0
    return rc


if __name__ == "__main__":
    sys.exit(main())
