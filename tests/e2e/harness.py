"""harness.py: the real binary against the fake APIs, for tests, demo, bench.

    with Cluster() as c:                  # both fakes, three nodes
        r = c.replica("r1")               # a controller replica
        c.wait(lambda: c.labelled() == ["node-a"], 10)

Everything listens on 127.0.0.0/8: the fakes on 127.0.0.1, each node's
health listener on its own address (node-a 127.0.0.11, node-b .12, ...),
so a test can stop one node's listener and the controller sees that node
fail, exactly as it would a real node's Cilium agent.  Every process the
harness starts is stopped by close(), which also checks that no replica
left a worker behind.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# SE_DAEMON_BIN: another build of the daemon (tests/run.py runs the
# controller suite once more against the ASan+UBSan one).
BIN = os.environ.get("SE_DAEMON_BIN") or os.path.join(ROOT, "build", "stable-egressd")
TEST_BIN = os.path.join(ROOT, "build", "test", "stable-egressd")
FAKES = os.path.join(ROOT, "tests", "fakes")
CAND = ("tuist.dev/stable-egress-candidate", "server")
ACTIVE = ("tuist.dev/stable-egress-gateway", "server")
NODES = ["node-a", "node-b", "node-c"]
SERVER_IDS = {"node-a": 2**40 + 1, "node-b": 2**40 + 2, "node-c": 2**40 + 3}
# Who the fake API sees under RBAC: the reference chart's ServiceAccount,
# which deploy/base keeps.
RBAC_SA = ("kube-system", "stable-egress-controller")


def rbac_objects(source):
    """RBAC objects of deploy/<source> (rendered by kubectl kustomize when
    there is a kubectl, else its YAML files read as they are: each names
    its namespace) or of a YAML file such as tests/fixtures/*.yaml."""
    from test_deploy import kubectl, yaml_load_all
    path = os.path.join(ROOT, source)
    if not os.path.isdir(path):
        path = os.path.join(ROOT, "deploy", source)
    if os.path.isfile(path):
        with open(path) as f:
            return yaml_load_all(f.read())
    if kubectl():
        out = subprocess.run([kubectl(), "kustomize", path], check=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             timeout=60).stdout.decode()
        return yaml_load_all(out)
    docs = []
    for d, _, files in os.walk(path):
        for n in sorted(files):
            if n.endswith(".yaml") and n != "kustomization.yaml":
                with open(os.path.join(d, n)) as f:
                    docs += yaml_load_all(f.read())
    return docs


# Started as root the daemon requires --user and runs every process as
# that user, which must be able to read the credential files.
RUN_AS = "nobody"


def user_flags():
    """["--user=nobody"] when we are root, else []."""
    return ["--user=" + RUN_AS] if os.geteuid() == 0 else []


def grant(path):
    """Let RUN_AS read everything under path (credentials the fakes
    wrote, kubeconfigs): owner RUN_AS, modes unchanged; directories on
    the way get o+x.  A no-op when we are not root."""
    if os.geteuid() != 0:
        return
    import pwd
    pw = pwd.getpwnam(RUN_AS)
    for d, dirs, files in os.walk(path):
        os.chown(d, pw.pw_uid, pw.pw_gid)
        for f in files:
            try:
                os.chown(os.path.join(d, f), pw.pw_uid, pw.pw_gid)
            except FileNotFoundError:
                pass
    p = os.path.abspath(path)
    while p != "/":
        os.chmod(p, os.stat(p).st_mode | 0o001)
        p = os.path.dirname(p)


def free_port(host="127.0.0.1"):
    s = socket.socket()
    s.bind((host, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(method, url, body=None, timeout=5):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def wait_file(path, timeout, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (proc.args, proc.returncode))
        time.sleep(0.05)
    raise TimeoutError("no " + path)


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def children(pid):
    """pids whose parent is pid (read from /proc, no ps)."""
    return [p for p, (pp, _) in proc_table().items() if pp == pid]


def proc_table():
    """{pid: (ppid, start time)} of every process, from /proc."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        out[int(d)] = (int(fields[1]), int(fields[19]))
    return out


def descendants_started(pid, table=None):
    """{pid: start time} of every process below pid (the spawner and the
    workers), found by parent pid, never by name; the start time tells a
    reused pid from the process seen."""
    table = table or proc_table()
    kids = {}
    for p, (pp, _) in table.items():
        kids.setdefault(pp, []).append(p)
    out, todo = {}, [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out[k] = table[k][1]
                todo.append(k)
    return out


def alive(pid, start):
    """pid still runs and is the same process (not a reused pid).  A
    zombie has ended: where the harness runs as a pid namespace's init
    (the drill), nobody reaps the orphans but the harness's own process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    fields = st[st.rfind(")") + 2:].split()
    return fields[0] not in ("Z", "X") and int(fields[19]) == start


def descendants(pid):
    """Every pid below pid (children, their children, ...)."""
    return list(descendants_started(pid))


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


class Health:
    """A node's health port: a listener that accepts and closes, as the
    Cilium agent's metrics listener would answer, and can be stopped.
    (Never accepting would fill the backlog and fail later probes.)"""

    def __init__(self, ip, port):
        self.ip, self.port, self.sock, self.thread = ip, port, None, None
        self.start()

    def start(self):
        if self.sock:
            return
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.ip, self.port))
        s.listen(128)
        s.settimeout(0.2)
        self.sock = s
        self.thread = threading.Thread(target=self._accept, args=(s,), daemon=True)
        self.thread.start()

    @staticmethod
    def _accept(s):
        while True:
            try:
                conn, _ = s.accept()
                conn.close()
            except socket.timeout:
                continue
            except OSError:
                return      # closed by stop()

    def stop(self):
        if self.sock:
            self.sock.close()
            self.sock = None
            self.thread.join(2)


class Replica:
    def __init__(self, cluster, name, extra, binary, env):
        self.cluster, self.name = cluster, name
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.log_path = os.path.join(cluster.dir, name + ".log")
        self.args = [binary] + cluster.flags(name) + [
            "--metrics-bind-address=127.0.0.1:%d" % self.metrics_port,
            "--health-probe-bind-address=127.0.0.1:%d" % self.health_port,
        ] + list(extra)
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": cluster.dir}
        # A sanitizer build takes its options from the test's run
        # (tests/run.py sets them; LeakSanitizer's exit scan stays off:
        # it ptraces, which every sandbox kills).
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        e.update(env or {})
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, env=e)
        self.pid = self.proc.pid
        self.seen = {}          # pid -> (start time, comm) below it

    def lines(self):
        out = []
        with open(self.log_path, "rb") as f:
            for raw in f:
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    out.append({"msg": raw.decode(errors="replace").strip()})
        return out

    def logged(self, msg):
        return [l for l in self.lines() if msg in l.get("msg", "")]

    def get(self, path, port=None):
        url = "http://127.0.0.1:%d%s" % (port or self.metrics_port, path)
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return None, ""

    def metric(self, name, **labels):
        status, body = self.get("/metrics")
        if status != 200:
            return None
        for line in body.splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, val = line.rpartition(" ")
            lname, _, lbl = head.partition("{")
            if lname != name:
                continue
            if all('%s="%s"' % kv in lbl for kv in labels.items()):
                return float(val)
        return None

    def logged_text(self, needle):
        """Raw log lines (JSON or not) that contain needle."""
        with open(self.log_path, "rb") as f:
            return [l for l in f.read().decode(errors="replace").splitlines()
                    if needle in l]

    def leading(self):
        return self.metric("stable_egressd_leader") == 1

    def workers(self):
        """{comm: pid} of the whole tree below the supervisor: the
        spawner and the workers it started."""
        if self.proc.poll() is not None:
            return {}
        return {comm(p): p for p in descendants(self.pid)}

    def track(self):
        """Remember the processes below the supervisor so close() can
        check they ended with it (a SIGKILLed supervisor's children are
        reparented and no longer found below it)."""
        if self.proc.poll() is None:
            for p, start in descendants_started(self.pid).items():
                self.seen[p] = (start, comm(p))

    def sig(self, sig):
        if self.proc.poll() is None:
            self.track()
            os.kill(self.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        self.track()
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Cluster:
    """Both fakes, three candidate nodes with health listeners."""

    def __init__(self, nodes=NODES, action_seconds=0.5, lease=(4, 3, 1),
                 grace="2s", start_labelled="node-a", fip_on="node-a",
                 tls=False, hcloud_args=(), rbac=None):
        self.dir = tempfile.mkdtemp(prefix="se-e2e-")
        self.lease_timing = lease
        self.grace = grace
        self.procs = []
        self.replicas = []
        self.health = {}
        self.port = free_port("127.0.0.11")
        kd, hd = os.path.join(self.dir, "kube"), os.path.join(self.dir, "hcloud")
        os.makedirs(kd)
        os.makedirs(hd)
        self._start_fake(["kube.py", "--dir", kd, "--bookmark-interval", "1"], kd)
        hargs = ["hcloud.py", "--dir", hd, "--action-seconds", str(action_seconds)]
        if tls:
            hargs.append("--tls")
        self._start_fake(hargs + list(hcloud_args), hd)
        self.kdir, self.hdir = kd, hd
        self.kadmin = self._read(kd, "admin-url")
        self.hadmin = self._read(hd, "admin-url")
        self.endpoint = self._read(hd, "endpoint")
        self.tls = tls
        # rbac: "base" (deploy/base) or a fixture: the fake API answers
        # 403 to anything those rules do not grant, and the Lease lives
        # where they allow it (the reference's namespace).
        self.lease_ns = RBAC_SA[0] if rbac else "default"
        if rbac:
            self.kube("POST", "/rbac", {
                "objects": rbac_objects(rbac),
                "serviceAccount": {"namespace": RBAC_SA[0],
                                   "name": RBAC_SA[1]}})
        self.fip = self.fip_by_name("egress-v4")
        for i, n in enumerate(nodes):
            self.add_node(n, "127.0.0.%d" % (11 + i), labelled=(n == start_labelled))
        if fip_on:
            self.put_fip(fip_on)
        grant(self.dir)

    # ---- fakes -----------------------------------------------------------
    def _start_fake(self, argv, d):
        with open(os.path.join(d, "fake.log"), "wb") as log:
            p = subprocess.Popen([sys.executable, os.path.join(FAKES, argv[0])] + argv[1:],
                                 stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        self.procs.append(p)
        wait_file(os.path.join(d, "ready"), 30, p)

    @staticmethod
    def _read(d, name):
        with open(os.path.join(d, name)) as f:
            return f.read().strip()

    def kube(self, method, path, body=None):
        return http(method, self.kadmin + path, body)

    def hc(self, method, path, body=None):
        return http(method, self.hadmin + path, body)

    def fip_by_name(self, name):
        for f in self.hc("GET", "/floating_ips")["floating_ips"]:
            if f["name"] == name:
                return f
        raise KeyError(name)

    def put_fip(self, node, name="egress-v4"):
        fid = self.fip_by_name(name)["id"]
        self.hc("PATCH", "/floating_ips/%d" % fid,
                {"server": SERVER_IDS[node] if node else None})

    def fip_node(self, name="egress-v4"):
        sid = self.fip_by_name(name)["server"]
        for n, s in SERVER_IDS.items():
            if s == sid:
                return n
        return None if sid is None else sid

    def add_node(self, name, ip, labelled=False, candidate=True):
        labels = {}
        if candidate:
            labels[CAND[0]] = CAND[1]
        if labelled:
            labels[ACTIVE[0]] = ACTIVE[1]
        sid = SERVER_IDS.setdefault(name, 2**40 + 10 + len(SERVER_IDS))
        self.kube("POST", "/nodes", {"name": name, "labels": labels,
                                     "providerID": "hcloud://%d" % sid,
                                     "internalIP": ip, "ready": "True"})
        self.health[name] = Health(ip, self.port)

    def patch_node(self, name, **fields):
        return self.kube("PATCH", "/nodes/" + name, fields)

    def labelled(self):
        out = []
        for n in self.kube("GET", "/nodes"):
            if n["metadata"].get("labels", {}).get(ACTIVE[0]) == ACTIVE[1]:
                out.append(n["metadata"]["name"])
        return sorted(out)

    def label_history(self):
        return self.kube("GET", "/label-history?key=%s&value=%s" % ACTIVE)

    def max_labelled(self):
        return max([len(h["nodes"]) for h in self.label_history()] or [0])

    def kube_requests(self, path=None):
        return self.kube("GET", "/requests" + ("?path=" + path if path else ""))

    def hc_requests(self):
        return self.hc("GET", "/requests")["requests"]

    def writes(self):
        """Label patches and assign POSTs, in time order."""
        out = []
        for r in self.kube_requests("/api/v1/nodes/"):
            if r["method"] == "PATCH" and r.get("authorized", True):
                out.append((r["time"], "label", r["path"].rsplit("/", 1)[-1], r.get("body")))
        for r in self.hc_requests():
            if r["method"] == "POST" and r["path"].endswith("/actions/assign"):
                out.append((r["time_wall"], "assign", r["path"], r.get("body")))
        return sorted(out, key=lambda w: w[0])

    # ---- replicas --------------------------------------------------------
    def flags(self, name):
        ld, rd, rp = self.lease_timing
        f = ["--kubeconfig=" + os.path.join(self.kdir, "kubeconfig"),
             "--hcloud-endpoint=" + self.endpoint,
             "--hcloud-token-path=" + os.path.join(self.hdir, "token"),
             "--floating-ip-name=egress-v4",
             "--node-health-port=%d" % self.port,
             "--node-health-interval=200ms", "--node-health-timeout=300ms",
             "--node-unhealthy-grace-period=" + self.grace,
             "--leader-elect-lease-duration=%ds" % ld,
             "--leader-elect-renew-deadline=%ds" % rd,
             "--leader-elect-retry-period=%ss" % rp,
             "--leader-elect-resource-namespace=" + self.lease_ns,
             "--prepared-pod-label=", "--resync-interval=5s",
             "--identity=" + name, "--log-level=debug"] + user_flags()
        if self.tls:
            f.append("--hcloud-ca-file=" + os.path.join(self.hdir, "ca.pem"))
        return f

    def replica(self, name, extra=(), binary=BIN, env=None):
        r = Replica(self, name, extra, binary, env)
        self.replicas.append(r)
        return r

    def leader(self):
        for r in self.replicas:
            if r.proc.poll() is None and r.leading():
                return r
        return None

    def lease(self):
        for l in self.kube("GET", "/leases"):
            if l["metadata"]["name"] == "stable-egress-controller.tuist.dev":
                return l
        return None

    def forbidden(self):
        """API requests the fake refused with 403 (RBAC)."""
        return [(r["method"], r["path"]) for r in self.kube_requests()
                if r["status"] == 403]

    def secrets_in_logs(self):
        """Names of the logs (replicas' and fakes' output, and the fakes'
        request logs) that contain either token: never a secret in a log
        line."""
        toks = []
        for d in (self.kdir, self.hdir):
            with open(os.path.join(d, "token"), "rb") as f:
                toks.append(f.read().strip())
        logs = [(r.name, r.log_path) for r in self.replicas]
        logs += [("kube fake", os.path.join(self.kdir, "fake.log")),
                 ("hcloud fake", os.path.join(self.hdir, "fake.log"))]
        bad = []
        for name, path in logs:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            bad += [name for t in toks if t and t in data]
        if all(p.poll() is None for p in self.procs):
            for name, get in (("kube fake requests", self.kube_requests),
                              ("hcloud fake requests", self.hc_requests)):
                data = json.dumps(get()).encode()
                bad += [name for t in toks if t and t in data]
        return bad

    @staticmethod
    def wait(cond, timeout, step=0.05):
        end = time.monotonic() + timeout
        while True:
            v = cond()
            if v:
                return v
            if time.monotonic() >= end:
                return v
            time.sleep(step)

    def leftovers(self, timeout=5):
        """Processes below any replica (workers, spawner) still running
        once it stopped, after a short wait: each ends with its
        supervisor."""
        seen = {}
        for r in self.replicas:
            seen.update({p: (v[0], v[1], r.name) for p, v in r.seen.items()})
        end = time.monotonic() + timeout
        while True:
            left = {p: v for p, v in seen.items() if alive(p, v[0])}
            if not left or time.monotonic() >= end:
                return left
            time.sleep(0.05)

    def close(self):
        """Stops everything; then fails (AssertionError) when a worker or
        spawner outlived its supervisor or a token reached a log."""
        problems = []
        try:
            leaked = self.secrets_in_logs()
            if leaked:
                problems.append("a token reached a log: %s" % leaked)
        except Exception as e:      # a fake already gone: checked below
            problems.append("token check failed: %r" % e)
        for r in self.replicas:
            r.stop(signal.SIGKILL if r.proc.poll() is None else signal.SIGTERM)
        left = self.leftovers()
        for p, (start, name, rname) in left.items():
            problems.append("%s (pid %d, of %s) still running after its "
                            "supervisor stopped" % (name, p, rname))
            if alive(p, start):
                os.kill(p, signal.SIGKILL)      # ours: started below r
        for h in self.health.values():
            h.stop()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if os.environ.get("SE_KEEP_E2E") is None and not problems:
            shutil.rmtree(self.dir, ignore_errors=True)
        if problems:
            raise AssertionError("; ".join(problems) + " (kept %s)" % self.dir)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
