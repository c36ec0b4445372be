#!/usr/bin/env python3
"""demo.py: the failover drill behind `make demo`.

Starts the fake Kubernetes and Hetzner Cloud APIs, three candidate nodes
(node-a..node-c) with health listeners on 127.0.0.11-13, and two replicas
of the controller with short grace and lease timings; kills the gateway
node's health listener, prints a timeline of the failover from the
replicas' logs and the fakes' records; then kills the leader and shows the
standby taking over.  Cleans up every process it started, even on Ctrl-C.
"""
import calendar
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
from harness import BIN, Cluster  # noqa: E402

GRACE = 3
LEASE = (4, 3, 1)


def ts(line):
    """Wall seconds of a JSON log line's "ts": zap's epoch float by
    default, or an ISO 8601 string (2026-11-26T09:00:00.123Z)."""
    t = line.get("ts")
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        return float(t)
    if not t:
        return None
    base = calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S"))
    return base + float("0." + t[20:23])


class Timeline:
    def __init__(self):
        self.t0 = time.time()
        self.rows = []

    def add(self, when, who, what):
        self.rows.append((when, who, what))

    def now(self, who, what):
        self.add(time.time(), who, what)
        self.show(self.rows[-1])

    def show(self, row):
        when, who, what = row
        print("  %6.2fs  %-9s %s" % (when - self.t0, who, what), flush=True)


def failover_rows(tl, replica, since):
    for l in replica.lines():
        t = ts(l)
        if t is None or t < since:
            continue
        msg = l.get("msg", "")
        if msg == "decision":
            out = l.get("outcome")
            if out == "HOLDING":
                tl.add(t, replica.name, "detected: %s; held for grace" % l.get("reason"))
            elif out == "MOVE":
                tl.add(t, replica.name, "decided: move to %s (%s)" %
                       (l.get("gateway"), l.get("reason")))
        elif msg == "step":
            op = l.get("op")
            what = {"STRIP_LABEL": "stripped: label removed from %s",
                    "ASSIGN": "assign: egress-v4 -> %s (waiting for the action)",
                    "SET_LABEL": "labelled: %s"}.get(op)
            if what:
                tl.add(t, replica.name, what % l.get("node"))
        elif msg == "operation done" and l.get("op") == "assign":
            tl.add(t, "hcloud", "action done: egress-v4 assignment %s" % l.get("result"))
        elif msg == "gateway moved":
            tl.add(t, replica.name, "done: gateway %s -> %s in %s ms" %
                   (l.get("from"), l.get("to"), l.get("duration_ms")))


def main():
    if not os.path.exists(BIN):
        print("demo: build/stable-egressd missing: run make", file=sys.stderr)
        return 1
    print("stable-egressd failover drill")
    print("  fakes: Kubernetes API (HTTPS, bearer token) and Hetzner Cloud API")
    print("  nodes: node-a (gateway, holds egress-v4 203.0.113.10), node-b, node-c")
    print("  grace %ds, lease %ds/%ds/%ds\n" % ((GRACE,) + LEASE))
    c = Cluster(lease=LEASE, grace="%ds" % GRACE, action_seconds=1.0)
    tl = Timeline()
    try:
        r1 = c.replica("replica-1")
        if not Cluster.wait(r1.leading, 15):
            print("demo: replica-1 never led; log: " + r1.log_path)
            return 1
        tl.now("replica-1", "leads (Lease stable-egress-controller.tuist.dev)")
        r2 = c.replica("replica-2")
        Cluster.wait(lambda: r2.metric("stable_egressd_standbys_ready") == 1, 15)
        tl.now("replica-2", "ready standby (caches and probes warm)")
        tl.now("cluster", "gateway %s, egress-v4 on %s" % (c.labelled(), c.fip_node()))

        t_fail = time.time()
        c.health["node-a"].stop()
        tl.now("drill", "node-a health listener stopped")
        ok = Cluster.wait(lambda: c.labelled() == ["node-b"] and c.fip_node() == "node-b",
                          GRACE + 20)
        before = len(tl.rows)
        failover_rows(tl, r1, t_fail)
        for e in c.kube("GET", "/events"):
            if e.get("reason") in ("HeldForGrace", "GatewayMoved"):
                t = e.get("eventTime", "")
                try:
                    when = calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) + \
                        float("0." + t[20:26])
                except ValueError:
                    continue
                tl.add(when, "event", "%s on %s: %s" % (e["reason"], e["regarding"]["name"],
                                                       e.get("note", "")[:90]))
        for row in sorted(tl.rows[before:]):
            tl.show(row)
        tl.rows[before:] = []
        if not ok:
            print("demo: failover did not complete; logs in " + c.dir)
            return 1
        tl.now("cluster", "gateway %s, egress-v4 on %s" % (c.labelled(), c.fip_node()))

        r1.sig(signal.SIGKILL)
        tl.now("drill", "replica-1 (leader) killed with SIGKILL")
        t_kill = time.time()
        if not Cluster.wait(r2.leading, LEASE[0] + 6 * LEASE[2] + 5):
            print("demo: replica-2 did not take over")
            return 1
        tl.now("replica-2", "leads after %.1fs (bound: lease %ds + 4.4 x retry %ds)" %
               (time.time() - t_kill, LEASE[0], LEASE[2]))
        c.health["node-a"].start()
        tl.now("cluster", "gateway %s, egress-v4 on %s; never two labelled: %s" %
               (c.labelled(), c.fip_node(), c.max_labelled() <= 1))
        print("\ndemo: done in %.1fs; all processes stopped" % (time.time() - tl.t0))
        return 0
    finally:
        c.close()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(130))
    sys.exit(main())
