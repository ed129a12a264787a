"""Visibility of others' changes through a real mount, polling only, default
options (docs/SEMANTICS.md, "Seeing others' changes"):

  - an S3 overwrite (another size), a new key and a DELETE in a directory
    used in the last minute show through `stat` within the reconciler's
    bound (2 s) plus a margin, with meta_ttl at its default (30 s);
  - stat-ing files in a loop costs no HEAD per stat, and at most about one
    LIST per recently used directory per second (the mount's own counters);
  - NFS-only mode: files created, overwritten in place, renamed and deleted
    by another NFS client show within the bound (directory GETATTR,
    READDIRPLUS);
  - dual mode: a delete through the bucket's NFS view shows within the
    bound, an NFS write once librgw has committed it (lazy-commit);
  - Ceph's NFS view of the bucket tears after an S3 overwrite (old size,
    new bytes, read directly with libnfs's nfs-cat); the dual mount never
    passes that on: every open sees the size and the bytes of one version.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import mountlib as ml  # noqa: E402

BOUND = 2.0   # the documented bound (reconcile_interval 1 s + a listing)
MARGIN = 1.5  # this machine is small and shared


def stats(m):
    out = {}
    with open(m.path(".mpfs", "stats")) as f:
        for line in f:
            k, _, v = line.partition(" ")
            if v.strip().isdigit():
                out[k] = int(v)
    return out


def seen_within(fn, limit):
    """Seconds until fn() is true (polling every 20 ms), or None past limit."""
    t0 = time.time()
    while time.time() - t0 < limit:
        if fn():
            return time.time() - t0
        time.sleep(0.02)
    return None


def size_or_none(p):
    try:
        return os.stat(p).st_size
    except FileNotFoundError:
        return None


class S3Visibility(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = ml.unique_prefix("vis")
        cls.m = ml.Mount("dual", cls.prefix).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.cleanup()
        ml.s3_delete_prefix(cls.prefix + "/")

    def key(self, *parts):
        return "/".join((self.prefix, self._testMethodName) + parts)

    def test_s3_changes_seen_by_stat_within_bound(self):
        d = self._testMethodName
        ml.s3_put(self.key("over"), b"a" * 100)
        ml.s3_put(self.key("gone"), b"g" * 10)
        self.assertTrue(ml.wait_until(lambda: size_or_none(self.m.path(d, "over")) == 100))
        self.assertEqual(size_or_none(self.m.path(d, "gone")), 10)
        time.sleep(3)  # well past attr_timeout and a few reconciler passes: steady state
        for name, change, want in (
                ("over", lambda: ml.s3_put(self.key("over"), b"b" * 3333), 3333),
                ("new", lambda: ml.s3_put(self.key("new"), b"n" * 77), 77),
                ("gone", lambda: ml.s3_delete(self.key("gone")), None)):
            change()
            t = seen_within(lambda: size_or_none(self.m.path(d, name)) == want, BOUND + MARGIN)
            self.assertIsNotNone(t, f"{name}: stat still stale after {BOUND + MARGIN} s")

    def test_no_head_per_stat(self):
        ndirs, per = 4, 25
        for i in range(ndirs):
            for j in range(per):
                ml.s3_put(self.key(f"d{i}", f"f{j}"), b"x" * j)
        paths = [self.m.path(self._testMethodName, f"d{i}", f"f{j}")
                 for i in range(ndirs) for j in range(per)]
        self.assertTrue(ml.wait_until(lambda: all(os.path.exists(p) for p in paths), timeout=30))
        s0 = stats(self.m)
        t0 = time.time()
        nstat = 0
        while time.time() - t0 < 6:
            for p in paths:
                os.stat(p)
                nstat += 1
        dt = time.time() - t0
        s1 = stats(self.m)
        heads = s1.get("backend.s3.stat.count", 0) - s0.get("backend.s3.stat.count", 0)
        lists = s1.get("backend.s3.list.count", 0) - s0.get("backend.s3.list.count", 0)
        # the test dir, its 4 subdirectories, the mount root: 6 watched
        watched = ndirs + 2
        self.assertGreater(nstat, 10 * len(paths))
        self.assertLessEqual(heads, 5, f"{heads} HEADs for {nstat} stats")
        self.assertLessEqual(lists, watched * dt * 1.2 + 5, f"{lists} LISTs in {dt:.1f} s")
        self.assertGreater(s1.get("reconciler.lists", 0), 0)


class NfsVisibility(unittest.TestCase):
    """NFS-only mode: another NFS client (a second mount) changes files."""

    @classmethod
    def setUpClass(cls):
        cls.prefix = ml.unique_prefix("visnfs")
        ml.nfs_posix_mkdir(cls.prefix)
        cls.m = ml.Mount("nfs", cls.prefix).start()
        cls.other = ml.Mount("nfs", cls.prefix).start()

    @classmethod
    def tearDownClass(cls):
        for e in os.listdir(cls.other.mnt):
            p = cls.other.path(e)
            for f in os.listdir(p) if os.path.isdir(p) else []:
                os.unlink(os.path.join(p, f))
            os.rmdir(p) if os.path.isdir(p) else os.unlink(p)
        cls.other.cleanup()
        cls.m.cleanup()

    def test_nfs_changes_seen_within_bound(self):
        d = "d"
        os.makedirs(self.other.path(d), exist_ok=True)
        for n in ("over", "mv", "gone"):
            with open(self.other.path(d, n), "wb") as f:
                f.write(b"0" * 100)
        self.assertTrue(ml.wait_until(
            lambda: all(size_or_none(self.m.path(d, n)) == 100 for n in ("over", "mv", "gone"))))
        time.sleep(3)
        # in place: the directory's attributes do not move (reconcile_full re-lists)
        with open(self.other.path(d, "over"), "r+b") as f:
            f.write(b"1" * 250)
        t = seen_within(lambda: size_or_none(self.m.path(d, "over")) == 250, BOUND + MARGIN)
        self.assertIsNotNone(t, "in-place NFS write not seen by stat")
        os.rename(self.other.path(d, "mv"), self.other.path(d, "moved"))
        t = seen_within(lambda: size_or_none(self.m.path(d, "mv")) is None and
                        size_or_none(self.m.path(d, "moved")) == 100, BOUND + MARGIN)
        self.assertIsNotNone(t, "NFS rename not seen by stat")
        os.unlink(self.other.path(d, "gone"))
        t = seen_within(lambda: size_or_none(self.m.path(d, "gone")) is None, BOUND + MARGIN)
        self.assertIsNotNone(t, "NFS delete not seen by stat")
        with open(self.other.path(d, "new"), "wb") as f:
            f.write(b"n" * 42)
        t = seen_within(lambda: size_or_none(self.m.path(d, "new")) == 42, BOUND + MARGIN)
        self.assertIsNotNone(t, "NFS create not seen by stat")


class DualNfsSide(unittest.TestCase):
    """Dual mode on Ceph: another client changes files through the bucket's
    NFS view (an NFS-only mount of it); S3 is the metadata authority, and the
    reconciler's LISTs see what NFS did."""

    def test_nfs_side_changes_seen(self):
        prefix = ml.unique_prefix("visdual")
        ml.s3_put(prefix + "/", b"")
        ml.s3_put(prefix + "/gone", b"g" * 10)
        m = ml.Mount("dual", prefix)
        other = ml.Mount("nfs", prefix)
        i = other.args.index("--nfs")
        other.args[i + 1] = f"{ml.NFS_BUCKET_URL}/{prefix}"
        try:
            m.start()
            other.start()
            self.assertTrue(ml.wait_until(lambda: size_or_none(m.path("gone")) == 10))
            self.assertTrue(ml.wait_until(lambda: os.path.exists(other.path("gone")),
                                          timeout=60))
            time.sleep(2)
            os.unlink(other.path("gone"))
            t = seen_within(lambda: size_or_none(m.path("gone")) is None, BOUND + MARGIN)
            self.assertIsNotNone(t, "an NFS delete not seen by stat")
            data = b"w" * 4321
            with open(other.path("new"), "wb") as f:
                f.write(data)
            # librgw commits an NFS write about 10 s later (lazy-commit); the
            # mount shows it within the bound after that, whole
            t = seen_within(lambda: size_or_none(m.path("new")) == len(data), 20 + BOUND)
            self.assertIsNotNone(t, "an NFS write not seen by stat")
            with open(m.path("new"), "rb") as f:
                self.assertEqual(f.read(), data)
        finally:
            other.cleanup()
            m.cleanup()
            ml.s3_delete_prefix(prefix + "/")


class TornView(unittest.TestCase):
    """Ceph's NFS view of the bucket after an S3 overwrite with another size."""

    def test_torn_nfs_view_never_passed_on(self):
        prefix = ml.unique_prefix("torn")
        old, new = b"A" * 1000, b"B" * 3000
        ml.s3_put(prefix + "/", b"")
        ml.s3_put(prefix + "/f", old)
        url = f"{ml.NFS_BUCKET_URL}/{prefix}/f"
        m = ml.Mount("dual", prefix)
        try:
            m.start()
            p = m.path("f")
            self.assertTrue(ml.wait_until(lambda: size_or_none(p) == 1000))
            # the NFS view has looked the file up (that is what it caches)
            self.assertTrue(ml.wait_until(lambda: ml.nfs_cat(url) == old, timeout=30))
            with open(p, "rb") as f:
                self.assertEqual(f.read(), old)
            ml.s3_put(prefix + "/f", new)
            torn = 0
            seen_new = False
            t0 = time.time()
            while time.time() - t0 < 8:
                nfs = ml.nfs_cat(url)
                if nfs is not None and nfs not in (old, new):
                    torn += 1  # a size of one version with bytes of the other
                with open(p, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    data = f.read()
                    f.seek(500)
                    mid = f.read(100)  # a small random read too
                self.assertIn(data, (old, new), "the mount passed on a torn view")
                self.assertEqual(size, len(data), "size of one version, bytes of another")
                self.assertEqual(mid, data[500:600])
                seen_new |= data == new
                time.sleep(0.1)
            self.assertTrue(seen_new, "the overwrite was not seen at all")
            # the reproduction: on this store (Ceph FSAL_RGW) the NFS view
            # tears deterministically for tens of seconds; should a store
            # not tear, this says so (the mount's contract was checked above)
            self.assertGreater(torn, 0, "the store's NFS view did not tear in this run")
            print(f"the NFS view was torn in {torn} reads; the mount never was",
                  file=sys.stderr)
        finally:
            m.cleanup()
            ml.s3_delete_prefix(prefix + "/")


if __name__ == "__main__":
    unittest.main(verbosity=2)
