"""Operations (issue 10) through the real mount against the real store.

Install: `cmake --install` into a temporary prefix, then mount from that
tree the three ways an operator does: an /etc/fstab line of type fuse.mpfs
(mount(8) -> mount.fuse3 -> mpfs), the systemd unit template's ExecStart
with a per-mount config file, and the generated man page and bash
completion checked against the binary's own option table.
"""
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import mountlib as ml  # noqa: E402


def mounted(mnt):
    """Is mnt a mount point in this mount namespace?"""
    with open("/proc/mounts") as f:
        return any(line.split()[1] == mnt for line in f)


def ctl(mnt, *args, check=True, **kw):
    p = ml.run([ml.MPFS, "ctl", mnt] + list(args), check=False, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"mpfs ctl {' '.join(args)} -> {p.returncode}: {p.stderr.decode()}")
    return p


def status(mnt):
    """`mpfs ctl status` as a dict of its 'key value' lines."""
    out = {}
    for line in ctl(mnt, "status").stdout.decode().splitlines():
        if line and not line.startswith(" ") and not line.endswith(":"):
            k, _, v = line.partition(" ")
            out[k] = v.strip()
    return out


def size_of(text):
    """'12.0 MiB of 256.0 MiB' -> bytes used."""
    num, unit = text.split()[:2]
    return float(num) * {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[unit]


class Ctl(unittest.TestCase):
    """Every `mpfs ctl` command through a real S3 mount, and its effect.
    The data/ prefix is declared immutable, so without an invalidation the
    mount would serve the old content and listing forever."""

    def setUp(self):
        self.prefix = ml.unique_prefix("ctl")
        ml.s3_put(self.prefix + "/data/f.txt", b"version A\n")
        ml.s3_put(self.prefix + "/data/sub/g.txt", b"g A\n")
        self.m = ml.Mount("s3", self.prefix, opts="policy=data:immutable").start()
        self.mnt = self.m.mnt

    def tearDown(self):
        self.m.cleanup()
        ml.s3_delete_prefix(self.prefix)

    def read(self, *parts):
        with open(self.m.path(*parts), "rb") as f:
            return f.read()

    def test_status(self):
        st = status(self.mnt)
        self.assertEqual(st["mountpoint"], self.mnt)
        self.assertEqual(st["mode"], "s3")
        self.assertIn(f"s3://{ml.BUCKET}/{self.prefix}", st["s3"])
        self.assertEqual(st["cache_dir"], self.m.cache)
        self.assertIn("of 256.0 MiB", st["cache_ram"])
        self.assertIn("cond-put", st["s3_caps"])  # probed on radosgw at mount
        self.assertNotIn("nfs_caps", st)
        self.assertEqual(st["journal"].split()[0], "0")
        out = ctl(self.mnt, "status").stdout.decode()
        self.assertIn("routes (probed at mount):", out)
        self.assertRegex(out, r"read-sequential\s+-> s3")
        pid = int(st["pid"])
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            self.assertIn(self.m.cache.encode(), f.read())

    def test_rescued_names_paths(self):
        self.assertEqual(status(self.mnt)["lost+found"].split()[0], "0")
        self.assertEqual(ctl(self.mnt, "rescued").stdout, b"")
        # a file the writeback rescued (name: path with '/' escaped, then
        # the time), as a crashed or rejected commit leaves it
        lf = os.path.join(self.m.cache, "lost+found")
        name = "data%2Fsub%2Fresult%25.csv.20261206T101500Z-000000001"
        with open(os.path.join(lf, name), "wb") as f:
            f.write(b"x" * 12)
        st = status(self.mnt)
        self.assertEqual(st["lost+found"].split()[0], "1")
        self.assertIn("mpfs ctl MOUNTPOINT rescued", st["lost+found"])
        lines = ctl(self.mnt, "rescued").stdout.decode().splitlines()
        self.assertEqual(len(lines), 1)
        when, size, path, where = lines[0].split("\t")
        self.assertEqual((size, path, where), ("12", "data/sub/result%.csv",
                                                os.path.join(lf, name)))

    def test_invalidate_file(self):
        self.assertEqual(self.read("data", "f.txt"), b"version A\n")
        ml.s3_put(self.prefix + "/data/f.txt", b"version B, longer\n")
        time.sleep(1.5)  # past attr_timeout: only the immutable policy keeps A now
        self.assertEqual(self.read("data", "f.txt"), b"version A\n")
        before = int(status(self.mnt)["invalidations"])
        out = ctl(self.mnt, "invalidate", self.m.path("data", "f.txt")).stdout.decode()
        self.assertIn("invalidated data/f.txt", out)
        self.assertEqual(self.read("data", "f.txt"), b"version B, longer\n")
        self.assertGreater(int(status(self.mnt)["invalidations"]), before)
        # a relative PATH is relative to the mount point
        ml.s3_put(self.prefix + "/data/f.txt", b"version C\n")
        ctl(self.mnt, "invalidate", "data/f.txt")
        self.assertEqual(self.read("data", "f.txt"), b"version C\n")

    def test_invalidate_recursive(self):
        self.assertEqual(sorted(os.listdir(self.m.path("data"))), ["f.txt", "sub"])
        self.assertEqual(self.read("data", "f.txt"), b"version A\n")
        self.assertEqual(self.read("data", "sub", "g.txt"), b"g A\n")
        ml.s3_put(self.prefix + "/data/new.txt", b"new\n")
        time.sleep(1.5)  # past attr/entry timeouts: only the policy keeps the old listing
        self.assertEqual(sorted(os.listdir(self.m.path("data"))), ["f.txt", "sub"])
        # a directory alone: its listing is taken again
        ctl(self.mnt, "invalidate", "data")
        self.assertEqual(sorted(os.listdir(self.m.path("data"))), ["f.txt", "new.txt", "sub"])
        ml.s3_put(self.prefix + "/data/sub/g.txt", b"g B\n")
        ml.s3_put(self.prefix + "/data/f.txt", b"version B\n")
        time.sleep(1.5)
        self.assertEqual(self.read("data", "sub", "g.txt"), b"g A\n")
        self.assertEqual(self.read("data", "f.txt"), b"version A\n")
        # -r: everything below, files in subdirectories included
        ctl(self.mnt, "invalidate", "-r", self.m.path("data"))
        self.assertEqual(self.read("data", "sub", "g.txt"), b"g B\n")
        self.assertEqual(self.read("data", "f.txt"), b"version B\n")

    def test_invalidate_missing_parent_fails(self):
        p = ctl(self.mnt, "invalidate", "no/such/file", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("No such file or directory", p.stderr.decode())
        p = ctl(self.mnt, "invalidate", "/elsewhere/x", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("not under the mount point", p.stderr.decode())

    def test_flush_commits_open_files(self):
        # The writer is its own process: a close() of any copy of the fd
        # (a fork+exec from this process would close one) makes the kernel
        # send FLUSH, which commits; `flush` must do it with the file open.
        key = self.prefix + "/w.bin"
        writer = subprocess.Popen(
            [sys.executable, "-c",
             "import os,sys\nf=open(sys.argv[1],'wb')\nf.write(bytes(range(256))*1200)\nf.flush()\n"
             "print('ready',flush=True)\nsys.stdin.readline()\nf.close()\n", self.m.path("w.bin")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            self.assertEqual(writer.stdout.readline(), b"ready\n")
            self.assertEqual(ml.s3_head(key), 404)
            self.assertNotEqual(size_of(status(self.mnt)["staging"]), 0)
            out = ctl(self.mnt, "flush").stdout.decode()
            self.assertIn("committed 1 file", out)
            self.assertEqual(ml.s3_get(key), bytes(range(256)) * 1200)
            self.assertIn("committed 0 files", ctl(self.mnt, "flush").stdout.decode())
        finally:
            writer.communicate(b"\n", timeout=60)

    def test_drop_cache(self):
        data = os.urandom(3 << 20)
        ml.s3_put(self.prefix + "/big.bin", data)
        self.assertEqual(self.read("big.bin"), data)
        used = size_of(status(self.mnt)["cache_ram"])
        self.assertGreaterEqual(used, 3 << 20)
        out = ctl(self.mnt, "drop-cache").stdout.decode()
        self.assertRegex(out, r"cache .* -> 0 B")
        self.assertEqual(size_of(status(self.mnt)["cache_ram"]), 0)
        self.assertEqual(self.read("big.bin"), data)  # refetched, same bytes

    def test_log_level(self):
        ctl(self.mnt, "log-level", "debug")
        self.assertEqual(status(self.mnt)["log_level"], "debug")
        self.read("data", "f.txt")
        ctl(self.mnt, "invalidate", "data/f.txt")
        self.read("data", "f.txt")
        self.assertIn("debug:", self.m.log())
        ctl(self.mnt, "log-level", "error")
        n = self.m.log().count("debug:")
        ctl(self.mnt, "invalidate", "data/f.txt")
        self.read("data", "f.txt")
        self.assertEqual(self.m.log().count("debug:"), n)
        p = ctl(self.mnt, "log-level", "loud", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("error, warn, info, debug", p.stderr.decode())

    def test_socket_private_and_peer_checked(self):
        sock = os.path.join(self.m.cache, "ctl.sock")
        st = os.stat(sock)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertEqual(st.st_uid, os.getuid())
        nobody = 65534

        def as_nobody():
            os.setgroups([])
            os.setgid(nobody)
            os.setuid(nobody)

        probe = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
                 "try:\n s.connect(sys.argv[1])\nexcept OSError as e:\n print('connect', e.errno); sys.exit(0)\n"
                 "s.sendall(b'status\\n'); print(s.makefile().read())")
        # the file mode stops another user at connect() ...
        os.chmod(os.path.dirname(sock), 0o755)
        p = subprocess.run(["/usr/bin/python3", "-c", probe, sock], capture_output=True,
                           preexec_fn=as_nobody, timeout=30)
        self.assertIn("connect 13", p.stdout.decode())  # EACCES
        # ... and a socket made reachable by mistake still refuses (SO_PEERCRED)
        os.chmod(sock, 0o666)
        try:
            p = subprocess.run(["/usr/bin/python3", "-c", probe, sock], capture_output=True,
                               preexec_fn=as_nobody, timeout=30)
        finally:
            os.chmod(sock, 0o600)
        out = p.stdout.decode()
        self.assertIn("ERR 1 permission denied", out, p.stderr.decode())
        self.assertNotIn("mountpoint", out)
        self.assertIn("refused a request from uid 65534", self.m.log())

    def test_not_an_mpfs_mount(self):
        p = ml.run([ml.MPFS, "ctl", "/tmp", "status"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not an mpfs mount point", p.stderr.decode())


raw_stats = ml.raw_stats


def direct_read(path):
    """Read a whole file with O_DIRECT: past the kernel's page cache, so
    every read reaches the daemon (and its counters)."""
    import mmap
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        size = os.fstat(fd).st_size
        buf = mmap.mmap(-1, max(4096, (size + 4095) // 4096 * 4096))
        got = 0
        while got < size:
            n = os.preadv(fd, [memoryview(buf)[got:]], got)
            if n <= 0:
                break
            got += n
        return bytes(buf[:got])
    finally:
        os.close(fd)


class Stats(unittest.TestCase):
    """`mpfs stats`: the counters parse, and move with the workload."""

    def setUp(self):
        self.prefix = ml.unique_prefix("stats")
        self.data = os.urandom(3 << 20)
        ml.s3_put(self.prefix + "/f.bin", self.data)
        self.m = ml.Mount("s3", self.prefix).start()

    def tearDown(self):
        self.m.cleanup()
        ml.s3_delete_prefix(self.prefix)

    def test_counters_move(self):
        s0 = raw_stats(self.m.mnt)
        for k in ("fuse.read.count", "fuse.bytes_read", "cache.hits", "cache.misses",
                  "cache.ram_budget", "staging.bytes", "journal.files", "memory.rss_bytes",
                  "backend.s3.bytes_read"):
            self.assertIn(k, s0)
        self.assertEqual(s0["journal.files"], 0)
        self.assertEqual(s0["cache.ram_budget"], 256 << 20)
        self.assertGreater(s0["memory.rss_bytes"], 1 << 20)
        self.assertEqual(direct_read(self.m.path("f.bin")), self.data)
        # a readahead unit may still be in flight when the read returns (it
        # is counted when it lands): wait until the backend counters settle
        s1 = raw_stats(self.m.mnt)
        for _ in range(30):
            time.sleep(0.1)
            again = raw_stats(self.m.mnt)
            if again["backend.s3.bytes_read"] == s1["backend.s3.bytes_read"]:
                break
            s1 = again
        self.assertGreater(s1["fuse.read.count"], s0["fuse.read.count"])
        self.assertEqual(s1["fuse.bytes_read"] - s0["fuse.bytes_read"], len(self.data))
        self.assertGreaterEqual(s1["backend.s3.bytes_read"] - s0["backend.s3.bytes_read"], len(self.data))
        self.assertGreater(s1["backend.s3.read.count"], s0.get("backend.s3.read.count", 0))
        self.assertGreater(s1["cache.misses"], s0["cache.misses"])
        # the file was read front to back and closed: a sequential reader
        self.assertEqual(s1["files.closed_sequential"] - s0["files.closed_sequential"], 1)
        self.assertEqual(s1["files.reading"], 0)
        self.assertGreaterEqual(s1["readahead.units_issued"], s1["readahead.units_used"])
        self.assertEqual(s1["readahead.units_wasted"],
                         s1["readahead.units_issued"] - s1["readahead.units_used"])
        hist = sum(v for k, v in s1.items() if k.startswith("fuse.read.le_us."))
        self.assertEqual(hist, s1["fuse.read.count"])
        # again: served by the block cache, not the backend
        self.assertEqual(direct_read(self.m.path("f.bin")), self.data)
        s2 = raw_stats(self.m.mnt)
        self.assertGreater(s2["cache.hits"], s1["cache.hits"])
        self.assertEqual(s2["backend.s3.bytes_read"], s1["backend.s3.bytes_read"])
        # a failed request counts as an error (a missing name is not one:
        # lookup answers it with a negative entry)
        with self.assertRaises(OSError):
            os.getxattr(self.m.path("f.bin"), "user.no-such-attribute")
        s3 = raw_stats(self.m.mnt)
        self.assertGreater(s3["fuse.xattr.errors"], s2.get("fuse.xattr.errors", 0))

    def stats_file(self):
        with open(self.m.path(".mpfs", "stats")) as f:
            text = f.read()
        out = {}
        for line in text.splitlines():
            k, _, v = line.rpartition(" ")
            out[k] = int(v)
        return out

    def test_virtual_stats_file(self):
        self.assertNotIn(".mpfs", os.listdir(self.m.mnt))  # hidden from listings
        # the table of fs/virt.c: the stats report and the announced-reads file
        self.assertEqual(sorted(os.listdir(self.m.path(".mpfs"))), ["prefetch", "stats"])
        st = os.stat(self.m.path(".mpfs", "stats"))
        self.assertEqual(st.st_mode & 0o777, 0o444)
        s0 = self.stats_file()
        self.assertLessEqual(set(s0), set(raw_stats(self.m.mnt)))  # the counters of mpfs stats
        direct_read(self.m.path("f.bin"))
        s1 = self.stats_file()
        self.assertEqual(s1["fuse.bytes_read"] - s0["fuse.bytes_read"], len(self.data))
        self.assertGreater(s1["backend.s3.read.count"], s0.get("backend.s3.read.count", 0))
        # read-only, even for root
        with self.assertRaises(PermissionError):
            open(self.m.path(".mpfs", "stats"), "w")
        with self.assertRaises(FileNotFoundError):
            os.stat(self.m.path(".mpfs", "nope"))

    def test_stats_file_read_by_many_at_once(self):
        # Readers that close as soon as their read returns: the daemon's
        # release of one handle runs while the thread that answered its read
        # is still returning (a sanitized daemon once died of it in CI).
        path = self.m.path(".mpfs", "stats")
        failures = []

        def reader():
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline and not failures:
                try:
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        text = os.read(fd, 1 << 16)
                    finally:
                        os.close(fd)
                    if b"fuse.bytes_read" not in text:
                        failures.append(f"short stats read: {text[:80]!r}")
                except OSError as e:
                    failures.append(repr(e))

        threads = [threading.Thread(target=reader) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])
        self.assertFalse(self.m.died(), "the daemon died under concurrent stats reads")

    def test_table_and_watch(self):
        direct_read(self.m.path("f.bin"))
        out = ml.run([ml.MPFS, "stats", self.m.mnt]).stdout.decode()
        self.assertRegex(out, r"(?m)^read\s+\d+\s+0\s")
        self.assertRegex(out, r"(?m)^s3 read\s+\d+")
        self.assertIn("cache ram", out)
        stop = threading.Event()

        def reader():
            while not stop.is_set():
                direct_read(self.m.path("f.bin"))

        t = threading.Thread(target=reader)
        t.start()
        try:
            p = ml.run([ml.MPFS, "stats", self.m.mnt, "--watch", "--count", "3", "--interval", "0.5"])
        finally:
            stop.set()
            t.join()
        lines = p.stdout.decode().strip().splitlines()
        self.assertEqual(len(lines), 4, lines)
        self.assertIn("read/s", lines[0])
        rates = [float(line.split()[3]) for line in lines[1:]]
        self.assertGreater(max(rates), 0, lines)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PROM_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*)\})? '
                       r'([0-9.eE+-]+|\+Inf|NaN)$')


def scrape(port):
    """GET the metrics and parse the text format strictly: every line is a
    comment or `name{labels} value`.  Returns {(name, labels): value}."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = PROM_LINE.match(line)
        assert m, f"not Prometheus text: {line!r}"
        out[(m.group(1), m.group(3) or "")] = float(m.group(5))
    return out


class Prometheus(unittest.TestCase):
    def test_scrape(self):
        port = free_port()
        prefix = ml.unique_prefix("prom")
        data = os.urandom(1 << 20)
        ml.s3_put(prefix + "/f.bin", data)
        try:
            with ml.Mount("s3", prefix, opts=f"metrics_port={port}") as m:
                s0 = scrape(port)
                self.assertEqual(direct_read(m.path("f.bin")), data)
                s1 = scrape(port)
        finally:
            ml.s3_delete_prefix(prefix)
        key = ("mpfs_fuse_request_seconds_count", 'op="read"')
        self.assertGreater(s1[key], s0[key])
        rd = ("mpfs_backend_read_bytes_total", 'side="s3"')
        self.assertGreaterEqual(s1[rd] - s0[rd], len(data))
        self.assertEqual(s1[("mpfs_fuse_bytes_total", 'dir="read"')]
                         - s0[("mpfs_fuse_bytes_total", 'dir="read"')], len(data))
        self.assertEqual(s1[("mpfs_cache_budget_bytes", 'tier="ram"')], 256 << 20)
        self.assertGreater(s1[("mpfs_resident_memory_bytes", "")], 0)
        # histogram: cumulative buckets ending at +Inf == count
        buckets = sorted((float(k[1].split('le="')[1].rstrip('"')), v) for k, v in s1.items()
                         if k[0] == "mpfs_fuse_request_seconds_bucket" and k[1].startswith('op="read"')
                         and "+Inf" not in k[1])
        counts = [v for _, v in buckets]
        self.assertEqual(counts, sorted(counts))
        self.assertEqual(s1[("mpfs_fuse_request_seconds_bucket", 'op="read",le="+Inf"')], s1[key])
        self.assertLessEqual(counts[-1], s1[key])

    def test_loopback_only(self):
        port = free_port()
        prefix = ml.unique_prefix("prom")
        with ml.Mount("s3", prefix, opts=f"metrics_port={port}") as m:
            with open("/proc/net/tcp") as f:
                listen = [l.split() for l in f.readlines()[1:] if l.split()[3] == "0A"]
            local = [l[1] for l in listen if int(l[1].split(":")[1], 16) == port]
            self.assertEqual(local, ["0100007F:%04X" % port], m.log())


class Warmup(ml.SeededTestCase):
    N = 24
    SIZE = 1 << 20
    TAG = "warm"

    @classmethod
    def seed(cls):
        return {f"data/f{i:02d}": bytes([i]) * cls.SIZE for i in range(cls.N)}

    def fetched(self, m):
        return raw_stats(m.mnt).get("backend.s3.bytes_read", 0)

    def test_warm_then_skip(self):
        total = self.N * self.SIZE
        with ml.Mount("s3", self.prefix) as m:
            b0 = self.fetched(m)
            p = ml.run([ml.MPFS, "warmup", m.path("data")], check=False)
            err = p.stderr.decode()
            self.assertEqual(p.returncode, 0, err)
            self.assertIn(f"warmup: {self.N} files, 24.0 MiB", err)
            self.assertIn(f"{self.N}/{self.N} files", err)  # progress line (not a tty)
            b1 = self.fetched(m)
            self.assertGreaterEqual(b1 - b0, total)
            st = raw_stats(m.mnt)
            self.assertGreaterEqual(st["cache.ram_bytes"] + st["cache.disk_bytes"], total)
            # a second run is served by the cache: nothing fetched again
            p = ml.run([ml.MPFS, "warmup", m.path("data")], check=False)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.assertEqual(self.fetched(m), b1)

    def test_interrupted_then_resumed(self):
        total = self.N * self.SIZE
        # 30 ms to every response's first byte: one file at a time takes
        # over 60 ms, so the interrupt after 4 files cannot come too late
        # (on the bare loopback the warmup could finish first under load)
        with ml.delay_proxy(30) as proxy, ml.Mount("s3", self.prefix, endpoint=proxy.endpoint) as m:
            b0 = self.fetched(m)
            w = subprocess.Popen([ml.MPFS, "warmup", "--jobs", "1", m.path("data")],
                                 stderr=subprocess.PIPE)
            self.assertTrue(ml.wait_until(lambda: self.fetched(m) - b0 >= 4 * self.SIZE, 60, 0.02))
            w.send_signal(signal.SIGINT)
            w.wait(timeout=30)
            w.stderr.close()
            first = self.fetched(m) - b0
            self.assertLess(first, total, "finished before it could be interrupted")
            p = ml.run([ml.MPFS, "warmup", m.path("data")], check=False)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            second = self.fetched(m) - b0 - first
            self.assertLess(second, total - first + 2 * self.SIZE)  # what was cached is not refetched
            self.assertGreaterEqual(first + second, total)
            # everything is cached now
            b = self.fetched(m)
            ml.run([ml.MPFS, "warmup", m.path("data")])
            self.assertEqual(self.fetched(m), b)

    def test_does_not_fit(self):
        with ml.Mount("s3", self.prefix, opts="cache_ram=4M,cache_disk=0") as m:
            b0 = self.fetched(m)
            p = ml.run([ml.MPFS, "warmup", m.path("data")], check=False)
            err = p.stderr.decode()
            self.assertEqual(p.returncode, 3, err)
            self.assertIn("24 files, 24.0 MiB do not fit the cache of 4.0 MiB", err)
            self.assertEqual(self.fetched(m), b0)  # said so up front: nothing read

    def test_list_file(self):
        with ml.Mount("s3", self.prefix) as m:
            manifest = os.path.join(m.cache, "manifest.txt")
            with open(manifest, "w") as f:
                f.write("# a training manifest\n")
                for i in (1, 5, 7):
                    f.write(m.path("data", f"f{i:02d}") + "\n")
            b0 = self.fetched(m)
            p = ml.run([ml.MPFS, "warmup", "--list", manifest], check=False)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.assertIn("warmup: 3 files, 3.0 MiB", p.stderr.decode())
            self.assertGreaterEqual(self.fetched(m) - b0, 3 * self.SIZE)
            self.assertLess(self.fetched(m) - b0, 5 * self.SIZE)


class Logs(unittest.TestCase):
    def test_daemon_log_rotates(self):
        prefix = ml.unique_prefix("log")
        for i in range(20):
            ml.s3_put(f"{prefix}/f{i:02d}", b"x" * 1000)
        try:
            with ml.Mount("s3", prefix, opts="log_level=debug,log_max=16K") as m:
                log = os.path.join(m.cache, "mpfs.log")
                # debug lines until the log has rotated twice (each round
                # logs a few KiB; how many depends on the requests a read
                # makes), within a bound
                for _ in range(60):
                    for i in range(20):
                        direct_read(m.path(f"f{i:02d}"))
                    ctl(m.mnt, "invalidate", "-r", m.mnt)
                    if os.path.exists(log + ".2"):
                        break
                self.assertTrue(os.path.exists(log + ".1"), "no rotation")
                self.assertLess(os.path.getsize(log), 16384 + 4096)
                self.assertFalse(os.path.exists(log + ".4"))  # 3 old files at most
                with open(log + ".1") as f:
                    self.assertIn("debug:", f.read())
        finally:
            ml.s3_delete_prefix(prefix)


    def test_rate_limited_and_sent_to_syslog(self):
        # a call site that repeats logs log_burst lines per log_window, then
        # one line with the count it dropped; as a daemon, lines at or above
        # the syslog level also reach syslog's socket (here the test's own)
        prefix = ml.unique_prefix("syslog")
        ml.s3_put(f"{prefix}/f", b"x")
        d = tempfile.mkdtemp(prefix="mpfs-syslog-")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(os.path.join(d, "log"))
        sock.settimeout(5)
        try:
            opts = f"syslog=info,syslog_socket={d}/log,log_burst=3,log_window=4000"
            with ml.Mount("s3", prefix, opts=opts) as m:
                def refused_line():
                    fd = os.open(m.path(".mpfs", "prefetch"), os.O_WRONLY)
                    try:
                        with self.assertRaises(OSError):
                            os.write(fd, b"/no/such/path\n")
                    finally:
                        os.close(fd)

                t0 = time.monotonic()
                for _ in range(10):
                    refused_line()
                self.assertLess(time.monotonic() - t0, 4.0, "the burst outlasted the window")
                time.sleep(max(0.0, t0 + 4.2 - time.monotonic()))
                refused_line()  # the first line of the next window carries the count
                log = m.log()
                got = []
                while True:
                    try:
                        got.append(sock.recv(4096).decode())
                    except socket.timeout:
                        break
                    if "suppressed" in got[-1]:
                        break
            refused = [ln for ln in log.splitlines() if "write refused" in ln]
            self.assertEqual(len(refused), 4, log[-3000:])
            self.assertIn("[7 similar lines suppressed]", refused[-1])
            sent = [g for g in got if "write refused" in g]
            self.assertEqual(len(sent), 4, got)
            self.assertRegex(sent[0], r"^<30>\w{3} [ \d]\d \d\d:\d\d:\d\d mpfs\[\d+\]: ")
            self.assertIn("[7 similar lines suppressed]", sent[-1])
        finally:
            sock.close()
            shutil.rmtree(d, ignore_errors=True)
            ml.s3_delete_prefix(prefix)


class HangingEndpoint(unittest.TestCase):
    """An S3 endpoint that accepts connections and never answers: the mount
    (and `mpfs probe`) fails within connect_timeout + one request_timeout,
    naming the endpoint and what it sat on, instead of retrying the same
    hang (retries + 1) times."""

    CONNECT_MS = 1000
    REQUEST_MS = 2000

    def setUp(self):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        self.held = []
        self.stop = False

        def accept():
            while not self.stop:
                try:
                    c, _ = self.srv.accept()
                except OSError:
                    return
                self.held.append(c)  # read nothing, answer nothing

        self.thread = threading.Thread(target=accept, daemon=True)
        self.thread.start()

    def tearDown(self):
        self.stop = True
        self.srv.close()
        for c in self.held:
            c.close()

    def run_mpfs(self, sub):
        mnt = tempfile.mkdtemp(prefix="mpfs-hang-")
        cache = tempfile.mkdtemp(prefix="mpfs-hang-cache-")
        args = [ml.MPFS, sub, "--s3", "s3://hang-bucket", "--endpoint", f"http://127.0.0.1:{self.port}",
                "-o", f"cache_dir={cache},connect_timeout={self.CONNECT_MS},"
                f"request_timeout={self.REQUEST_MS},retries=4"]
        if sub == "mount":
            args.append(mnt)
        t0 = time.time()
        p = subprocess.run(args, capture_output=True, timeout=120)
        took = time.time() - t0
        was_mounted = mounted(mnt)
        if was_mounted:
            ml.run(["fusermount3", "-u", mnt], check=False)
        os.rmdir(mnt)
        shutil.rmtree(cache, ignore_errors=True)
        return p, took, was_mounted

    def check(self, p, took):
        err = p.stderr.decode()
        self.assertNotEqual(p.returncode, 0, err)
        self.assertIn(f"127.0.0.1:{self.port}", err)
        self.assertIn("accepted the connection but sent no answer", err)
        self.assertIn("request_timeout", err)
        self.assertTrue(self.held, "the listener saw no connection")
        # one request_timeout (+ connect + start-up slack), not 5 of them
        budget = (self.CONNECT_MS + self.REQUEST_MS) / 1000
        self.assertGreaterEqual(took, self.REQUEST_MS / 1000 * 0.9)
        self.assertLess(took, budget + 2.5, f"took {took:.1f} s: {err}")

    def test_mount_fails_in_one_request_timeout(self):
        p, took, was_mounted = self.run_mpfs("mount")
        self.assertFalse(was_mounted)
        self.check(p, took)

    def test_probe_fails_in_one_request_timeout(self):
        p, took, _ = self.run_mpfs("probe")
        self.check(p, took)


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = tempfile.mkdtemp(prefix="mpfs-prefix-")
        p = ml.run(["cmake", "--install", ml.BUILD, "--prefix", cls.prefix], check=False, timeout=300)
        if p.returncode != 0:
            raise RuntimeError("cmake --install failed: " + p.stderr.decode() + p.stdout.decode())
        cls.bin = os.path.join(cls.prefix, "bin", "mpfs")
        cls.prefix_s3 = ml.unique_prefix("install")
        ml.s3_put(cls.prefix_s3 + "/hello.txt", b"hello from the install tree\n")

    @classmethod
    def tearDownClass(cls):
        ml.s3_delete_prefix(cls.prefix_s3)
        shutil.rmtree(cls.prefix, ignore_errors=True)

    def test_tree(self):
        for rel in ("bin/mpfs", "share/man/man1/mpfs.1", "share/bash-completion/completions/mpfs",
                    "lib/systemd/system/mpfs@.service", "etc/mpfs/example.conf.sample"):
            self.assertTrue(os.path.isfile(os.path.join(self.prefix, rel)), rel)
        self.assertTrue(os.access(self.bin, os.X_OK))

    def option_names(self):
        out = ml.run([self.bin, "--list-options"]).stdout.decode().split()
        self.assertGreater(len(out), 20)
        return [o.rstrip("=") for o in out]

    def test_man_page_matches_help(self):
        with open(os.path.join(self.prefix, "share/man/man1/mpfs.1")) as f:
            man = f.read()
        helptext = ml.run([self.bin, "--help"]).stdout.decode()
        for name in self.option_names():
            self.assertIn(f"\\fB{name.replace('-', chr(92) + '-')}\\fR", man, name)
            self.assertRegex(helptext, rf"\n    {re.escape(name)} ", name)
        # every flag --help lists is in the man page too
        for flag in re.findall(r"^  (-[-\w]+)", helptext, re.M):
            self.assertIn(flag.replace("-", "\\-"), man, flag)
        # and it renders (man -l parses it) without roff warnings
        if shutil.which("man"):
            p = ml.run(["man", "--warnings", "-l", os.path.join(self.prefix, "share/man/man1/mpfs.1")],
                       check=False, env=dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="0"))
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.assertIn("cache_ram", p.stdout.decode())
            self.assertNotIn("warning", p.stderr.decode())

    def test_bash_completion(self):
        comp = os.path.join(self.prefix, "share/bash-completion/completions/mpfs")
        script = (f"source {shlex.quote(comp)}; COMP_WORDS=({shlex.quote(self.bin)} mount -o cache_r); "
                  "COMP_CWORD=3; _mpfs; printf '%s\\n' \"${COMPREPLY[@]}\"; "
                  f"COMP_WORDS=({shlex.quote(self.bin)} mount -o ro,cache_d); COMP_CWORD=3; _mpfs; "
                  "printf '%s\\n' \"${COMPREPLY[@]}\"; complete -p mpfs")
        out = ml.run(["bash", "-c", script]).stdout.decode().split("\n")
        self.assertIn("cache_ram=", out)
        self.assertIn("ro,cache_dir=", out)
        self.assertTrue(any("_mpfs" in line for line in out))

    def test_fstab_line_mounts_with_mount8(self):
        # mount(8) runs mount.fuse3 for type fuse.mpfs, which runs `mpfs SOURCE
        # MOUNTPOINT -o OPTS` from the standard PATH, not the caller's: in a
        # private mount namespace the installed bin/ stands in for
        # /usr/local/bin, where a default `cmake --install` puts mpfs.
        mnt = tempfile.mkdtemp(prefix="mpfs-fstab-")
        cache = tempfile.mkdtemp(prefix="mpfs-fstab-cache-")
        fstab = os.path.join(self.prefix, "fstab")
        with open(fstab, "w") as f:
            f.write(f"s3://{ml.BUCKET}/{self.prefix_s3} {mnt} fuse.mpfs "
                    f"s3_endpoint={ml.S3_ENDPOINT},cache_dir={cache},_netdev,noatime 0 0\n")
        script = f"""
            set -e
            mount --bind {shlex.quote(os.path.join(self.prefix, 'bin'))} /usr/local/bin
            mount -T {shlex.quote(fstab)} {shlex.quote(mnt)}
            cat {shlex.quote(mnt)}/hello.txt
            pid=
            for p in $(pgrep -x mpfs); do
                grep -q 'cache_dir={cache}' /proc/$p/cmdline && pid=$p
            done
            [ -n "$pid" ]
            echo "exe-inode $(stat -L -c %i /proc/$pid/exe)"
            umount {shlex.quote(mnt)}
            for i in $(seq 50); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.1; done
            echo "daemon still running after umount" >&2; exit 3
        """
        try:
            p = ml.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       check=False, timeout=90)
            out = p.stdout.decode()
            self.assertEqual(p.returncode, 0, p.stderr.decode() + out)
            self.assertIn("hello from the install tree", out)
            self.assertIn(f"exe-inode {os.stat(self.bin).st_ino}", out)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
            os.rmdir(mnt)

    def test_systemd_unit_command_line(self):
        with open(os.path.join(self.prefix, "lib/systemd/system/mpfs@.service")) as f:
            unit = f.read()
        self.assertRegex(unit, r"(?m)^Type=forking$")
        execstart = re.search(r"(?m)^ExecStart=(.*)$", unit).group(1)
        envfile = re.search(r"(?m)^EnvironmentFile=-(.*)$", unit).group(1)
        name = "ci" + str(os.getpid())
        argv = [a.replace("%i", name) for a in shlex.split(execstart)]
        self.assertEqual(argv[0], self.bin)
        conf = argv[argv.index("--config") + 1]
        self.assertTrue(conf.startswith(os.path.join(self.prefix, "etc/mpfs/")))
        mnt = tempfile.mkdtemp(prefix="mpfs-unit-")
        cache = tempfile.mkdtemp(prefix="mpfs-unit-cache-")
        with open(conf, "w") as f:
            f.write(f"# written by test_ops\nmountpoint = {mnt}\ns3 = s3://{ml.BUCKET}/{self.prefix_s3}\n"
                    f"s3_endpoint = {ml.S3_ENDPOINT}\ncache_dir = {cache}\n")
        # credentials come from the unit's EnvironmentFile, as systemd would pass them
        env_path = envfile.replace("%i", name)
        with open(env_path, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(f"AWS_ACCESS_KEY_ID={ml.AK}\nAWS_SECRET_ACCESS_KEY={ml.SK}\n")
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        with open(env_path) as f:
            for line in f:
                k, v = line.strip().split("=", 1)
                env[k] = v
        try:
            p = ml.run(argv, check=False, env=env, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr.decode())  # forking: exit 0 == mounted
            self.assertTrue(mounted(mnt))
            self.assertEqual(sorted(os.listdir(mnt)), ["hello.txt"])
            pids = ml.daemon_pids(conf)
            self.assertEqual(len(pids), 1, pids)
            os.kill(pids[0], signal.SIGTERM)  # what `systemctl stop` sends
            self.assertTrue(ml.wait_until(lambda: not mounted(mnt), 30), "SIGTERM did not unmount")
        finally:
            if mounted(mnt):
                ml.run(["fusermount3", "-u", mnt], check=False)
            shutil.rmtree(cache, ignore_errors=True)
            os.rmdir(mnt)
            os.unlink(conf)
            os.unlink(env_path)


if __name__ == "__main__":
    unittest.main(verbosity=2)
