#!/usr/bin/env python3
"""run.py: run every test suite and end with one line that counts.

    python3 tests/run.py --all          unit (plain + ASan/UBSan), the
                                        fakes' self-tests, every e2e suite,
                                        the controller e2e suite once
                                        more against the ASan+UBSan daemon,
                                        and one round of the drill
    python3 tests/run.py --unit         cmocka suites only
    python3 tests/run.py --fuzz [--fuzz-seconds N]
                                        each libFuzzer target, bounded
    --only SUBSTRING                    only the suites whose name has it

Each suite's output goes to build/test-logs/<suite>.log; a failing
suite's tail is printed.  Every test case is counted once per
configuration it runs in (plain and ASan+UBSan are two).  Above the
closing line a breakdown per suite kind; the closing line "N passed, N
failed, N skipped" is the sum of that breakdown.  Fuzz smoke runs are
runs with execution counts, never passed tests; a crashing one counts
as a failure.

Failures fail:
  - a skipped test is a failure unless tests/skips lists it (or its
    suite) with a reason;
  - a suite that runs no test, or skips a whole module or class in one
    go, is a failure, listed or not;
  - a suite that exits non-zero (a sanitizer report, a crash, a
    timeout) is a failure even when every test it printed passed.
The exit status is 1 when anything failed or nothing ran.
"""
import argparse
import concurrent.futures
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGS = os.path.join(ROOT, "build", "test-logs")
SKIPS = os.path.join(ROOT, "tests", "skips")
SUITE_TIMEOUT = 900
DAEMON_SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
                  "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
ASAN_DAEMON = os.path.join(ROOT, "build", "asan", "stable-egressd")

# The suite kinds of the breakdown, in print order.
KINDS = ("C unit", "C unit, ASan+UBSan", "fakes' self-tests", "project e2e",
         "project e2e, ASan+UBSan daemon", "drill", "fuzz smoke runs")


class Job:
    def __init__(self, kind, name, argv, env=None, parse=None, timeout=None):
        self.kind, self.name, self.argv = kind, name, argv
        self.env = env or {}
        self.parse = parse
        self.timeout = timeout or SUITE_TIMEOUT
        self.results = []       # (test id, "pass"|"fail"|"skip", detail)
        self.note = ""


def run(job):
    log = os.path.join(LOGS, job.name.replace("/", "_") + ".log")
    t0 = time.monotonic()
    e = dict(os.environ)
    e.update(job.env)
    try:
        p = subprocess.run(job.argv, cwd=ROOT, env=e, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=job.timeout,
                           stdin=subprocess.DEVNULL)
        out, rc = p.stdout.decode(errors="replace"), p.returncode
    except subprocess.TimeoutExpired as ex:
        out = (ex.stdout or b"").decode(errors="replace")
        out += "\n*** suite timed out after %ds\n" % job.timeout
        rc = -1
    with open(log, "w") as f:
        f.write(out)
    return out, rc, time.monotonic() - t0, log


# ---- parsers: output -> per-test results -----------------------------------

CM_LINE = re.compile(r"^\[ *(RUN|OK|FAILED|SKIPPED) *\] (.+?)\s*$", re.M)


def parse_cmocka(job, out, rc):
    """Per test from "[ RUN ] x" and the verdict line that follows it; a
    test with no verdict (the binary died inside it) failed."""
    cur = None
    res = {}
    for m in CM_LINE.finditer(out):
        tag, name = m.group(1), m.group(2)
        if tag == "RUN":
            cur = name
            res.setdefault(name, None)
        elif name == cur and res.get(name) is None:
            res[name] = {"OK": "pass", "FAILED": "fail",
                         "SKIPPED": "skip"}[tag]
            cur = None
        elif tag == "FAILED" and name.startswith("GROUP "):
            res[name] = "fail"
    for name, v in res.items():
        job.results.append(("%s:%s" % (job.name, name), v or "fail",
                            "" if v else "no verdict (crashed?)"))
    if rc != 0 and not any(r[1] == "fail" for r in job.results):
        job.results.append((job.name, "fail", "exit status %d after every "
                            "test passed (sanitizer report?)" % rc))


def parse_python(job, out, rc):
    """The JSON the --py-one child wrote (see py_one())."""
    path = job.json
    try:
        with open(path) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        rec = []
    for tid, v, detail in rec:
        job.results.append(("%s:%s" % (job.name, tid), v, detail))
    if rc != 0 and not any(r[1] == "fail" for r in job.results):
        job.results.append((job.name, "fail", "exit status %d" % rc))


# ---- the Python side: one suite, per-test verdicts written as JSON --------

class _Rec(unittest.TextTestResult):
    """Records one verdict per test id; a failing subtest fails its test."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.rec = {}

    @staticmethod
    def _id(test):
        t = getattr(test, "test_case", test)
        if isinstance(t, unittest.TestCase) and \
                type(t).__name__ not in ("_ErrorHolder", "ModuleSkipped"):
            return "%s.%s" % (type(t).__name__, t._testMethodName)
        return None     # setUpClass, setUpModule, a module skipped on import

    def _put(self, test, v, detail):
        tid = self._id(test)
        if tid is None:
            what = getattr(test, "description", None) or str(test)
            v, detail = "fail", ("%s: %s" % (what, detail) if v == "fail" else
                                 "%s skipped as a whole (%s): a suite never "
                                 "collapses into one skip" % (what, detail))
            tid = "<%s>" % what
        rank = {"pass": 0, "skip": 1, "fail": 2}
        old = self.rec.get(tid)
        if old is None or rank[v] > rank[old[0]]:
            self.rec[tid] = (v, detail[-2000:])

    def addSuccess(self, test):
        super().addSuccess(test)
        self._put(test, "pass", "")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._put(test, "fail", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._put(test, "fail", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._put(test, "skip", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._put(test, "pass", "")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._put(test, "fail", "unexpected success")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            ok = issubclass(err[0], test.failureException)
            self._put(test, "fail", "%s: %s" % (
                subtest, self._exc_info_to_string(err, test)) if ok else
                self._exc_info_to_string(err, test))


def py_one(rel, out):
    sys.path.insert(0, ROOT)
    mod = rel[:-3].replace("/", ".")
    rec = []
    try:
        suite = unittest.defaultTestLoader.loadTestsFromName(mod)
    except unittest.SkipTest as e:
        rec.append(("<module>", "fail", "the whole module skipped (%s): a "
                    "suite never collapses into one skip" % e))
        suite = None
    except Exception:
        rec.append(("<module>", "fail", traceback.format_exc()))
        suite = None
    if suite is not None:
        runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2,
                                         resultclass=_Rec)
        result = runner.run(suite)
        rec += [(t, v, d) for t, (v, d) in sorted(result.rec.items())]
    with open(out, "w") as f:
        json.dump(rec, f)
    return 1 if any(v == "fail" for _, v, _ in rec) else 0


# ---- suites ------------------------------------------------------------------

def unit_jobs():
    jobs = []
    for kind, flavour, d in (("C unit", "unit", "build/unit"),
                             ("C unit, ASan+UBSan", "asan", "build/asan/unit")):
        for src in sorted(glob.glob(os.path.join(ROOT, "tests/unit/test_*.c"))):
            name = os.path.basename(src)[:-2]
            b = os.path.join(ROOT, d, name)
            j = Job(kind, "%s/%s" % (flavour, name), [b], SAN_ENV, parse_cmocka)
            if not os.access(b, os.X_OK):
                j.argv = None
                j.results.append((j.name, "fail", "%s not built" %
                                  os.path.relpath(b, ROOT)))
            jobs.append(j)
    return jobs


def py_job(kind, rel, name=None, env=None):
    name = name or rel
    j = Job(kind, name, None, dict({"PYTHONDONTWRITEBYTECODE": "1"},
                                   **(env or {})), parse_python)
    j.json = os.path.join(LOGS, name.replace("/", "_") + ".json")
    j.argv = [sys.executable, os.path.abspath(__file__), "--py-one", rel,
              j.json]
    return j


def python_jobs():
    jobs = []
    for kind, pat in (("fakes' self-tests", "tests/fakes/test_*.py"),
                      ("project e2e", "tests/e2e/test_*.py")):
        for f in sorted(glob.glob(os.path.join(ROOT, pat))):
            jobs.append(py_job(kind, os.path.relpath(f, ROOT)))
    # The whole controller suite once more against the ASan+UBSan build
    # of the daemon: memory errors or undefined behaviour on the paths
    # the e2e tests drive end the replica, and the suite fails.
    # LeakSanitizer's exit-time scan stops the world with ptrace from a
    # new thread, which the sandboxes (rightly) kill: leaks are the unit
    # tests' job; here ASan and UBSan proper run.
    j = py_job("project e2e, ASan+UBSan daemon", "tests/e2e/test_controller.py",
               "asan-daemon/tests/e2e/test_controller.py",
               dict(DAEMON_SAN_ENV, SE_DAEMON_BIN=ASAN_DAEMON))
    why = asan_daemon_starts()
    if not os.access(ASAN_DAEMON, os.X_OK):
        j.argv = None
        j.results.append((j.name, "fail", "build/asan/stable-egressd not built"))
    elif why:
        # A configuration that cannot run at all is one skip, which only
        # tests/skips can excuse; it runs again by itself once it starts.
        j.argv = None
        j.results.append((j.name, "skip", why))
    jobs.append(j)
    return jobs


def asan_daemon_starts():
    """None when the ASan+UBSan daemon passes --check-config (workers
    started and stopped), else its first error line."""
    if not os.access(ASAN_DAEMON, os.X_OK):
        return None
    with tempfile.TemporaryDirectory() as d:
        tok, kc = os.path.join(d, "token"), os.path.join(d, "kubeconfig")
        with open(tok, "w") as f:
            f.write("stand-in\n")
        with open(kc, "w") as f:
            f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n"
                    "  cluster:\n    server: https://127.0.0.1:1\nusers:\n"
                    "- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n"
                    "  context:\n    cluster: c\n    user: u\n"
                    "current-context: x\n")
        os.chmod(d, 0o755)
        for path in (tok, kc):
            os.chmod(path, 0o644)
        argv = [ASAN_DAEMON, "--floating-ip-name=egress-v4",
                "--hcloud-token-path=" + tok, "--kubeconfig=" + kc,
                "--leader-elect-resource-namespace=default", "--check-config"]
        if os.geteuid() == 0:
            argv.append("--user=nobody")
        p = subprocess.run(argv, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           env=dict(os.environ, **DAEMON_SAN_ENV), timeout=60)
    if p.returncode == 0:
        return None
    err = p.stderr.decode(errors="replace").strip().splitlines()
    return "cannot start: --check-config exited %d: %s" % (
        p.returncode, err[0] if err else "")


def parse_drill(job, out, rc):
    """One test: tests/drill/drill.py exits 77 when the machine cannot
    make network namespaces, a skip (tests/skips lists it)."""
    v = {0: "pass", 77: "skip"}.get(rc, "fail")
    job.results.append((job.name, v, "" if v == "pass" else
                        "no network namespaces here" if v == "skip" else
                        "exit status %d" % rc))


def drill_jobs():
    return [Job("drill", "drill", [sys.executable, "tests/drill/drill.py",
                                   "--rounds", "1"],
                parse=parse_drill)]


def run_jobs(jobs, parallel, skips):
    todo = [j for j in jobs if j.argv]
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as ex:
        futs = {id(j): ex.submit(run, j) for j in todo}
        for j in jobs:
            if j.argv:
                out, rc, secs, log = futs[id(j)].result()
                j.parse(j, out, rc)
            else:
                out, secs, log = "", 0.0, None
            if not j.results:
                j.results.append((j.name, "fail", "ran no test"))
            report(j, secs, log, out, skips)


def fuzz_jobs(seconds):
    jobs = []
    for src in sorted(glob.glob(os.path.join(ROOT, "tests/fuzz/fuzz_*.c"))):
        name = os.path.basename(src)[:-2]
        b = os.path.join(ROOT, "build/fuzz", name)
        corpus = os.path.join(ROOT, "tests/fuzz/corpus", name[len("fuzz_"):])
        work = os.path.join(ROOT, "build/fuzz/work", name)
        os.makedirs(work, exist_ok=True)
        # Crash inputs go under build/, never into the source tree.
        argv = [b, "-max_total_time=%d" % seconds, "-timeout=10",
                "-rss_limit_mb=1024", "-print_final_stats=1",
                "-artifact_prefix=%s/" % work, work]
        if os.path.isdir(corpus):
            argv.append(corpus)
        j = Job("fuzz smoke runs", "fuzz/" + name, argv, SAN_ENV,
                timeout=seconds + 120)
        j.execs = 0
        if not os.access(b, os.X_OK):
            j.argv = None
        jobs.append(j)
    return jobs


def run_fuzz(jobs):
    """A run is not a test: it adds its executions, or a failure."""
    for j in jobs:
        if j.argv is None:
            j.results.append((j.name, "fail", "not built"))
            report(j, 0.0, None, "", {})
            continue
        out, rc, secs, log = run(j)
        m = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
        j.execs = int(m.group(1)) if m else 0
        if rc != 0:
            j.results.append((j.name, "fail", "exit status %d" % rc))
        elif j.execs == 0:
            j.results.append((j.name, "fail", "no executions counted"))
        j.note = "1 run, %d execs" % j.execs
        report(j, secs, log, out, {})


# ---- skips, reporting ------------------------------------------------------

def load_skips():
    """tests/skips: "<suite or test id>  <reason>" a line; # comments."""
    out = {}
    try:
        with open(SKIPS) as f:
            for n, line in enumerate(f, 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                parts = line.split(None, 1)
                if len(parts) < 2:
                    sys.exit("%s:%d: a skip needs a reason" % (SKIPS, n))
                out[parts[0]] = parts[1]
    except FileNotFoundError:
        pass
    return out


def allowed(tid, skips):
    for k in skips:
        if tid == k or tid.startswith(k + ":") or tid.startswith(k + "."):
            skips[k + "\0used"] = True
            return True
    return False


def report(j, secs, log, out, skips):
    res = []
    for tid, v, detail in j.results:
        if v == "skip" and not allowed(tid, skips):
            v, detail = "fail", "skipped (%s) but not listed in tests/skips" % detail
        res.append((tid, v, detail))
    j.results = res
    p = sum(1 for r in res if r[1] == "pass")
    f = sum(1 for r in res if r[1] == "fail")
    s = sum(1 for r in res if r[1] == "skip")
    state = "ok  " if f == 0 else "FAIL"
    extra = j.note or "%4d passed %3d failed %3d skipped" % (p, f, s)
    if j.note and f:
        extra += ", FAILED"
    print("%s %-46s %s  %6.1fs" % (state, j.name, extra, secs), flush=True)
    for tid, v, detail in res:
        if v == "fail":
            print("     failed: %s: %s" % (tid, detail.strip().splitlines()[-1]
                                          if detail.strip() else ""))
        elif v == "skip":
            print("     skipped (tests/skips): %s: %s" % (tid, detail))
    if f and out:
        tail = out.strip().splitlines()[-40:]
        print("     --- %s (last lines) ---" % os.path.relpath(log, ROOT))
        for line in tail:
            print("     " + line)


def breakdown(jobs):
    total = [0, 0, 0]
    print("\n---- breakdown ----")
    for kind in KINDS:
        js = [j for j in jobs if j.kind == kind]
        if not js:
            continue
        c = [sum(1 for j in js for r in j.results if r[1] == v)
             for v in ("pass", "fail", "skip")]
        line = "%-32s %5d passed %4d failed %4d skipped" % (kind + ":", *c)
        if kind == "fuzz smoke runs":
            line += "   (%d runs, %d execs; runs are not tests)" % (
                len(js), sum(j.execs for j in js))
        print(line)
        for i in range(3):
            total[i] += c[i]
    return total


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--py-one":
        return py_one(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser()
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--unit", action="store_true")
    ap.add_argument("--fuzz", action="store_true")
    ap.add_argument("--fuzz-seconds", type=int, default=10)
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    os.makedirs(LOGS, exist_ok=True)
    skips = load_skips()
    jobs = []
    if a.unit or a.all:
        js = [j for j in unit_jobs() if a.only in j.name]
        run_jobs(js, a.j, skips)
        jobs += js
    if a.all:
        # One at a time: the end-to-end suites measure timing bounds and
        # would disturb each other on a small machine.
        js = [j for j in python_jobs() + drill_jobs() if a.only in j.name]
        run_jobs(js, 1, skips)
        jobs += js
    if a.fuzz:
        js = [j for j in fuzz_jobs(a.fuzz_seconds) if a.only in j.name]
        run_fuzz(js)
        jobs += js
    if a.all and not a.only:
        for k in sorted(k for k in skips if "\0" not in k):
            if k + "\0used" not in skips:
                print("note: tests/skips lists %s, which did not skip" % k)
    total = breakdown(jobs)
    print("%d passed, %d failed, %d skipped" % tuple(total))
    return 1 if total[1] or total[0] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
