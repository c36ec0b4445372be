"""test_budget.py: the Hetzner rate budget, the server fast path and the
hcloud-worker's server check, end to end against the fakes.

The fake Hetzner API's bucket behaves like the real one (3600 per hour,
one token per second, RateLimit-* headers on every reply, 429
rate_limit_exceeded when empty); a competing client of the same project
spends part of the refill.  Every check reads the fake's request log.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, SERVER_IDS, Cluster  # noqa: E402

LEASE = (4, 3, 1)
ASSIGN = "/actions/assign"


class Base(unittest.TestCase):
    cluster_args = {}

    def setUp(self):
        if not os.path.exists(BIN):
            self.skipTest("build/stable-egressd not built")
        self.c = Cluster(lease=LEASE, **self.cluster_args)
        self.fip_id = self.c.fip["id"]

    def tearDown(self):
        try:
            self.assertEqual(self.c.secrets_in_logs(), [])
            self.assertLessEqual(self.c.max_labelled(), 1)
        finally:
            self.c.close()

    def start(self, extra=()):
        r = self.c.replica("r1", extra)
        self.wait(lambda: r.metric("tuist_stable_egress_gateway_available") == 1, 15,
                  "gateway never available")
        return r

    def wait(self, cond, timeout, msg):
        v = Cluster.wait(cond, timeout)
        if not v:
            logs = "\n".join(open(r.log_path).read()[-6000:] for r in self.c.replicas)
            self.fail("%s\n--- logs ---\n%s" % (msg, logs))
        return v

    def moved_to(self, node):
        return lambda: self.c.labelled() == [node] and self.c.fip_node() == node

    def since(self, seq):
        return [q for q in self.c.hc_requests() if q["seq"] > seq]

    def last_seq(self):
        reqs = self.c.hc_requests()
        return reqs[-1]["seq"] if reqs else 0

    def posts(self, reqs):
        return [q for q in reqs if q["method"] == "POST" and q["path"].endswith(ASSIGN)]

    def fault(self, **f):
        self.c.hc("POST", "/faults", dict(kind="error", status=429,
                                          code="rate_limit_exceeded",
                                          message="limit of 3600 requests per hour reached",
                                          **f))


def paced(reqs):
    """Requests sent within 0.95 s after a reply that left no token."""
    bad = []
    for a, b in zip(reqs, reqs[1:]):
        if a["remaining"] == 0 and b["time_mono"] - a["time_mono"] < 0.95:
            bad.append((a["path"], a["status"], b["path"], b["time_mono"] - a["time_mono"]))
    return bad


class Contention(Base):
    cluster_args = {"grace": "2s", "action_seconds": 1.0}

    def test_failover_completes_with_half_the_refill_taken(self):
        r = self.start()
        s0 = self.last_seq()
        # Drained, and a neighbour spending half of what comes back.
        self.c.hc("POST", "/ratelimit", {"remaining": 0})
        self.c.hc("POST", "/competitor", {"rate": 0.5})
        t0 = time.monotonic()
        self.c.health["node-a"].stop()
        self.wait(self.moved_to("node-b"), 60, "no failover under contention")
        took = time.monotonic() - t0
        self.c.hc("POST", "/competitor", {"rate": 0})
        ours = self.since(s0)
        # nothing written twice: one accepted assign, one label on node-b
        self.assertEqual([q["status"] for q in self.posts(ours) if q["status"] == 201],
                         [201], ours)
        sets = [w for w in self.c.writes() if w[1] == "label" and w[2] == "node-b"]
        self.assertEqual(len(sets), 1, sets)
        # never a request while the last reply said the bucket was empty
        self.assertEqual(paced(ours), [], ours)
        # within the refill left to us (half of one per second), plus the
        # 429s that told us a neighbour had been faster
        ok = [q for q in ours if q["status"] != 429]
        self.assertLessEqual(len(ok), 0.5 * took + 2, (took, ours))
        self.assertLessEqual(len(ours), took + 2, (took, ours))
        self.assertEqual(r.metric("stable_egressd_fastpath_demotions_total"), 0)

    def test_no_strip_without_budget(self):
        r = self.start()
        # A project allowed 360 requests per hour, empty: one token per
        # 10 s.  Once a reply has told the governor, the move waits for
        # a token with every label in place.
        self.c.hc("POST", "/ratelimit", {"limit": 360, "remaining": 0})
        self.wait(lambda: r.metric("stable_egressd_hcloud_throttled_total") >= 1, 10,
                  "no reply told the governor")
        s0 = self.last_seq()
        t0 = time.monotonic()
        self.c.health["node-a"].stop()
        time.sleep(5)   # grace 2 s, then 3 s without a token
        self.assertEqual(self.c.labelled(), ["node-a"], "label stripped without budget")
        self.assertEqual(self.since(s0), [], "a request went out without budget")
        self.assertGreater(r.metric("stable_egressd_hcloud_requests_deferred_total",
                                    priority="failover"), 0)
        self.wait(self.moved_to("node-b"), 30, "no failover once a token came")
        self.assertGreaterEqual(time.monotonic() - t0, 5)
        self.assertEqual(paced(self.since(s0 - 1)), [])


class Throttled(Base):
    """One 429 at each point of the assign, checked from the request log."""
    cluster_args = {"grace": "1s", "action_seconds": 1.0}

    def run_move(self, **fault):
        self.start()
        s0 = self.last_seq()
        self.fault(count=1, **fault)
        self.c.health["node-a"].stop()
        self.wait(self.moved_to("node-b"), 20, "no failover after one 429")
        ours = [q for q in self.since(s0) if "/servers/" not in q["path"]
                and "name=" not in q["query"]]
        return [(q["method"], q["path"].replace(str(self.fip_id), "F"), q["status"])
                for q in ours]

    def test_429_on_the_pre_read(self):
        seq = self.run_move(method="GET", path="/floating_ips/%d" % self.fip_id)
        # nothing was sent: the assign goes again, no re-read
        self.assertEqual(seq[:3], [("GET", "/v1/floating_ips/F", 429),
                                   ("GET", "/v1/floating_ips/F", 200),
                                   ("POST", "/v1/floating_ips/F" + ASSIGN, 201)], seq)
        self.assertFalse([s for s in seq if "status=running" in s[1] or s[1].endswith("/actions")], seq)

    def test_429_on_the_post(self):
        seq = self.run_move(method="POST", path=ASSIGN)
        # the pre-read that succeeded is not repeated, and nothing re-read
        self.assertEqual(seq[:3], [("GET", "/v1/floating_ips/F", 200),
                                   ("POST", "/v1/floating_ips/F" + ASSIGN, 429),
                                   ("POST", "/v1/floating_ips/F" + ASSIGN, 201)], seq)
        self.assertEqual(len([s for s in seq if s[0] == "POST"]), 2, seq)
        self.assertFalse([s for s in seq if s[1].endswith("/actions")], seq)

    def test_429_on_an_action_poll(self):
        seq = self.run_move(method="GET", path="/floating_ips/actions/")
        # the assign was accepted: the poll is retried, the FIP not re-read
        polls = [s for s in seq if "/floating_ips/actions/" in s[1]]
        self.assertEqual(polls[0][2], 429, seq)
        self.assertEqual(polls[-1][2], 200, seq)
        self.assertEqual(len([s for s in seq if s[0] == "POST"]), 1, seq)
        self.assertEqual([s for s in seq if s[0] == "GET" and s[1] == "/v1/floating_ips/F"],
                         [("GET", "/v1/floating_ips/F", 200)], seq)
        self.assertFalse([s for s in seq if s[1].endswith("/actions")], seq)


class FastPath(Base):
    cluster_args = {"grace": "30s", "action_seconds": 0.5}

    def server(self, node):
        return "/servers/%d" % SERVER_IDS[node]

    def demoted_in(self, r, t0, node="node-b"):
        self.wait(self.moved_to(node), 10, "the fast path did not demote the gateway")
        took = time.monotonic() - t0
        # probe interval 200 ms + timeout 300 ms, one request, the action
        self.assertLess(took, 0.2 + 0.3 + 0.5 + 1.5, took)
        self.assertEqual(r.metric("stable_egressd_fastpath_demotions_total"), 1)
        ev = self.c.kube("GET", "/events")
        self.assertTrue(any(e.get("reason") == "GatewayServerDown" for e in ev), ev)
        self.assertTrue(r.logged("gateway's server is down"))

    def test_server_off_moves_without_grace(self):
        r = self.start()
        self.c.hc("PATCH", self.server("node-a"), {"status": "off"})
        t0 = time.monotonic()
        self.c.health["node-a"].stop()
        self.demoted_in(r, t0)

    def test_server_deleted_moves_without_grace(self):
        r = self.start()
        self.c.hc("DELETE", self.server("node-a"))
        t0 = time.monotonic()
        self.c.health["node-a"].stop()
        self.demoted_in(r, t0)

    def test_running_server_waits_the_grace(self):
        self.c.close()
        self.c = Cluster(lease=LEASE, grace="5s", action_seconds=0.5)
        r = self.start()
        s0 = self.last_seq()
        t0 = time.monotonic()
        self.c.health["node-a"].stop()
        time.sleep(4)
        self.assertEqual(self.c.labelled(), ["node-a"], "moved before the grace")
        self.wait(self.moved_to("node-b"), 10, "no failover after the grace")
        self.assertGreaterEqual(time.monotonic() - t0, 5.0)
        reads = [q for q in self.since(s0) if q["path"].endswith(self.server("node-a"))]
        self.assertEqual(len(reads), 1, reads)   # at the first failure; next in 10 s
        self.assertEqual(r.metric("stable_egressd_fastpath_demotions_total"), 0)


class ServerCheck(Base):
    """--hcloud-server-label-selector, and ids pinned at the first read."""
    cluster_args = {"grace": "1s", "action_seconds": 0.5}

    def label_servers(self, **labels):
        for node, lab in labels.items():
            self.c.hc("PATCH", "/servers/%d" % SERVER_IDS[node], {"labels": lab})

    def test_server_without_the_label_is_refused(self):
        self.label_servers(**{"node-a": {"cluster": "prod"}, "node-b": {"cluster": "dev"},
                              "node-c": {}})
        r = self.start(["--hcloud-server-label-selector=cluster=prod"])
        s0 = self.last_seq()
        self.c.health["node-a"].stop()
        self.wait(lambda: r.metric("stable_egressd_server_check_refusals_total") == 2, 20,
                  "node-b and node-c not both refused")
        time.sleep(1)
        self.assertEqual(self.posts(self.since(s0)), [], "an assign went out")
        self.assertEqual(self.c.fip_node(), "node-a")
        ev = self.c.kube("GET", "/events")
        self.assertEqual(sorted(e.get("regarding", {}).get("name") for e in ev
                                if e.get("reason") == "ServerRefused"),
                         ["node-b", "node-c"], ev)
        self.assertTrue(r.logged("assign refused: server does not match"))

    def test_matching_server_is_used(self):
        self.label_servers(**{"node-b": {"cluster": "dev"}, "node-c": {"cluster": "prod",
                                                                      "pool": "egress"}})
        r = self.start(["--hcloud-server-label-selector=cluster in (prod,stage),pool,!legacy"])
        self.c.health["node-a"].stop()
        self.wait(self.moved_to("node-c"), 20, "no move to the matching server")
        self.assertEqual(r.metric("stable_egressd_server_check_refusals_total"), 1)

    def test_bad_selector_is_one_line_exit_2(self):
        r = self.c.replica("bad", ["--hcloud-server-label-selector=cluster in (prod"])
        self.assertEqual(r.proc.wait(10), 2)
        lines = [l for l in open(r.log_path).read().splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("--hcloud-server-label-selector", lines[0])

    def test_renamed_floating_ip_is_refused(self):
        r = self.start()
        other = self.c.fip_by_name("egress-v4-b")
        # someone renames ours away and another one to our name
        self.c.hc("PATCH", "/floating_ips/%d" % self.fip_id, {"name": "egress-old"})
        self.c.hc("PATCH", "/floating_ips/%d" % other["id"], {"name": "egress-v4"})
        self.wait(lambda: r.logged("renamed or replaced"), 15, "rename not noticed")
        s0 = self.last_seq()
        self.c.health["node-a"].stop()
        time.sleep(3)
        self.assertEqual(self.posts(self.since(s0)), [])
        self.assertIsNone(self.c.fip_by_name("egress-v4")["server"])


if __name__ == "__main__":
    unittest.main()
