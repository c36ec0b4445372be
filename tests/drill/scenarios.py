"""scenarios.py: the drill's failover scenarios and what they measure.

Each scenario takes the current gateway g down in its own way, waits for
the label and the Floating IP to be together on another node and every
live workload to get answers again, then repairs g so the next scenario
starts from three healthy nodes.  The figures come from the clients' logs
(what an allowlist sees), the replicas' logs, the fake Hetzner API's
request log and the provider router's route changes.
"""
import json
import os
import signal
import time

import net
from roles import ANSWER_TIMEOUT
from demo import ts

GRACE = 3.0
ACTION = 1.0
PROBE_INTERVAL = 0.2
LEASE = (4, 3, 1)


class Failed(Exception):
    pass


class LogTail:
    """New JSON lines of a log file since the last call."""

    def __init__(self, path):
        self.path = path
        self.off = os.path.getsize(path) if os.path.exists(path) else 0

    def new(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        self.off += end
        out = []
        for raw in data[:end].splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                pass
        return out


# ---- faults and repairs --------------------------------------------------
def crash(d, g):
    t = time.time()
    d.dp.crash(g)
    d.stop_role(("health", g))
    d.stop_role(("agent", g))
    d.event("drill", "%s crashed: links down, health listener and host agent gone" % g, t)


def reboot(d, g):
    d.dp.reboot(g)
    d.start_node_roles(g)
    d.event("drill", "%s rebooted: links up, clean state, agent and listener back" % g)


def cordon(d, g):
    t = time.time()
    d.c.patch_node(g, unschedulable=True)
    d.event("drill", "%s cordoned (kubectl cordon)" % g, t)


def uncordon(d, g):
    d.c.patch_node(g, unschedulable=False)


def power_off(d, g):
    t = time.time()
    d.c.hc("PATCH", "/servers/%d" % d.server_ids[g], {"status": "off"})
    d.event("drill", "server of %s is off in the Hetzner API" % g, t)
    crash(d, g)


def power_on(d, g):
    d.c.hc("PATCH", "/servers/%d" % d.server_ids[g], {"status": "running"})
    reboot(d, g)


def kill_leader_at_assign(d, g, leader):
    """Poll: SIGKILL the leader once it has sent the assignment."""
    tail, done = LogTail(leader.log_path), []

    def poll():
        if done:
            return
        for l in tail.new():
            if l.get("msg") == "step" and l.get("op") == "ASSIGN":
                leader.sig(signal.SIGKILL)
                done.append(1)
                d.event("drill", "%s (leader) killed with SIGKILL, assignment in flight"
                        % leader.name)
                return
    return poll


def drain_budget_before_move(d, g, leader):
    """Poll: empty the Hetzner budget just before the grace ends, as when
    other clients of the project's token (CCM, CSI) used it up."""
    tail, state = LogTail(leader.log_path), {}

    def poll():
        if "drained" in state:
            return
        if "held" not in state:
            for l in tail.new():
                if l.get("msg") == "decision" and l.get("outcome") == "HOLDING":
                    state["held"] = ts(l)
                    break
            return
        if time.time() >= state["held"] + GRACE - 0.2:
            d.c.hc("POST", "/ratelimit", {"remaining": 0})
            state["drained"] = 1
            d.event("drill", "Hetzner budget drained to 0 (refill 1/s)")
    return poll


def refill(d):
    d.c.hc("POST", "/ratelimit", {"remaining": 3600})


def refill_budget(d, g):
    refill(d)
    reboot(d, g)


def replace_leader(d, g):
    reboot(d, g)
    d.add_replica()


# name, fault, poll during the failover, repair, g's workload stays alive,
# goal (seconds of blackout, or None)
SCENARIOS = [
    ("crash", crash, None, reboot, False, GRACE + ACTION + 1.5),
    ("cordon", cordon, None, uncordon, True, ACTION + 1.0),
    ("server off", power_off, None, power_on, False, PROBE_INTERVAL + ACTION + 2.0),
    ("leader killed", crash, kill_leader_at_assign, replace_leader, False, None),
    ("budget drained", crash, drain_budget_before_move, refill_budget, False, None),
]


# A scenario not recovered within RECOVERY fails the drill; for these the
# drill then lifts the cause to see how late it recovers.
RECOVERY = GRACE + ACTION + LEASE[0] + 4.4 * LEASE[2] + 15
RESCUE = {"budget drained": (refill, "not recovered in time: Hetzner budget refilled")}


# ---- measuring ------------------------------------------------------------
def blackout(answers, t_fault, t_until):
    """Largest gap between consecutive answers that ends after the fault
    and starts before t_until: (gap, last answer before, first after)."""
    best = (0.0, None, None)
    recv = sorted(a["recv"] for a in answers)
    for a, b in zip(recv, recv[1:]):
        if b >= t_fault and a <= t_until and b - a > best[0]:
            best = (b - a, a, b)
    return best


def split(d, t_fault, new):
    """(decision, label, assign POST, route change) times after t_fault."""
    t_dec = t_label = None
    rows = []
    for r in d.c.replicas:
        for l in r.lines():
            t = ts(l)
            if t is not None and t >= t_fault:
                rows.append((t, l))
    rows.sort(key=lambda x: x[0])
    for t, l in rows:
        if t_dec is None and l.get("msg") == "decision" and l.get("outcome") == "MOVE":
            t_dec = t
        if t_dec is not None and t_label is None and l.get("msg") == "step" and \
                l.get("op") == "SET_LABEL" and l.get("node") == new:
            t_label = t
    t_assign = None
    for r in d.c.hc_requests():
        if r["method"] == "POST" and r["path"].endswith("/actions/assign") and \
                r["status"] == 201 and r["time_wall"] >= t_fault:
            t_assign = r["time_wall"]
            break
    t_route = None
    for t, ip, via in d.routes():
        if t_assign is not None and t >= t_assign and via == net.addrs(new)[0]:
            t_route = t
            break
    return t_dec, t_label, t_assign, t_route


def wait_move(d, g, poll, deadline):
    """The new gateway once the label and the Floating IP are together on
    one node other than g, or None at the deadline."""
    while time.time() < deadline:
        if poll:
            poll()
        lab = d.c.labelled()
        if len(lab) == 1 and lab[0] != g and d.c.fip_node() == lab[0]:
            return lab[0]
        time.sleep(0.05)
    return None


def run(d, sc, rnd):
    name, fault, during, repair, g_alive, goal = sc
    g = d.gateway()
    leader = d.c.leader()
    if leader is None:
        raise Failed("%s: no leader before the fault" % name)
    live = [n for n in d.nodes if g_alive or n != g]
    t_begin = t_fault = time.time()
    fault(d, g)
    poll = during(d, g, leader) if during else None
    new = wait_move(d, g, poll, t_fault + RECOVERY)
    late = new is None
    if late and name in RESCUE:
        # Not recovered in time: lift the cause and see whether it does
        # then, so the run can go on and the table shows how late.
        d.event("drill", RESCUE[name][1])
        RESCUE[name][0](d)
        new = wait_move(d, g, None, time.time() + 120)
    if new is None:
        raise Failed("%s: no new gateway within %.0fs (labelled %s, Floating IP on %s)" %
                     (name, RECOVERY, d.c.labelled(), d.c.fip_node()))
    t_moved = time.time()
    if not d.wait_answers(live, t_moved, 10):
        raise Failed("%s: workloads on %s get no answers after the move to %s" %
                     (name, ", ".join(live), new))
    t_back = time.time()
    time.sleep(0.2)
    worst = (0.0, None, None, None)
    for n in live:
        gap, before, after = blackout(d.answers(n), t_fault, t_back)
        if gap > worst[0]:
            worst = (gap, before, after, n)
    t_dec, t_label, t_assign, t_route = split(d, t_fault, new)
    row = {"scenario": name, "round": rnd, "from": g, "to": new, "goal": goal, "late": late,
           "blackout": worst[0], "before": worst[1], "after": worst[2], "client": worst[3],
           "t_fault": t_fault, "t_dec": t_dec, "t_label": t_label,
           "t_assign": t_assign, "t_route": t_route}
    if None not in (t_dec, t_label, t_assign, t_route, worst[2]):
        row["detect"] = t_dec - t_fault
        row["hetzner"] = t_route - t_assign
        row["control"] = t_label - t_dec - row["hetzner"]
        row["agents"] = worst[2] - t_label
    repair(d, g)
    if not d.wait_healthy(g, 15) or not d.wait_answers(d.nodes, time.time(), 10):
        raise Failed("%s: %s did not come back healthy" % (name, g))
    # A request is lost once its answer is overdue (the client logs it then).
    time.sleep(max(0.0, t_back + ANSWER_TIMEOUT + 0.2 - time.time()))
    t_end = time.time()
    row["non_fip"] = d.non_fip(t_begin, t_end)
    row["lost"] = sum(d.lost(n, t_begin, t_end) for n in live)
    return row
