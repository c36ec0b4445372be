#!/usr/bin/env python3
"""run.py: run every test suite and end with one line that counts.

    python3 tests/run.py --all          unit (plain + ASan/UBSan),
                                        every Python suite (fakes, e2e) and
                                        one round of the drill
    python3 tests/run.py --unit         cmocka suites only
    python3 tests/run.py --fuzz [--fuzz-seconds N]
                                        each libFuzzer target, bounded

Each suite's output goes to build/test-logs/<suite>.log; a failing
suite's tail is printed.  The last line is "N passed, N failed, N
skipped" over individual tests, and the exit status is 1 when anything
failed.
"""
import argparse
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGS = os.path.join(ROOT, "build", "test-logs")
SUITE_TIMEOUT = 900


def run(name, argv, env=None, timeout=SUITE_TIMEOUT):
    log = os.path.join(LOGS, name.replace("/", "_") + ".log")
    t0 = time.monotonic()
    e = dict(os.environ)
    e.update(env or {})
    try:
        p = subprocess.run(argv, cwd=ROOT, env=e, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        out, rc = p.stdout.decode(errors="replace"), p.returncode
    except subprocess.TimeoutExpired as ex:
        out = (ex.stdout or b"").decode(errors="replace")
        out += "\n*** suite timed out after %ds\n" % timeout
        rc = -1
    with open(log, "w") as f:
        f.write(out)
    return out, rc, time.monotonic() - t0, log


def count_cmocka(out, rc):
    passed = sum(int(m) for m in re.findall(r"\[  PASSED  \] (\d+) test", out))
    failed = sum(int(m) for m in re.findall(r"\[  FAILED  \] (\d+) test", out))
    skipped = sum(int(m) for m in re.findall(r"\[  SKIPPED \] (\d+) test", out))
    if rc != 0 and failed == 0:
        failed = 1          # crashed, sanitizer report, or no summary
    return passed, failed, skipped


def count_unittest(out, rc):
    m = re.search(r"^Ran (\d+) tests? in", out, re.M)
    ran = int(m.group(1)) if m else 0
    fail = sum(int(x) for x in re.findall(r"(?:failures|errors)=(\d+)", out))
    skip = sum(int(x) for x in re.findall(r"skipped=(\d+)", out))
    if rc != 0 and fail == 0:
        fail = 1
    return ran - fail - skip, fail, skip


def report(name, counts, secs, log, out):
    p, f, s = counts
    state = "ok  " if f == 0 else "FAIL"
    print("%s %-44s %4d passed %3d failed %3d skipped  %6.1fs" %
          (state, name, p, f, s, secs), flush=True)
    if f:
        tail = out.strip().splitlines()[-40:]
        print("     --- %s (last lines) ---" % os.path.relpath(log, ROOT))
        for line in tail:
            print("     " + line)
    return counts


def unit_suites():
    jobs = []
    for flavour, d in (("unit", "build/unit"), ("asan", "build/asan/unit")):
        for b in sorted(glob.glob(os.path.join(ROOT, d, "test_*"))):
            env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                   "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
            jobs.append(("%s/%s" % (flavour, os.path.basename(b)), [b], env,
                         count_cmocka))
    return jobs


def python_suites():
    jobs = []
    for pat in ("tests/fakes/test_*.py", "tests/e2e/test_*.py"):
        for f in sorted(glob.glob(os.path.join(ROOT, pat))):
            rel = os.path.relpath(f, ROOT)
            jobs.append((rel, [sys.executable, "-m", "unittest", "-v", rel],
                         {"PYTHONDONTWRITEBYTECODE": "1"}, count_unittest))
    return jobs


def count_drill(out, rc):
    # tests/drill/drill.py exits 77 when the machine cannot make network
    # namespaces: a skip, listed in tests/skips.
    return {0: (1, 0, 0), 77: (0, 0, 1)}.get(rc, (0, 1, 0))


def drill_suite():
    return [("drill", [sys.executable, "tests/drill/drill.py", "--rounds", "1"],
             {}, count_drill)]


def run_jobs(jobs, parallel):
    total = [0, 0, 0]
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as ex:
        futs = [(j, ex.submit(run, j[0], j[1], j[2])) for j in jobs]
        for (name, _, _, counter), fut in futs:
            out, rc, secs, log = fut.result()
            c = report(name, counter(out, rc), secs, log, out)
            for i in range(3):
                total[i] += c[i]
    return total


def fuzz(seconds):
    total = [0, 0, 0]
    for b in sorted(glob.glob(os.path.join(ROOT, "build/fuzz/fuzz_*"))):
        name = os.path.basename(b)
        corpus = os.path.join(ROOT, "tests/fuzz/corpus", name[len("fuzz_"):])
        work = os.path.join(ROOT, "build/fuzz/work", name)
        os.makedirs(work, exist_ok=True)
        argv = [b, "-max_total_time=%d" % seconds, "-timeout=10",
                "-rss_limit_mb=1024", "-print_final_stats=1", work]
        if os.path.isdir(corpus):
            argv.append(corpus)
        out, rc, secs, log = run("fuzz/" + name, argv, timeout=seconds + 120)
        runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
        c = (1, 0, 0) if rc == 0 else (0, 1, 0)
        report("fuzz/%s (%s runs)" % (name, runs.group(1) if runs else "?"),
               c, secs, log, out)
        for i in range(3):
            total[i] += c[i]
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--unit", action="store_true")
    ap.add_argument("--fuzz", action="store_true")
    ap.add_argument("--fuzz-seconds", type=int, default=10)
    ap.add_argument("-j", type=int, default=2)
    a = ap.parse_args()
    os.makedirs(LOGS, exist_ok=True)
    total = [0, 0, 0]
    parts = []
    if a.unit or a.all:
        parts.append(run_jobs(unit_suites(), a.j))
    if a.all:
        # One at a time: the end-to-end suites measure timing bounds and
        # would disturb each other on a small machine.
        parts.append(run_jobs(python_suites(), 1))
        parts.append(run_jobs(drill_suite(), 1))
    if a.fuzz:
        parts.append(fuzz(a.fuzz_seconds))
    for p in parts:
        for i in range(3):
            total[i] += p[i]
    print("%d passed, %d failed, %d skipped" % tuple(total))
    return 1 if total[1] or sum(total) == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
