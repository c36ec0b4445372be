"""test_dropin.py: the binary exactly as the reference Helm chart runs it.

An operator migrates by swapping the image in the reference's chart, so
this runs build/stable-egressd with the chart's arguments and nothing
else (chartpod.py): in-cluster mode (KUBERNETES_SERVICE_HOST/PORT, the
service-account directory bind-mounted at its standard path in a private
mount namespace, namespace kube-system), the Hetzner token at
/etc/hcloud/token, uid 65532, read-only root, no capabilities, and the
fake Kubernetes API enforcing the reference chart's RBAC
(tests/fixtures/reference-chart-rbac.yaml).  The world is production's
shape: the runner egress gateway's Floating IP follows the primary and
is not in --egress-ip-allowlist; the host configurer gate is on.

One failover covers every behaviour operators rely on (facts in the
reference notes): the Lease in kube-system under the reference's name;
a terminating host-configurer pod does not make its node prepared; a
node whose second InternalIP answers is healthy; the additional
Floating IP moves although the allowlist names only the primary; Events
land in core/v1 (the chart grants nothing in events.k8s.io), with at
most one forbidden attempt; no other request is forbidden;
controller-runtime's metrics and the process families; zap's log keys.
Every mismatch is reported at once.  The host's own root filesystem is
used (the image test runs the image's); the only setting beyond the
chart is HCLOUD_ENDPOINT, the fake Hetzner API.
"""
import os
import signal
import sys
import unittest
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chartpod  # noqa: E402
import container  # noqa: E402
import harness  # noqa: E402
import test_deploy  # noqa: E402  (its YAML reader)

ROOT = harness.ROOT
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "reference-chart-rbac.yaml")
CONTROLLER = "stable-egress-failover"
PROCESS = ("process_cpu_seconds_total", "process_resident_memory_bytes",
           "process_virtual_memory_bytes", "process_open_fds",
           "process_max_fds", "process_start_time_seconds")
state = {}


def series(p, metric, labels):
    """The value of metric{labels} (a label may be called "name")."""
    want = ['%s="%s"' % kv for kv in labels.items()]
    for line in p.get("/metrics")[1].splitlines():
        head, _, val = line.rpartition(" ")
        if head.partition("{")[0] == metric and all(w in head for w in want):
            return float(val)
    return None


class DropIn(unittest.TestCase):
    def setUp(self):
        if state.get("netns"):
            self.skipTest(state["netns"])
        if not os.path.exists(harness.BIN):
            self.fail("build/stable-egressd not built")
        self.problems = []
        self.c = harness.Cluster(grace="2s")
        self.addCleanup(self.c.close)
        chartpod.host_configurers(self.c, harness.NODES)

    def problem(self, ok, what):
        if not ok:
            self.problems.append(what)
        return ok

    def reference_rbac(self):
        """The reference chart's rules, enforced for its service account."""
        if not os.path.exists(FIXTURE):
            self.problems.append("no reference chart RBAC fixture (%s): the "
                                 "fake API grants everything" %
                                 os.path.relpath(FIXTURE, ROOT))
            return
        with open(FIXTURE) as f:
            objs = test_deploy.yaml_load_all(f.read())
        try:
            self.c.kube("POST", "/rbac", {
                "objects": objs, "serviceAccount": {
                    "namespace": chartpod.NAMESPACE,
                    "name": "stable-egress-controller"}})
        except urllib.error.HTTPError as e:
            self.problems.append("the fake Kubernetes API enforces no "
                                 "RBAC (POST /rbac: %s)" % e)

    def pod(self, name, extra=()):
        p = chartpod.ChartPod(
            self.c, name, "/", harness.BIN,
            chartpod.chart_args(self.c, additional=["egress-v4-b"],
                                allowlist=["203.0.113.10/32"]) + list(extra))
        self.addCleanup(p.__exit__)
        p.start()
        ready = self.c.wait(lambda: p.get("/readyz", 8081)[0] == 200 or
                            p.c.proc.poll() is not None, 20)
        self.assertEqual(p.get("/readyz", 8081)[0], 200,
                         "not ready: %s" % p.c.tail() if ready else "")
        return p

    def test_reference_chart(self):
        c = self.c
        c.put_fip("node-a", "egress-v4-b")
        self.reference_rbac()
        c.kube("DELETE", "/requests")
        p = self.pod("stable-egress-controller-6f9b7-r4x2d")

        self.assertTrue(c.wait(lambda: p.metric("stable_egressd_leader")
                               == 1, 15), p.c.tail())
        lease = p.lease()
        self.problem(lease is not None and lease["spec"].get(
            "holderIdentity", "").startswith(p.name + "_"),
            "no Lease %s/%s held by the pod" % (chartpod.NAMESPACE,
                                                chartpod.LEASE))
        # Terminating: the host agent is going away, the node is not
        # prepared (the reference checks deletionTimestamp).
        c.kube("PATCH", "/pods/kube-system/host-configurer-node-b",
               {"deleting": True})

        c.health["node-a"].stop()
        self.problem(c.wait(lambda: c.labelled() == ["node-c"] and
                            c.fip_node() == "node-c", 30),
                     "gateway %s (Floating IP on %s), want node-c: node-b's "
                     "host configurer is terminating: %s" % (
                         c.labelled(), c.fip_node(), p.c.tail(3)))
        self.problem(c.wait(lambda: c.fip_node("egress-v4-b") == "node-c",
                            15),
                     "the additional Floating IP is on %s, the primary on "
                     "%s: --egress-ip-allowlist must guard the primary only"
                     % (c.fip_node("egress-v4-b"), c.fip_node()))

        self.check_events()
        self.check_forbidden()
        self.check_metrics(p)
        self.check_log_keys(p)
        self.assertEqual(p.stop(signal.SIGTERM, 6), 0, p.c.tail())
        if self.problems:
            self.fail("\n".join(["not a drop-in for the reference chart:"]
                                + self.problems))

    def check_events(self):
        def posts(prefix):
            return [r for r in self.c.kube_requests("events")
                    if r["method"] == "POST" and r["path"].startswith(prefix)]
        self.c.wait(lambda: any(r["status"] == 201 for r in posts("/api/v1/")),
                    10)
        core = [r for r in posts("/api/v1/") if r["status"] == 201]
        self.problem(core, "no Event created in core/v1 (the chart grants "
                     "events only there)")
        denied = [r for r in posts("/apis/events.k8s.io/")
                  if r["status"] in (403, 404)]
        self.problem(len(denied) <= 1, "%d forbidden events.k8s.io writes: "
                     "the working API must be remembered" % len(denied))

    def check_forbidden(self):
        bad = sorted({"%s %s" % (r["method"], r["path"])
                      for r in self.c.kube_requests()
                      if r["status"] == 403 and "/events" not in r["path"]})
        self.problem(not bad, "forbidden under the reference RBAC: %s" % bad)

    def check_metrics(self, p):
        for name, labels in (
                ("controller_runtime_reconcile_total",
                 {"controller": CONTROLLER, "result": "success"}),
                ("controller_runtime_reconcile_errors_total",
                 {"controller": CONTROLLER}),
                ("controller_runtime_reconcile_time_seconds_count",
                 {"controller": CONTROLLER}),
                ("leader_election_master_status", {"name": chartpod.LEASE}),
                ("tuist_stable_egress_health_check_failures_total",
                 {"node": "node-b"}),
                ("tuist_stable_egress_additional_floating_ip_failures_total",
                 {"floating_ip": "egress-v4-b"})) + tuple(
                     (n, {}) for n in PROCESS):
            self.problem(series(p, name, labels) is not None,
                         "no metric %s%s" % (name, labels or ""))
        self.problem((p.metric("controller_runtime_reconcile_total",
                               controller=CONTROLLER, result="success")
                      or 0) >= 1, "no successful reconcile counted")
        self.problem(series(p, "leader_election_master_status",
                            {"name": chartpod.LEASE}) == 1,
                     "leader_election_master_status is not 1 on the leader")

    def check_log_keys(self, p):
        lines = [l for l in p.lines() if "msg" in l]
        self.problem(lines and all(k in lines[0] for k in
                                   ("ts", "level", "logger", "msg")),
                     "log lines lack zap's keys ts, level, logger, msg: %s"
                     % (lines[0] if lines else None))

    def test_second_internal_ip(self):
        c = self.c
        # node-c: a first InternalIP nobody answers on, its probe
        # listener on the second.
        c.patch_node("node-c", internalIP=["127.0.0.99", "127.0.0.13"])
        self.reference_rbac()
        p = self.pod("stable-egress-controller-6f9b7-r4x2d")
        self.assertTrue(c.wait(lambda: p.metric(
            "tuist_stable_egress_gateway_node_healthy", node="node-c") == 1,
            10), "node-c answers on its second InternalIP but is not "
            "healthy: only the first address is probed")

    def test_zap_flags(self):
        """The chart's values may pass controller-runtime's logging flags."""
        self.reference_rbac()
        p = self.pod("stable-egress-controller-6f9b7-z8k1m", [
            "--zap-devel=false", "--zap-encoder=json",
            "--zap-log-level=debug", "--zap-stacktrace-level=error",
            "--zap-time-encoding=iso8601"])
        lines = [l for l in p.lines() if "msg" in l]
        self.assertTrue(lines)
        self.assertRegex(str(lines[0].get("ts")),
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        self.assertEqual(p.stop(signal.SIGTERM, 6), 0, p.c.tail())
        if self.problems:
            self.fail("\n".join(self.problems))


def setUpModule():
    state["netns"] = container.isolate()


if __name__ == "__main__":
    unittest.main()
