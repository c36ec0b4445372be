"""test_image.py: the image `make image` builds, checked and run.

The artifact: an OCI image layout whose digests hold, whose config says
what the Dockerfile says (user, entrypoint, ports, packages), with no
shell and no package manager inside, under 40 MB, and whose package list
(the SBOM) is what the layer holds.  The run: the image's own root
filesystem, extracted from the layer, run the way the reference chart
runs the container (container.py: private mount and PID namespaces, uid
65532, read-only root, no capabilities, the service-account directory
and /etc/hcloud/token mounted in, in-cluster against the fake APIs): it
takes the Lease and moves the gateway when the gateway's probe dies.

Builds the image when needed (`make image`; the root filesystem is cached
under build/image/cache).  Each test skips, with the reason, when the
machine refuses namespaces or when nothing is cached and mmdebstrap or
the Debian mirror is unavailable (tests/skips lists them).
"""
import glob
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chartpod  # noqa: E402
import container  # noqa: E402
import harness  # noqa: E402
import test_deploy  # noqa: E402  (its Dockerfile parser)

ROOT = harness.ROOT
sys.path.insert(0, os.path.join(ROOT, "deploy", "image"))
import mkimage  # noqa: E402

with open(os.path.join(ROOT, "Makefile")) as _f:
    VERSION = re.search(r"^VERSION\s*:=\s*(\S+)", _f.read(), re.M).group(1)
IMAGE_DIR = os.path.join(ROOT, "build", "image")
ARCHIVE = os.path.join(IMAGE_DIR, "stable-egressd-%s.oci.tar" % VERSION)
SBOM = os.path.join(IMAGE_DIR, "stable-egressd-%s.packages" % VERSION)
MIRROR = "http://deb.debian.org/debian/dists/bookworm/InRelease"
LIMIT = 40 * 1000 * 1000

state = {}


def why_no_image():
    """None once the image is built (at most once per run), else why not."""
    if "image" in state:
        return state["image"]
    key = mkimage.cache_key(mkimage.wanted_packages())
    cached = os.path.exists(os.path.join(IMAGE_DIR, "cache",
                                         "rootfs-%s.done" % key))
    reason = None
    if not cached:
        if os.geteuid() != 0:
            reason = "no cached root filesystem and mmdebstrap needs root"
        elif shutil.which("mmdebstrap") is None:
            reason = "no cached root filesystem and no mmdebstrap"
        else:
            try:
                urllib.request.urlopen(MIRROR, timeout=10).close()
            except OSError as e:
                reason = "no cached root filesystem and the Debian " \
                         "mirror is unreachable: %s" % e
    if reason is None:
        t0 = time.monotonic()
        p = subprocess.run(["make", "-s", "image"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=900, stdin=subprocess.DEVNULL)
        out = p.stdout.decode(errors="replace")
        if p.returncode != 0:
            raise AssertionError("make image failed:\n" + out[-3000:])
        sys.stderr.write("make image: %.1f s\n%s" % (time.monotonic() - t0,
                                                     out))
    state["image"] = reason
    return reason


def read_archive():
    """(config, layer bytes, blobs) of the image archive, every digest
    checked on the way."""
    blobs = {}
    with tarfile.open(ARCHIVE) as t:
        for m in t.getmembers():
            if m.isfile():
                blobs[m.name] = t.extractfile(m).read()

    def get(desc):
        algo, hexd = desc["digest"].split(":")
        data = blobs["blobs/%s/%s" % (algo, hexd)]
        assert hashlib.sha256(data).hexdigest() == hexd, desc["digest"]
        assert len(data) == desc["size"], desc["digest"]
        return data

    index = json.loads(blobs["index.json"])
    manifest = json.loads(get(index["manifests"][0]))
    config = json.loads(get(manifest["config"]))
    (layer,) = manifest["layers"]
    raw = gzip.decompress(get(layer))
    return index, manifest, config, raw, blobs


def sbom_rows():
    rows, requested = [], None
    with open(SBOM) as f:
        for line in f:
            if line.startswith("# requested:"):
                requested = line.split(":", 1)[1].split()
            elif line.strip() and not line.startswith("#"):
                rows.append(tuple(line.split()))
    return rows, requested


class Artifact(unittest.TestCase):
    def setUp(self):
        reason = why_no_image()
        if reason:
            self.skipTest(reason)
        self.index, self.manifest, self.config, self.raw, _ = read_archive()
        with tarfile.open(fileobj=io.BytesIO(self.raw)) as t:
            self.members = {"/" + m.name.lstrip("./"): m for m in t}

    def test_layout(self):
        self.assertEqual(self.index["manifests"][0]["annotations"][
            "org.opencontainers.image.ref.name"], VERSION)
        self.assertEqual(self.config["rootfs"]["diff_ids"], [
            "sha256:" + hashlib.sha256(self.raw).hexdigest()])
        self.assertEqual((self.config["os"], self.config["architecture"]),
                         ("linux", "amd64"))
        for m in self.members.values():
            self.assertEqual((m.uid, m.gid), (0, 0), m.name)

    def test_contents(self):
        size = len(self.raw)
        rows, _ = sbom_rows()
        print("image: %.1f MB uncompressed, %d packages" %
              (size / 1e6, len(rows)), file=sys.stderr)
        self.assertLess(size, LIMIT)
        b = self.members["/usr/local/bin/stable-egressd"]
        self.assertTrue(b.isfile())
        self.assertEqual(b.mode & 0o7777, 0o755)
        # No shell, no package manager, nothing to run a maintainer
        # script with (the daemon execs only itself).
        for path in ("/bin/sh", "/usr/bin/sh", "/usr/bin/bash",
                     "/usr/bin/dash", "/usr/bin/dpkg", "/usr/bin/apt",
                     "/usr/bin/apt-get", "/usr/bin/perl", "/usr/bin/ls",
                     "/usr/bin/openssl", "/var/lib/dpkg/status"):
            self.assertNotIn(path, self.members, path)
        execs = [p for p, m in self.members.items() if m.isfile() and
                 m.mode & 0o111 and "/bin/" in p]
        self.assertEqual(execs, ["/usr/local/bin/stable-egressd"])
        for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/passwd",
                     "/etc/group", "/lib64", "/etc/os-release"):
            self.assertIn(path, self.members, path)
        self.assertEqual(self.members["/tmp"].mode & 0o7777, 0o1777)

    def test_sbom_is_the_layer(self):
        rows, requested = sbom_rows()
        status = {p.rsplit("/", 1)[1] for p in self.members
                  if p.startswith("/var/lib/dpkg/status.d/")}
        self.assertEqual({r[0] for r in rows}, status)
        self.assertEqual(requested, mkimage.wanted_packages())
        self.assertTrue(set(requested) <= status)
        for r in rows:
            self.assertEqual(len(r), 3, r)
        with tarfile.open(fileobj=io.BytesIO(self.raw)) as t:
            libc = t.extractfile("var/lib/dpkg/status.d/libc6").read()
        ver = dict(rows_as_pairs(rows))["libc6"]
        self.assertIn(("Version: %s" % ver).encode(), libc)

    def test_dockerfile_agrees(self):
        with open(os.path.join(ROOT, "Dockerfile")) as f:
            ins = test_deploy.Dockerfile.instructions(f.read())
        start = ins.index(("FROM", "debian:bookworm AS runtime"))
        pkgs = []
        for w, r in ins[start + 1:]:
            if w == "FROM":
                break
            if w == "RUN" and "apt-get install" in r:
                seg = r.split("apt-get install", 1)[1].split("&&")[0]
                pkgs += [t for t in seg.split() if not t.startswith("-")]
        _, requested = sbom_rows()
        self.assertEqual(sorted(pkgs), sorted(requested))
        final = ins[max(i for i, (w, _) in enumerate(ins) if w == "FROM"):]
        self.assertEqual(final[0], ("FROM", "scratch"))
        cfg = self.config["config"]
        self.assertEqual([r for w, r in final if w == "USER"], [cfg["User"]])
        self.assertEqual([json.loads(r) for w, r in final
                          if w == "ENTRYPOINT"], [cfg["Entrypoint"]])
        ports = {"%s/tcp" % p for w, r in final if w == "EXPOSE"
                 for p in r.split()}
        self.assertEqual(ports, set(cfg["ExposedPorts"]))
        self.assertEqual(cfg["User"], "65532:65532")
        self.assertIn("mkimage.py prune", " ".join(r for _, r in ins))


def rows_as_pairs(rows):
    return [(r[0], r[1]) for r in rows]


def proc_caps(pid):
    st = harness.proc_status(pid)
    return {k: st[k] for k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm",
                               "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
                               "NSpid")}


class Run(unittest.TestCase):
    def setUp(self):
        reason = state.get("netns") or why_no_image()
        if reason:
            self.skipTest(reason)
        _, _, _, raw, _ = read_archive()
        self.tmp = tempfile.mkdtemp(prefix="se-image-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.rootfs = os.path.join(self.tmp, "rootfs")
        os.mkdir(self.rootfs)
        with tarfile.open(fileobj=io.BytesIO(raw)) as t:
            t.extractall(self.rootfs)

    def test_leads_and_fails_over(self):
        c = harness.Cluster(grace="2s")
        self.addCleanup(c.close)
        chartpod.host_configurers(c, harness.NODES)
        pod = chartpod.ChartPod(c, "stable-egress-controller-5d8c7-x2k9q",
                                self.rootfs, "/usr/local/bin/stable-egressd",
                                chartpod.chart_args(c))
        self.addCleanup(pod.__exit__)
        pod.start()
        ok = c.wait(lambda: pod.get("/readyz", 8081)[0] == 200, 20)
        self.assertTrue(ok, pod.c.tail())
        self.assertTrue(c.wait(lambda: pod.metric("stable_egressd_leader")
                               == 1, 15), pod.c.tail())
        lease = pod.lease()
        self.assertIsNotNone(lease, "no Lease in kube-system")
        self.assertTrue(lease["spec"]["holderIdentity"].startswith(
            pod.name + "_"), lease["spec"])
        self.assertEqual(c.labelled(), ["node-a"])

        # As the chart runs it: PID 1 of its namespace, every process
        # uid/gid 65532 with no capability at all, no_new_privs, on a
        # read-only root.
        procs = pod.tree()
        names = {harness.comm(p) for p in procs}
        self.assertTrue({"stable-egressd", "k8s-worker", "hcloud-worker",
                         "probe-worker"} <= names, names)
        self.assertTrue(names <= {"stable-egressd", "spawner", "k8s-worker",
                                  "hcloud-worker", "probe-worker"}, names)
        self.assertEqual(harness.proc_status(pod.pid)["NSpid"].split()[-1],
                         "1")
        for p in procs:
            caps = proc_caps(p)
            self.assertEqual(caps["Uid"].split(), ["65532"] * 4, caps)
            self.assertEqual(caps["Gid"].split(), ["65532"] * 4, caps)
            for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                self.assertEqual(int(caps[k], 16), 0, (k, caps))
            self.assertEqual(caps["NoNewPrivs"], "1")
            self.assertIn("ro", chartpod.root_mount_options(p))

        t0 = time.monotonic()
        c.health["node-a"].stop()
        moved = c.wait(lambda: c.labelled() == ["node-b"] and
                       c.fip_node() == "node-b", 30)
        self.assertTrue(moved, (c.labelled(), c.fip_node(), pod.c.tail()))
        print("image: failover %.1f s after the probe died (grace 2 s)" %
              (time.monotonic() - t0), file=sys.stderr)
        self.assertEqual(c.max_labelled(), 1)

        rc = pod.stop(signal.SIGTERM, 6)
        self.assertEqual(rc, 0, pod.c.tail())
        self.assertFalse(pod.lease()["spec"].get("holderIdentity"))


def setUpModule():
    # Build (or find) the image while the mirror can still be reached:
    # isolate() leaves this process in a network namespace of its own.
    why_no_image()
    state["netns"] = container.isolate()


if __name__ == "__main__":
    unittest.main()
