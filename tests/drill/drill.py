#!/usr/bin/env python3
"""drill.py: `make drill`, egress continuity as a client sees it.

    python3 tests/drill/drill.py [--rounds N]

Builds a data plane in network namespaces (net.py): three nodes with a
workload each, a provider router that delivers the Floating IP to the
server holding it in the fake Hetzner API, and an "internet" echo server.
A host agent per node holds the Floating IP and source-NATs the workloads'
egress while its node carries the active label; the workloads on every
node egress through the labelled node.  Two controller replicas and the
fakes run as in `make demo`.  A client in every workload sends a request
every 50 ms and logs the source address the internet saw.

Each round runs every scenario (scenarios.py) against the current gateway;
the first round prints timelines, every round a line of figures, the end
a table.  Exit status: 0 when every scenario recovered and not one request
reached the internet from an address other than the Floating IP; 1
otherwise; 77 (a skip) when this machine cannot make network namespaces.

The drill enters network, mount and pid namespaces of its own first
(unshare), with a private /run/netns: the machine's network is never
touched, and whatever happens (an error, Ctrl-C, a kill) the kernel
removes every process, namespace, link and nft table with the drill.
On the way out the drill also removes them itself and checks that none
is left.
"""
import argparse
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import ACTIVE, BIN, CAND, SERVER_IDS, Cluster  # noqa: E402
from demo import Timeline, failover_rows, ts  # noqa: E402
import net  # noqa: E402
import report  # noqa: E402
import scenarios  # noqa: E402
from scenarios import GRACE, ACTION, LEASE, Failed  # noqa: E402

ROLES = os.path.join(HERE, "roles.py")
NODES = ["node-a", "node-b", "node-c"]
SKIP = 77
UNSHARE = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]


class TimeUp(Exception):
    pass


def parent_death_kill():
    # Linux prctl(PR_SET_PDEATHSIG, SIGKILL): a role dies with the drill.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def cannot_run():
    """Why this machine cannot run the drill, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth pairs, nftables)"
    for tool in ("ip", "nft", "unshare", "sysctl", "mount"):
        if shutil.which(tool) is None:
            return "no %s on PATH (make deps installs iproute2 and nftables)" % tool
    p = subprocess.run(UNSHARE + ["ip", "link", "add", "name", "t0", "type", "veth", "peer",
                                  "name", "t1"],
                       capture_output=True, text=True, timeout=20)
    if p.returncode != 0:
        return "cannot create namespaces and veth pairs here: " + \
            (p.stderr.strip().splitlines() or ["?"])[-1]
    return None


class Drill:
    def __init__(self):
        self.nodes = NODES
        self.server_ids = SERVER_IDS
        self.dp = net.DataPlane(NODES)
        self.c = None
        self.roles = {}
        self.n_replicas = 0
        self.tl = Timeline()
        self.dir = None

    # ---- processes ---------------------------------------------------------
    def start_role(self, key, netns, *args):
        out = open(os.path.join(self.dir, "%s.out" % "-".join(key)), "ab")
        argv = (["ip", "netns", "exec", netns] if netns else []) + \
            [sys.executable, ROLES] + list(args)
        self.roles[key] = subprocess.Popen(argv, stdout=out, stderr=out,
                                           stdin=subprocess.DEVNULL,
                                           preexec_fn=parent_death_kill)
        out.close()

    def stop_role(self, key, sig=signal.SIGKILL):
        p = self.roles.pop(key, None)
        if p is not None and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def log(self, name):
        return os.path.join(self.dir, name)

    def start_node_roles(self, n):
        self.start_role(("health", n), n, "health", net.addrs(n)[1], str(self.c.port))
        self.start_role(("agent", n), None, "agent", n, n, self.c.kdir,
                        self.log("agent-%s.log" % n))

    def add_replica(self):
        self.n_replicas += 1
        r = self.c.replica("replica-%d" % self.n_replicas)
        # Every replica must see and probe every node before it counts.
        if not Cluster.wait(lambda: all(r.metric("tuist_stable_egress_gateway_node_healthy",
                                                 node=n) == 1 for n in NODES), 20):
            raise Failed("%s does not see all nodes healthy; log %s" % (r.name, r.log_path))
        if self.n_replicas > 1 and not Cluster.wait(
                lambda: r.metric("stable_egressd_standbys_ready") == 1 or r.leading(), 20):
            raise Failed("%s never became a ready standby; log %s" % (r.name, r.log_path))
        return r

    # ---- reading the record ---------------------------------------------
    @staticmethod
    def jsonl(path):
        out = []
        try:
            with open(path) as f:
                for line in f:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        except OSError:
            pass
        return out

    def answers(self, n):
        return [r for r in self.jsonl(self.log("client-%s.log" % n)) if "recv" in r]

    def lost(self, n, t0, t1):
        return sum(1 for r in self.jsonl(self.log("client-%s.log" % n))
                   if r.get("lost") and t0 <= r["sent"] <= t1)

    def non_fip(self, t0=0, t1=float("inf")):
        return sum(1 for r in self.jsonl(self.log("echo.log"))
                   if r["src"] != net.FIP and t0 <= r["t"] <= t1)

    def routes(self):
        out = []
        try:
            with open(self.log("routes.log")) as f:
                for line in f:
                    w = line.split()
                    out.append((float(w[0]), w[1], w[2] if len(w) > 2 else ""))
        except OSError:
            pass
        return out

    def wait_answers(self, nodes, since, timeout, count=5):
        def ok():
            for n in nodes:
                a = [r for r in self.answers(n) if r["recv"] > since]
                if len(a) < count or any(r["src"] != net.FIP for r in a):
                    return False
            return True
        return Cluster.wait(ok, timeout, step=0.1)

    def wait_healthy(self, n, timeout):
        def ok():
            r = self.c.leader()
            return r is not None and r.metric("tuist_stable_egress_gateway_node_healthy",
                                              node=n) == 1
        return Cluster.wait(ok, timeout, step=0.1)

    def gateway(self):
        lab = self.c.labelled()
        if len(lab) != 1 or self.c.fip_node() != lab[0]:
            raise Failed("no single gateway holding the Floating IP: labelled %s, on %s" %
                         (lab, self.c.fip_node()))
        return lab[0]

    def event(self, who, what, when=None):
        self.tl.add(when or time.time(), who, what)

    # ---- setup -------------------------------------------------------------
    def setup(self):
        self.dir = tempfile.mkdtemp(prefix="se-drill-")
        self.dp.build()
        hook = ("sh -c 'if [ \"$1\" = %s ]; then "
                "if [ -n \"$3\" ]; then ip -n provider route replace $1/32 via $3; "
                "else ip -n provider route replace blackhole $1/32; fi; "
                "echo \"$(date +%%s.%%N) $1 $3\" >> %s; fi' route")
        self.c = Cluster(nodes=(), lease=LEASE, grace="%ds" % GRACE, action_seconds=ACTION,
                         fip_on=None, hcloud_args=["--on-assign", hook % (
                             net.FIP, self.log("routes.log"))])
        for n in NODES:
            labels = {CAND[0]: CAND[1]}
            if n == "node-a":
                labels[ACTIVE[0]] = ACTIVE[1]
            self.c.kube("POST", "/nodes", {"name": n, "labels": labels,
                                           "providerID": "hcloud://%d" % SERVER_IDS[n],
                                           "internalIP": net.addrs(n)[1], "ready": "True"})
        self.c.put_fip("node-a")
        self.start_role(("echo",), "internet", "echo", net.ECHO[0], str(net.ECHO[1]),
                        self.log("echo.log"))
        for n in NODES:
            self.start_node_roles(n)
        for n in NODES:
            self.start_role(("client", n), "pod-" + n[-1], "client", net.ECHO[0],
                            str(net.ECHO[1]), self.log("client-%s.log" % n))
        if not self.wait_answers(NODES, time.time(), 15):
            raise Failed("the workloads get no answers from the Floating IP at start")
        r1 = self.add_replica()
        if not Cluster.wait(r1.leading, 15):
            raise Failed("replica-1 never led; log " + r1.log_path)
        self.add_replica()

    # ---- teardown ----------------------------------------------------------
    def teardown(self, keep):
        for key in list(self.roles):
            self.stop_role(key, signal.SIGTERM)
        if self.c is not None:
            if keep:
                os.environ["SE_KEEP_E2E"] = "1"
            self.c.close()
        left = self.dp.teardown()
        if self.dir and not keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        return left


def timeline(d, row):
    rows = []
    for r in d.c.replicas:
        tl = Timeline()
        tl.show = lambda row: None
        failover_rows(tl, r, row["t_fault"])
        rows += tl.rows
        rows += [(ts(l), r.name, "leads (takes the Lease over)") for l in r.lines()
                 if l.get("msg") == "lease acquired: leading" and ts(l) >= row["t_fault"]]
    for n in NODES:
        for r in d.jsonl(d.log("agent-%s.log" % n)):
            if r["t"] >= row["t_fault"] and "holding" in r:
                rows.append((r["t"], "agent", "%s %s" % (
                    n, "holds %s, SNAT on" % net.FIP if r["holding"]
                    else "released %s and its SNAT" % net.FIP)))
    for t, ip, via in d.routes():
        if t >= row["t_fault"]:
            rows.append((t, "provider", "%s now routed to %s" % (ip, via or "nowhere")))
    if row["before"]:
        rows.append((row["before"], "client", "last answer before the blackout (pod-%s)" %
                     row["client"][-1]))
        rows.append((row["after"], "client", "first answer after: %.2fs without egress" %
                     row["blackout"]))
    keep = [x for x in d.tl.rows if x[0] >= row["t_fault"] - 0.01]
    d.tl.rows = [x for x in d.tl.rows if x[0] < row["t_fault"] - 0.01]
    for x in sorted(rows + keep):
        d.tl.show(x)


def inner(a):
    subprocess.run(["mkdir", "-p", "/run/netns"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "drill-netns",
                    "/run/netns"], check=True)
    d = Drill()
    rows, failure, rc = [], None, 0

    def time_up(*_):
        raise TimeUp()
    signal.signal(signal.SIGALRM, time_up)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    limit = 120 + 110 * a.rounds
    signal.alarm(limit)
    try:
        print("stable-egressd drill: egress continuity through failovers")
        print("  nodes node-a (gateway), node-b, node-c; Floating IP egress-v4 %s" % net.FIP)
        print("  grace %ds, Hetzner action %.1fs, probe every 200 ms, lease %ds/%ds/%ds, "
              "%d round(s)\n" % ((GRACE, ACTION) + LEASE + (a.rounds,)), flush=True)
        d.setup()
        d.tl.now("drill", "data plane up; workloads egress from %s; replica-1 leads"
                 % net.FIP)
        for rnd in range(1, a.rounds + 1):
            for sc in scenarios.SCENARIOS:
                if (a.only and sc[0] not in a.only) or sc[0] in (a.skip or ()):
                    continue
                d.tl.rows = []
                if rnd == 1:
                    print("\n-- %s" % sc[0], flush=True)
                row = scenarios.run(d, sc, rnd)
                rows.append(row)
                if rnd == 1:
                    timeline(d, row)
                print(report.line(row), flush=True)
    except Failed as e:
        failure = str(e)
    except TimeUp:
        failure = "time limit of %ds exceeded" % limit
    except KeyboardInterrupt:
        failure = "interrupted"
    except Exception:
        traceback.print_exc()
        failure = "error in the drill itself (traceback above)"
    finally:
        signal.alarm(0)
        total_leaks = d.non_fip() if d.dir else 0
        twice = d.c.max_labelled() if d.c else 0
        keep = failure is not None or a.keep
        if keep and d.dir:
            print("drill: logs kept in %s and %s" % (d.dir, d.c.dir if d.c else "-"))
        left = d.teardown(keep)
    print()
    print(report.table(rows))
    print()
    print("answers from an address other than %s, whole run: %d" % (net.FIP, total_leaks))
    print("most nodes labelled at once: %d" % twice)
    print("teardown: %s" % ("clean" if not left else "LEFT " + ", ".join(left)))
    if failure:
        print("drill: FAILED: " + failure)
        rc = 1
    if any(r["late"] for r in rows):
        print("drill: FAILED: not every failover recovered in time")
        rc = 1
    if total_leaks or twice > 1 or left:
        rc = 1
    print("drill: %s" % ("ok" if rc == 0 else "FAILED"))
    return rc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the logs")
    ap.add_argument("--only", action="append", metavar="SCENARIO",
                    help="run this scenario only (repeatable)")
    ap.add_argument("--skip", action="append", metavar="SCENARIO",
                    help="leave this scenario out (repeatable)")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    names = [sc[0] for sc in scenarios.SCENARIOS]
    for name in (a.only or []) + (a.skip or []):
        if name not in names:
            ap.error("no scenario %r (scenarios: %s)" % (name, ", ".join(names)))
    if a.inner:
        return inner(a)
    if not os.path.exists(BIN):
        print("drill: build/stable-egressd missing: run make", file=sys.stderr)
        return 1
    why = cannot_run()
    if why:
        print("drill: skipped: " + why)
        return SKIP
    sys.stdout.flush()
    argv = [sys.executable, os.path.abspath(__file__), "--inner", "--rounds", str(a.rounds)]
    argv += ["--keep"] if a.keep else []
    for name in a.only or ():
        argv += ["--only", name]
    for name in a.skip or ():
        argv += ["--skip", name]
    os.execvp(UNSHARE[0], UNSHARE + argv)


if __name__ == "__main__":
    sys.exit(main())
