"""mountlib - shared helpers for the integration tests through a real mount.

The tests run inside the store's network namespace (scripts/test.sh runs
ctest under `nsenter --net=...`), so 127.0.0.1 is the store.  Each test
mounts mpfs from the build tree in one of three modes against the real
store: dual (the Ceph bucket + its NFS view), s3 (radosgw only) or nfs (the
POSIX NFS-Ganesha export).  S3 and NFS are also reached directly (curl with
SigV4, libnfs's nfs-cat/nfs-cp/nfs-ls) to act as "someone else".
"""
import errno
import os
import shutil
import sys
import subprocess
import tempfile
import time
import unittest
import uuid

BUILD = os.environ.get("MPFS_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
MPFS = os.path.join(BUILD, "tools", "mpfs")
S3_ENDPOINT = os.environ.get("MPFS_S3_ENDPOINT", "http://127.0.0.1:7480")
BUCKET = os.environ.get("MPFS_S3_BUCKET", "testbucket")
NFS_BUCKET_URL = os.environ.get("MPFS_NFS_BUCKET_URL", "nfs://127.0.0.1/testbucket")
NFS_POSIX_URL = os.environ.get("MPFS_NFS_POSIX_URL", "")
AK = os.environ.get("AWS_ACCESS_KEY_ID", "")
SK = os.environ.get("AWS_SECRET_ACCESS_KEY", "")


def run(cmd, check=True, timeout=120, **kw):
    return subprocess.run(cmd, check=check, timeout=timeout, capture_output=True, **kw)


# In-process S3 client: no fork, so an open file descriptor of a test is
# never closed (and its file flushed) by a child process.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
from s3lite import S3  # noqa: E402
import delay_proxy as delay_proxy_mod  # noqa: E402
_s3 = S3(S3_ENDPOINT, AK or None, SK or None)


def s3_put(key, data, headers=()):
    st, body = _s3.request("PUT", BUCKET, key, body=data, headers=dict(h.split(": ", 1) for h in headers))
    assert st == 200, (st, body)


def s3_get(key):
    return _s3.get(BUCKET, key)


def s3_delete(key):
    _s3.delete(BUCKET, key)


def s3_head(key):
    st, _ = _s3.request("HEAD", BUCKET, key)
    return st


def s3_list(prefix):
    """All keys under prefix (no delimiter), via ListObjectsV2 pages."""
    return _s3.list_keys(BUCKET, prefix)


def s3_delete_prefix(prefix):
    for k in s3_list(prefix):
        s3_delete(k)


def nfs_cat(url):
    p = run(["nfs-cat", url], check=False, timeout=60)
    return p.stdout if p.returncode == 0 else None


def nfs_put(url, data):
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        run(["nfs-cp", f.name, url])


def delay_proxy(ms):
    """bench/delay_proxy.py in front of the store: every S3 response's first
    byte comes `ms` later, as from a far store.  A context manager whose
    `endpoint` is for Mount(endpoint=...)."""
    return delay_proxy_mod.Running(S3_ENDPOINT, ms)


class Mount:
    """A running mpfs mount; use as a context manager."""

    def __init__(self, mode, prefix, opts="", extra_args=(), cache_dir=None, endpoint=None):
        self.mode = mode
        self.prefix = prefix
        self.mnt = tempfile.mkdtemp(prefix=f"mpfs-{mode}-")
        self.own_cache = cache_dir is None
        self.cache = cache_dir or tempfile.mkdtemp(prefix="mpfs-cache-")
        args = [MPFS, "mount"]
        if mode in ("dual", "s3", "dualposix"):
            args += ["--s3", f"s3://{BUCKET}/{prefix}", "--endpoint", endpoint or S3_ENDPOINT]
        if mode == "dual":
            args += ["--nfs", f"{NFS_BUCKET_URL}/{prefix}"]
        if mode in ("nfs", "dualposix"):
            # dualposix: the bucket and the POSIX export are two stores that
            # the test keeps identical, standing in for an appliance whose
            # NFS side is fully POSIX (ONTAP, VAST, PowerScale)
            args += ["--nfs", f"{NFS_POSIX_URL}/{prefix}"]
        o = f"cache_dir={self.cache},log_level=info"
        if opts:
            o += "," + opts
        self.args = args + ["-o", o] + list(extra_args) + [self.mnt]

    def start(self):
        if self.mode == "dual" and self.prefix:
            # the NFS side must see the prefix as a directory: give it a marker
            s3_put(self.prefix + "/", b"")
        p = run(self.args, check=False, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"mount failed ({p.returncode}): {p.stderr.decode()}")
        self.start_output = p.stderr.decode(errors="replace")  # before the log file
        return self

    def stop(self):
        for _ in range(50):
            p = run(["fusermount3", "-u", self.mnt], check=False)
            if p.returncode == 0:
                break
            time.sleep(0.2)
        # wait for the daemon to finish its commits and exit
        for _ in range(100):
            if not self.mounted():
                break
            time.sleep(0.1)

    def daemon_pid(self):
        """PID of the mpfs daemon serving this mount point, or None."""
        pids = daemon_pids(self.mnt)
        return pids[0] if pids else None

    def mounted(self):
        with open("/proc/mounts") as f:
            return any(line.split()[1] == self.mnt for line in f)

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def log(self):
        try:
            with open(os.path.join(self.cache, "mpfs.log")) as f:
                return f.read()
        except OSError:
            return ""

    def died(self):
        """Is the mount there but its daemon gone (ENOTCONN)?"""
        try:
            os.stat(self.mnt)
            return False
        except OSError as e:
            return e.errno == errno.ENOTCONN

    def cleanup(self):
        if self.mounted() and self.died():
            # the daemon's own words (a sanitizer report, a fatal error)
            # go with its cache directory: print them before it goes
            print(f"mpfs daemon of {self.mnt} died; the end of its log:\n"
                  + self.log()[-20000:], file=sys.stderr)
        if self.mounted():
            self.stop()
        shutil.rmtree(self.mnt, ignore_errors=True)
        if self.own_cache:
            shutil.rmtree(self.cache, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


def daemon_pids(needle):
    """PIDs of mpfs processes whose command line contains needle."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"mpfs") and any(needle.encode() in a for a in cmd):
            out.append(int(p))
    return out


def raw_stats(mnt):
    """The daemon's counters (`mpfs stats MNT --raw`) as a dict of ints."""
    p = run([MPFS, "stats", mnt, "--raw"])
    out = {}
    for line in p.stdout.decode().splitlines():
        k, _, v = line.rpartition(" ")
        out[k] = int(v)
    return out


def unique_prefix(tag):
    return f"it-{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class SeededTestCase(unittest.TestCase):
    """Tests over objects put once for the class under a unique prefix
    (cls.prefix) and deleted after it: a subclass sets TAG and defines
    seed(cls), returning {key below the prefix: bytes}."""
    TAG = "seeded"

    @classmethod
    def seed(cls):
        return {}

    @classmethod
    def setUpClass(cls):
        cls.prefix = unique_prefix(cls.TAG)
        for key, data in cls.seed().items():
            s3_put(f"{cls.prefix}/{key}", data)

    @classmethod
    def tearDownClass(cls):
        s3_delete_prefix(cls.prefix)


def nfs_posix_mkdir(prefix):
    """Create the per-test directory on the POSIX export (NFS-only mode)."""
    run(["nfs-ls", NFS_POSIX_URL], check=False)
    # libnfs-utils has no mkdir: create it through a short-lived mount
    tmp = tempfile.mkdtemp()
    cache = tempfile.mkdtemp()
    p = run([MPFS, "mount", "--nfs", NFS_POSIX_URL, "-o", f"cache_dir={cache}", tmp], check=False)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.decode())
    try:
        os.makedirs(os.path.join(tmp, prefix), exist_ok=True)
    finally:
        run(["fusermount3", "-u", tmp], check=False)
        time.sleep(0.3)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


def wait_until(fn, timeout=20.0, interval=0.2):
    end = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > end:
            return v
        time.sleep(interval)
