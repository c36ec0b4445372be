"""net.py: the drill's data plane, in network namespaces.

drill.py runs in network, mount and pid namespaces of its own, with a
private tmpfs on /run/netns, so everything below, the "host" included, is
invisible to the machine's network and gone with the drill's last process.
Addresses are from the documentation ranges only (RFC 5737); IPv6 is off,
so no link-local address appears either.

  host      lo 127.0.0.1: the fakes, the controller replicas, the agents
            bridge "private" 192.0.2.1/25: the nodes' private network
  provider  bridge "public" 198.51.100.1/24: the servers' public IPv4s
            "inet" 203.0.113.253/30 to the internet namespace
            203.0.113.10/32, the Floating IP, routed to the server that
            holds it in the fake Hetzner API (blackhole while none does);
            no other route: nothing leaves the machine
  internet  "inet" 203.0.113.254/30, default via the provider; the echo server
  node-x    x = a, b, c and i = 1, 2, 3:
            "eth0" 198.51.100.1i/24 (the server's public IPv4 in the fake
            Hetzner API), default via the provider
            "ens10" 192.0.2.1i/25 (the private network, as on Hetzner):
            the Node's InternalIP, where the controller probes its health
            port, and the way to the other nodes
            "pod" 192.0.2.(129+4(i-1))/30 towards its workload
            egress from the workloads (source 192.0.2.128/25) follows
            routing table 100, which the node's host agent keeps
  pod-x     "eth0" 192.0.2.(130+4(i-1))/30, default via its node
"""
import subprocess

FIP = "203.0.113.10"
PROVIDER = "198.51.100.1"
HOST_PRIV = "192.0.2.1"
ECHO = ("203.0.113.254", 7007)
POD_CIDR = "192.0.2.128/25"
NFT_TABLE = "drill_egress"
LINKS = ("eth0", "ens10", "pod")


def sh(argv, data=None, check=True):
    p = subprocess.run(argv, input=data, capture_output=True, text=True, timeout=20,
                       stdin=None if data is not None else subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), p.stderr.strip()))
    return p


def addrs(node):
    """(public, private, node side of the pod link, pod) of node-x."""
    i = "abc".index(node[-1])
    return ("198.51.100.%d" % (11 + i), "192.0.2.%d" % (11 + i),
            "192.0.2.%d" % (129 + 4 * i), "192.0.2.%d" % (130 + 4 * i))


def pod_net(node):
    return "192.0.2.%d/30" % (128 + 4 * "abc".index(node[-1]))


class DataPlane:
    def __init__(self, nodes):
        self.nodes = list(nodes)
        self.made = []          # namespaces, in creation order
        self.host_links = []    # host-side links, in creation order

    # ---- building --------------------------------------------------------
    def netns(self, name, forward=False):
        sh(["ip", "netns", "add", name])
        self.made.append(name)
        self.sysctl(name, forward)
        sh(["ip", "-n", name, "link", "set", "lo", "up"])

    @staticmethod
    def sysctl(ns, forward):
        keys = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
                "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
                "net.ipv4.ip_forward=%d" % forward]
        pre = ["ip", "netns", "exec", ns] if ns else []
        sh(pre + ["sysctl", "-q", "-e", "-w"] + keys)

    def veth(self, a, a_ns, b, b_ns):
        """A pair a (in a_ns, None: the host) <-> b (in b_ns)."""
        argv = ["ip", "link", "add", "name", a]
        if a_ns:
            argv += ["netns", a_ns]
        else:
            self.host_links.append(a)
        sh(argv + ["type", "veth", "peer", "name", b, "netns", b_ns])

    @staticmethod
    def ip(ns, *args):
        return sh((["ip", "-n", ns] if ns else ["ip"]) + list(args))

    def build(self):
        self.sysctl(None, False)
        sh(["ip", "link", "set", "lo", "up"])
        self.netns("provider", forward=True)
        self.netns("internet")
        self.ip(None, "link", "add", "private", "type", "bridge")
        self.host_links.append("private")
        self.ip(None, "addr", "add", HOST_PRIV + "/25", "dev", "private")
        self.ip(None, "link", "set", "private", "up")
        self.ip("provider", "link", "add", "public", "type", "bridge")
        self.ip("provider", "addr", "add", PROVIDER + "/24", "dev", "public")
        self.ip("provider", "link", "set", "public", "up")
        self.veth("inet", "provider", "inet", "internet")
        self.ip("provider", "addr", "add", "203.0.113.253/30", "dev", "inet")
        self.ip("provider", "link", "set", "inet", "up")
        self.ip("internet", "addr", "add", ECHO[0] + "/30", "dev", "inet")
        self.ip("internet", "link", "set", "inet", "up")
        self.ip("internet", "route", "add", "default", "via", "203.0.113.253")
        self.ip("provider", "route", "add", "blackhole", FIP + "/32")
        for n in self.nodes:
            self.build_node(n)
        for n in self.nodes:
            self.node_routes(n)

    def build_node(self, n):
        pub, priv, gw, pod = addrs(n)
        x = n[-1]
        self.netns(n, forward=True)
        self.netns("pod-" + x)
        self.veth("eth0", n, "srv-" + x, "provider")
        self.ip("provider", "link", "set", "srv-" + x, "master", "public", "up")
        self.veth("priv-" + x, None, "ens10", n)
        self.ip(None, "link", "set", "priv-" + x, "master", "private", "up")
        self.veth("pod", n, "eth0", "pod-" + x)
        self.ip(n, "addr", "add", pub + "/24", "dev", "eth0")
        self.ip(n, "addr", "add", priv + "/25", "dev", "ens10")
        self.ip(n, "addr", "add", gw + "/30", "dev", "pod")
        self.ip("pod-" + x, "addr", "add", pod + "/30", "dev", "eth0")
        for dev in LINKS:
            self.ip(n, "link", "set", dev, "up")
        self.ip("pod-" + x, "link", "set", "eth0", "up")
        self.ip("pod-" + x, "route", "add", "default", "via", gw)
        # The workloads' egress: table 100 (the host agent's), a blackhole
        # until an agent says otherwise; cluster-internal traffic stays on
        # the main table.
        self.ip(n, "route", "add", "blackhole", "default", "table", "100")
        self.ip(n, "rule", "add", "pref", "100", "to", "192.0.2.0/24", "lookup", "main")
        self.ip(n, "rule", "add", "pref", "200", "from", POD_CIDR, "lookup", "100")

    def node_routes(self, n):
        """A node's routes through its links (a link going down drops them):
        its default, the other nodes' workloads over the private network."""
        self.ip(n, "route", "replace", "default", "via", PROVIDER)
        for other in self.nodes:
            if other != n:
                self.ip(n, "route", "replace", pod_net(other), "via", addrs(other)[1])

    # ---- faults ----------------------------------------------------------
    def crash(self, n):
        """The node stops: its links go down, its state stays as it was."""
        for dev in LINKS:
            self.ip(n, "link", "set", dev, "down")

    def reboot(self, n):
        """The node comes back clean: no Floating IP, no SNAT, no egress
        route (what a reboot leaves), then its links come up."""
        sh(["ip", "-n", n, "addr", "del", FIP + "/32", "dev", "eth0"], check=False)
        self.nft_off(n)
        self.ip(n, "route", "replace", "blackhole", "default", "table", "100")
        for dev in LINKS:
            self.ip(n, "link", "set", dev, "up")
        self.node_routes(n)

    @staticmethod
    def nft_off(n):
        sh(["ip", "netns", "exec", n, "nft", "-f", "-"],
           "table ip %s\ndelete table ip %s\n" % (NFT_TABLE, NFT_TABLE), check=False)

    # ---- teardown --------------------------------------------------------
    def teardown(self):
        """Everything build() made, newest first; returns what could not be
        removed (empty when clean)."""
        left = []
        for n in self.nodes:
            if n in self.made:
                self.nft_off(n)
        for name in self.host_links[::-1]:
            sh(["ip", "link", "del", name], check=False)
        for ns in self.made[::-1]:
            if sh(["ip", "netns", "del", ns], check=False).returncode != 0:
                left.append("netns " + ns)
        self.made, self.host_links = [], []
        out = sh(["ip", "netns", "list"], check=False).stdout.split()
        left += ["netns " + w for w in out if w in ("provider", "internet") or
                 w.startswith(("node-", "pod-"))]
        out = sh(["ip", "-o", "link"], check=False).stdout
        left += ["link " + line.split(":")[1].strip() for line in out.splitlines()
                 if line.split(":")[1].strip() != "lo"]
        return sorted(set(left))
