"""test_privsep.py: killing any process of a leader's tree mid-failover.

The leader's spawner, its supervisor, and each worker are SIGKILLed
right after the move has stripped the label (the fake's request log
shows the strip).  Then: nothing of the killed tree is left running,
the Floating IP is assigned exactly once for the move, and the cluster
converges on one gateway, through the restarted worker or the standby.
"""
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Cluster, comm, descendants, proc_status  # noqa: E402

LEASE = (4, 3, 1)


def alive(pid):
    try:
        return not proc_status(pid).get("State", "").startswith(("Z", "X"))
    except OSError:
        return False


class MidFailover(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(BIN):
            self.skipTest("build/stable-egressd not built")
        self.c = Cluster(lease=LEASE, action_seconds=2.0)

    def tearDown(self):
        try:
            self.assertEqual(self.c.secrets_in_logs(), [])
            self.assertLessEqual(self.c.max_labelled(), 1)
        finally:
            self.c.close()

    def wait(self, cond, timeout, msg):
        if not Cluster.wait(cond, timeout):
            logs = "\n".join(open(r.log_path).read()[-3000:] for r in self.c.replicas)
            self.fail("%s\n--- logs ---\n%s" % (msg, logs))

    def stripped(self):
        """True once the fake has logged the strip PATCH of node-a."""
        for r in self.c.kube_requests("/api/v1/nodes/node-a"):
            if r["method"] == "PATCH" and "null" in str(r.get("body")):
                return True
        return False

    def assigns(self):
        return [w for w in self.c.writes() if w[1] == "assign"]

    def kill_mid_failover(self, victim):
        a = self.c.replica("r1")
        self.wait(lambda: a.leading(), 10, "r1 never led")
        b = self.c.replica("r2")
        self.wait(lambda: b.metric("stable_egressd_standbys_ready") == 1, 10,
                  "r2 never ready")
        tree = [a.pid] + descendants(a.pid)
        self.c.health["node-a"].stop()
        self.wait(self.stripped, 10, "the move never stripped node-a")
        pid = a.pid if victim == "stable-egressd" else a.workers()[victim]
        os.kill(pid, signal.SIGKILL)
        self.wait(lambda: self.c.fip_node() == "node-b" and
                  self.c.labelled() == ["node-b"], 30,
                  "no convergence after killing the %s" % victim)
        self.assertEqual(len(self.assigns()), 1, self.assigns())
        if victim in ("spawner", "stable-egressd"):
            # The whole tree goes, and the supervisor said why.
            self.wait(lambda: not any(alive(p) for p in tree), 5,
                      "left behind: %s" % [(p, comm(p)) for p in tree if alive(p)])
            if victim == "spawner":
                self.assertEqual(a.proc.wait(5), 1)
                self.assertTrue(a.logged_text("spawner died"))
        else:
            self.assertIsNone(a.proc.poll(), "a worker's death ended the replica")
            self.assertFalse(alive(pid))

    def test_spawner(self):
        self.kill_mid_failover("spawner")

    def test_supervisor(self):
        self.kill_mid_failover("stable-egressd")

    def test_hcloud_worker(self):
        self.kill_mid_failover("hcloud-worker")

    def test_k8s_worker(self):
        self.kill_mid_failover("k8s-worker")


if __name__ == "__main__":
    unittest.main()
