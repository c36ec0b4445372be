#!/usr/bin/env python3
"""container.py: run a command the way Kubernetes runs a pod's container,
with no container runtime (none can start containers on these machines).

    c = Container(workdir, rootfs, argv, env, volumes, hostname)
    c.start(); c.pid (the command's pid, seen from here); c.stop()

What the runtime would do, done here: private mount, PID and UTS
namespaces (the command is PID 1 and sees only its own processes); the
root filesystem (an image's extracted layer, or "/" for the host's)
through an overlay whose upper layer holds only the mountpoints, then
made read-only (readOnlyRootFilesystem); /proc, read-only /sys, a tmpfs
/dev with null, zero, full, random, urandom and tty; /etc/hosts,
/etc/hostname, /etc/resolv.conf and /dev/termination-log as the kubelet
mounts them; each volume (the service-account directory, a Secret)
bind-mounted read-only; the hostname set to the pod's name; then
chroot, uid and gid 65532 with 65532 as the only supplementary group
(fsGroup), every capability set (bounding, ambient, inheritable,
permitted, effective) empty, no_new_privs (allowPrivilegeEscalation:
false), and exec.  Not reproduced: the runtime's seccomp profile
(RuntimeDefault); the daemon installs its own, stricter one.  The
network namespace is the caller's: tests make a private one for the
whole test process (private_netns()).

Run with `--spec FILE` by `unshare` (see Container.start); not by hand.
"""
import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import sys
import time

from harness import comm

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), "deploy", "image"))
from mkimage import canon  # noqa: E402  (symlinks resolved inside a root)

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
CLONE_NEWNET = 0x40000000
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def mount(src, target, fstype, flags, data=None):
    check(libc.mount(src and src.encode(), target.encode(),
                     fstype and fstype.encode(), ctypes.c_ulong(flags),
                     data and data.encode()), "mount %s" % target)


def private_netns():
    """Move the calling process (call before any thread starts) into a
    network namespace of its own with lo up: the chart's fixed ports
    (:8080, :8081) and the fakes then collide with nothing else."""
    check(libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def namespaces_allowed():
    """None, or why private mount, PID and network namespaces are refused."""
    try:
        p = subprocess.run(["unshare", "--mount", "--pid", "--uts", "--net",
                            "--fork", "true"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "unshare: %s" % e
    if p.returncode != 0:
        return "unshare refused: %s" % p.stdout.decode().strip()[:200]
    return None


def isolate():
    """None once in a private network namespace, else why not (tests
    then skip with that reason)."""
    reason = namespaces_allowed()
    if reason is None:
        private_netns()
    return reason


class Container:
    def __init__(self, workdir, rootfs, argv, env, volumes, hostname,
                 uid=65532, gid=65532, log_path=None):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.spec = {"rootfs": os.path.abspath(rootfs), "argv": list(argv),
                     "env": dict(env), "volumes": dict(volumes),
                     "hostname": hostname, "uid": uid, "gid": gid,
                     "workdir": os.path.abspath(workdir)}
        self.log_path = log_path or os.path.join(workdir, "container.log")
        self.proc = None
        self.pid = None

    def start(self, timeout=10):
        spec = os.path.join(self.dir, "spec.json")
        with open(spec, "w") as f:
            json.dump(self.spec, f)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--pid", "--uts", "--fork",
             "--propagation", "private", "--kill-child",
             sys.executable, os.path.abspath(__file__), "--spec", spec],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        # The command is unshare's only child; wait until it has exec'd.
        end = time.monotonic() + timeout
        want = os.path.basename(self.spec["argv"][0])[:15]
        while time.monotonic() < end:
            kids = child_pids(self.proc.pid)
            if kids and comm(kids[0]) == want:
                self.pid = kids[0]
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("container did not start: %s" % self.tail())

    def tail(self, n=20):
        with open(self.log_path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode(
                errors="replace")

    def kill(self, sig):
        if self.proc.poll() is None and self.pid:
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """The command's exit status (unshare passes it on), or None."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc is None:
            return None
        self.kill(sig)
        rc = self.wait(timeout)
        if rc is None:
            self.kill(signal.SIGKILL)
            rc = self.proc.wait(10)
        self.log.close()
        return rc


def child_pids(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


# ---- inside the namespaces (PID 1 until exec) ----------------------------
def write(path, data, mode=0o644):
    with open(path, "w") as f:
        f.write(data)
    os.chmod(path, mode)


def kubelet_files(spec):
    """/etc/hosts, /etc/hostname, /etc/resolv.conf as the kubelet writes
    them, and the termination log; host paths by container path."""
    d = os.path.join(spec["workdir"], "kubelet")
    os.makedirs(d, exist_ok=True)
    name = spec["hostname"]
    files = {
        "/etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
                      "127.0.0.1\t%s\n" % name,
        "/etc/hostname": name + "\n",
        "/etc/resolv.conf": "search kube-system.svc.cluster.local "
                            "svc.cluster.local cluster.local\n"
                            "nameserver 127.0.0.1\noptions ndots:5\n",
        "/dev/termination-log": "",
    }
    out = {}
    for path, data in files.items():
        host = os.path.join(d, path.strip("/").replace("/", "_"))
        write(host, data, 0o666 if path.startswith("/dev/") else 0o644)
        out[path] = host
    return out


def setup_root(spec):
    new = os.path.join(spec["workdir"], "root")
    upper, work = (os.path.join(spec["workdir"], n) for n in ("up", "wk"))
    for d in (new, upper, work):
        os.makedirs(d, exist_ok=True)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("overlay", new, "overlay", 0, "lowerdir=%s,upperdir=%s,workdir=%s"
          % (spec["rootfs"], upper, work))
    files = kubelet_files(spec)
    # Mountpoints go into the overlay's upper layer, as a runtime puts
    # them into the container's own layer; the image is not touched.
    # Their paths are resolved inside the new root (/var/run -> /run on
    # the host's), never through a symlink out of it.
    binds = dict(files)
    binds.update(spec["volumes"])
    binds = {canon(new, t): src for t, src in binds.items()}
    for target, src in binds.items():
        if os.path.isdir(src):
            os.makedirs(new + target, exist_ok=True)
        elif not target.startswith("/dev/"):
            os.makedirs(os.path.dirname(new + target), exist_ok=True)
            if not os.path.exists(new + target):
                write(new + target, "")
    for d in ("/proc", "/sys", "/dev"):
        os.makedirs(new + d, exist_ok=True)
    mount(None, new, None, MS_REMOUNT | MS_RDONLY)
    mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("sysfs", new + "/sys", "sysfs",
          MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("tmpfs", new + "/dev", "tmpfs", MS_NOSUID, "mode=755,size=64k")
    for dev in DEVICES:
        write(new + "/dev/" + dev, "")
        mount("/dev/" + dev, new + "/dev/" + dev, None, MS_BIND)
    for i, n in enumerate(("stdin", "stdout", "stderr")):
        os.symlink("/proc/self/fd/%d" % i, new + "/dev/" + n)
    os.symlink("/proc/self/fd", new + "/dev/fd")
    for target, src in binds.items():
        if target == "/dev/termination-log":
            write(new + target, "")
        mount(src, new + target, None, MS_BIND)
        if target != "/dev/termination-log":
            mount(None, new + target, None,
                  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    return new


def drop_privileges(uid, gid):
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "capbset drop")
    check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0),
          "ambient clear")
    os.setgroups([gid])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)     # clears permitted and effective
    # The inheritable set survives setuid: clear it (capset, version 3).
    hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    check(libc.capset(hdr, data), "capset")
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def inside(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    new = setup_root(spec)
    name = spec["hostname"].encode()
    check(libc.sethostname(name, len(name)), "sethostname")
    os.chroot(new)
    os.chdir("/")
    drop_privileges(spec["uid"], spec["gid"])
    os.execve(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--spec":
        sys.exit("usage: container.py --spec FILE (run by Container.start)")
    try:
        inside(sys.argv[2])
    except OSError as e:
        sys.stderr.write("container: %s\n" % e)
        sys.exit(127)
