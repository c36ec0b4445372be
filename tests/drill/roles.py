#!/usr/bin/env python3
"""roles.py: the small processes of `make drill`, one per role.

    roles.py health ADDR PORT           a node's health port (the Cilium
                                        agent's metrics listener): accept, close
    roles.py echo ADDR PORT LOG         the "internet" server: answers each UDP
                                        request with the source address it saw
                                        and records every request in LOG
    roles.py client SERVER PORT LOG     a workload: one request every 50 ms,
                                        each from a fresh socket (a new flow, as
                                        an outbound call is), answers and losses
                                        logged as JSON lines
    roles.py agent NODE NETNS KUBEDIR LOG
                                        the host-agent stand-in of NODE (see
                                        Agent below)

health, echo and client run inside a network namespace (ip netns exec); the
agent runs beside the fake Kubernetes API and changes its node's namespace
with ip and nft.  Every role runs until SIGTERM or SIGKILL; the drill starts
them with a parent-death signal so none outlives it.
"""
import http.client
import json
import os
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse

ACTIVE = ("tuist.dev/stable-egress-gateway", "server")
FIP = "203.0.113.10"
PROVIDER = "198.51.100.1"
POD_CIDR = "192.0.2.128/25"
INTERVAL = 0.05
ANSWER_TIMEOUT = 2.0
# The SNAT of the workloads' egress to the Floating IP, as the host agent
# sets it up on the gateway.  "table ...; delete table ..." first makes the
# load idempotent.
NFT_TABLE = "drill_egress"
NFT_SNAT = """table ip %(t)s
delete table ip %(t)s
table ip %(t)s {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %(pods)s oifname "eth0" snat to %(fip)s
	}
}
"""
NFT_NONE = "table ip %(t)s\ndelete table ip %(t)s\n"


def log_line(f, **rec):
    f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    f.flush()


def health(addr, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(128)
    while True:
        conn, _ = s.accept()
        conn.close()


def echo(addr, port, path):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    with open(path, "a") as f:
        while True:
            data, peer = s.recvfrom(2048)
            try:
                seq = json.loads(data).get("seq")
            except (ValueError, AttributeError):
                seq = None
            log_line(f, t=time.time(), src=peer[0], seq=seq)
            s.sendto(json.dumps({"seq": seq, "src": peer[0]}).encode(), peer)


def client(server, port, path):
    """One request every INTERVAL; an answer later than ANSWER_TIMEOUT is
    a loss.  Sends keep to the schedule however answers come back."""
    dest = (server, int(port))
    sel = selectors.DefaultSelector()
    pending = {}
    seq = 0
    t_next = time.time()
    with open(path, "a") as f:
        while True:
            now = time.time()
            if now >= t_next:
                seq += 1
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setblocking(False)
                try:
                    s.sendto(json.dumps({"seq": seq}).encode(), dest)
                    sel.register(s, selectors.EVENT_READ, (seq, now))
                    pending[s] = (seq, now)
                except OSError as e:
                    log_line(f, seq=seq, sent=now, lost=1, error=e.strerror)
                    s.close()
                # Behind by more than a slot (a stalled machine): skip, so
                # the rate stays one per interval.
                t_next = max(t_next + INTERVAL, now)
            for key, _ in sel.select(max(0.0, min(0.01, t_next - time.time()))):
                s = key.fileobj
                n, sent = key.data
                try:
                    data = s.recv(2048)
                    src = json.loads(data).get("src")
                    log_line(f, seq=n, sent=sent, recv=time.time(), src=src)
                except (OSError, ValueError) as e:
                    log_line(f, seq=n, sent=sent, lost=1, error=str(e))
                sel.unregister(s)
                pending.pop(s, None)
                s.close()
            now = time.time()
            for s, (n, sent) in list(pending.items()):
                if now - sent > ANSWER_TIMEOUT:
                    log_line(f, seq=n, sent=sent, lost=1)
                    sel.unregister(s)
                    del pending[s]
                    s.close()


class Agent:
    """The host agent of one node (the role of the reference's host
    configurer plus Cilium's egress gateway policy on that node).

    It lists and watches the Nodes.  While its own node carries the active
    label it holds the Floating IP on the uplink and source-NATs the
    workloads' egress to it; otherwise it removes both.  Whatever node is
    labelled, the workloads' egress (routing table 100, chosen by source
    address) leaves through it: the uplink when this node is the gateway,
    else the labelled node's InternalIP on the private network, else
    nothing (a blackhole: no labelled node, no egress, as with Cilium).
    Order keeps every packet either NATed to the Floating IP or dropped:
    SNAT before the uplink route when taking the role, route away before
    SNAT goes when leaving it."""

    def __init__(self, node, netns, kubedir, logf):
        self.node, self.netns, self.logf = node, netns, logf
        with open(os.path.join(kubedir, "api-url")) as f:
            self.api = urllib.parse.urlsplit(f.read().strip())
        with open(os.path.join(kubedir, "token")) as f:
            self.token = f.read().strip()
        self.ctx = ssl.create_default_context(cafile=os.path.join(kubedir, "ca.crt"))
        self.nodes = {}
        self.holding = None
        self.route = ()     # unknown: the first apply sets it

    def run_cmd(self, argv, data=None, quiet=False):
        p = subprocess.run(argv, input=data, capture_output=True, text=True, timeout=10)
        if p.returncode != 0 and not quiet:
            log_line(self.logf, t=time.time(), node=self.node, error=" ".join(argv[:6]),
                     out=p.stderr.strip()[:200])

    def ip(self, *args, quiet=False):
        self.run_cmd(["ip", "-n", self.netns] + list(args), quiet=quiet)

    def nft(self, text):
        self.run_cmd(["ip", "netns", "exec", self.netns, "nft", "-f", "-"],
                     text % {"t": NFT_TABLE, "pods": POD_CIDR, "fip": FIP})

    def hold(self, on):
        if self.holding == on:
            return
        if on:
            self.nft(NFT_SNAT)
            self.ip("addr", "replace", FIP + "/32", "dev", "eth0")
        else:
            # Absent already after a reboot: nothing to report.
            self.ip("addr", "del", FIP + "/32", "dev", "eth0", quiet=True)
            self.nft(NFT_NONE)
        self.holding = on
        log_line(self.logf, t=time.time(), node=self.node, holding=on)

    def set_route(self, want):
        if self.route == want:
            return
        if want == "uplink":
            args = ["default", "via", PROVIDER, "dev", "eth0"]
        elif want:
            args = ["default", "via", want, "dev", "ens10"]
        else:
            args = ["blackhole", "default"]
        self.ip("route", "replace", *args, "table", "100")
        self.route = want
        log_line(self.logf, t=time.time(), node=self.node, egress_via=want or "blackhole")

    def apply(self):
        labelled = sorted(n for n, d in self.nodes.items()
                          if d["metadata"].get("labels", {}).get(ACTIVE[0]) == ACTIVE[1])
        me = self.node in labelled
        if me:
            self.hold(True)
            self.set_route("uplink")
            return
        via = None
        for n in labelled[:1]:
            via = next((a["address"] for a in self.nodes[n]["status"].get("addresses", [])
                        if a["type"] == "InternalIP"), None)
        self.set_route(via)
        self.hold(False)

    def request(self, path, timeout):
        c = http.client.HTTPSConnection(self.api.hostname, self.api.port, context=self.ctx,
                                        timeout=timeout)
        c.request("GET", path, headers={"Authorization": "Bearer " + self.token,
                                        "Accept": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            raise OSError("%s: HTTP %d" % (path, r.status))
        return c, r

    def once(self):
        c, r = self.request("/api/v1/nodes", 5)
        lst = json.loads(r.read())
        c.close()
        self.nodes = {d["metadata"]["name"]: d for d in lst["items"]}
        self.apply()
        rv = lst["metadata"]["resourceVersion"]
        c, r = self.request("/api/v1/nodes?watch=true&allowWatchBookmarks=true"
                            "&timeoutSeconds=60&resourceVersion=" + rv, 70)
        try:
            while True:
                line = r.readline()
                if not line:
                    return
                ev = json.loads(line)
                obj = ev.get("object", {})
                if ev["type"] in ("ADDED", "MODIFIED"):
                    self.nodes[obj["metadata"]["name"]] = obj
                elif ev["type"] == "DELETED":
                    self.nodes.pop(obj["metadata"]["name"], None)
                elif ev["type"] == "ERROR":
                    return
                else:
                    continue
                self.apply()
        finally:
            c.close()

    def loop(self):
        while True:
            try:
                self.once()
            except (OSError, ValueError, KeyError, http.client.HTTPException) as e:
                log_line(self.logf, t=time.time(), node=self.node, error=str(e)[:200])
                time.sleep(0.2)


def main(argv):
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    role, args = argv[1], argv[2:]
    if role == "health":
        health(*args)
    elif role == "echo":
        echo(*args)
    elif role == "client":
        client(*args)
    elif role == "agent":
        node, netns, kubedir, path = args
        with open(path, "a") as f:
            Agent(node, netns, kubedir, f).loop()
    else:
        sys.exit("roles.py: unknown role " + role)


if __name__ == "__main__":
    main(sys.argv)
