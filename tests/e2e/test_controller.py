"""test_controller.py: the controller end to end, two replicas, the fakes.

Each test gets a fresh cluster (both fakes, node-a..node-c with health
listeners, node-a labelled and holding egress-v4) and checks, after it
ran, on the fake's label history that no two nodes were ever labelled at
once.  The fake API enforces deploy/base's RBAC throughout, and no
request may be refused (403).
"""
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ACTIVE, BIN, Cluster  # noqa: E402

LEASE = (4, 3, 1)       # lease duration, renew deadline, retry period (s)


class Base(unittest.TestCase):
    cluster_args = {}

    def setUp(self):
        if not os.path.exists(BIN):
            self.skipTest("build/stable-egressd not built")
        self.c = Cluster(lease=LEASE, **dict({"rbac": "base"},
                                             **self.cluster_args))

    def tearDown(self):
        try:
            self.assertEqual(self.c.secrets_in_logs(), [], "a token reached a log")
            self.assertEqual(self.c.forbidden(), [],
                             "a request outside deploy/base's RBAC")
            self.assertLessEqual(self.c.max_labelled(), 1,
                                 "two nodes labelled at once: %s" %
                                 [h for h in self.c.label_history() if len(h["nodes"]) > 1])
        finally:
            self.c.close()

    def two(self, extra=()):
        a = self.c.replica("r1", extra)
        self.wait(lambda: a.leading(), 10, "r1 never led")
        b = self.c.replica("r2", extra)
        self.wait(lambda: b.metric("stable_egressd_standbys_ready") == 1, 10,
                  "r2 never became a ready standby")
        return a, b

    def wait(self, cond, timeout, msg):
        v = Cluster.wait(cond, timeout)
        if not v:
            logs = "\n".join(open(r.log_path).read()[-4000:] for r in self.c.replicas)
            self.fail("%s\n--- logs ---\n%s" % (msg, logs))
        return v

    def fail_node(self, node):
        """Stops node's health listener; returns the wall-clock time of
        the failure (the fakes log their requests in wall-clock time)."""
        t = time.time()
        self.c.health[node].stop()
        return t

    def api_writes(self):
        """Every write any replica sent to either fake: Kubernetes
        POST/PUT/PATCH/DELETE (Lease, Events and all) and Hetzner
        POSTs."""
        out = [(r["method"], r["path"]) for r in self.c.kube_requests()
               if r["method"] in ("POST", "PUT", "PATCH", "DELETE")]
        out += [(r["method"], r["path"]) for r in self.c.hc_requests()
                if r["method"] != "GET"]
        return out

    def assigns(self):
        return [r for r in self.c.hc_requests()
                if r["method"] == "POST" and r["path"].endswith("/actions/assign")]

    def strips(self, node):
        """PATCHes of node that removed the active label, from the fake's
        request log."""
        out = []
        for r in self.c.kube_requests("/api/v1/nodes/" + node):
            body = r.get("body") or {}
            if isinstance(body, str):
                body = json.loads(body) if body.startswith("{") else {}
            labels = (body.get("metadata") or {}).get("labels") or {}
            if r["method"] == "PATCH" and ACTIVE[0] in labels and \
                    labels[ACTIVE[0]] is None:
                out.append(r)
        return out


class Steady(Base):
    def test_sticky_over_many_resyncs_with_zero_writes(self):
        a = self.c.replica("r1", ["--resync-interval=300ms"])
        self.wait(lambda: a.leading(), 10, "no leader")
        self.wait(lambda: a.metric("tuist_stable_egress_gateway_available") == 1, 10,
                  "gateway not available")
        n0 = len(self.c.writes())
        time.sleep(3)   # about ten resyncs
        self.assertEqual(len(self.c.writes()), n0, self.c.writes())
        self.assertEqual(self.c.labelled(), ["node-a"])
        self.assertEqual(self.c.fip_node(), "node-a")
        self.assertEqual(a.metric("tuist_stable_egress_gateway_active",
                                  node="node-a", egress_ip="203.0.113.10"), 1)
        reads = [r for r in self.c.hc_requests() if r["method"] == "GET"]
        self.assertGreaterEqual(len(reads), 5)

    def test_adopts_labelled_non_candidate(self):
        self.c.patch_node("node-a", labels={"tuist.dev/stable-egress-candidate": None})
        a = self.c.replica("r1")
        self.wait(lambda: a.metric("tuist_stable_egress_gateway_available") == 1, 10,
                  "non-candidate holder not adopted")
        time.sleep(1)
        self.assertEqual(self.c.writes(), [])

    def test_stale_label_stripped(self):
        self.c.patch_node("node-c", labels={ACTIVE[0]: ACTIVE[1]})
        a = self.c.replica("r1")
        self.wait(lambda: self.c.labelled() == ["node-a"], 10, "stale label kept")
        self.assertFalse([w for w in self.c.writes() if w[1] == "assign"])

    def tearDown(self):
        # The stale-label test starts with two labelled nodes on purpose.
        if self._testMethodName == "test_stale_label_stripped":
            hist = self.c.label_history()
            later = [h for h in hist[1:] if len(h["nodes"]) > 1]
            self.c.close()
            self.assertLessEqual(len(later), 1)
            return
        super().tearDown()


class Failover(Base):
    def test_failover_after_grace_to_lowest_eligible_in_order(self):
        a, b = self.two()
        n0 = len(self.c.writes())
        t_fail = self.fail_node("node-a")
        self.wait(lambda: self.c.labelled() == ["node-b"] and self.c.fip_node() == "node-b",
                  15, "no failover to node-b")
        w = self.c.writes()
        self.assertEqual(n0, 0, w)
        # The grace is timed from the node's failure to the first write
        # the fakes saw (the strip), not to the end of the move: at least
        # the grace (its clock starts at the first failed probe, after
        # the listener closed; 50 ms for the two processes' clock reads),
        # at most the grace plus a probe interval and timeout plus
        # scheduling slack.
        first = w[0][0] - t_fail
        self.assertGreaterEqual(first, 2.0 - 0.05, "first write %.3fs after the "
                                "failure: before the 2s grace" % first)
        self.assertLessEqual(first, 2.0 + 0.5 + 1.0, "first write %.3fs after "
                             "the failure: long after the 2s grace" % first)
        kinds = [(k, n) for _, k, n, _ in w]
        strip = kinds.index(("label", "node-a"))
        assign = [i for i, k in enumerate(kinds) if k[0] == "assign"][0]
        label = max(i for i, k in enumerate(kinds) if k == ("label", "node-b"))
        self.assertLess(strip, assign)
        self.assertLess(assign, label)
        self.assertEqual(a.metric("tuist_stable_egress_failovers_total"), 1)
        ev = self.c.kube("GET", "/events")
        self.assertTrue(any(e.get("reason") == "GatewayMoved" for e in ev), ev)
        self.assertIsNotNone(b.metric("tuist_stable_egress_gateway_available"))

    def test_cordon_demotes_at_once(self):
        a, _ = self.two()
        t0 = time.monotonic()
        self.c.patch_node("node-a", unschedulable=True)
        self.wait(lambda: self.c.labelled() == ["node-b"], 10, "cordon did not demote")
        self.assertLess(time.monotonic() - t0, 2.0, "cordon waited for a grace period")

    def test_delete_demotes_at_once(self):
        self.two()
        self.c.patch_node("node-a", deleting=True)
        self.wait(lambda: self.c.labelled() == ["node-b"] and self.c.fip_node() == "node-b",
                  10, "deletion did not demote")

    def test_no_eligible_candidate_writes_nothing(self):
        a, _ = self.two()
        for n in ("node-b", "node-c"):
            self.c.patch_node(n, ready="False")
        self.fail_node("node-a")
        time.sleep(4)
        self.assertEqual(self.c.labelled(), ["node-a"])
        self.assertEqual(self.c.fip_node(), "node-a")
        ev = self.c.kube("GET", "/events")
        self.assertTrue(any(e.get("reason") == "NoEligibleCandidate" for e in ev), ev)

    def test_assign_error_labels_real_holder_and_retries(self):
        a, _ = self.two()
        self.c.hc("POST", "/actions/next", {"outcome": "error", "count": 1})
        self.fail_node("node-a")
        self.wait(lambda: self.c.labelled() == ["node-b"] and self.c.fip_node() == "node-b",
                  25, "no failover after a failed action")
        self.assertGreaterEqual(a.metric("tuist_stable_egress_failovers_total"), 1)


class Allowlist(Base):
    def test_primary_outside_allowlist_writes_nothing(self):
        a = self.c.replica("r1", ["--egress-ip-allowlist=198.51.100.0/24"])
        self.wait(lambda: a.leading(), 10, "no leader")
        self.fail_node("node-a")
        self.wait(lambda: a.metric("stable_egressd_allowlist_refusals_total") >= 1, 10,
                  "no refusal counted")
        time.sleep(3)
        self.assertEqual([w for w in self.c.writes()], [])
        lines = a.logged("allowlist")
        self.assertTrue(any("--egress-ip-allowlist" in l["msg"] and
                            l.get("address") == "203.0.113.10" for l in lines), lines)
        ev = self.c.kube("GET", "/events")
        self.assertTrue(any(e.get("reason") == "AllowlistRefused" for e in ev), ev)

    def test_primary_inside_allowlist_moves(self):
        self.two(["--egress-ip-allowlist=203.0.113.10/32,203.0.113.11/32"])
        self.fail_node("node-a")
        self.wait(lambda: self.c.fip_node() == "node-b", 15, "no failover")

    def test_additional_outside_allowlist_moves(self):
        """As the reference: --egress-ip-allowlist guards the primary
        only; the runner egress address (not in it) follows."""
        self.c.put_fip("node-c", "egress-v4-b")
        a, b = self.two(["--egress-ip-allowlist=203.0.113.10/32",
                         "--additional-floating-ip-names=egress-v4-b"])
        self.wait(lambda: self.c.fip_node("egress-v4-b") == "node-a", 10,
                  "additional not moved to the gateway")
        self.fail_node("node-a")
        self.wait(lambda: self.c.fip_node() == "node-b" and
                  self.c.fip_node("egress-v4-b") == "node-b", 15,
                  "additional did not follow the failover")
        self.assertEqual(a.metric("stable_egressd_allowlist_refusals_total"),
                         0)

    def test_additional_allowlist_refuses(self):
        self.c.put_fip("node-c", "egress-v4-b")
        a = self.c.replica("r1", [
            "--egress-ip-allowlist=203.0.113.10/32",
            "--additional-floating-ip-names=egress-v4-b",
            "--additional-egress-ip-allowlist=198.51.100.0/24"])
        self.wait(lambda: a.leading(), 10, "no leader")
        self.wait(lambda: a.metric("stable_egressd_allowlist_refusals_total")
                  >= 1, 10, "no refusal counted")
        self.fail_node("node-a")
        # the primary goes on; the additional one stays where it was
        self.wait(lambda: self.c.fip_node() == "node-b", 15, "no failover")
        time.sleep(1.5)
        self.assertEqual(self.c.fip_node("egress-v4-b"), "node-c")
        self.assertTrue(any("--additional-egress-ip-allowlist" in l["msg"]
                            for l in a.logged("allowlist")))

    def test_dry_run_writes_nothing(self):
        a = self.c.replica("r1", ["--dry-run"])
        self.wait(lambda: a.leading(), 10, "no leader")
        self.c.patch_node("node-a", unschedulable=True)
        self.wait(lambda: a.logged("would "), 10, "no would-lines")
        time.sleep(1)
        self.assertEqual(self.c.writes(), [])
        self.assertEqual(self.c.kube("GET", "/events"), [])


class Election(Base):
    def test_sigkill_leader_standby_takes_over_in_bound(self):
        a, b = self.two()
        lease = self.c.lease()
        a.sig(signal.SIGKILL)
        t_kill = time.monotonic()
        self.wait(lambda: b.leading(), 20, "standby never led")
        took = time.monotonic() - t_kill
        ld, _, rp = LEASE
        # From the last renewal (at most one retry period before the
        # kill): lease duration + 4.4 x retry period.
        self.assertLess(took, ld + 4.4 * rp + 0.5, took)
        self.assertEqual(self.c.lease()["spec"]["holderIdentity"], "r2")
        self.assertGreater(self.c.lease()["spec"]["leaseTransitions"],
                           lease["spec"]["leaseTransitions"])
        self.fail_node("node-a")
        self.wait(lambda: self.c.fip_node() == "node-b" and self.c.labelled() == ["node-b"],
                  15, "no failover by the new leader")

    def test_sigterm_releases_lease_standby_leads_fast(self):
        a, b = self.two()
        t0 = time.monotonic()
        a.sig(signal.SIGTERM)
        self.assertEqual(a.proc.wait(6), 0)
        self.assertLess(time.monotonic() - t0, 5.0)
        self.wait(lambda: b.leading(), 5, "standby did not take over")
        took = time.monotonic() - t0
        self.assertLess(took, 2.2 * LEASE[2] + 1.0, took)

    def test_foreign_holder_means_no_writes(self):
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        self.c.kube("POST", "/leases", {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "stable-egress-controller.tuist.dev",
                         "namespace": self.c.lease_ns},
            "spec": {"holderIdentity": "go-controller_abc", "leaseDurationSeconds": 4,
                     "acquireTime": now, "renewTime": now, "leaseTransitions": 0}})
        a = self.c.replica("r1")
        stop = time.monotonic() + 6
        while time.monotonic() < stop:     # renew as the foreign holder does
            now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
            self.c.kube("PUT", "/leases/%s/stable-egress-controller.tuist.dev"
                        % self.c.lease_ns,
                        {"spec": {"holderIdentity": "go-controller_abc",
                                  "leaseDurationSeconds": 4, "acquireTime": now,
                                  "renewTime": now, "leaseTransitions": 0}})
            if time.monotonic() > stop - 5:
                self.fail_node("node-a")
            time.sleep(0.5)
        # Alive, standing by, and not one write of any kind: no Lease
        # update, no Event, no label, no Hetzner request but reads.
        self.assertIsNone(a.proc.poll(), "the replica exited")
        self.assertEqual(a.metric("stable_egressd_leader"), 0)
        self.assertEqual(self.c.lease()["spec"]["holderIdentity"], "go-controller_abc")
        self.assertEqual(self.api_writes(), [])
        self.assertEqual(self.c.labelled(), ["node-a"])

    def test_lease_taken_away_stops_writes(self):
        a = self.c.replica("r1")
        self.wait(lambda: a.leading(), 10, "no leader")
        # Every lease write fails from now on: renewals cannot succeed.
        self.c.kube("POST", "/faults", {"fail": {"count": 1000, "path": "leases",
                                                 "mode": "503"}})
        self.wait(lambda: not a.leading(), LEASE[1] + 3, "still leading past the renew deadline")
        self.assertTrue(a.logged("leadership lost"))
        n0 = len(self.c.writes())
        self.c.patch_node("node-a", unschedulable=True)
        time.sleep(2)
        self.assertEqual(len(self.c.writes()), n0)
        self.assertIsNone(a.proc.poll(), "a fenced leader must not exit")
        self.c.kube("DELETE", "/faults")
        self.wait(lambda: a.leading(), 15, "never led again")
        self.wait(lambda: self.c.labelled() == ["node-b"], 10, "no failover after regaining")


class Resilience(Base):
    cluster_args = {"action_seconds": 2.0}

    def kill_worker_mid_failover(self, name):
        """Kills worker name at a point the fakes' request logs fix: the
        hcloud worker once its assign POST arrived (the action runs 2 s),
        the others once the strip PATCH arrived.  The move then completes
        with exactly one assign POST: a restarted worker never repeats an
        assignment whose result the supervisor can re-read."""
        a, _ = self.two()
        self.fail_node("node-a")
        if name == "hcloud-worker":
            self.wait(lambda: self.assigns(), 10, "no assign POST")
        else:
            self.wait(lambda: self.strips("node-a"), 10, "no strip PATCH")
        pid = a.workers().get(name)
        self.assertIsNotNone(pid, a.workers())
        os.kill(pid, signal.SIGKILL)
        self.wait(lambda: self.c.fip_node() == "node-b" and self.c.labelled() == ["node-b"],
                  30, "move did not complete after killing %s" % name)
        time.sleep(2)       # a late second POST would land here
        self.assertEqual(len(self.assigns()), 1, self.assigns())
        self.assertEqual(self.c.fip_node(), "node-b")

    def test_kill_hcloud_worker_mid_failover(self):
        self.kill_worker_mid_failover("hcloud-worker")

    def test_kill_k8s_worker_mid_failover(self):
        self.kill_worker_mid_failover("k8s-worker")

    def test_kill_probe_worker_mid_failover(self):
        self.kill_worker_mid_failover("probe-worker")

    def test_watch_drop_and_410_during_failover(self):
        a, _ = self.two()
        self.fail_node("node-a")
        self.wait(lambda: self.c.labelled() == [], 10, "strip never happened")
        self.c.kube("POST", "/faults", {"gone_next_watch": 2})
        self.c.kube("POST", "/faults", {"close_watches": True})
        self.wait(lambda: self.c.fip_node() == "node-b" and self.c.labelled() == ["node-b"],
                  30, "move did not complete across watch failures")


if __name__ == "__main__":
    unittest.main()
