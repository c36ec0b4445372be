"""chartpod.py: stable-egressd as the reference Helm chart runs it.

    with ChartPod(cluster, rootfs, binary, extra_args) as pod: ...

In-cluster mode (KUBERNETES_SERVICE_HOST/PORT and the service-account
directory at its standard path, namespace kube-system), the Hetzner token
Secret at /etc/hcloud, the chart's arguments, uid 65532, read-only root,
no capabilities (container.py).  The only thing set beyond the chart is
HCLOUD_ENDPOINT, the fake Hetzner API's address.  Both the image test and
the drop-in test use it; callers run in a private network namespace, so
the chart's ports :8080 and :8081 are free.
"""
import os
import shutil
import signal

import harness
from container import Container

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
NAMESPACE = "kube-system"
LEASE = "stable-egress-controller.tuist.dev"
PREPARED = ("tuist.dev/stable-egress-host-configurer", "true")
UID = 65532


def chart_args(cluster, grace="2s", additional=None, allowlist=None):
    """The Deployment's args, exactly as the chart renders them."""
    a = ["--leader-elect=true", "--metrics-bind-address=:8080",
         "--health-probe-bind-address=:8081",
         "--floating-ip-name=egress-v4"]
    if additional:
        a.append("--additional-floating-ip-names=" + ",".join(additional))
    a += ["--hcloud-token-path=/etc/hcloud/token",
          "--node-health-port=%d" % cluster.port,
          "--node-health-timeout=1s",
          "--node-unhealthy-grace-period=" + grace,
          "--node-unprepared-grace-period=5m"]
    if allowlist:
        a.append("--egress-ip-allowlist=" + ",".join(allowlist))
    return a


def secret_dir(path, files):
    """A Secret volume: root-owned files readable by the fsGroup."""
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)
    for name, data in files.items():
        p = os.path.join(path, name)
        with open(p, "w") as f:
            f.write(data)
        os.chown(p, 0, UID)
        os.chmod(p, 0o640)


def host_configurers(cluster, nodes):
    """The host agent's pods, Ready, one per node: the chart keeps the
    prepared gate at its default."""
    for n in nodes:
        cluster.kube("POST", "/pods", {
            "namespace": NAMESPACE, "name": "host-configurer-" + n,
            "nodeName": n, "labels": {PREPARED[0]: PREPARED[1]},
            "ready": True})


class ChartPod:
    def __init__(self, cluster, name, rootfs, binary, args):
        self.cluster, self.name = cluster, name
        d = os.path.join(cluster.dir, name)
        kd = cluster.kdir
        with open(os.path.join(kd, "api-url")) as f:
            port = f.read().strip().rsplit(":", 1)[1]
        with open(os.path.join(kd, "token")) as f:
            ktoken = f.read().strip()
        with open(os.path.join(kd, "ca.crt")) as f:
            ca = f.read()
        with open(os.path.join(cluster.hdir, "token")) as f:
            htoken = f.read()
        secret_dir(os.path.join(d, "sa"), {"token": ktoken, "ca.crt": ca,
                                           "namespace": NAMESPACE})
        secret_dir(os.path.join(d, "hcloud"), {"token": htoken})
        env = {"PATH": "/usr/local/bin:/usr/bin", "HOSTNAME": name,
               "KUBERNETES_SERVICE_HOST": "127.0.0.1",
               "KUBERNETES_SERVICE_PORT": port,
               "KUBERNETES_SERVICE_PORT_HTTPS": port,
               "HCLOUD_ENDPOINT": cluster.endpoint}
        self.log_path = os.path.join(cluster.dir, name + ".log")
        self.c = Container(d, rootfs, [binary] + list(args), env,
                           {SA_DIR: os.path.join(d, "sa"),
                            "/etc/hcloud": os.path.join(d, "hcloud")},
                           name, log_path=self.log_path)

    def start(self):
        self.c.start()
        self.pid = self.c.pid
        return self

    def stop(self, sig=signal.SIGTERM, timeout=10):
        return self.c.stop(sig, timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop(signal.SIGKILL)
        if os.environ.get("SE_KEEP_E2E") is None:
            shutil.rmtree(os.path.join(self.cluster.dir, self.name),
                          ignore_errors=True)

    metrics_port = 8080     # the chart's --metrics-bind-address

    def get(self, path, port=None):
        return harness.Replica.get(self, path, port)

    def metric(self, name, **labels):
        return harness.Replica.metric(self, name, **labels)

    def lines(self):
        return harness.Replica.lines(self)

    def tree(self):
        """Every process of the pod: the supervisor and its descendants."""
        out, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo += harness.children(p)
        return out

    def lease(self):
        for l in self.cluster.kube("GET", "/leases"):
            m = l["metadata"]
            if m["name"] == LEASE and m.get("namespace") == NAMESPACE:
                return l
        return None


def root_mount_options(pid):
    """Mount options of / as the process sees it."""
    with open("/proc/%d/mountinfo" % pid) as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/":
                return fields[5].split(",")
    return []
