"""test_deploy.py: the kustomize manifests and the Dockerfile, offline.

The manifests are rendered with `kubectl kustomize` (no API server
needed; $KUBECTL picks another kubectl, e.g. a 1.20 one whose built-in
kustomize is v2.0.3) and the output is read with the small YAML reader
below, enough for the block style kustomize emits.  What is checked:
the RBAC verbs exactly, where each Role lives, the pod's security
settings and token mounts, the Deployment's shape, the production
overlay's arguments, the monitoring objects and that every argument is a
flag the binary knows.  The kustomization files themselves are checked
for fields the kustomize in kubectl 1.20 does not have.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
BIN = os.path.join(ROOT, "build", "stable-egressd")
# deploy/base is a drop-in for the reference's chart: its namespace and
# object names (reference-controller.md).
NS = "kube-system"
NAME = "stable-egress-controller"
SA = {"kind": "ServiceAccount", "name": NAME, "namespace": NS}
OWN_NS = "stable-egress"     # overlays/dedicated-namespace
POD_LABELS = {"app.kubernetes.io/name": "stable-egressd"}
LEASE = "stable-egress-controller.tuist.dev"


# ---- a YAML reader for kustomize's output ---------------------------------

class YAMLError(Exception):
    pass


_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_OCT = re.compile(r"^0[0-7_]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F_]+$")
_FLOAT = re.compile(r"^[-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?$")
_BOOL = {"true": True, "True": True, "TRUE": True, "yes": True,
         "Yes": True, "YES": True, "on": True, "On": True, "ON": True,
         "false": False, "False": False, "FALSE": False, "no": False,
         "No": False, "NO": False, "off": False, "Off": False,
         "OFF": False}
_NULL = ("", "~", "null", "Null", "NULL")


def _plain(s):
    """Resolve a plain scalar as YAML 1.1 (and PyYAML) would."""
    if s in _NULL:
        return None
    if s in _BOOL:
        return _BOOL[s]
    t = s.replace("_", "")
    if _INT.match(s):
        return int(t)
    if _OCT.match(s):
        return int(t, 8)
    if _HEX.match(s):
        return int(t, 16)
    if _FLOAT.match(s) and s not in (".", "+.", "-."):
        return float(t)
    return s


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _fold(parts):
    """Join the lines of a multi-line flow scalar: a line break is a
    space, each empty line a newline."""
    out, pending = "", 0
    for i, p in enumerate(parts):
        if p == "" and i > 0:
            pending += 1
            continue
        if i > 0:
            out += "\n" * pending if pending else " "
        pending = 0
        out += p
    return out


_ESC = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t",
        "n": "\n", "v": "\v", "f": "\f", "r": "\r", "e": "\x1b",
        " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85",
        "_": "\xa0", "L": "\u2028", "P": "\u2029"}


def _unescape_double(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = s[i + 1] if i + 1 < len(s) else ""
        if n in ("x", "u", "U"):
            w = {"x": 2, "u": 4, "U": 8}[n]
            out.append(chr(int(s[i + 2:i + 2 + w], 16)))
            i += 2 + w
        elif n in _ESC:
            out.append(_ESC[n])
            i += 2
        else:
            raise YAMLError("bad escape \\%s" % n)
    return "".join(out)


def _find_close(s, q, start):
    """Index of the closing quote q in s from start, or -1."""
    i = start
    while i < len(s):
        if s[i] == "\\" and q == '"':
            i += 2
            continue
        if s[i] == q:
            if q == "'" and i + 1 < len(s) and s[i + 1] == "'":
                i += 2
                continue
            return i
        i += 1
    return -1


def _split_flow(s):
    """Split the inside of a one-line flow collection at top-level
    commas."""
    items, depth, cur, q = [], 0, "", None
    for c in s:
        if q:
            cur += c
            if c == q:
                q = None
            continue
        if c in "\"'":
            q = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
            continue
        cur += c
    if cur.strip():
        items.append(cur.strip())
    return items


def _flow(s):
    s = s.strip()
    if s.startswith("["):
        if not s.endswith("]"):
            raise YAMLError("unterminated flow sequence: %r" % s)
        return [_flow(x) for x in _split_flow(s[1:-1])]
    if s.startswith("{"):
        if not s.endswith("}"):
            raise YAMLError("unterminated flow mapping: %r" % s)
        out = {}
        for item in _split_flow(s[1:-1]):
            k, _, v = item.partition(":")
            out[_flow(k)] = _flow(v)
        return out
    if s[:1] == '"' and s.endswith('"') and len(s) > 1:
        return _unescape_double(s[1:-1])
    if s[:1] == "'" and s.endswith("'") and len(s) > 1:
        return s[1:-1].replace("''", "'")
    return _plain(s)


class _Reader:
    """Block mappings and sequences (compact or indented), plain, quoted
    and block scalars, one-line flow collections, comments."""

    def __init__(self, lines):
        self.lines = list(lines)
        self.i = 0

    def skip(self):
        while self.i < len(self.lines):
            s = self.lines[self.i].strip()
            if s and not s.startswith("#"):
                return True
            self.i += 1
        return False

    def node(self):
        if not self.skip():
            return None
        line = self.lines[self.i]
        s = line.strip()
        if s == "-" or s.startswith("- "):
            return self.seq(_indent(line))
        return self.mapping(_indent(line))

    @staticmethod
    def split_key(s):
        """(key, rest) of 'key: rest', or None when s is no entry."""
        if s[:1] in "\"'":
            end = _find_close(s, s[0], 1)
            if end < 0:
                return None
            after = s[end + 1:]
            if not (after.startswith(": ") or after == ":"):
                return None
            return _flow(s[:end + 1]), after[1:].strip()
        if s[:1] in "[{|>":
            return None
        m = re.match(r"^([^#]*?):(?: +(.*))?$", s)
        if m is None or m.group(1).strip() == "":
            return None
        return _plain(m.group(1).strip()), (m.group(2) or "").strip()

    def mapping(self, ind):
        out = {}
        while self.skip():
            line = self.lines[self.i]
            li = _indent(line)
            if li < ind:
                break
            if li > ind:
                raise YAMLError("line %d: bad indentation" % (self.i + 1))
            s = line.strip()
            kv = self.split_key(s)
            if kv is None:
                raise YAMLError("line %d: not a mapping entry: %r" %
                                (self.i + 1, s))
            key, rest = kv
            if key in out:
                raise YAMLError("line %d: duplicate key %r" %
                                (self.i + 1, key))
            self.i += 1
            out[key] = self.value(rest, ind)
        return out

    def seq(self, ind):
        out = []
        while self.skip():
            line = self.lines[self.i]
            s = line.strip()
            if _indent(line) != ind or not (s == "-" or s.startswith("- ")):
                if _indent(line) > ind:
                    raise YAMLError("line %d: bad indentation" %
                                    (self.i + 1))
                break
            rest = s[1:].strip()
            col = ind + len(s) - len(rest) if rest else ind + 2
            if rest.startswith("- ") or rest == "-" or (
                    rest and self.split_key(rest) is not None):
                # "- key: v" or "- - v": a collection opening on this line.
                self.lines[self.i] = " " * col + rest
                out.append(self.node())
                continue
            self.i += 1
            out.append(self.value(rest, ind))
        return out

    def value(self, rest, ind):
        """The value after 'key:' or '- ' on a line whose parent sits at
        column ind; continuation lines must be indented further."""
        if rest == "" or rest.startswith("#"):
            if not self.skip():
                return None
            line = self.lines[self.i]
            li, s = _indent(line), line.strip()
            if li > ind or (li == ind and (s == "-" or s.startswith("- "))):
                return self.node()
            return None
        if rest[0] in "|>":
            return self.block(rest, ind)
        if rest[0] in "\"'":
            return self.quoted(rest, ind)
        if rest[0] in "[{":
            return _flow(rest)
        rest = re.sub(r"\s+#.*$", "", rest)
        parts = [rest]
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() and _indent(line) <= ind:
                break
            if line.strip().startswith("#"):
                break
            parts.append(line.strip())
            self.i += 1
        while parts and parts[-1] == "":
            parts.pop()
            self.i -= 1
        return _plain(_fold(parts))

    def quoted(self, rest, ind):
        q = rest[0]
        text = rest
        while _find_close(text, q, 1) < 0:
            if self.i >= len(self.lines):
                raise YAMLError("unterminated quoted scalar")
            text += "\n" + self.lines[self.i].strip()
            self.i += 1
        end = _find_close(text, q, 1)
        tail = text[end + 1:].strip()
        if tail and not tail.startswith("#"):
            raise YAMLError("text after a quoted scalar: %r" % tail)
        body = text[1:end]
        if q == '"':
            body = re.sub(r"\\\n", "", body)
            return _unescape_double(_fold(body.split("\n")))
        return _fold(body.split("\n")).replace("''", "'")

    def block(self, header, ind):
        m = re.match(r"^([|>])([-+]?)([1-9]?)([-+]?)\s*(#.*)?$", header)
        if m is None:
            raise YAMLError("bad block scalar header %r" % header)
        style, chomp = m.group(1), m.group(2) or m.group(4)
        raw = []
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() and _indent(line) <= ind:
                break
            raw.append(line)
            self.i += 1
        if m.group(3):
            bi = ind + int(m.group(3))
        else:
            bi = min((_indent(x) for x in raw if x.strip()), default=0)
        lines = [x[bi:] if x.strip() else "" for x in raw]
        n = len(lines)
        while n and lines[n - 1] == "":
            n -= 1
        trailing, lines = len(lines) - n, lines[:n]
        if style == "|":
            text = "\n".join(lines)
        else:
            text, prev = "", None
            for x in lines:
                if prev is None:
                    text = x
                elif x == "" or x.startswith(" ") or prev.startswith(" ") \
                        or prev == "":
                    text += "\n" + x
                else:
                    text += " " + x
                prev = x
        if not lines:
            return "" if chomp != "+" else "\n" * trailing
        if chomp == "-":
            return text
        if chomp == "+":
            return text + "\n" * (trailing + 1)
        return text + "\n"


def yaml_load_all(text):
    """The documents of a YAML stream of kustomize's block style."""
    docs, cur = [], []
    for line in text.splitlines():
        if line.rstrip() == "---" or line.startswith("--- "):
            docs.append(cur)
            cur = []
            continue
        cur.append(line.rstrip("\r"))
    docs.append(cur)
    out = []
    for d in docs:
        r = _Reader(d)
        if not r.skip():
            continue
        v = r.node()
        if r.skip():
            raise YAMLError("trailing content at line %d" % (r.i + 1))
        out.append(v)
    return out


# ---- rendering ------------------------------------------------------------

def kubectl():
    return os.environ.get("KUBECTL") or shutil.which("kubectl")


_RENDERED = {}


def render(rel):
    """The objects of `kubectl kustomize deploy/<rel>`, cached."""
    if rel not in _RENDERED:
        k = kubectl()
        if k is None:
            msg = "kubectl not found: cannot render deploy/%s" % rel
            print("skip: " + msg, file=sys.stderr)
            raise unittest.SkipTest(msg)
        p = subprocess.run([k, "kustomize", os.path.join(DEPLOY, rel)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise AssertionError("kubectl kustomize deploy/%s failed:\n%s" %
                                 (rel, p.stderr.decode(errors="replace")))
        _RENDERED[rel] = (p.stdout.decode(), yaml_load_all(p.stdout.decode()))
    return _RENDERED[rel][1]


def find(objs, kind, name=None, namespace=None):
    out = [o for o in objs if o.get("kind") == kind and
           (name is None or o["metadata"]["name"] == name) and
           (namespace is None or o["metadata"].get("namespace") == namespace)]
    return out


def one(objs, kind, name=None, namespace=None):
    got = find(objs, kind, name, namespace)
    if len(got) != 1:
        raise AssertionError("want one %s %s/%s, found %d" %
                             (kind, namespace, name, len(got)))
    return got[0]


def pod_spec(objs):
    return one(objs, "Deployment", NAME)["spec"]["template"][
        "spec"]


def container(objs):
    cs = pod_spec(objs)["containers"]
    assert len(cs) == 1, "one container expected"
    return cs[0]


def flag_table():
    """Flag names from supervisor/config/cfg_flags.c's table."""
    path = os.path.join(ROOT, "supervisor", "config", "cfg_flags.c")
    with open(path) as f:
        src = f.read()
    return set(re.findall(r'^\t\{ "([a-z0-9-]+)", CFG_T_', src, re.M))


def help_flags():
    """Flag names in `build/stable-egressd --help`, or None if unbuilt."""
    if not os.access(BIN, os.X_OK):
        return None
    p = subprocess.run([BIN, "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise AssertionError("--help exited %d" % p.returncode)
    return set(re.findall(r"^  --([a-z0-9-]+)", p.stdout.decode(), re.M))


def metric_families():
    with open(os.path.join(ROOT, "supervisor", "net", "metrics.c")) as f:
        return set(re.findall(r'prom_family\(\s*p,\s*"([a-z0-9_]+)"',
                              f.read()))


# ---- tests ----------------------------------------------------------------

class YAMLReader(unittest.TestCase):
    """The reader agrees with PyYAML where PyYAML is installed."""

    def test_scalars_and_layout(self):
        doc = yaml_load_all(
            "a: 1\nb: '2'\nc: \"x\\ty\"\nd:\n- e: true\n  f: null\n"
            "- [x, 'y']\ng: |\n  l1\n  l2\nh: >-\n  w1\n  w2\n"
            "i: one\n  two\nj: 'q\n  r'\nk: {}\nl: 0400\n")[0]
        self.assertEqual(doc, {
            "a": 1, "b": "2", "c": "x\ty",
            "d": [{"e": True, "f": None}, ["x", "y"]],
            "g": "l1\nl2\n", "h": "w1 w2", "i": "one two", "j": "q r",
            "k": {}, "l": 256})

    def test_matches_pyyaml(self):
        try:
            import yaml
        except ImportError:
            print("skip: PyYAML not installed", file=sys.stderr)
            self.skipTest("PyYAML not installed")
        texts = []
        for rel in ("base", "overlays/production", "monitoring"):
            render(rel)
            texts.append(_RENDERED[rel][0])
        texts += [read(p) for p in kustomizations()]
        for t in texts:
            self.assertEqual(yaml_load_all(t),
                             [d for d in yaml.safe_load_all(t)
                              if d is not None])


def read(path):
    with open(path) as f:
        return f.read()


def kustomizations():
    return sorted(glob.glob(os.path.join(DEPLOY, "**", "kustomization.yaml"),
                            recursive=True))


class Kustomizations(unittest.TestCase):
    """Fields kubectl 1.20's kustomize (v2.0.3) knows, used its way."""

    V2_FIELDS = {"apiVersion", "kind", "resources", "bases", "namespace",
                 "namePrefix", "nameSuffix", "commonLabels",
                 "commonAnnotations", "patchesStrategicMerge",
                 "patchesJson6902", "configMapGenerator", "secretGenerator",
                 "generatorOptions", "images", "vars", "crds",
                 "configurations"}

    def test_layout(self):
        for d in ("base", "overlays/production", "monitoring",
                  "overlays/dedicated-namespace", "network-policy"):
            self.assertTrue(os.path.isfile(
                os.path.join(DEPLOY, d, "kustomization.yaml")), d)

    def test_v2_compatible(self):
        for path in kustomizations():
            here = os.path.dirname(path)
            rel = os.path.relpath(path, ROOT)
            doc = yaml_load_all(read(path))[0]
            extra = set(doc) - self.V2_FIELDS
            self.assertEqual(extra, set(), "%s: not in kustomize v2.0.3 "
                             "(labels/patches/components need v3+)" % rel)
            for r in doc.get("resources") or []:
                self.assertTrue(os.path.isfile(os.path.join(here, r)),
                                "%s: resources must be files in v2.0.3, "
                                "directories go under bases: %s" % (rel, r))
            for b in doc.get("bases") or []:
                self.assertTrue(os.path.isdir(os.path.join(here, b)),
                                "%s: base %s is no directory" % (rel, b))
            for p in doc.get("patchesJson6902") or []:
                self.assertIn("path", p, "%s: v2.0.3 needs path:" % rel)
                self.assertTrue(os.path.isfile(os.path.join(here, p["path"])))

    def test_namespace_only_where_it_moves_nothing_foreign(self):
        # A namespace: would move the Roles of kube-system and default.
        for rel in ("base", "overlays/production",
                    "overlays/dedicated-namespace", "base/cluster"):
            doc = yaml_load_all(read(os.path.join(
                DEPLOY, rel, "kustomization.yaml")))[0]
            self.assertNotIn("namespace", doc, rel)
        doc = yaml_load_all(read(os.path.join(
            DEPLOY, "base", "controller", "kustomization.yaml")))[0]
        self.assertEqual(doc.get("namespace"), NS)

    def test_no_secret_committed(self):
        for path in glob.glob(os.path.join(DEPLOY, "**", "*.yaml"),
                              recursive=True):
            with open(path) as f:
                text = f.read()
            self.assertIsNone(re.search(r"^kind:\s*Secret\s*$", text, re.M),
                              path)
            self.assertNotIn("secretGenerator", text, path)


class Base(unittest.TestCase):

    def setUp(self):
        self.objs = render("base")

    def test_objects(self):
        kinds = sorted((o["kind"], o["metadata"].get("namespace", ""),
                        o["metadata"]["name"]) for o in self.objs)
        # No Namespace: kube-system exists; the chart's names throughout.
        self.assertEqual(kinds, sorted([
            ("ServiceAccount", NS, NAME),
            ("ClusterRole", "", NAME),
            ("ClusterRoleBinding", "", NAME),
            ("Role", NS, NAME + "-leader-election"),
            ("RoleBinding", NS, NAME + "-leader-election"),
            ("Role", "kube-system", NAME + "-pods"),
            ("RoleBinding", "kube-system", NAME + "-pods"),
            ("Role", "default", NAME + "-events"),
            ("RoleBinding", "default", NAME + "-events"),
            ("Deployment", NS, NAME),
            ("PodDisruptionBudget", NS, NAME),
        ]))

    def test_as_the_reference_chart(self):
        d = one(self.objs, "Deployment", NAME, NS)
        c = container(self.objs)
        self.assertEqual(c["name"], "manager")
        self.assertEqual(c["args"][:3], [
            "--leader-elect=true", "--metrics-bind-address=:8080",
            "--health-probe-bind-address=:8081"])
        # no environment: the Lease namespace is the pod's (SA file)
        self.assertNotIn("env", c)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports, {"metrics": 8080, "probe": 8081})
        ann = d["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(ann, {"prometheus.io/scrape": "true",
                               "prometheus.io/port": "8080",
                               "prometheus.io/path": "/metrics"})
        lv, rd = c["livenessProbe"], c["readinessProbe"]
        self.assertEqual((lv["initialDelaySeconds"], lv["periodSeconds"]),
                         (15, 20))
        self.assertEqual((rd["initialDelaySeconds"], rd["periodSeconds"]),
                         (5, 10))

    def test_rbac_exact(self):
        check_rbac(self, self.objs)

    def test_security_context(self):
        spec, c = pod_spec(self.objs), container(self.objs)
        psc, csc = spec.get("securityContext", {}), c["securityContext"]

        def eff(key):
            return csc[key] if key in csc else psc.get(key)
        self.assertIs(eff("runAsNonRoot"), True)
        self.assertEqual(eff("runAsUser"), 65532)
        self.assertEqual(eff("runAsGroup"), 65532)
        self.assertEqual(eff("seccompProfile"), {"type": "RuntimeDefault"})
        self.assertIs(csc["readOnlyRootFilesystem"], True)
        self.assertIs(csc["allowPrivilegeEscalation"], False)
        self.assertEqual(csc["capabilities"], {"drop": ["ALL"]})
        self.assertNotIn("privileged", csc)
        # The 0400 Secret is readable by the user only through its group.
        self.assertEqual(psc.get("fsGroup"), 65532)
        for k in ("hostNetwork", "hostPID", "hostIPC"):
            self.assertNotIn(k, spec)

    def test_token_mounted_explicitly(self):
        spec, c = pod_spec(self.objs), container(self.objs)
        self.assertIs(spec["automountServiceAccountToken"], False)
        self.assertIs(one(self.objs, "ServiceAccount")[
            "automountServiceAccountToken"], False)
        self.assertEqual(spec["serviceAccountName"], NAME)
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        vols = {v["name"]: v for v in spec["volumes"]}
        sa = [m for m in mounts.values() if m["mountPath"] ==
              "/var/run/secrets/kubernetes.io/serviceaccount"]
        self.assertEqual(len(sa), 1)
        self.assertIs(sa[0].get("readOnly"), True)
        src = vols[sa[0]["name"]]["projected"]["sources"]
        tok = [s["serviceAccountToken"] for s in src
               if "serviceAccountToken" in s]
        self.assertEqual(tok, [{"path": "token", "expirationSeconds": 3607}])
        cm = [s["configMap"] for s in src if "configMap" in s]
        self.assertEqual(cm, [{"name": "kube-root-ca.crt", "items": [
            {"key": "ca.crt", "path": "ca.crt"}]}])
        dw = [s["downwardAPI"] for s in src if "downwardAPI" in s]
        self.assertEqual(len(dw), 1)
        self.assertEqual(dw[0]["items"][0]["path"], "namespace")
        self.assertEqual(dw[0]["items"][0]["fieldRef"]["fieldPath"],
                         "metadata.namespace")

    def test_hcloud_token_volume(self):
        spec, c = pod_spec(self.objs), container(self.objs)
        vols = {v["name"]: v for v in spec["volumes"]}
        m = [m for m in c["volumeMounts"] if m["mountPath"] == "/etc/hcloud"]
        self.assertEqual(len(m), 1)
        self.assertIs(m[0].get("readOnly"), True)
        sec = vols[m[0]["name"]]["secret"]
        # the shared Secret of the CCM, the CSI driver and the chart
        self.assertEqual(sec["secretName"], "hcloud")
        self.assertEqual(sec["defaultMode"], 0o400)
        self.assertEqual(sec["items"], [{"key": "token", "path": "token"}])
        self.assertIn("--hcloud-token-path=/etc/hcloud/token", c["args"])

    def test_deployment(self):
        d = one(self.objs, "Deployment", NAME, NS)
        spec, c = pod_spec(self.objs), container(self.objs)
        self.assertEqual(d["spec"]["replicas"], 2)
        labels = d["spec"]["template"]["metadata"]["labels"]
        self.assertEqual(d["spec"]["selector"]["matchLabels"], POD_LABELS)
        self.assertTrue(set(POD_LABELS.items()) <= set(labels.items()))
        self.assertEqual(c["image"], "ghcr.io/tuist/stable-egressd:0.1.0")
        self.assertIn("--floating-ip-name=egress-v4", c["args"])
        self.assertEqual(spec["priorityClassName"], "system-cluster-critical")
        aa = spec["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]
        self.assertEqual(len(aa), 1)
        self.assertEqual(aa[0]["topologyKey"], "kubernetes.io/hostname")
        self.assertTrue(set(aa[0]["labelSelector"]["matchLabels"].items())
                        <= set(labels.items()))
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports, {"metrics": 8080, "probe": 8081})
        self.assertEqual(c["livenessProbe"]["httpGet"],
                         {"path": "/healthz", "port": "probe"})
        self.assertEqual(c["readinessProbe"]["httpGet"],
                         {"path": "/readyz", "port": "probe"})
        self.assertEqual(c["resources"], {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"memory": "64Mi"}})

    def test_pdb(self):
        pdb = one(self.objs, "PodDisruptionBudget", NAME, NS)
        self.assertEqual(pdb["spec"]["minAvailable"], 1)
        tmpl = one(self.objs, "Deployment")["spec"]["template"]["metadata"]
        self.assertTrue(set(pdb["spec"]["selector"]["matchLabels"].items())
                        <= set(tmpl["labels"].items()))


def check_rbac(t, objs, sa_ns=NS):
    """Exactly the verbs the workers use, where they use them: nodes and
    pods are listed and watched (never one read alone), the active label
    patched, the one Lease read, created and updated, Events created."""
    def rules(obj):
        out = set()
        for r in obj["rules"]:
            names = r.get("resourceNames") or [None]
            for g in r["apiGroups"]:
                for res in r["resources"]:
                    for n in names:
                        for v in r["verbs"]:
                            out.add((g, res, n, v))
        return out

    want = {
        ("ClusterRole", None, NAME): {
            ("", "nodes", None, v) for v in ("list", "watch", "patch")},
        ("Role", sa_ns, NAME + "-leader-election"): {
            ("coordination.k8s.io", "leases", None, "create"),
            ("coordination.k8s.io", "leases", LEASE, "get"),
            ("coordination.k8s.io", "leases", LEASE, "update")},
        ("Role", "kube-system", NAME + "-pods"): {
            ("", "pods", None, v) for v in ("list", "watch")},
        ("Role", "default", NAME + "-events"): {
            ("", "events", None, "create"),
            ("events.k8s.io", "events", None, "create")},
    }
    got = {(o["kind"], o["metadata"].get("namespace"),
            o["metadata"]["name"]): rules(o)
           for o in objs if o["kind"] in ("Role", "ClusterRole")}
    t.assertEqual(got, want)
    for r in got.values():
        for g, res, n, v in r:
            t.assertNotIn("*", (g, res, v))
            t.assertNotEqual(res, "secrets")
    binds = [o for o in objs if o["kind"] in ("RoleBinding",
                                              "ClusterRoleBinding")]
    t.assertEqual(len(binds), len(want))
    bound = set()
    for b in binds:
        ns = b["metadata"].get("namespace")
        ref = b["roleRef"]
        kind = "ClusterRole" if b["kind"] == "ClusterRoleBinding" else "Role"
        t.assertEqual(ref["kind"], kind, b["metadata"]["name"])
        t.assertEqual(ref["apiGroup"], "rbac.authorization.k8s.io")
        t.assertEqual(b["subjects"], [dict(SA, namespace=sa_ns)],
                      b["metadata"]["name"])
        bound.add((kind, ns, ref["name"]))
    t.assertEqual(bound, set(want))


class DedicatedNamespace(unittest.TestCase):
    """The overlay moves the controller's own objects and points every
    binding at the ServiceAccount there; the rest stays put."""

    def setUp(self):
        self.objs = render("overlays/dedicated-namespace")

    def test_moved(self):
        for kind in ("ServiceAccount", "Deployment", "PodDisruptionBudget"):
            self.assertEqual(one(self.objs, kind)["metadata"]["namespace"],
                             OWN_NS, kind)
        ns = one(self.objs, "Namespace", OWN_NS)
        self.assertEqual(ns["metadata"]["labels"].get(
            "pod-security.kubernetes.io/enforce"), "restricted")
        check_rbac(self, self.objs, OWN_NS)

    def test_readme_says_what_it_costs(self):
        text = read(os.path.join(DEPLOY, "overlays", "dedicated-namespace",
                                 "README.md"))
        for word in ("Lease", "two writers", "copy of the Hetzner token"):
            self.assertIn(word.lower(), " ".join(text.lower().split()),
                          word)


class NetworkPolicy(unittest.TestCase):

    def test_policy(self):
        objs = render("network-policy")
        np = one(objs, "NetworkPolicy", NAME, NS)["spec"]
        pods = one(render("base"), "Deployment")["spec"]["template"]
        self.assertTrue(set(np["podSelector"]["matchLabels"].items())
                        <= set(pods["metadata"]["labels"].items()))
        self.assertEqual(sorted(np["policyTypes"]), ["Egress", "Ingress"])
        ports = sorted((p["protocol"], p["port"]) for r in np["egress"]
                       for p in r["ports"])
        self.assertEqual(ports, [("TCP", 53), ("TCP", 443), ("TCP", 6443),
                                 ("TCP", 9962), ("UDP", 53)])
        blocks = [t["ipBlock"] for r in np["egress"] for t in r["to"]
                  if "ipBlock" in t]
        v4 = [b for b in blocks if b["cidr"] == "0.0.0.0/0"]
        self.assertEqual(v4[0]["except"], ["169.254.169.254/32"])
        ing = {p["port"]: r.get("from") for r in np["ingress"]
               for p in r["ports"]}
        self.assertEqual(set(ing), {8080, 8081})
        self.assertEqual(ing[8080][0]["namespaceSelector"]["matchLabels"],
                         {"kubernetes.io/metadata.name": "monitoring"})
        self.assertIsNone(ing[8081])


class Systemd(unittest.TestCase):

    def test_unit(self):
        text = read(os.path.join(DEPLOY, "systemd", "stable-egressd.service"))
        keys = {}
        for line in text.splitlines():
            if "=" in line and not line.startswith(("#", " ")):
                k, _, v = line.partition("=")
                keys.setdefault(k, []).append(v)
        self.assertEqual(keys["DynamicUser"], ["yes"])
        self.assertEqual(sorted(keys["LoadCredential"]), [
            "hcloud-token:/etc/stable-egressd/hcloud-token",
            "kubeconfig:/etc/stable-egressd/kubeconfig"])
        self.assertIn("--hcloud-token-path=%d/hcloud-token", text)
        self.assertIn("--kubeconfig=%d/kubeconfig", text)
        start = text[text.index("ExecStart="):].split("\n#")[0]
        self.assertNotIn("--user", start)   # DynamicUser: never root
        self.assertEqual(keys["NoNewPrivileges"], ["yes"])
        self.assertEqual(keys["CapabilityBoundingSet"], [""])
        sa = shutil.which("systemd-analyze")
        if sa is None:
            return
        p = subprocess.run([sa, "verify", os.path.join(
            DEPLOY, "systemd", "stable-egressd.service")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        for line in p.stdout.decode().splitlines():
            # only the binary and the man page are missing on a build box
            self.assertTrue("stable-egressd" in line and (
                "not executable" in line or "man " in line), line)


class Production(unittest.TestCase):

    def setUp(self):
        self.objs = render("overlays/production")

    def test_args(self):
        args = container(self.objs)["args"]
        self.assertIn("--egress-ip-allowlist=203.0.113.10/32,203.0.113.11/32",
                      args)
        self.assertIn("--additional-floating-ip-names=egress-v4-b", args)
        base = container(render("base"))["args"]
        self.assertEqual(args[:len(base)], base)
        self.assertEqual(len(set(a.split("=")[0] for a in args)), len(args),
                         "a flag given twice")

    def test_rbac_unchanged(self):
        check_rbac(self, self.objs)

    def test_same_objects_as_base(self):
        key = [(o["kind"], o["metadata"].get("namespace"),
                o["metadata"]["name"]) for o in self.objs]
        base = [(o["kind"], o["metadata"].get("namespace"),
                 o["metadata"]["name"]) for o in render("base")]
        self.assertEqual(sorted(key), sorted(base))


class Arguments(unittest.TestCase):
    """Every argument in a Deployment is a flag the binary knows."""

    def args(self):
        out = []
        for rel in ("base", "overlays/production"):
            out += [(rel, a) for a in container(render(rel))["args"]]
        return out

    def test_flags_known(self):
        table = flag_table()
        self.assertGreater(len(table), 20)
        known = help_flags()
        if known is not None:
            self.assertEqual(known, table, "--help and cfg_flags.c differ")
        for rel, a in self.args():
            m = re.match(r"^--([a-z0-9-]+)(=.*)?$", a)
            self.assertIsNotNone(m, "%s: %r is not --flag=value" % (rel, a))
            self.assertIn(m.group(1), table, "%s: unknown flag %s" % (rel, a))
            if known is not None:
                self.assertIn(m.group(1), known, rel)

    def test_values_accepted(self):
        """The binary parses the production arguments (--check-config,
        with stand-in credential files)."""
        if not os.access(BIN, os.X_OK):
            print("skip: %s not built" % BIN, file=sys.stderr)
            self.skipTest("%s not built (run make)" % BIN)
        args = container(render("overlays/production"))["args"]
        with tempfile.TemporaryDirectory() as d:
            tok = os.path.join(d, "token")
            kc = os.path.join(d, "kubeconfig")
            with open(tok, "w") as f:
                f.write("stand-in\n")
            with open(kc, "w") as f:
                f.write("apiVersion: v1\nkind: Config\nclusters:\n"
                        "- name: c\n  cluster:\n    server: "
                        "https://127.0.0.1:1\nusers:\n- name: u\n  user:\n"
                        "    token: stand-in\ncontexts:\n- name: x\n"
                        "  context:\n    cluster: c\n    user: u\n"
                        "current-context: x\n")
            os.chmod(d, 0o755)      # readable by --user=nobody
            for path in (tok, kc):
                os.chmod(path, 0o644)
            env = {k: v for k, v in os.environ.items()
                   if k not in ("KUBECONFIG", "HCLOUD_ENDPOINT")}
            env["POD_NAMESPACE"] = NS
            p = subprocess.run(
                [BIN] + args + ["--hcloud-token-path=" + tok,
                                "--kubeconfig=" + kc, "--check-config"] +
                # The container runs as a non-root user; as root the
                # daemon needs --user (the stand-in files are readable).
                (["--user=nobody"] if os.geteuid() == 0 else []),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20,
                stdin=subprocess.DEVNULL, env=env)
        out, err = p.stdout.decode(), p.stderr.decode(errors="replace")
        if p.returncode == 2:
            line = err.strip().splitlines()[0] if err.strip() else ""
            for a in args:
                self.assertNotIn(a.split("=")[0], line, line)
        # Any other failure of --check-config is a failure too: the
        # production arguments must parse and check, never skip.
        self.assertEqual(p.returncode, 0, "--check-config exited %d: %s"
                         % (p.returncode, err.strip()[:300]))
        self.assertIn('egress-ip-allowlist: "203.0.113.10/32,'
                      '203.0.113.11/32"', out)
        self.assertIn('additional-floating-ip-names: "egress-v4-b"', out)
        self.assertIn('floating-ip-name: "egress-v4"', out)
        self.assertIn('leader-elect-resource-namespace: "%s"' % NS, out)


class Monitoring(unittest.TestCase):

    REQUIRED = {
        "StableEgressNoHealthyGateway":
            "max(tuist_stable_egress_gateway_available) == 0",
        "StableEgressAllowlistRefusal":
            "increase(stable_egressd_allowlist_refusals_total[10m]) > 0",
        "StableEgressFrequentFailovers":
            "increase(tuist_stable_egress_failovers_total[1h])",
        "StableEgressdLeaderFlapping":
            "changes(stable_egressd_leader[15m]) > 4",
        "StableEgressdNoStandby": "sum(stable_egressd_standbys_ready) < 1",
        "StableEgressNoReadyCandidate":
            "tuist_stable_egress_gateway_node_healthy",
    }

    def setUp(self):
        self.objs = render("monitoring")

    def rules(self):
        pr = one(self.objs, "PrometheusRule", "stable-egressd", NS)
        return [r for g in pr["spec"]["groups"] for r in g["rules"]]

    def test_service_selects_the_pods(self):
        svc = one(self.objs, "Service", "stable-egressd-metrics", NS)
        tmpl = one(render("base"), "Deployment")["spec"]["template"]
        self.assertTrue(set(svc["spec"]["selector"].items())
                        <= set(tmpl["metadata"]["labels"].items()))
        self.assertEqual(svc["spec"]["ports"][0]["targetPort"], "metrics")
        self.assertIs(svc["spec"].get("publishNotReadyAddresses"), True)
        sm = one(self.objs, "ServiceMonitor", "stable-egressd", NS)
        self.assertTrue(set(sm["spec"]["selector"]["matchLabels"].items())
                        <= set(svc["metadata"]["labels"].items()))
        self.assertEqual([e["port"] for e in sm["spec"]["endpoints"]],
                         ["metrics"])

    def test_alerts(self):
        rules = {r["alert"]: r for r in self.rules()}
        for name, expr in self.REQUIRED.items():
            self.assertIn(name, rules)
            self.assertIn(expr, " ".join(rules[name]["expr"].split()), name)
        self.assertEqual(rules["StableEgressNoHealthyGateway"]["for"], "2m")
        self.assertEqual(rules["StableEgressdNoStandby"]["for"], "10m")
        for r in rules.values():
            self.assertIn(r["labels"]["severity"], ("critical", "warning"))
            self.assertTrue(r["annotations"]["summary"])

    def test_metric_names_exported(self):
        fams = metric_families()
        self.assertGreater(len(fams), 15)
        for r in self.rules():
            for name in re.findall(r"\b((?:tuist_stable_egress|"
                                   r"stable_egressd)_[a-z0-9_]+)", r["expr"]):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                self.assertTrue(name in fams or base in fams,
                                "%s: %s is not exported" % (r["alert"], name))

    def test_alerts_documented(self):
        with open(os.path.join(ROOT, "docs", "operations.md")) as f:
            doc = f.read()
        for r in self.rules():
            self.assertIn("`%s`" % r["alert"], doc)

    def test_promtool(self):
        tool = shutil.which("promtool")
        if tool is None:
            print("skip: promtool not installed", file=sys.stderr)
            self.skipTest("promtool not installed")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "rules.json")
            pr = one(self.objs, "PrometheusRule")
            with open(path, "w") as f:
                json.dump({"groups": pr["spec"]["groups"]}, f)
            p = subprocess.run([tool, "check", "rules", path],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout.decode())


class Dockerfile(unittest.TestCase):

    KNOWN = {"FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV",
             "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG",
             "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}

    @staticmethod
    def instructions(text):
        out, cur = [], ""
        for line in text.splitlines():
            s = line.strip()
            if not cur and (s == "" or s.startswith("#")):
                continue
            if cur and s.startswith("#"):
                continue
            if s.endswith("\\"):
                cur += s[:-1] + " "
                continue
            cur += s
            word, _, rest = cur.partition(" ")
            out.append((word.upper(), rest.strip()))
            cur = ""
        if cur:
            raise AssertionError("Dockerfile ends inside a continuation")
        return out

    def setUp(self):
        with open(os.path.join(ROOT, "Dockerfile")) as f:
            self.ins = self.instructions(f.read())

    def test_parses(self):
        self.assertTrue(self.ins)
        first = [i for i in self.ins if i[0] != "ARG"][0]
        self.assertEqual(first[0], "FROM")
        for word, rest in self.ins:
            self.assertIn(word, self.KNOWN, "unknown instruction %s" % word)
            self.assertTrue(rest, "%s without arguments" % word)

    def test_multi_stage(self):
        froms = [r for w, r in self.ins if w == "FROM"]
        self.assertGreaterEqual(len(froms), 2)
        self.assertRegex(froms[0], r"^debian:bookworm\s+AS\s+build$")
        self.assertEqual(froms[-1], "scratch")
        stages = {f.split()[-1] for f in froms if " AS " in f.upper()}
        for w, r in self.ins:
            m = re.search(r"--from=(\S+)", r) if w == "COPY" else None
            if m:
                self.assertIn(m.group(1), stages)

    def final_stage(self):
        idx = max(i for i, (w, _) in enumerate(self.ins) if w == "FROM")
        return self.ins[idx:]

    def test_runtime(self):
        final = self.final_stage()
        users = [r for w, r in final if w == "USER"]
        self.assertTrue(users, "no USER in the final stage")
        self.assertEqual(users[-1], "65532:65532")
        ep = [r for w, r in final if w == "ENTRYPOINT"]
        self.assertEqual(json.loads(ep[-1]),
                         ["/usr/local/bin/stable-egressd"])
        pkgs = set()
        start = self.ins.index(("FROM", "debian:bookworm AS runtime"))
        for w, r in self.ins[start + 1:]:
            if w == "FROM":
                break
            if w == "RUN" and "apt-get install" in r:
                seg = r.split("apt-get install", 1)[1].split("&&")[0]
                pkgs |= {t for t in seg.split() if not t.startswith("-")}
        self.assertEqual(pkgs, {"libcurl4", "libcjson1", "libyaml-0-2",
                                "libseccomp2", "libcap2", "ca-certificates"})
        build = self.ins[:len(self.ins) - len(final)]
        self.assertTrue(any(w == "RUN" and re.search(r"\bmake\b", r)
                            for w, r in build))

    def test_no_remote_add(self):
        for w, r in self.ins:
            if w == "ADD":
                self.assertNotRegex(r, r"(?i)\b(https?|git)://")

    def test_dockerignore(self):
        with open(os.path.join(ROOT, ".dockerignore")) as f:
            lines = {x.strip().rstrip("/") for x in f if x.strip() and
                     not x.startswith("#")}
        self.assertIn("build", lines)
        self.assertIn(".git", lines)


if __name__ == "__main__":
    unittest.main()
