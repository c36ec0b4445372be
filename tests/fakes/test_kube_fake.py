#!/usr/bin/env python3
"""test_kube_fake.py: the fake Kubernetes API server behaves like a real one.

Driven by kubectl (skipped, with the reason printed, when it is missing) and
by a small HTTPS client. One fake per TestCase class; every test is bounded
by an alarm and talks only to 127.0.0.1.

    python3 -m unittest tests/fakes/test_kube_fake.py -v
"""

import base64
import http.client
import json
import os
import queue
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kube import ApiError, FakeKube  # noqa: E402

TEST_TIMEOUT = 30      # seconds for any one test
KUBECTL = shutil.which("kubectl")


def setUpModule():
    if KUBECTL is None:
        print("test_kube_fake: kubectl not found, kubectl tests skipped",
              file=sys.stderr)


class Client:
    """Minimal HTTPS API client: keep-alive connection, bearer token."""

    def __init__(self, fake):
        self.fake = fake
        self.ctx = ssl.create_default_context(cafile=fake.ca_path)
        self.conn = None

    def connect(self, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.fake.api_port,
                                           context=self.ctx, timeout=timeout)

    def request(self, method, path, body=None, ctype=None, token=None,
                headers=None):
        """(status, response, body bytes) over one keep-alive connection;
        token defaults to the fake's current one, "" sends none."""
        hdrs = dict(headers or {})
        tok = self.fake.token if token is None else token
        if tok:
            hdrs["Authorization"] = "Bearer " + tok
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        if ctype:
            hdrs["Content-Type"] = ctype
        if self.conn is None:
            self.conn = self.connect()
        self.conn.request(method, path, body=body, headers=hdrs)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.will_close:
            self.close()
        return resp.status, resp, data

    def json(self, method, path, body=None, ctype="application/json",
             **kw):
        status, _, data = self.request(method, path, body,
                                       ctype if body is not None else None,
                                       **kw)
        return status, json.loads(data) if data else None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Watch:
    """A watch stream read the way a careful client must: buffer the
    chunked body and split on newlines, never one event per read."""

    def __init__(self, client, path, timeout=10):
        self.conn = client.connect(timeout)
        self.conn.request("GET", path, headers={
            "Authorization": "Bearer " + client.fake.token})
        self.resp = self.conn.getresponse()
        self.buf = b""
        self.ended = False

    def next(self):
        """The next event, or None once the stream ended."""
        while b"\n" not in self.buf:
            if self.ended:
                return None
            data = self.resp.read1(65536)
            if not data:
                self.ended = True
                continue
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def take(self, n):
        return [self.next() for _ in range(n)]

    def until(self, pred, limit=50):
        """Events up to and including the first one pred accepts."""
        seen = []
        for _ in range(limit):
            ev = self.next()
            seen.append(ev)
            if ev is None or pred(ev):
                return seen
        raise AssertionError("no matching event in %r" % seen)

    def close(self):
        self.conn.close()


def admin(fake, method, path, body=None):
    req = urllib.request.Request(
        fake.admin_url + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class FakeTestCase(unittest.TestCase):
    """Starts one fake for the class; each test gets an alarm."""

    fake_args = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kube-fake-")
        cls.fake = FakeKube(os.path.join(cls.tmp, "fake"),
                            **cls.fake_args).start()
        cls.client = Client(cls.fake)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.fake.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        def expire(*_):
            raise TimeoutError("test took longer than %d s" % TEST_TIMEOUT)
        signal.signal(signal.SIGALRM, expire)
        signal.alarm(TEST_TIMEOUT)
        self.fake.clear_faults()
        self.fake.set_config(bookmark_interval=1.0)

    def tearDown(self):
        signal.alarm(0)

    def node(self, name, **fields):
        """A fresh node (re-created if a previous test left one)."""
        try:
            self.fake.delete_node(name)
        except ApiError:
            pass
        return self.fake.create_node(dict(fields, name=name))

    def wait_watches(self, n, at_most=False):
        """Wait until the fake has at least (or at most) n open watches."""
        deadline = time.monotonic() + 10
        while (self.fake.state()["watches"] > n) if at_most else \
                (self.fake.state()["watches"] < n):
            self.assertLess(time.monotonic(), deadline, "watch not open")
            time.sleep(0.02)

    def status_of(self, data, code, reason):
        self.assertEqual(data["kind"], "Status", data)
        self.assertEqual(data["code"], code, data)
        self.assertEqual(data["reason"], reason, data)


@unittest.skipIf(KUBECTL is None, "kubectl not installed: kubectl tests "
                 "skipped (the build installs it)")
class KubectlTest(FakeTestCase):
    """kubectl against the fake, with flags that kubectl 1.20 has."""

    fake_args = {"nodes": 3}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.home = os.path.join(cls.tmp, "home")
        os.makedirs(cls.home)

    def kubectl(self, *args, check=True, timeout=20):
        env = dict(os.environ, HOME=self.home)
        env.pop("KUBECONFIG", None)
        proc = subprocess.run(
            [KUBECTL, "--kubeconfig", self.fake.kubeconfig_path] +
            list(args), env=env, capture_output=True, text=True,
            timeout=timeout)
        if check:
            self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc

    def names(self, selector):
        out = self.kubectl("get", "nodes", "-l", selector, "-o", "name")
        return sorted(line.split("/", 1)[1] for line in
                      out.stdout.split())

    def test_get_nodes(self):
        out = self.kubectl("get", "nodes").stdout
        self.assertIn("NAME", out)
        for n in ("node-00000", "node-00001", "node-00002"):
            self.assertIn(n, out)
        self.assertIn("Ready", out)
        doc = json.loads(self.kubectl("get", "node", "node-00000", "-o",
                                      "json").stdout)
        self.assertEqual(doc["kind"], "Node")
        self.assertTrue(doc["spec"]["providerID"].startswith("hcloud://"))

    def test_label_and_overwrite(self):
        self.node("kl-a")
        self.kubectl("label", "node", "kl-a", "example.com/state=one")
        refused = self.kubectl("label", "node", "kl-a",
                               "example.com/state=two", check=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("--overwrite", refused.stderr)
        self.kubectl("label", "--overwrite", "node", "kl-a",
                     "example.com/state=two")
        labels = self.client.json("GET", "/api/v1/nodes/kl-a")[1][
            "metadata"]["labels"]
        self.assertEqual(labels["example.com/state"], "two")
        self.kubectl("label", "node", "kl-a", "example.com/state-")
        labels = self.client.json("GET", "/api/v1/nodes/kl-a")[1][
            "metadata"]["labels"]
        self.assertNotIn("example.com/state", labels)

    def test_selector_forms(self):
        self.node("sel-a", labels={"tier": "a", "zone": "x"})
        self.node("sel-b", labels={"tier": "b"})
        self.node("sel-c", labels={"tier": "c", "zone": "y"})
        all_sel = ["sel-a", "sel-b", "sel-c"]
        self.assertEqual(self.names("tier=a"), ["sel-a"])
        self.assertEqual(self.names("tier==b"), ["sel-b"])
        self.assertEqual([n for n in self.names("tier!=a") if n in all_sel],
                         ["sel-b", "sel-c"])
        self.assertEqual(self.names("tier in (a, c)"), ["sel-a", "sel-c"])
        self.assertEqual([n for n in self.names("tier notin (a,c)")
                          if n in all_sel], ["sel-b"])
        # != and notin also match nodes without the key.
        self.assertEqual([n for n in self.names("zone!=x") if n in all_sel],
                         ["sel-b", "sel-c"])
        self.assertEqual([n for n in self.names("zone notin (y)")
                          if n in all_sel], ["sel-a", "sel-b"])
        self.assertEqual(self.names("zone"), ["sel-a", "sel-c"])
        self.assertEqual([n for n in self.names("!zone") if n in all_sel],
                         ["sel-b"])
        self.assertEqual(self.names("tier,zone=y"), ["sel-c"])
        bad = self.kubectl("get", "nodes", "-l", "tier in (a", check=False)
        self.assertNotEqual(bad.returncode, 0)

    def test_watch_sees_change(self):
        self.node("kw-a", labels={"kw": "1"})
        env = dict(os.environ, HOME=self.home)
        proc = subprocess.Popen(
            [KUBECTL, "--kubeconfig", self.fake.kubeconfig_path, "get",
             "nodes", "-l", "kw=1", "-w", "--request-timeout", "20s", "-o",
             "jsonpath={.metadata.name}:{.metadata.labels.watched}{\"\\n\"}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in
                                         proc.stdout], daemon=True).start()
        try:
            self.assertEqual(lines.get(timeout=15).strip(), "kw-a:")
            self.wait_watches(1)
            self.fake.patch_node("kw-a", {"labels": {"watched": "yes"}})
            self.assertEqual(lines.get(timeout=15).strip(), "kw-a:yes")
        finally:
            proc.kill()
            proc.communicate(timeout=10)

    def test_lease_create_and_stale_replace(self):
        path = os.path.join(self.tmp, "lease.yaml")
        with open(path, "w") as f:
            f.write("apiVersion: coordination.k8s.io/v1\nkind: Lease\n"
                    "metadata:\n  name: kubectl-lease\n  namespace: ops\n"
                    "spec:\n  holderIdentity: pod-a_1\n"
                    "  leaseDurationSeconds: 15\n"
                    "  renewTime: \"2026-03-01T10:04:58.517204Z\"\n")
        out = self.kubectl("create", "-f", path).stdout
        self.assertIn("created", out)
        again = self.kubectl("create", "-f", path, check=False)
        self.assertIn("AlreadyExists", again.stderr)
        current = self.kubectl("get", "lease", "kubectl-lease", "-n", "ops",
                               "-o", "yaml").stdout
        self.assertIn("holderIdentity: pod-a_1", current)
        stale = os.path.join(self.tmp, "stale.yaml")
        with open(stale, "w") as f:
            f.write(current.replace("pod-a_1", "pod-b_2"))
        self.fake.set_lease("ops", "kubectl-lease",
                            {"holderIdentity": "pod-c_3",
                             "leaseDurationSeconds": 15})
        refused = self.kubectl("replace", "-f", stale, check=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("Conflict", refused.stderr)
        self.assertIn("the object has been modified", refused.stderr)
        fresh = self.kubectl("get", "lease", "kubectl-lease", "-n", "ops",
                             "-o", "yaml").stdout
        with open(stale, "w") as f:
            f.write(fresh.replace("pod-c_3", "pod-b_2"))
        self.assertIn("replaced", self.kubectl("replace", "-f",
                                               stale).stdout)

    def test_wrong_token_refused(self):
        out = self.kubectl("--token", "not-the-token", "get", "nodes",
                           check=False)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("Unauthorized", out.stderr)


class ApiTest(FakeTestCase):
    """Reads, writes, validation and errors over HTTPS."""

    def test_discovery(self):
        c = self.client
        self.assertEqual(c.json("GET", "/version")[1]["major"], "1")
        self.assertEqual(c.json("GET", "/api")[1]["versions"], ["v1"])
        names = {r["name"] for r in c.json("GET", "/api/v1")[1]["resources"]}
        self.assertTrue({"nodes", "pods", "events", "namespaces"} <= names)
        groups = {g["name"] for g in c.json("GET", "/apis")[1]["groups"]}
        self.assertEqual(groups, {"coordination.k8s.io", "events.k8s.io"})
        self.assertEqual(c.json("GET", "/apis/coordination.k8s.io")[1]
                         ["preferredVersion"]["version"], "v1")
        res = c.json("GET", "/apis/coordination.k8s.io/v1")[1]["resources"]
        self.assertEqual(res[0]["kind"], "Lease")
        self.assertEqual(c.json("GET", "/apis/events.k8s.io/v1")[1]
                         ["resources"][0]["name"], "events")
        self.assertEqual(c.json("GET", "/openapi/v2")[1]["swagger"], "2.0")
        for ns in ("default", "kube-system", "anything-else"):
            st, doc = c.json("GET", "/api/v1/namespaces/" + ns)
            self.assertEqual((st, doc["kind"], doc["metadata"]["name"]),
                             (200, "Namespace", ns))
        st, doc = c.json("GET", "/api/v1/widgets")
        self.assertEqual(st, 404)
        self.status_of(doc, 404, "NotFound")

    def test_authentication(self):
        for tok in ("", "wrong"):
            st, _, body = self.client.request("GET", "/api/v1/nodes",
                                              token=tok)
            self.assertEqual(st, 401)
            self.status_of(json.loads(body), 401, "Unauthorized")
            self.assertEqual(json.loads(body)["message"], "Unauthorized")
        st, _, _ = self.client.request(
            "GET", "/version", token="x",
            headers={"Authorization": "Basic " + self.fake.token})
        self.assertEqual(st, 401)

    def test_list_get_shapes(self):
        self.node("shape-a", externalIP="127.3.0.1", ready="False")
        st, lst = self.client.json("GET", "/api/v1/nodes")
        self.assertEqual((st, lst["kind"], lst["apiVersion"]),
                         (200, "NodeList", "v1"))
        self.assertIsInstance(lst["metadata"]["resourceVersion"], str)
        item = next(i for i in lst["items"]
                    if i["metadata"]["name"] == "shape-a")
        self.assertNotIn("kind", item)
        self.assertNotIn("apiVersion", item)
        st, node = self.client.json("GET", "/api/v1/nodes/shape-a")
        self.assertEqual((node["kind"], node["apiVersion"]), ("Node", "v1"))
        ready = [c for c in node["status"]["conditions"]
                 if c["type"] == "Ready"][0]
        self.assertEqual(ready["status"], "False")
        self.assertIn("lastHeartbeatTime", ready)
        self.assertIn("lastTransitionTime", ready)
        types = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        self.assertEqual(types["ExternalIP"], "127.3.0.1")
        self.assertTrue(types["InternalIP"].startswith("127."))
        self.assertEqual(types["Hostname"], "shape-a")
        taints = {(t["key"], t["effect"]) for t in node["spec"]["taints"]}
        self.assertIn(("node.kubernetes.io/not-ready", "NoExecute"), taints)
        self.assertIn("kubeletVersion", node["status"]["nodeInfo"])
        st, err = self.client.json("GET", "/api/v1/nodes/absent")
        self.assertEqual(err["message"], 'nodes "absent" not found')
        self.status_of(err, 404, "NotFound")

    def patch(self, name, body, ctype="application/merge-patch+json"):
        return self.client.json("PATCH", "/api/v1/nodes/" + name, body,
                                ctype)

    def test_merge_patch_and_noop(self):
        self.node("mp-a")
        st, n = self.patch("mp-a", {"metadata": {"labels": {
            "example.com/state": "healthy"}}})
        self.assertEqual(st, 200)
        self.assertEqual(n["metadata"]["labels"]["example.com/state"],
                         "healthy")
        rv = n["metadata"]["resourceVersion"]
        st, same = self.patch("mp-a", {"metadata": {"labels": {
            "example.com/state": "healthy"}}})
        self.assertEqual(same["metadata"]["resourceVersion"], rv)
        st, n = self.patch("mp-a", {"metadata": {"labels": {
            "example.com/state": None}}})
        self.assertNotIn("example.com/state", n["metadata"]["labels"])
        self.assertNotEqual(n["metadata"]["resourceVersion"], rv)
        st, n = self.patch("mp-a", {"metadata": {"labels": {"k": "v"}}},
                           "application/strategic-merge-patch+json")
        self.assertEqual((st, n["metadata"]["labels"]["k"]), (200, "v"))
        st, n = self.patch("mp-a", {"spec": {"unschedulable": True}},
                           "application/strategic-merge-patch+json")
        self.assertTrue(n["spec"]["unschedulable"])
        st, err = self.patch("mp-a", {"a": 1}, "application/apply-patch+yaml")
        self.assertEqual(st, 415)
        self.status_of(err, 415, "UnsupportedMediaType")
        st, err = self.patch("absent", {"metadata": {}})
        self.assertEqual(st, 404)

    def test_rv_precondition(self):
        n = self.node("rv-a")
        rv = n["metadata"]["resourceVersion"]
        st, ok = self.patch("rv-a", {"metadata": {"resourceVersion": rv,
                                                  "labels": {"x": "1"}}})
        self.assertEqual(st, 200)
        st, err = self.patch("rv-a", {"metadata": {"resourceVersion": rv,
                                                   "labels": {"x": "2"}}})
        self.assertEqual(st, 409)
        self.status_of(err, 409, "Conflict")
        self.assertEqual(err["message"], 'Operation cannot be fulfilled on '
                         'nodes "rv-a": the object has been modified; please '
                         'apply your changes to the latest version and try '
                         'again')
        self.assertEqual(err["details"], {"name": "rv-a", "kind": "nodes"})

    def test_json_patch(self):
        n = self.node("jp-a")
        rv = n["metadata"]["resourceVersion"]
        jp = "application/json-patch+json"
        st, out = self.patch("jp-a", [
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "add", "path": "/metadata/labels/example.com~1state",
             "value": "healthy"}], jp)
        self.assertEqual(st, 200, out)
        self.assertEqual(out["metadata"]["labels"]["example.com/state"],
                         "healthy")
        st, err = self.patch("jp-a", [
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "add", "path": "/metadata/labels/x", "value": "y"}], jp)
        self.assertEqual(st, 422)
        self.status_of(err, 422, "Invalid")
        self.assertEqual(err["message"], "the server rejected our request "
                         "due to an error in our request")
        st, err = self.patch("jp-a", [
            {"op": "remove", "path": "/metadata/labels/not-there"}], jp)
        self.assertEqual(st, 422)
        st, out = self.patch("jp-a", [
            {"op": "remove", "path": "/metadata/labels/example.com~1state"}],
            jp)
        self.assertNotIn("example.com/state", out["metadata"]["labels"])
        st, err = self.patch("jp-a", {"op": "add"}, jp)
        self.assertEqual(st, 400)

    def test_label_validation(self):
        self.node("lv-a")
        for labels in ({"bad key!": "v"}, {"k": "bad value!"},
                       {"k": "x" * 64}, {"a/b/c": "v"}):
            st, err = self.patch("lv-a", {"metadata": {"labels": labels}})
            self.assertEqual(st, 422, labels)
            self.status_of(err, 422, "Invalid")
            self.assertTrue(err["message"].startswith('Node "lv-a" is '
                                                      'invalid: '))
            self.assertEqual(err["details"]["causes"][0]["field"],
                             "metadata.labels")
        st, err = self.patch("lv-a", {"metadata": {"labels": {"k": 5}}})
        self.assertEqual(st, 400)

    def test_put_node(self):
        n = self.node("put-a")
        n["metadata"]["labels"]["put"] = "1"
        st, out = self.client.json("PUT", "/api/v1/nodes/put-a", n)
        self.assertEqual((st, out["metadata"]["labels"]["put"]), (200, "1"))
        st, err = self.client.json("PUT", "/api/v1/nodes/put-a", n)
        self.assertEqual(st, 409)
        del n["metadata"]["resourceVersion"]
        st, out = self.client.json("PUT", "/api/v1/nodes/put-a", n)
        self.assertEqual(st, 200)

    def test_delete_with_finalizers(self):
        self.node("del-a", finalizers=["example.com/keep"])
        st, out = self.client.json("DELETE", "/api/v1/nodes/del-a")
        self.assertEqual(st, 200)
        self.assertIn("deletionTimestamp", out["metadata"])
        st, out = self.patch("del-a", {"metadata": {"finalizers": [
            "example.com/keep", "example.com/new"]}})
        self.assertEqual(st, 422)
        st, out = self.patch("del-a", {"metadata": {"finalizers": None}})
        self.assertEqual(st, 200)
        st, _ = self.client.json("GET", "/api/v1/nodes/del-a")
        self.assertEqual(st, 404)
        self.node("del-b")
        st, out = self.client.json("DELETE", "/api/v1/nodes/del-b")
        self.assertEqual((st, out["status"]), (200, "Success"))

    def lease(self, name, **spec):
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name}, "spec": spec}

    def test_leases(self):
        c = self.client
        base = "/apis/coordination.k8s.io/v1/namespaces/ops/leases"
        st, err = c.json("GET", base + "/le")
        self.assertEqual(st, 404)
        self.assertEqual(err["message"],
                         'leases.coordination.k8s.io "le" not found')
        now = "2026-03-01T10:04:58.517204Z"
        body = self.lease("le", holderIdentity="a", leaseDurationSeconds=15,
                          acquireTime=now, renewTime=now, leaseTransitions=0)
        st, le = c.json("POST", base, body)
        self.assertEqual(st, 201, le)
        self.assertEqual(le["spec"]["renewTime"], now)
        st, err = c.json("POST", base, body)
        self.assertEqual(st, 409)
        self.status_of(err, 409, "AlreadyExists")
        self.assertEqual(err["message"],
                         'leases.coordination.k8s.io "le" already exists')
        self.assertEqual(err["details"], {"name": "le", "group":
                                          "coordination.k8s.io",
                                          "kind": "leases"})
        le["spec"]["holderIdentity"] = "b"
        st, le2 = c.json("PUT", base + "/le", le)
        self.assertEqual(st, 200)
        st, err = c.json("PUT", base + "/le", le)
        self.assertEqual(st, 409)
        self.status_of(err, 409, "Conflict")
        del le["metadata"]["resourceVersion"]
        st, err = c.json("PUT", base + "/le", le)
        self.assertEqual(st, 422)
        self.assertIn("must be specified for an update", err["message"])
        st, _, out = c.request("POST", base, json.dumps(body).encode(),
                               "application/x-www-form-urlencoded")
        self.assertEqual(st, 415)
        st, made = c.json("PUT", base + "/made-by-put",
                          self.lease("made-by-put", holderIdentity="x"))
        self.assertEqual(st, 201)
        for bad in ("2026-03-01T10:04:58.517Z", "2026-03-01T10:04:58Z",
                    "2026-03-01T10:04:58.517204123Z", "yesterday"):
            st, err = c.json("POST", base, self.lease("t", renewTime=bad))
            self.assertEqual(st, 400, bad)
            self.status_of(err, 400, "BadRequest")
            self.assertIn("cannot be handled as a Lease", err["message"])
        st, ok = c.json("POST", base, self.lease("nulls", renewTime=None))
        self.assertEqual(st, 201)
        st, err = c.json("POST", base, self.lease("zero",
                                                  leaseDurationSeconds=0))
        self.assertEqual(st, 422)
        self.status_of(err, 422, "Invalid")
        st, lst = c.json("GET", base)
        self.assertEqual(lst["kind"], "LeaseList")
        self.assertIn("le", [i["metadata"]["name"] for i in lst["items"]])

    def event(self, **over):
        ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
              "metadata": {"name": "n1.1826f0a7b3c4d5e6"},
              "eventTime": "2026-03-01T10:05:00.000000Z",
              "reportingController": "example.com/node-labeler",
              "reportingInstance": "node-labeler-7d9f-abcde",
              "action": "Label", "reason": "LabelApplied", "type": "Normal",
              "regarding": {"apiVersion": "v1", "kind": "Node",
                            "name": "n1"},
              "note": "set example.com/state=healthy"}
        ev.update(over)
        return ev

    def test_events(self):
        c = self.client
        url = "/apis/events.k8s.io/v1/namespaces/%s/events"
        st, ev = c.json("POST", url % "default", self.event())
        self.assertEqual(st, 201, ev)
        self.assertEqual(ev["note"], "set example.com/state=healthy")
        st, _ = c.json("POST", url % "kube-system", self.event())
        self.assertEqual(st, 201)
        bad = [{"reportingController": ""}, {"reportingInstance": "x" * 129},
               {"action": ""}, {"reason": "r" * 129}, {"type": "Info"},
               {"note": "n" * 1025}, {"eventTime": None}]
        for over in bad:
            st, err = c.json("POST", url % "default", self.event(
                metadata={"name": "bad.1"}, **over))
            self.assertEqual(st, 422, over)
            self.status_of(err, 422, "Invalid")
        st, err = c.json("POST", url % "ops", self.event(
            metadata={"name": "bad.2"}))
        self.assertEqual(st, 422)
        st, err = c.json("POST", url % "default", self.event(
            metadata={"name": "bad.3"}, eventTime="2026-03-01T10:05:00Z"))
        self.assertEqual(st, 400)
        core = {"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": "n1.core"},
                "involvedObject": {"kind": "Node", "name": "n1"},
                "reason": "LabelApplied", "message": "m", "type": "Normal",
                "source": {"component": "labeler"}, "count": 1}
        st, out = c.json("POST", "/api/v1/namespaces/default/events", core)
        self.assertEqual(st, 201, out)
        names = {e["metadata"]["name"] for e in self.fake.events()}
        self.assertTrue({"n1.1826f0a7b3c4d5e6", "n1.core"} <= names)
        st, lst = c.json("GET", "/api/v1/namespaces/default/events")
        self.assertEqual(lst["kind"], "EventList")
        st, one = c.json("GET", (url % "default") + "/n1.core")
        self.assertEqual((one["note"], one["regarding"]["name"]), ("m", "n1"))

    def test_paging(self):
        for i in range(7):
            self.node("page-%d" % i, labels={"paging": "yes"})
        path = "/api/v1/nodes?labelSelector=paging%3Dyes&limit=3"
        st, p1 = self.client.json("GET", path)
        self.assertEqual(len(p1["items"]), 3)
        token = p1["metadata"]["continue"]
        self.fake.patch_node("page-6", {"labels": {"paging": None}})
        st, p2 = self.client.json("GET", path + "&continue=" + token)
        st, p3 = self.client.json("GET", path + "&continue=" +
                                  p2["metadata"]["continue"])
        names = [i["metadata"]["name"] for p in (p1, p2, p3)
                 for i in p["items"]]
        self.assertEqual(names, ["page-%d" % i for i in range(7)])
        self.assertEqual(p1["metadata"]["resourceVersion"],
                         p3["metadata"]["resourceVersion"])
        self.assertNotIn("continue", p3["metadata"])
        st, q = self.client.json("GET", "/api/v1/nodes?limit=2")
        self.assertGreater(q["metadata"]["remainingItemCount"], 0)
        st, err = self.client.json("GET", path + "&continue=" + token +
                                   "&resourceVersion=5")
        self.assertEqual(st, 400)
        self.fake.add_fault({"expire_continue": True})
        st, err = self.client.json("GET", path + "&continue=" + token)
        self.assertEqual(st, 410)
        self.status_of(err, 410, "Expired")
        self.assertTrue(err["metadata"]["continue"])
        st, err = self.client.json("GET", path + "&continue=garbage!")
        self.assertEqual(st, 400)

    def test_list_resource_versions(self):
        n = self.node("lrv-a")
        rv = int(n["metadata"]["resourceVersion"])
        self.fake.patch_node("lrv-a", {"labels": {"later": "1"}})
        st, old = self.client.json(
            "GET", "/api/v1/nodes?resourceVersion=%d&resourceVersionMatch="
            "Exact" % rv)
        self.assertEqual(st, 200)
        item = [i for i in old["items"] if i["metadata"]["name"] ==
                "lrv-a"][0]
        self.assertNotIn("later", item["metadata"]["labels"])
        st, err = self.client.json(
            "GET", "/api/v1/nodes?resourceVersion=99999999&limit=5")
        self.assertEqual(st, 504)
        st, err = self.client.json("GET", "/api/v1/nodes?resourceVersionMatch"
                                   "=Exact")
        self.assertEqual(st, 422)
        self.assertIn("resourceVersionMatch is forbidden unless",
                      err["message"])
        self.fake.add_fault({"compact": True})
        st, err = self.client.json(
            "GET", "/api/v1/nodes?resourceVersion=%d&limit=5" % rv)
        self.assertEqual(st, 410)
        self.status_of(err, 410, "Expired")

    def test_selectors_over_http(self):
        self.node("hs-a", labels={"k": "v1"})
        self.node("hs-b", labels={"k": "v2"}, unschedulable=True)
        self.node("hs-c")

        def names(qs):
            st, lst = self.client.json("GET", "/api/v1/nodes?" + qs)
            self.assertEqual(st, 200, lst)
            return sorted(i["metadata"]["name"] for i in lst["items"]
                          if i["metadata"]["name"].startswith("hs-"))
        q = urllib.parse.quote
        self.assertEqual(names("labelSelector=" + q("k  in ( v1 , v2 )")),
                         ["hs-a", "hs-b"])
        self.assertEqual(names("labelSelector=" + q("k notin (v1)")),
                         ["hs-b", "hs-c"])
        self.assertEqual(names("labelSelector=k%21%3Dv2"), ["hs-a", "hs-c"])
        self.assertEqual(names("labelSelector=" + q("!k")), ["hs-c"])
        self.assertEqual(names("fieldSelector=spec.unschedulable%3Dtrue"),
                         ["hs-b"])
        self.assertEqual(names("fieldSelector=metadata.name!%3Dhs-a"),
                         ["hs-b", "hs-c"])
        self.assertEqual(names("labelSelector=" + q("k==")), [])
        for bad in ("k in (v1", "=v", "k notin ()", "a b", "k=bad value"):
            st, err = self.client.json("GET", "/api/v1/nodes?labelSelector="
                                       + q(bad))
            self.assertEqual(st, 400, bad)
            self.status_of(err, 400, "BadRequest")
        st, err = self.client.json("GET", "/api/v1/nodes?fieldSelector="
                                   "status.phase%3DX")
        self.assertEqual(st, 400)
        self.assertEqual(err["message"],
                         "field label not supported: status.phase")

    def test_pods(self):
        self.node("pod-node")
        self.fake.create_pod({"namespace": "kube-system", "name": "hc-1",
                              "nodeName": "pod-node", "ready": False,
                              "labels": {"app": "hc"}})
        self.fake.create_pod({"namespace": "kube-system", "name": "hc-2",
                              "nodeName": "elsewhere",
                              "labels": {"app": "hc"}})
        st, lst = self.client.json(
            "GET", "/api/v1/namespaces/kube-system/pods?labelSelector=app%3D"
            "hc&fieldSelector=spec.nodeName%3Dpod-node")
        self.assertEqual([p["metadata"]["name"] for p in lst["items"]],
                         ["hc-1"])
        pod = lst["items"][0]
        ready = [c for c in pod["status"]["conditions"]
                 if c["type"] == "Ready"][0]
        self.assertEqual(ready["status"], "False")
        self.assertTrue(pod["status"]["hostIP"].startswith("127."))
        self.fake.patch_pod("kube-system", "hc-1", {"ready": True})
        st, p = self.client.json("GET",
                                 "/api/v1/namespaces/kube-system/pods/hc-1")
        self.assertEqual([c["status"] for c in p["status"]["conditions"]
                          if c["type"] == "Ready"], ["True"])
        st, lst = self.client.json("GET", "/api/v1/pods?fieldSelector="
                                   "status.phase%3DRunning,metadata."
                                   "namespace%3Dkube-system")
        self.assertEqual(len(lst["items"]), 2)
        st, err = self.client.json("GET", "/api/v1/pods?fieldSelector="
                                   "spec.bogus%3D1")
        self.assertEqual(err["message"], "field label not supported: "
                         "spec.bogus")
        st, err = self.client.json("POST", "/api/v1/namespaces/default/pods",
                                   {"metadata": {"name": "x"}})
        self.assertEqual(st, 405)


class WatchTest(FakeTestCase):
    """Watch streams: start points, bookmarks, transitions, endings."""

    def watch(self, query, path="/api/v1/nodes"):
        w = Watch(self.client, path + "?watch=true&" + query)
        self.addCleanup(w.close)
        return w

    def current_rv(self):
        return self.client.json("GET", "/api/v1/nodes?limit=1")[1][
            "metadata"]["resourceVersion"]

    def test_initial_added_then_changes(self):
        self.node("w-init", labels={"grp": "init"})
        w = self.watch("labelSelector=grp%3Dinit&timeoutSeconds=10")
        ev = w.next()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]),
                         ("ADDED", "w-init"))
        self.assertEqual(ev["object"]["kind"], "Node")
        self.assertEqual(ev["object"]["apiVersion"], "v1")
        self.fake.patch_node("w-init", {"ready": "Unknown"})
        ev = w.next()
        self.assertEqual(ev["type"], "MODIFIED")
        self.fake.delete_node("w-init")
        ev = w.next()
        self.assertEqual(ev["type"], "DELETED")
        w.close()

    def test_resume_sees_only_later_changes(self):
        self.node("w-res-a", labels={"grp": "res"})
        rv = self.current_rv()
        self.node("w-res-b", labels={"grp": "res"})
        w = self.watch("labelSelector=grp%3Dres&resourceVersion=" + rv)
        ev = w.next()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]),
                         ("ADDED", "w-res-b"))
        self.assertGreater(int(ev["object"]["metadata"]["resourceVersion"]),
                           int(rv))
        w.close()

    def test_bookmarks(self):
        self.fake.set_config(bookmark_interval=0.2)
        rv = self.current_rv()
        w = self.watch("allowWatchBookmarks=true&timeoutSeconds=1&"
                       "resourceVersion=" + rv)
        events = []
        while True:
            ev = w.next()
            if ev is None:
                break
            events.append(ev)
        self.assertGreaterEqual(len(events), 3)
        for ev in events:
            self.assertEqual(ev["type"], "BOOKMARK")
            self.assertEqual(set(ev["object"]), {"kind", "apiVersion",
                                                 "metadata"})
            self.assertEqual(ev["object"]["metadata"]["resourceVersion"], rv)
        w = self.watch("timeoutSeconds=1&resourceVersion=" + rv)
        self.assertIsNone(w.next())   # no bookmarks unless asked

    def test_too_old_rv(self):
        rv = self.current_rv()
        self.node("w-old")
        self.fake.add_fault({"compact": True})
        w = self.watch("resourceVersion=" + rv)
        self.assertEqual(w.resp.status, 200)
        ev = w.next()
        self.assertEqual(ev["type"], "ERROR")
        self.status_of(ev["object"], 410, "Expired")
        self.assertIn("too old resource version", ev["object"]["message"])
        self.assertIsNone(w.next())
        self.fake.add_fault({"gone_next_watch": 1})
        w = self.watch("resourceVersion=" + self.current_rv())
        self.assertEqual(w.next()["type"], "ERROR")
        w = self.watch("timeoutSeconds=1&resourceVersion=" +
                       self.current_rv())
        self.assertIsNone(w.next())

    def test_history_window(self):
        small = FakeKube(os.path.join(self.tmp, "small"), history_size=5)
        small.start()
        client = Client(small)
        try:
            small.create_node({"name": "h0"})
            rv = client.json("GET", "/api/v1/nodes")[1]["metadata"][
                "resourceVersion"]
            for i in range(6):
                small.patch_node("h0", {"labels": {"n": str(i)}})
            w = Watch(client, "/api/v1/nodes?watch=1&resourceVersion=" + rv)
            self.assertEqual(w.next()["object"]["code"], 410)
            w.close()
        finally:
            client.close()
            small.stop()

    def test_selector_transitions(self):
        self.node("w-tr", labels={"side": "in"})
        w = self.watch("labelSelector=side%3Din&resourceVersion=" +
                       self.current_rv())
        out = self.fake.patch_node("w-tr", {"labels": {"side": "out"}})
        ev = w.next()
        self.assertEqual(ev["type"], "DELETED")
        self.assertEqual(ev["object"]["metadata"]["labels"]["side"], "in")
        self.assertEqual(ev["object"]["metadata"]["resourceVersion"],
                         out["metadata"]["resourceVersion"])
        self.fake.patch_node("w-tr", {"labels": {"other": "x"}})
        self.fake.patch_node("w-tr", {"labels": {"side": "in"}})
        ev = w.next()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["labels"]
                          ["other"]), ("ADDED", "x"))
        self.fake.patch_node("w-tr", {"labels": {"more": "y"}})
        self.assertEqual(w.next()["type"], "MODIFIED")
        w.close()
        w = self.watch("fieldSelector=spec.unschedulable%3Dfalse,"
                       "metadata.name%3Dw-tr&resourceVersion=" +
                       self.current_rv())
        self.fake.patch_node("w-tr", {"unschedulable": True})
        ev = w.next()
        self.assertEqual(ev["type"], "DELETED")
        self.assertNotIn("unschedulable", ev["object"]["spec"])
        w.close()

    def test_timeout_ends_cleanly(self):
        start = time.monotonic()
        w = self.watch("timeoutSeconds=1&resourceVersion=" +
                       self.current_rv())
        self.assertIsNone(w.next())
        self.assertLess(time.monotonic() - start, 5)
        self.assertTrue(w.resp.isclosed() or w.ended)

    def test_close_watches(self):
        rv = self.current_rv()
        w1 = self.watch("resourceVersion=" + rv)
        w2 = self.watch("resourceVersion=" + rv, path="/api/v1/pods")
        self.wait_watches(2)
        self.fake.add_fault({"close_watches": True})
        for w in (w1, w2):
            with self.assertRaises((http.client.IncompleteRead,
                                    ConnectionError, ssl.SSLError)):
                w.next()
        w3 = self.watch("resourceVersion=" + rv)
        self.wait_watches(1)
        self.fake.add_fault({"close_watches": "clean"})
        self.assertIsNone(w3.next())

    def test_stall(self):
        self.fake.set_config(bookmark_interval=0.1)
        self.fake.add_fault({"stall_watches": True})
        w = self.watch("allowWatchBookmarks=true&resourceVersion=" +
                       self.current_rv())
        self.node("w-stall")
        sock = w.conn.sock
        readable = select.select([sock], [], [], 0.8)[0]
        self.assertEqual((readable, sock.pending()), ([], 0))
        self.fake.clear_faults()
        events = w.until(lambda e: e["type"] == "ADDED")
        self.assertEqual(events[-1]["object"]["metadata"]["name"], "w-stall")
        w.close()

    def test_split_chunks(self):
        """Events arrive cut across chunks; a raw reader sees it."""
        self.fake.add_fault({"split_chunks": True})
        rv = self.current_rv()
        self.node("w-split")
        ctx = ssl.create_default_context(cafile=self.fake.ca_path)
        raw = ctx.wrap_socket(socket.create_connection(
            ("127.0.0.1", self.fake.api_port), timeout=10),
            server_hostname="127.0.0.1")
        raw.sendall(("GET /api/v1/nodes?watch=1&timeoutSeconds=1&"
                     "resourceVersion=%s HTTP/1.1\r\nHost: x\r\n"
                     "Authorization: Bearer %s\r\n\r\n"
                     % (rv, self.fake.token)).encode())
        f = raw.makefile("rb")
        while f.readline() not in (b"\r\n", b""):
            pass
        chunks = []
        while True:
            size = int(f.readline().strip(), 16)
            data = f.read(size)
            f.readline()
            if size == 0:
                break
            chunks.append(data)
        raw.close()
        self.assertGreater(len(chunks), 1)
        self.assertFalse(chunks[0].endswith(b"\n"))
        lines = b"".join(chunks).split(b"\n")
        self.assertEqual(json.loads(lines[0])["object"]["metadata"]["name"],
                         "w-split")
        w = self.watch("resourceVersion=" + rv)
        self.assertEqual(w.next()["object"]["metadata"]["name"], "w-split")
        w.close()

    def test_many_events_per_chunk(self):
        rv = self.current_rv()
        with self.fake.store.cond:    # three writes, one wake-up
            for i in range(3):
                self.fake.create_node({"name": "w-burst-%d" % i})
        w = self.watch("resourceVersion=" + rv)
        names = [e["object"]["metadata"]["name"] for e in w.take(3)]
        self.assertEqual(names, ["w-burst-0", "w-burst-1", "w-burst-2"])
        w.close()

    def test_lease_and_pod_watch(self):
        base = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
        w = self.watch("resourceVersion=" + self.current_rv(), base)
        self.fake.set_lease("kube-system", "w-lease", {"holderIdentity": "a"})
        ev = w.next()
        self.assertEqual((ev["type"], ev["object"]["kind"]),
                         ("ADDED", "Lease"))
        w.close()
        w = self.watch("labelSelector=app%3Dw", "/api/v1/namespaces/ns-w/"
                       "pods")
        self.fake.create_pod({"namespace": "other", "name": "p0",
                              "labels": {"app": "w"}})
        self.fake.create_pod({"namespace": "ns-w", "name": "p1",
                              "labels": {"app": "w"}})
        ev = w.next()
        self.assertEqual(ev["object"]["metadata"]["name"], "p1")
        w.close()

    def test_initial_events_stream(self):
        self.node("w-ie", labels={"ie": "1"})
        w = self.watch("labelSelector=ie%3D1&sendInitialEvents=true&"
                       "resourceVersionMatch=NotOlderThan&"
                       "allowWatchBookmarks=true")
        ev = w.next()
        self.assertEqual(ev["type"], "ADDED")
        ev = w.next()
        self.assertEqual(ev["type"], "BOOKMARK")
        self.assertEqual(ev["object"]["metadata"]["annotations"],
                         {"k8s.io/initial-events-end": "true"})
        w.close()


class FaultAndTokenTest(FakeTestCase):
    """Fault injection, token rotation, request log, label history."""

    def get_nodes(self, **kw):
        return self.client.request("GET", "/api/v1/nodes", **kw)

    def test_fail_429(self):
        self.fake.add_fault({"fail": {"count": 2, "mode": "429",
                                      "retry_after": 3}})
        for _ in range(2):
            st, resp, body = self.get_nodes()
            self.assertEqual(st, 429)
            self.assertEqual(resp.getheader("Retry-After"), "3")
            self.assertTrue(resp.getheader("Content-Type").startswith(
                "text/plain"))
            self.assertIn(b"Too many requests", body)
        self.assertEqual(self.get_nodes()[0], 200)

    def test_fail_status_modes(self):
        for mode, code, reason in (("500", 500, "InternalError"),
                                   ("503", 503, "ServiceUnavailable")):
            self.fake.add_fault({"fail": {"count": 1, "mode": mode}})
            st, _, body = self.get_nodes()
            self.assertEqual(st, code)
            self.status_of(json.loads(body), code, reason)
        self.fake.add_fault({"fail": {"count": 1, "mode": "garbage"}})
        st, _, body = self.get_nodes()
        self.assertEqual(st, 200)
        with self.assertRaises(ValueError):
            json.loads(body)

    def test_fail_filters(self):
        self.fake.add_fault({"fail": {"count": 1, "mode": "500",
                                      "path": "/leases", "method": "PUT"}})
        self.assertEqual(self.get_nodes()[0], 200)
        st, _ = self.client.json(
            "PUT", "/apis/coordination.k8s.io/v1/namespaces/d/leases/f",
            {"metadata": {"name": "f"}, "spec": {}})
        self.assertEqual(st, 500)
        self.assertEqual(self.fake.faults()["fail"], [])

    def test_fail_truncated(self):
        self.fake.add_fault({"fail": {"count": 1, "mode": "truncated"}})
        with self.assertRaises(http.client.IncompleteRead):
            self.get_nodes()
        self.client.close()
        self.assertEqual(self.get_nodes()[0], 200)

    def test_fail_truncated_watch(self):
        self.fake.add_fault({"fail": {"count": 1, "mode": "truncated",
                                      "path": "watch="}})
        w = Watch(self.client, "/api/v1/nodes?watch=1")
        self.addCleanup(w.close)
        with self.assertRaises((http.client.IncompleteRead, ConnectionError,
                                ssl.SSLError)):
            w.next()

    def test_many_watches(self):
        rv = self.client.json("GET", "/api/v1/nodes")[1]["metadata"][
            "resourceVersion"]
        watches = [Watch(self.client, "/api/v1/nodes?watch=1&"
                         "resourceVersion=" + rv) for _ in range(40)]
        for w in watches:
            self.addCleanup(w.close)
        self.wait_watches(40)
        self.fake.create_node({"name": "seen-by-all"})
        for w in watches:
            self.assertEqual(w.next()["object"]["metadata"]["name"],
                             "seen-by-all")
        for w in watches:
            w.close()
        self.wait_watches(0, at_most=True)

    def test_fail_slow(self):
        self.fake.add_fault({"fail": {"count": 1, "mode": "slow",
                                      "delay": 0.6}})
        start = time.monotonic()
        self.assertEqual(self.get_nodes()[0], 200)
        self.assertGreaterEqual(time.monotonic() - start, 0.6)

    def test_token_rotation(self):
        old = self.fake.token
        path = os.path.join(self.fake.dir, "token")
        st, out = admin(self.fake, "POST", "/token/rotate", {"grace": 0})
        new = out["token"]
        self.assertNotEqual(new, old)
        with open(path) as f:
            self.assertEqual(f.read().strip(), new)
        with open(self.fake.kubeconfig_path) as f:
            self.assertIn(new, f.read())
        self.assertEqual(self.get_nodes(token=old)[0], 401)
        self.assertEqual(self.get_nodes(token=new)[0], 200)
        newer = self.fake.rotate_token(grace=0.5)
        self.assertEqual(self.get_nodes(token=new)[0], 200)
        self.assertEqual(self.get_nodes(token=newer)[0], 200)
        time.sleep(0.6)
        self.assertEqual(self.get_nodes(token=new)[0], 401)

    def test_revoke_keeps_open_watches(self):
        rv = self.client.json("GET", "/api/v1/nodes")[1]["metadata"][
            "resourceVersion"]
        w = Watch(self.client, "/api/v1/nodes?watch=1&resourceVersion=" + rv)
        admin(self.fake, "POST", "/token/revoke")
        try:
            self.assertEqual(self.get_nodes()[0], 401)
            self.fake.create_node({"name": "after-revoke"})
            self.assertEqual(w.next()["object"]["metadata"]["name"],
                             "after-revoke")
        finally:
            w.close()
            self.fake.rotate_token()
        self.assertEqual(self.get_nodes()[0], 200)

    def test_request_log(self):
        admin(self.fake, "DELETE", "/requests")
        self.get_nodes(token="bad")
        self.client.json("PATCH", "/api/v1/nodes/nope", {"metadata": {}},
                         "application/merge-patch+json")
        st, log = admin(self.fake, "GET", "/requests")
        self.assertEqual([(e["method"], e["status"], e["authorized"])
                          for e in log],
                         [("GET", 401, False), ("PATCH", 404, True)])
        self.assertEqual(log[1]["body"], '{"metadata": {}}')
        self.assertEqual(log[1]["content_type"],
                         "application/merge-patch+json")

    def test_label_history(self):
        for n in ("lh-a", "lh-b"):
            admin(self.fake, "POST", "/nodes", {"name": n})
        admin(self.fake, "PATCH", "/nodes/lh-a", {"labels": {"gw": "on"}})
        admin(self.fake, "PATCH", "/nodes/lh-a", {"labels": {"gw": None}})
        self.client.json("PATCH", "/api/v1/nodes/lh-b", {"metadata": {
            "labels": {"gw": "on"}}}, "application/merge-patch+json")
        st, hist = admin(self.fake, "GET", "/label-history?key=gw&value=on")
        self.assertEqual([h["nodes"] for h in hist[-3:]],
                         [["lh-a"], [], ["lh-b"]])
        self.assertTrue(all(len(h["nodes"]) <= 1 for h in hist))

    def test_admin_api(self):
        st, node = admin(self.fake, "POST", "/nodes", {
            "name": "adm-a", "providerID": "hcloud://42",
            "internalIP": "127.0.0.9", "ready": "True",
            "labels": {"tuist.dev/stable-egress-candidate": "server"}})
        self.assertEqual((st, node["spec"]["providerID"]),
                         (201, "hcloud://42"))
        st, node = admin(self.fake, "PATCH", "/nodes/adm-a",
                         {"ready": "Unknown", "unschedulable": True,
                          "deleting": True})
        self.assertEqual(st, 200)
        self.assertIn("deletionTimestamp", node["metadata"])
        ready = [c for c in node["status"]["conditions"]
                 if c["type"] == "Ready"][0]
        self.assertEqual((ready["status"], ready["reason"]),
                         ("Unknown", "NodeStatusUnknown"))
        keys = {t["key"] for t in node["spec"]["taints"]}
        self.assertEqual(keys, {"node.kubernetes.io/unreachable",
                                "node.kubernetes.io/unschedulable"})
        st, err = admin(self.fake, "POST", "/nodes", {"name": "Bad_Name"})
        self.assertEqual(st, 422)
        st, lease = admin(self.fake, "POST", "/leases", {
            "metadata": {"name": "adm-l", "namespace": "kube-system"},
            "spec": {"holderIdentity": "foreign", "leaseDurationSeconds": 15,
                     "renewTime": "2026-03-01T10:04:58.517204Z"}})
        self.assertEqual((st, lease["spec"]["holderIdentity"]),
                         (200, "foreign"))
        st, lease = admin(self.fake, "PUT", "/leases/kube-system/adm-l",
                          {"holderIdentity": "other"})
        self.assertEqual(lease["spec"]["holderIdentity"], "other")
        st, leases = admin(self.fake, "GET", "/leases")
        self.assertIn("adm-l", [le["metadata"]["name"] for le in leases])
        st, state = admin(self.fake, "GET", "/state")
        self.assertIn("resourceVersion", state)
        st, err = admin(self.fake, "GET", "/nope")
        self.assertEqual(st, 404)

    def test_command_line(self):
        d = os.path.join(self.tmp, "cli")
        proc = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(
                os.path.abspath(__file__)), "kube.py"), "--dir", d,
             "--nodes", "2", "--candidate-nodes", "2", "--node-bytes",
             "30000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(os.path.join(d, "ready")):
                if proc.poll() is not None:
                    self.fail(proc.stderr.read())
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            for f in ("kubeconfig", "token", "admin-url", "ca.crt"):
                self.assertTrue(os.path.exists(os.path.join(d, f)), f)
            with open(os.path.join(d, "admin-url")) as f:
                url = f.read().strip()
            with urllib.request.urlopen(url + "/nodes", timeout=10) as r:
                nodes = json.loads(r.read())
            self.assertEqual(len(nodes), 4)
            cands = [n for n in nodes if n["metadata"]["labels"].get(
                "tuist.dev/stable-egress-candidate") == "server"]
            self.assertEqual(len(cands), 2)
            size = len(json.dumps(nodes[0], separators=(",", ":")))
            self.assertTrue(27000 < size < 33000, size)
            with open(os.path.join(d, "kubeconfig")) as f:
                cfg = f.read()
            self.assertIn("current-context: fake", cfg)
            ca = cfg.split("certificate-authority-data: ")[1].split()[0]
            self.assertIn(b"BEGIN CERTIFICATE", base64.b64decode(ca))
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=10), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()


if __name__ == "__main__":
    unittest.main()
