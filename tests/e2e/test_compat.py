"""test_compat.py: what an operator swapping the reference's image relies on.

Each behaviour of the reference controller (DESIGN.md, reference facts)
through the real binary against the fakes: controller-runtime's zap flags
and log keys, its metrics, the allowlist guarding the primary only, and a
whole run under the RBAC of deploy/base with no request refused.
"""
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Cluster  # noqa: E402

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"
# zap's time encoders, written in UTC (zapcore/encoder.go)
TS_FORMS = {
    "epoch": lambda t: isinstance(t, float) and 1.7e9 < t < 4e9,
    "millis": lambda t: isinstance(t, float) and 1.7e12 < t < 4e12,
    "nanos": lambda t: isinstance(t, int) and 1.7e18 < t < 4e18,
    "iso8601": lambda t: re.fullmatch(ISO + r"\.\d{3}Z", t) is not None,
    "rfc3339": lambda t: re.fullmatch(ISO + "Z", t) is not None,
    "rfc3339nano": lambda t: re.fullmatch(ISO + r"(\.\d{1,9})?Z", t)
    is not None and not re.search(r"\.\d*0Z", t),
}


def need(path):
    if not os.path.exists(path):
        raise unittest.SkipTest("%s not built (run make)" % path)


class ZapFlags(unittest.TestCase):
    """Every --zap-* flag the reference accepts parses, and changes the
    output as docs/operations.md says."""

    @classmethod
    def setUpClass(cls):
        need(BIN)
        cls.c = Cluster()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    def run_with(self, *extra):
        """Start a replica, wait until every process logged (workers hold
        their lines until the first heartbeat), stop it: its raw lines."""
        r = self.c.replica("zap-%d" % len(self.c.replicas), extra)

        def all_logged():
            text = b"\n".join(raw(r))
            return all(b'"logger":"%s"' % w in text or b" %s: " % w in text
                       for w in (b"supervisor", b"k8s-worker",
                                 b"hcloud-worker", b"probe-worker"))
        ok = Cluster.wait(all_logged, 10)
        self.assertEqual(r.stop(), 0)
        self.assertTrue(ok, "no start with %s: %s" % (extra, raw(r)[-3:]))
        return raw(r)

    def json_lines(self, lines):
        out = [json.loads(l) for l in lines]
        self.assertGreater(len(out), 2)
        return out

    def test_default_json_carries_zap_keys(self):
        lines = self.json_lines(self.run_with())
        for l in lines:
            # zap's production keys first, in zap's order; ours beside
            self.assertEqual(list(l)[:4], ["level", "ts", "logger", "msg"])
            self.assertTrue(TS_FORMS["epoch"](l["ts"]), l)
            self.assertEqual(l["logger"], l["component"])
            self.assertIn(l["level"], ("debug", "info", "warn", "error"))
        self.assertTrue({l["logger"] for l in lines} >= {
            "supervisor", "k8s-worker", "hcloud-worker", "probe-worker"})

    def test_time_encodings(self):
        for name, ok in TS_FORMS.items():
            # zap takes any case; "nano" is what its help text once said
            flag = name.upper() if name == "iso8601" else name
            lines = self.json_lines(self.run_with(
                "--zap-time-encoding=" + flag))
            for l in lines:
                self.assertTrue(ok(l["ts"]), "%s: %r" % (name, l["ts"]))
        lines = self.json_lines(self.run_with("--zap-time-encoding=nano"))
        self.assertTrue(all(TS_FORMS["nanos"](l["ts"]) for l in lines))

    def test_encoder_and_levels(self):
        text = self.run_with("--zap-encoder=console")
        self.assertTrue(all(re.match(ISO + r"\.\d{3}Z (debug|info|warn|"
                                     r"error) \S+: ", l.decode())
                            for l in text), text[:2])
        lines = self.json_lines(self.run_with("--zap-log-level=info",
                                              "--zap-stacktrace-level=panic"))
        self.assertNotIn("debug", {l["level"] for l in lines})
        lines = self.json_lines(self.run_with("--log-level=info",
                                              "--zap-log-level=5"))
        self.assertIn("debug", {l["level"] for l in lines})
        r = self.c.replica("zap-err", ("--zap-log-level=error",))
        ok = Cluster.wait(lambda: r.get("/readyz", r.health_port)[0] == 200,
                          10)
        self.assertEqual(r.stop(), 0)
        self.assertTrue(ok)
        self.assertEqual(raw(r), [])      # nothing below error

    def test_devel(self):
        # zap's development defaults: console, debug, ISO 8601
        text = self.run_with("--zap-devel", "--log-level=info")
        self.assertTrue(all(re.match(ISO + r"\.\d{3}Z (info|warn|error) ",
                                     l.decode()) for l in text), text[:2])
        lines = self.json_lines(self.run_with(
            "--zap-devel=true", "--zap-encoder=json"))
        self.assertIn("debug", {l["level"] for l in lines})
        self.assertTrue(TS_FORMS["iso8601"](lines[0]["ts"]))

    def test_bad_values_exit_2(self):
        for flag in ("--zap-encoder=xml", "--zap-log-level=verbose",
                     "--zap-stacktrace-level=debug",
                     "--zap-time-encoding=unix"):
            r = self.c.replica("bad-%d" % len(self.c.replicas), (flag,))
            self.assertEqual(r.proc.wait(5), 2, flag)
            r.stop()
            out = raw(r)
            self.assertEqual(len(out), 1, out)
            self.assertIn(flag.split("=")[0].encode(), out[0])


LEASE_NAME = "stable-egress-controller.tuist.dev"
CTL = "stable-egress-failover"


class RuntimeMetrics(unittest.TestCase):
    """controller-runtime's metrics with the reference's controller and
    Lease names, values that match what happened; under deploy/base's
    RBAC, nothing refused."""

    def setUp(self):
        need(BIN)
        self.c = Cluster(lease=(4, 3, 1), rbac="base")
        self.addCleanup(self.c.close)

    def series(self, r, name):
        """{labels text: value} of one family."""
        status, body = r.get("/metrics")
        self.assertEqual(status, 200)
        out = {}
        for line in body.splitlines():
            m = re.match(r"^%s(\{.*\})? (\S+)$" % re.escape(name), line)
            if m:
                out[m.group(1) or ""] = float(m.group(2))
        return out

    def master(self, r):
        got = self.series(r, "leader_election_master_status")
        self.assertEqual(list(got), ['{name="%s"}' % LEASE_NAME])
        return got['{name="%s"}' % LEASE_NAME]

    def test_reconciles_errors_and_leadership(self):
        a = self.c.replica("r1")
        self.assertTrue(Cluster.wait(a.leading, 10))
        b = self.c.replica("r2")
        self.assertTrue(Cluster.wait(
            lambda: b.metric("stable_egressd_standbys_ready") == 1, 20))
        self.assertEqual(self.master(a), 1)
        self.assertEqual(self.master(b), 0)
        # every result and node from 0, before anything happened
        tot = self.series(b, "controller_runtime_reconcile_total")
        self.assertEqual(set(tot), {
            '{controller="%s",result="%s"}' % (CTL, res) for res in
            ("success", "error", "requeue", "requeue_after")})
        self.assertEqual(sum(tot.values()), 0)   # standbys never reconcile
        self.assertEqual(self.series(
            a, "controller_runtime_reconcile_errors_total"),
            {'{controller="%s"}' % CTL: 0})
        self.assertEqual(self.series(
            a, "tuist_stable_egress_health_check_failures_total"),
            {'{node="%s"}' % n: 0 for n in ("node-a", "node-b", "node-c")})
        self.assertTrue(Cluster.wait(lambda: a.metric(
            "controller_runtime_reconcile_total", result="success") >= 1, 10))
        self.assertGreaterEqual(a.metric(
            "controller_runtime_reconcile_time_seconds_count",
            controller=CTL), 1)
        # a failed step is an error: the label strip of a move fails
        self.c.kube("POST", "/faults", {"fail": {
            "count": 1, "mode": "500", "method": "PATCH",
            "path": "/api/v1/nodes/"}})
        self.c.patch_node("node-a", unschedulable=True)
        self.assertTrue(Cluster.wait(lambda: a.metric(
            "controller_runtime_reconcile_errors_total") == 1, 10))
        self.assertEqual(a.metric("controller_runtime_reconcile_total",
                                  result="error"), 1)
        self.assertTrue(Cluster.wait(lambda: self.c.fip_node() == "node-b",
                                     15), "no failover after the error")
        # a probe failure counts on its node's series
        self.c.health["node-c"].stop()
        self.assertTrue(Cluster.wait(lambda: a.metric(
            "tuist_stable_egress_health_check_failures_total",
            node="node-c") >= 1, 10))
        # the leader steps down: the standby reports the Lease
        a.stop()
        self.assertTrue(Cluster.wait(lambda: self.master(b) == 1, 10))
        self.assertEqual(self.c.forbidden(), [])

    def test_process_families_cover_the_tree(self):
        a = self.c.replica("r1")
        self.assertTrue(Cluster.wait(a.leading, 10))
        # every worker has answered a heartbeat (one a second)
        self.assertTrue(Cluster.wait(lambda: a.metric(
            "process_resident_memory_bytes") > 8 << 20, 5))
        m = {n: a.metric(n) for n in (
            "process_cpu_seconds_total", "process_resident_memory_bytes",
            "process_virtual_memory_bytes", "process_open_fds",
            "process_max_fds", "process_start_time_seconds")}
        self.assertTrue(all(v is not None for v in m.values()), m)
        # four processes: well above one process's few MiB and fds
        self.assertGreater(m["process_resident_memory_bytes"], 8 << 20)
        self.assertGreater(m["process_virtual_memory_bytes"],
                           m["process_resident_memory_bytes"])
        self.assertGreater(m["process_open_fds"], 10)
        self.assertGreater(m["process_max_fds"], 0)
        started = os.stat("/proc/%d" % a.pid).st_mtime
        self.assertLess(abs(m["process_start_time_seconds"] - started), 5)
        cpu = m["process_cpu_seconds_total"]
        self.assertGreater(cpu, 0)
        # a worker restart keeps the counter going up
        os.kill(a.workers()["k8s-worker"], 9)
        time.sleep(2.5)
        self.assertGreaterEqual(a.metric("process_cpu_seconds_total"), cpu)


def raw(r):
    with open(r.log_path, "rb") as f:
        return [l for l in f.read().splitlines() if l.strip()]


if __name__ == "__main__":
    unittest.main()
