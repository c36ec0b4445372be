"""test_docs.py: the manual page and the guides agree with the code.

The man page renders without warnings; its flags are exactly those of
`build/stable-egressd --help` (and of the flag table in
supervisor/config/cfg_flags.c), with their defaults; every metric family the
supervisor exports is documented; the seccomp allowlists listed in
docs/security.md are the ones in each worker's sandbox.c.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MAN = os.path.join(ROOT, "docs", "stable-egressd.8")
OPS = os.path.join(ROOT, "docs", "operations.md")
SEC = os.path.join(ROOT, "docs", "security.md")
BIN = os.path.join(ROOT, "build", "stable-egressd")

# The flags the design fixes: its table of defaults and formats and its
# list of fixed interfaces.
DESIGN_FLAGS = {
    "floating-ip-name", "additional-floating-ip-names",
    "egress-ip-allowlist", "candidate-label", "active-label",
    "prepared-pod-label", "prepared-pod-namespace", "hcloud-token-path",
    "hcloud-endpoint", "hcloud-ca-file", "resync-interval",
    "node-health-port", "node-health-timeout", "node-health-interval",
    "node-unhealthy-grace-period", "node-unprepared-grace-period",
    "leader-elect", "leader-elect-lease-duration",
    "leader-elect-renew-deadline", "leader-elect-retry-period",
    "metrics-bind-address", "health-probe-bind-address", "log-format",
    "log-level", "config", "kubeconfig", "leader-elect-resource-name",
    "leader-elect-resource-namespace", "identity", "dry-run",
    "check-config", "version", "help",
}

MAN_SECTIONS = ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS",
                "CONFIGURATION FILE", "ENVIRONMENT", "EXIT STATUS",
                "SIGNALS", "METRICS", "FILES", "SEE ALSO")

WORKERS = ("probe-worker", "hcloud-worker", "k8s-worker")


def read(path):
    with open(path) as f:
        return f.read()


def skip(msg):
    print("skip: " + msg, file=sys.stderr)
    raise unittest.SkipTest(msg)


def unroff(s):
    """Roff escapes of the page's text back to plain characters."""
    s = re.sub(r"\\f[BIRP]", "", s)
    s = s.replace("\\-", "-").replace("\\e", "\\").replace("\\(dq", '"')
    s = s.replace("\\(mu", "x").replace("\\&", "").replace("\\%", "")
    s = s.replace("\\:", "")
    return s


def man_sections(src):
    """{section title: roff source}."""
    out, cur = {}, None
    for line in src.splitlines():
        m = re.match(r'^\.SH\s+"?([^"]*)"?\s*$', line)
        if m:
            cur = m.group(1).strip()
            out[cur] = ""
        elif cur is not None:
            out[cur] += line + "\n"
    return out


def man_flags(src):
    """{flag: its paragraph (plain text)} for the .TP items of OPTIONS."""
    opts = man_sections(src)["OPTIONS"].splitlines()
    out = {}
    for i, line in enumerate(opts):
        if line.strip() != ".TP" or i + 1 >= len(opts):
            continue
        m = re.match(r"^\.\w+\s+\\-\\-([a-z0-9\\-]+)", opts[i + 1])
        if not m:
            continue
        body = [opts[i + 1]]
        for x in opts[i + 2:]:
            if re.match(r"^\.(TP|SS|SH)\b", x):
                break
            body.append(x)
        out[m.group(1).replace("\\-", "-")] = unroff("\n".join(body))
    return out


def flag_table():
    """{flag: default} from supervisor/config/cfg_flags.c."""
    src = read(os.path.join(ROOT, "supervisor", "config", "cfg_flags.c"))
    out = {}
    for m in re.finditer(r'^\t\{ "([a-z0-9-]+)", CFG_T_\w+, [^,]+, '
                         r'(?:NULL|"[^"]*"),\s*(NULL|"(?:[^"\\]|\\.)*")',
                         src, re.M):
        d = m.group(2)
        out[m.group(1)] = None if d == "NULL" else d[1:-1]
    return out


def help_text():
    if not os.access(BIN, os.X_OK):
        skip("%s not built (run make)" % os.path.relpath(BIN, ROOT))
    p = subprocess.run([BIN, "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       timeout=10)
    if p.returncode != 0:
        raise AssertionError("--help exited %d" % p.returncode)
    return p.stdout.decode()


# The shared argument-checked groups of common/sandbox.h: the call each
# group's rows are about.
SANDBOX_GROUPS = {"SANDBOX_FCNTL_FLAGS": "fcntl",
                  "SANDBOX_OPENAT_RDONLY": "openat",
                  "SANDBOX_INET_CLIENT_SOCKETS": "socket"}


def sandbox_rules(worker):
    """(allowed, {syscall: errno}, checked) from <worker>/sandbox.c's
    rules[]: checked are the calls allowed only with some arguments."""
    src = read(os.path.join(ROOT, worker, "sandbox.c"))
    m = re.search(r"sandbox_rule rules\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    if m is None:
        raise AssertionError("%s/sandbox.c: no rules[] table" % worker)
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    allowed, refused, checked = set(), {}, set()
    for m2 in re.finditer(r"\b(?:SANDBOX_)?ALLOW\(\s*([a-z0-9_]+)", body):
        allowed.add(m2.group(1))
    for m2 in re.finditer(r"\b(?:SANDBOX_)?ALLOW_IF2?\(\s*([a-z0-9_]+)|"
                          r"\bSANDBOX_NO_EXEC\(\s*([a-z0-9_]+)", body):
        allowed.add(m2.group(1) or m2.group(2))
        checked.add(m2.group(1) or m2.group(2))
    for m2 in re.finditer(r"\b(?:SANDBOX_ERRNO|ERRNO|DENY|REFUSE)\(\s*"
                          r"([a-z0-9_]+)\s*,\s*([A-Z0-9]+)", body):
        refused[m2.group(1)] = m2.group(2)
    for m2 in re.finditer(r"\b(?:SANDBOX_ERRNO_IF|ERRNO_IF|DENY_IF)\(\s*"
                          r"([a-z0-9_]+)", body):
        checked.add(m2.group(1))
    if re.search(r"\bSANDBOX_INET_SOCKET\(", body):
        allowed.add("socket")
        checked.add("socket")
    for group, call in SANDBOX_GROUPS.items():
        if re.search(r"\b%s\b" % group, body):
            allowed.add(call)
            checked.add(call)
    for m2 in re.finditer(r"\{\s*SCMP_SYS\(([a-z0-9_]+)\)\s*,\s*"
                          r"([A-Z0-9]+)", body):
        if m2.group(2) == "0":
            allowed.add(m2.group(1))
        else:
            refused[m2.group(1)] = m2.group(2)
    return allowed, refused, checked


def security_section(doc, worker):
    m = re.search(r"^### %s\n(.*?)(?=^##)" % re.escape(worker), doc,
                  re.M | re.S)
    if m is None:
        raise AssertionError("docs/security.md: no section ### %s" % worker)
    return m.group(1)


def paragraph(text, lead):
    m = re.search(r"^%s(.*?)(?:\n\n|\Z)" % re.escape(lead), text,
                  re.M | re.S)
    return m.group(1) if m else None


class ManPage(unittest.TestCase):

    def setUp(self):
        self.src = read(MAN)

    def test_renders_without_warnings(self):
        if shutil.which("man") is None:
            skip("man not installed")
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
        p = subprocess.run(["man", "--warnings", "-l", MAN],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stderr.decode(), "")
        self.assertIn("stable-egressd", p.stdout.decode(errors="replace"))

    def test_sections(self):
        have = list(man_sections(self.src))
        for s in MAN_SECTIONS:
            self.assertIn(s, have)
        self.assertEqual([s for s in have if s in MAN_SECTIONS],
                         list(MAN_SECTIONS))

    def test_flags_match_help(self):
        text = help_text()
        helped = set(re.findall(r"^  --([a-z0-9-]+)", text, re.M))
        self.assertGreater(len(helped), 20)
        self.assertEqual(set(man_flags(self.src)), helped)

    def test_flags_match_table(self):
        self.assertEqual(set(man_flags(self.src)), set(flag_table()))

    def test_design_flags(self):
        flags = man_flags(self.src)
        for f in sorted(DESIGN_FLAGS):
            self.assertIn(f, flags)

    def test_defaults(self):
        flags = man_flags(self.src)
        for name, default in flag_table().items():
            if default in (None, "", "false"):
                continue
            body = " ".join(flags[name].split())
            self.assertIn(default, body, "--%s: default %r not in the "
                          "man page" % (name, default))

    def test_environment(self):
        env = unroff(man_sections(self.src)["ENVIRONMENT"])
        for v in ("KUBECONFIG", "HCLOUD_ENDPOINT", "POD_NAMESPACE",
                  "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
            self.assertIn(v, env)

    def test_exit_status(self):
        ex = man_sections(self.src)["EXIT STATUS"]
        for code in ("0", "1", "2"):
            self.assertRegex(ex, r"(?m)^\.B %s$" % code)

    def test_metrics(self):
        text = unroff(man_sections(self.src)["METRICS"])
        for fam in metric_families():
            self.assertIn(fam, text)


def metric_families():
    src = "".join(read(f) for f in sorted(glob.glob(
        os.path.join(ROOT, "supervisor", "net", "metrics*.c"))))
    fams = set(re.findall(r'prom_family\(\s*p,\s*"([a-z0-9_]+)"', src))
    if len(fams) < 10:
        raise AssertionError("supervisor/net/metrics.c: %d families found" %
                             len(fams))
    return fams


class Operations(unittest.TestCase):

    def test_every_metric_documented(self):
        doc = read(OPS)
        for fam in sorted(metric_families()):
            self.assertIn("`%s`" % fam, doc)

    def test_topics(self):
        doc = read(OPS)
        for s in ("kubectl apply -k", "kubectl -n kube-system create "
                  "secret generic", "--check-config", "--dry-run",
                  "SIGTERM", "kubectl get events -n default "
                  "--field-selector involvedObject.kind=Node",
                  "stable_egressd_worker_restarts_total",
                  'reason="sandbox"', "3600", "120"):
            self.assertIn(s, doc)


class Security(unittest.TestCase):

    def test_allowlists_match_sandbox(self):
        doc = read(SEC)
        for w in WORKERS:
            if not os.path.exists(os.path.join(ROOT, w, "sandbox.c")):
                continue
            allowed, refused, checked = sandbox_rules(w)
            self.assertTrue(allowed, w)
            sec = security_section(doc, w)
            a = paragraph(sec, "System calls allowed:")
            self.assertIsNotNone(a, "%s: no 'System calls allowed:'" % w)
            self.assertEqual(set(re.findall(r"`([a-z0-9_]+)`", a)), allowed,
                             "docs/security.md, %s: allowed" % w)
            r = paragraph(sec, "Refused with an errno:") or ""
            got = dict(re.findall(r"`([a-z0-9_]+)` \(([A-Z0-9]+)", r))
            self.assertEqual(got, refused,
                             "docs/security.md, %s: refused" % w)
            c = paragraph(sec, "Allowed only with checked arguments:") or ""
            self.assertEqual(set(re.findall(r"`([a-z0-9_]+)`", c)), checked,
                             "docs/security.md, %s: checked" % w)

    def test_never_allowed(self):
        # docs/security.md promises no worker can call these.
        never = {"execve", "execveat", "ptrace", "bind", "listen", "accept",
                 "accept4", "mount", "kill", "tkill", "setuid", "setgid",
                 "setresuid", "setresgid", "setreuid", "setregid"}
        self.assertIn("`execve`, `ptrace`, `bind`, `listen`, `accept`",
                      " ".join(read(SEC).split()))
        for w in WORKERS:
            if not os.path.exists(os.path.join(ROOT, w, "sandbox.c")):
                continue
            allowed, _, _ = sandbox_rules(w)
            self.assertEqual(allowed & never, set(), w)


class Portable(unittest.TestCase):
    """The documents name no path of a particular machine."""

    def test_no_machine_paths(self):
        for path in (MAN, OPS, SEC):
            text = read(path)
            for bad in ("/work/", "/tmp/", "/root/", "/home/"):
                self.assertNotIn(bad, text, path)


if __name__ == "__main__":
    unittest.main()
