"""test_compromise.py: every process, compromised, against its sandbox.

The test build (build/test/stable-egressd) carries a hook that, once a
process is in steady state, makes one attack from inside its running
sandbox: $STABLE_EGRESSD_TEST_COMPROMISE names it, and the process
prints `compromise who=... attempt=... result=denied|allowed err=...`,
or dies of SIGSYS, which the supervisor logs as a sandbox kill.  One
daemon run per attempt against the fakes; the outcome of every process
is checked against EXPECT.  A process needs a row there and an attempt
a column (default: denied); adding the supervisor or the spawner is one
line each.  The release binary must not contain the hook at all.
"""
import os
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MARKER = b"compromise who="
SIGSYS_MSG = "worker killed by its sandbox"

# attempt name -> (the hook's attempt, target port: a Cluster -> int)
ATTEMPTS = {
    "cred_files": ("cred_files", None),
    "proc_mem": ("proc_mem", None),
    "ptrace": ("ptrace", None),
    "kill": ("kill", None),
    "fsetown": ("fsetown", None),
    "fiosetown": ("fiosetown", None),
    "exec": ("exec", None),
    "connect_other": ("connect", lambda c: c.other_port),
    "connect_kube_api": ("connect", lambda c: c.kube_port),
    "connect_hcloud_api": ("connect", lambda c: c.hcloud_port),
    "connect_health": ("connect", lambda c: c.port),
    "mmap_exec": ("mmap_exec", None),
    "write_tmp": ("write_tmp", None),
}

# What each process needs; every other attempt must be denied (an error
# or SIGSYS).  "allowed": the attempt must succeed.
# "inherited": the spawner's limits are inherited by every worker it
# execs, so it must let through what a starting worker needs (reading
# its credential, the loader's executable mappings, execve itself, the
# API connects); either outcome is accepted there and the worker's own
# row is what counts.
INHERITED = {a: "inherited" for a in (
    "cred_files", "exec", "mmap_exec", "connect_other", "connect_kube_api",
    "connect_hcloud_api", "connect_health")}
EXPECT = {
    "k8s-worker": {"connect_kube_api": "allowed"},
    "hcloud-worker": {"connect_hcloud_api": "allowed"},
    "probe-worker": {"connect_health": "allowed"},
    "supervisor": {},
    "spawner": INHERITED,
}
WORKERS = ("k8s-worker", "hcloud-worker", "probe-worker")


def port_of(url):
    return urllib.parse.urlsplit(url).port


def listen(port=0):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    return s


class Compromise(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for b in (harness.BIN, harness.TEST_BIN):
            if not os.path.exists(b):
                raise unittest.SkipTest("%s missing: run `make test-bin`" % b)
        cls.c = harness.Cluster()
        c = cls.c
        with open(os.path.join(c.kdir, "kubeconfig")) as f:
            server = [l.split()[-1] for l in f if "server:" in l][0]
        c.kube_port = port_of(server)
        c.hcloud_port = port_of(c.endpoint)
        # Listeners on 127.0.0.1 for the probe's port and for a port
        # nobody needs (the health listeners use 127.0.0.11 and up).
        cls.lsn = [listen(c.port), listen()]
        c.other_port = cls.lsn[1].getsockname()[1]
        # A same-uid process to attack: a stand-in for a sibling.
        cls.sibling = subprocess.Popen(["sleep", "600"])
        cls.results = {}

    @classmethod
    def tearDownClass(cls):
        cls.sibling.kill()
        cls.sibling.wait()
        for s in cls.lsn:
            s.close()
        cls.c.close()

    def run_attempt(self, name, who=None):
        """{process: "allowed" | "denied" | "SIGSYS" | None}; who: only
        that process attacks (the supervisor or the spawner, whose death
        ends the tree), else every worker at once."""
        c = self.c
        hook, port = ATTEMPTS[name]
        procs = (who,) if who else WORKERS
        env = {
            "STABLE_EGRESSD_TEST_COMPROMISE_WHO": who or "",
            "STABLE_EGRESSD_TEST_COMPROMISE": hook,
            "STABLE_EGRESSD_TEST_SIBLING": str(self.sibling.pid),
            "STABLE_EGRESSD_TEST_CRED_FILES": "%s:%s" % (
                os.path.join(c.kdir, "kubeconfig"),
                os.path.join(c.hdir, "token")),
            "STABLE_EGRESSD_TEST_PORT": str(port(c) if port else 9),
        }
        r = c.replica("c-%s-%s" % (who or "w", name), binary=harness.TEST_BIN, env=env)
        out = {p: None for p in procs}
        end = time.monotonic() + 20
        try:
            while time.monotonic() < end and None in out.values():
                for l in r.lines():
                    self.outcome(l, name, hook, out)
                if r.proc.poll() is not None:
                    break
                time.sleep(0.1)
        finally:
            r.stop()
        # The supervisor or the spawner killed by its filter ends the
        # replica; how, is in its exit status or its last line.
        if who == "supervisor" and r.proc.returncode == -signal.SIGSYS:
            out[who] = out[who] or "SIGSYS"
        if who == "spawner" and r.logged_text("spawner died (SIGSYS"):
            out[who] = out[who] or "SIGSYS"
        if who and out[who] is None:
            print("no outcome from %s (%s): rc %s, %s" % (
                who, name, r.proc.returncode, r.logged_text("died")),
                file=sys.stderr)
        return out

    @staticmethod
    def outcome(line, name, hook, out):
        msg = line.get("msg", "")
        if msg.startswith("compromise who="):
            kv = dict(f.split("=", 1) for f in msg.split(" ")[1:4])
            if kv.get("attempt") == hook and kv.get("who") in out:
                out[kv["who"]] = out[kv["who"]] or kv["result"]
        elif SIGSYS_MSG in msg and line.get("worker") in out:
            out[line["worker"]] = out[line["worker"]] or "SIGSYS"

    def check(self, name, got):
        print("%-20s %s" % (name, " ".join(
            "%s=%s" % kv for kv in sorted(got.items()))), file=sys.stderr)
        for proc in sorted(got):
            exp = EXPECT[proc].get(name, "denied")
            with self.subTest(process=proc, attempt=name):
                if exp == "inherited":
                    continue
                self.assertIsNotNone(got[proc], "no outcome reported")
                if exp == "allowed":
                    self.assertEqual(got[proc], "allowed")
                else:
                    self.assertIn(got[proc], ("denied", "SIGSYS"))

    def test_supervisor_and_spawner(self):
        for who in ("supervisor", "spawner"):
            for name in ATTEMPTS:
                if EXPECT[who].get(name) == "inherited":
                    continue
                self.check(name, self.run_attempt(name, who))
        self.assertIsNone(self.sibling.poll(), "the sibling was killed")
        for who in ("supervisor", "spawner"):
            self.assertFalse(os.path.exists("/tmp/stable-egressd-compromise-" + who))

    def test_attempts(self):
        for name in ATTEMPTS:
            self.check(name, self.run_attempt(name))
        # The side effects did not happen either.
        self.assertIsNone(self.sibling.poll(), "the sibling was killed")
        for proc in EXPECT:
            self.assertFalse(os.path.exists(
                "/tmp/stable-egressd-compromise-" + proc))

    def test_release_has_no_hook(self):
        with open(harness.BIN, "rb") as f:
            self.assertNotIn(MARKER, f.read())
        # The marker is what the test build prints: it must be there.
        with open(harness.TEST_BIN, "rb") as f:
            self.assertIn(MARKER, f.read())


if __name__ == "__main__":
    unittest.main()
