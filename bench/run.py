#!/usr/bin/env python3
"""run.py: every benchmark under bench/, one after the other, figures printed.

C benchmarks are built by the Makefile (build/bench/bench_*); Python ones
(bench/bench_*.py) drive the real binary against the fakes.  Each bench
prints, for every figure it measures, one line "GOAL what | figure |
goal | met|NOT MET" (bench/goal.py); the summary at the end lists them
all, each figure beside its goal and whether it was met.  A bench that
exits non-zero or reports no figure is listed as such.  BENCH=name runs
one.  The exit status is 0 even when a goal is missed: benchmarks
inform, the tests assert.
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
    summary = []
    for argv in runs:
        name = os.path.basename(argv[-1])
        if only and only not in name:
            continue
        print("== %s" % name, flush=True)
        t0 = time.monotonic()
        p = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        got = []
        for line in p.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.startswith("GOAL "):
                got.append(line[5:].strip().split(" | "))
        p.wait()
        print("== %s: exit %d, %.0fs\n" % (name, p.returncode, time.monotonic() - t0),
              flush=True)
        if p.returncode != 0:
            got.append(["(bench exited %d)" % p.returncode, "-", "-", "NOT MET"])
        elif not got:
            got.append(["(no figure reported)", "-", "-", "NOT MET"])
        summary.append((name, got))
        rc |= p.returncode != 0
    print("==== summary: each figure beside its goal")
    met = total = 0
    for name, got in summary:
        for g in got:
            g = (g + ["?"] * 4)[:4]
            total += 1
            met += g[3] == "met"
            print("%-8s %-22s %-48s %-26s %s" % (g[3], name, g[0], g[1], g[2]))
    print("==== %d of %d goals met" % (met, total))
    return rc


if __name__ == "__main__":
    sys.exit(main())
