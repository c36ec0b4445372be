#!/usr/bin/env python3
"""mkimage.py: the container image from Debian packages, with no registry.

    mkimage.py build --binary B --out DIR [--cache DIR] [--version V]
        Install the packages listed in `packages` (beside this script)
        with mmdebstrap into a root filesystem cached under --cache (keyed
        by the package list, suite and mirrors), prune it, add the binary
        and write DIR/stable-egressd-V.oci.tar (an OCI image layout: one
        layer, no RUN steps) and DIR/stable-egressd-V.packages (the SBOM:
        every Debian package in the image, with its version).  Prints the
        size and package count.
    mkimage.py prune --root R --out DIR [--binary B] [--sbom F]
        Only the pruning: copy from the installed Debian root R what the
        listed packages and their run-time dependencies hold.  The
        Dockerfile runs this step, so both build the same image.

What the image holds: the files of the listed packages and of everything
they depend on (dpkg's own file lists), minus documentation other than
copyright files; the files their maintainer scripts generated (the CA
bundle, ld.so.cache); /etc/passwd and /etc/group with root and nonroot
(65532); an empty /tmp, /proc, /sys, /dev, /run; each package's dpkg
status paragraph under /var/lib/dpkg/status.d (for image scanners, as
distroless images do).  No shell, no dpkg, no apt: nothing in the image
runs a maintainer script, and the daemon execs only itself.

Python 3 standard library only; `build` needs root and mmdebstrap.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGES = os.path.join(HERE, "packages")
SUITE = "bookworm"
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# Documentation never reaches the image; keep dpkg from unpacking it.
DPKG_OPTS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
BINARY_PATH = "/usr/local/bin/stable-egressd"
USER = "65532:65532"
# Dependencies that only a package's maintainer scripts use at install
# time: update-ca-certificates runs under debconf and calls openssl to
# hash the certificates.  The image carries their output, not them.
INSTALL_ONLY = {"ca-certificates": {"openssl", "debconf", "debconf-2.0"}}
# Files maintainer scripts generate, which no package's file list names.
GENERATED = ("/etc/ssl/certs", "/etc/ld.so.cache")
# gconv: glibc's iconv modules (8 MB).  The daemon runs in the C locale,
# and the only conversions its libraries ask for (libidn2: the locale's
# charset to UTF-8) are built into libc.
DROP = re.compile(r"^/usr/share/(man|info|locale|lintian|bug|doc-base)(/|$)|"
                  r"^/usr/share/doc/[^/]+/(?!copyright$)|"
                  r"^/usr/lib/[^/]+/gconv(/|$)")
PASSWD = ("root:x:0:0:root:/root:/usr/sbin/nologin\n"
          "nonroot:x:65532:65532:nonroot:/nonexistent:/usr/sbin/nologin\n")
GROUP = "root:x:0:\nnonroot:x:65532:\n"
NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n"
EMPTY_DIRS = (("/tmp", 0o1777), ("/proc", 0o555), ("/sys", 0o555),
              ("/dev", 0o755), ("/run", 0o755))


def fail(msg):
    sys.stderr.write("mkimage: %s\n" % msg)
    sys.exit(1)


def wanted_packages(path=PACKAGES):
    out = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return out


# ---- dpkg database -------------------------------------------------------
def parse_status(root):
    """Installed packages of root: name -> (fields, raw paragraph)."""
    with open(os.path.join(root, "var/lib/dpkg/status"),
              encoding="utf-8") as f:
        text = f.read()
    pkgs = {}
    for para in text.split("\n\n"):
        fields, key = {}, None
        for line in para.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line
                continue
            key, _, val = line.partition(":")
            fields[key] = val.strip()
        if fields.get("Status", "").endswith(" installed"):
            pkgs[fields["Package"]] = (fields, para.strip() + "\n")
    return pkgs


def dep_groups(fields):
    """Pre-Depends and Depends as lists of alternative package names."""
    out = []
    for key in ("Pre-Depends", "Depends"):
        for group in filter(None, fields.get(key, "").split(",")):
            out.append([a.split()[0].split(":")[0] for a in group.split("|")
                        if a.strip()])
    return out


def closure(pkgs, wanted):
    """The wanted packages and their run-time dependencies, sorted."""
    provides = {}
    for name, (fields, _) in pkgs.items():
        for p in filter(None, fields.get("Provides", "").split(",")):
            provides.setdefault(p.split()[0], name)
    seen, todo = set(), list(wanted)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in pkgs:
            fail("%s is not installed in the root filesystem" % name)
        seen.add(name)
        skip = INSTALL_ONLY.get(name, set())
        for alts in dep_groups(pkgs[name][0]):
            if skip & set(alts):
                continue
            got = [a if a in pkgs else provides.get(a) for a in alts]
            got = [g for g in got if g]
            if not got:
                fail("%s: unsatisfied dependency %s" % (name, "|".join(alts)))
            todo.append(got[0])
    return sorted(seen)


def file_list(root, name, arch):
    info = os.path.join(root, "var/lib/dpkg/info")
    for n in ("%s:%s.list" % (name, arch), "%s.list" % name):
        p = os.path.join(info, n)
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                return [l.rstrip("\n") for l in f if l.strip() not in ("", "/.")]
    fail("no file list for %s" % name)


# ---- copying -------------------------------------------------------------
def canon(root, path):
    """path with every directory symlink resolved inside root; the last
    component stays as it is (a symlink is copied as a symlink)."""
    parts = [p for p in path.split("/") if p]
    out, hops = [], 0
    while parts:
        c = parts.pop(0)
        if c == ".":
            continue
        if c == "..":
            out = out[:-1]
            continue
        full = os.path.join(root, *(out + [c]))
        if parts and os.path.islink(full):
            hops += 1
            if hops > 40:
                fail("symlink loop at %s" % path)
            t = os.readlink(full)
            if t.startswith("/"):
                out = []
            parts = [p for p in t.split("/") if p] + parts
            continue
        out.append(c)
    return "/" + "/".join(out)


def copy_entry(root, out, path):
    """Copy one entry (file, symlink or directory, not its contents),
    creating its parent directories with the root's modes."""
    dst = out + path
    if os.path.lexists(dst):
        return
    parent = os.path.dirname(path)
    if parent != "/" and not os.path.isdir(out + parent):
        copy_entry(root, out, parent)
    st = os.lstat(root + path)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(root + path), dst)
    elif stat.S_ISDIR(st.st_mode):
        os.mkdir(dst)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(root + path, dst)
        os.chmod(dst, stat.S_IMODE(st.st_mode))


def copy_tree(root, out, path):
    copy_entry(root, out, path)
    if os.path.isdir(root + path) and not os.path.islink(root + path):
        for n in sorted(os.listdir(root + path)):
            copy_tree(root, out, path.rstrip("/") + "/" + n)


def write(out, path, data, mode=0o644):
    os.makedirs(os.path.dirname(out + path), exist_ok=True)
    with open(out + path, "w") as f:
        f.write(data)
    os.chmod(out + path, mode)


def prune(root, out, binary=None, sbom=None, wanted=None):
    """Fill out from root; returns [(name, version, arch)] of the image."""
    root, out = os.path.abspath(root), os.path.abspath(out)
    wanted = wanted or wanted_packages()
    pkgs = parse_status(root)
    names = closure(pkgs, wanted)
    os.makedirs(out, exist_ok=True)
    for name in names:
        arch = pkgs[name][0].get("Architecture", "all")
        for p in file_list(root, name, arch):
            c = canon(root, p)
            if DROP.search(p) or DROP.search(c):
                continue
            if os.path.lexists(root + c):   # dpkg's path-exclude: absent
                copy_entry(root, out, c)
    for g in GENERATED:
        if os.path.lexists(root + g):
            copy_tree(root, out, canon(root, g))
    # /lib64 -> usr/lib64 and the like: the binary's interpreter path.
    for n in sorted(os.listdir(root)):
        src = os.path.join(root, n)
        if os.path.islink(src) and os.path.exists(out + canon(root, "/" + n)):
            copy_entry(root, out, "/" + n)
    with open(os.path.join(root, "etc/os-release")) as f:
        write(out, "/etc/os-release", f.read())
    write(out, "/etc/passwd", PASSWD)
    write(out, "/etc/group", GROUP)
    write(out, "/etc/nsswitch.conf", NSSWITCH)
    for name in names:
        write(out, "/var/lib/dpkg/status.d/" + name, pkgs[name][1])
    for d, mode in EMPTY_DIRS:
        os.makedirs(out + d, exist_ok=True)
        os.chmod(out + d, mode)
    if binary:
        os.makedirs(out + os.path.dirname(BINARY_PATH), exist_ok=True)
        shutil.copyfile(binary, out + BINARY_PATH)
        os.chmod(out + BINARY_PATH, 0o755)
    rows = [(n, pkgs[n][0]["Version"], pkgs[n][0].get("Architecture", ""))
            for n in names]
    if sbom:
        with open(sbom, "w") as f:
            f.write("# Debian packages in the image: name version "
                    "architecture\n# requested: %s\n" % " ".join(wanted))
            for r in rows:
                f.write("%s %s %s\n" % r)
    return rows


# ---- OCI image layout ----------------------------------------------------
def tree_tar(src, fileobj, epoch, prefix=""):
    """A deterministic tar of src: sorted, owned by root, mtime epoch."""
    with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT) as t:
        paths = []
        for d, dirs, files in os.walk(src):
            dirs.sort()
            for n in sorted(dirs + files):
                paths.append(os.path.join(d, n))
        for full in sorted(paths, key=lambda p: os.path.relpath(p, src)):
            ti = t.gettarinfo(full, prefix + os.path.relpath(full, src))
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            ti.mtime = epoch
            if ti.isreg():
                with open(full, "rb") as f:
                    t.addfile(ti, f)
            else:
                t.addfile(ti)


def blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs/sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)


def write_oci(rootfs, layout, version, epoch, packages):
    """An OCI image layout in the directory layout; returns (uncompressed
    layer size, compressed size)."""
    shutil.rmtree(layout, ignore_errors=True)
    os.makedirs(os.path.join(layout, "blobs/sha256"))
    raw = io.BytesIO()
    tree_tar(rootfs, raw, epoch)
    raw = raw.getvalue()
    gz = gzip.compress(raw, compresslevel=6, mtime=0)
    layer, layer_size = blob(layout, gz)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    config = {
        "created": created, "architecture": "amd64", "os": "linux",
        "config": {
            "User": USER,
            "Entrypoint": [BINARY_PATH],
            "ExposedPorts": {"8080/tcp": {}, "8081/tcp": {}},
            "Env": ["PATH=/usr/local/bin:/usr/bin"],
            "Labels": {
                "org.opencontainers.image.title": "stable-egressd",
                "org.opencontainers.image.version": version,
                "org.opencontainers.image.base.name":
                    "debian:%s (packages: %s)" % (SUITE, " ".join(packages)),
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [
            "sha256:" + hashlib.sha256(raw).hexdigest()]},
        "history": [{"created": created, "created_by":
                     "mkimage.py: Debian %s packages %s, stable-egressd %s"
                     % (SUITE, " ".join(packages), version)}],
    }
    cfg, cfg_size = blob(layout, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": cfg, "size": cfg_size},
        "layers": [{"mediaType":
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer, "size": layer_size}],
    }
    man, man_size = blob(layout, json.dumps(manifest, sort_keys=True).encode())
    index = {"schemaVersion": 2,
             "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{
                 "mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": man, "size": man_size,
                 "annotations": {"org.opencontainers.image.ref.name": version},
             }]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f, sort_keys=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return len(raw), len(gz)


# ---- build ---------------------------------------------------------------
def cache_key(wanted):
    h = hashlib.sha256()
    for part in (SUITE,) + MIRRORS + DPKG_OPTS + tuple(wanted):
        h.update(part.encode() + b"\n")
    return h.hexdigest()[:16]


def debootstrap(cache, wanted):
    """The installed root filesystem for wanted, built once per key."""
    key = cache_key(wanted)
    root = os.path.join(cache, "rootfs-" + key)
    done = root + ".done"
    if os.path.exists(done):
        return root, None
    if os.geteuid() != 0:
        fail("building the root filesystem needs root (mmdebstrap)")
    if shutil.which("mmdebstrap") is None:
        fail("mmdebstrap is missing: make image-deps")
    os.makedirs(cache, exist_ok=True)
    for n in os.listdir(cache):     # other keys: stale
        if n.startswith("rootfs-"):
            p = os.path.join(cache, n)
            shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
    t0 = time.monotonic()
    argv = ["mmdebstrap", "--quiet", "--mode=root", "--variant=essential",
            "--include=" + ",".join(wanted)]
    argv += ["--dpkgopt=" + o for o in DPKG_OPTS]
    argv += [SUITE, root] + list(MIRRORS)
    if subprocess.run(argv, stdin=subprocess.DEVNULL).returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        fail("mmdebstrap failed")
    with open(done, "w") as f:
        f.write(" ".join(argv) + "\n")
    return root, time.monotonic() - t0


def build(a):
    t0 = time.monotonic()
    wanted = wanted_packages()
    root, secs = debootstrap(a.cache, wanted)
    stage = os.path.join(a.out, "rootfs")
    shutil.rmtree(stage, ignore_errors=True)
    name = "stable-egressd-%s" % a.version
    sbom = os.path.join(a.out, name + ".packages")
    rows = prune(root, stage, a.binary, sbom, wanted)
    layout = os.path.join(a.out, "oci")
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    size, gz = write_oci(stage, layout, a.version, epoch, wanted)
    archive = os.path.join(a.out, name + ".oci.tar")
    with open(archive + ".tmp", "wb") as f:
        tree_tar(layout, f, epoch)
    os.replace(archive + ".tmp", archive)
    print("image: %s: %.1f MB uncompressed, %.1f MB compressed, "
          "%d Debian packages (list: %s)" %
          (os.path.relpath(archive), size / 1e6, gz / 1e6, len(rows),
           os.path.relpath(sbom)))
    print("image: root filesystem %s; image written in %.1f s" %
          ("cached" if secs is None else "built in %.0f s" % secs,
           time.monotonic() - t0 - (secs or 0)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--binary", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--cache", default=None)
    b.add_argument("--version", default="dev")
    p = sub.add_parser("prune")
    p.add_argument("--root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--binary")
    p.add_argument("--sbom")
    a = ap.parse_args()
    if a.cmd == "build":
        a.cache = a.cache or os.path.join(a.out, "cache")
        build(a)
    else:
        rows = prune(a.root, a.out, a.binary, a.sbom)
        print("mkimage: %d packages in %s" % (len(rows), a.out))


if __name__ == "__main__":
    main()
