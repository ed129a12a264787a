"""Consistency through a real mount while others change the data through
S3 and NFS: changes are seen, a read never mixes two versions, a write is
never lost, and a remount starts from the index."""
import errno
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import mountlib as ml  # noqa: E402


class MountCase(unittest.TestCase):
    """One mount of mode MODE on a fresh prefix per class (no tests)."""
    MODE, TAG = "dual", "cons"

    @classmethod
    def setUpClass(cls):
        cls.prefix = ml.unique_prefix(cls.TAG)
        cls.m = ml.Mount(cls.MODE, cls.prefix).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.cleanup()
        ml.s3_delete_prefix(cls.prefix + "/")


class Consistency(MountCase):
    def key(self, name):
        return f"{self.prefix}/{self._testMethodName}/{name}"

    def p(self, name):
        d = self.m.path(self._testMethodName)
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, name)

    def test_s3_overwrite_seen_on_reopen(self):
        ml.s3_put(self.key("f"), b"version-1")
        p = self.p("f")
        self.assertTrue(ml.wait_until(lambda: os.path.exists(p), 10))
        with open(p, "rb") as f:
            self.assertEqual(f.read(), b"version-1")
        ml.s3_put(self.key("f"), b"version-two!")
        # close-to-open: the next open revalidates
        time.sleep(1.1)  # kernel attribute cache
        with open(p, "rb") as f:
            self.assertEqual(f.read(), b"version-two!")

    def test_s3_new_and_deleted_keys_appear_in_listing(self):
        d = self.p("")
        os.listdir(d)
        ml.s3_put(self.key("new1"), b"n")
        self.assertTrue(ml.wait_until(lambda: "new1" in os.listdir(d), 15))
        ml.s3_delete(self.key("new1"))
        self.assertTrue(ml.wait_until(lambda: "new1" not in os.listdir(d), 15))
        self.assertTrue(ml.wait_until(lambda: not os.path.exists(os.path.join(d, "new1")), 15))

    def test_never_mixed_versions(self):
        key = self.key("flip")
        sizes = [300_000, 2_500_000, 1_000_000, 4_000_000]
        ml.s3_put(key, b"a" * sizes[0])
        p = self.p("flip")
        self.assertTrue(ml.wait_until(lambda: os.path.exists(p), 10))
        stop = time.time() + 8
        bad = []
        reads = [0, 0]

        def writer():
            i = 1
            while time.time() < stop:
                ch = bytes([ord("a") + i % 26])
                ml.s3_put(key, ch * sizes[i % len(sizes)])
                i += 1

        t = threading.Thread(target=writer)
        t.start()
        while time.time() < stop:
            try:
                with open(p, "rb") as f:
                    data = f.read()
                reads[0] += 1
                if data and data != data[:1] * len(data):
                    bad.append(len(data))
                if data and len(data) not in sizes:
                    bad.append(("size", len(data)))
            except OSError as e:
                # the object changed under an open handle: refused, not mixed
                self.assertIn(e.errno, (errno.ESTALE, errno.EIO, errno.ENOENT))
                reads[1] += 1
        t.join()
        self.assertEqual(bad, [])
        self.assertGreater(reads[0], 0)

    def test_write_visible_through_s3_and_nfs(self):
        p = self.p("w.txt")
        with open(p, "wb") as f:
            f.write(b"written through the mount")
        self.assertEqual(ml.s3_get(self.key("w.txt")), b"written through the mount")
        url = f"{ml.NFS_BUCKET_URL}/{self.key('w.txt')}"
        self.assertTrue(ml.wait_until(lambda: ml.nfs_cat(url) == b"written through the mount", 20))

    def test_nfs_write_seen_through_mount(self):
        url = f"{ml.NFS_BUCKET_URL}/{self.key('from-nfs')}"
        d = self.p("")
        ml.nfs_put(url, b"hello from nfs")
        p = os.path.join(d, "from-nfs")

        def right():
            try:
                with open(p, "rb") as f:
                    return f.read() == b"hello from nfs"
            except OSError:
                return False
        # the bucket's NFS view commits NFSv3 writes to S3 after a delay
        self.assertTrue(ml.wait_until(right, 40, 0.5))

    def test_conflict_keeps_both_versions(self):
        p = self.p("doc")
        with open(p, "wb") as f:
            f.write(b"base")
        f = open(p, "r+b", buffering=0)
        f.write(b"mine")  # reaches the mount now, before the S3 overwrite
        ml.s3_put(self.key("doc"), b"theirs")
        f.close()
        self.assertEqual(ml.s3_get(self.key("doc")), b"theirs")
        keys = ml.s3_list(f"{self.prefix}/{self._testMethodName}/doc.mpfs-conflict-")
        self.assertEqual(len(keys), 1, (keys, self.m.log()[-3000:]))
        self.assertEqual(ml.s3_get(keys[0]), b"mine")

    def test_edit_after_remote_change_applies_to_new_content(self):
        p = self.p("doc2")
        with open(p, "wb") as f:
            f.write(b"base-content")
        f = open(p, "r+b", buffering=0)
        ml.s3_put(self.key("doc2"), b"theirs-content")
        f.write(b"MINE")  # first write after the change: edits their version
        f.close()
        self.assertEqual(ml.s3_get(self.key("doc2")), b"MINErs-content")
        self.assertEqual(ml.s3_list(f"{self.prefix}/{self._testMethodName}/doc2.mpfs-conflict-"), [])

    def test_remount_served_from_index(self):
        d = self.p("")
        for i in range(200):
            ml.s3_put(self.key(f"r{i:03d}"), b"r")
        self.assertTrue(ml.wait_until(lambda: len(os.listdir(d)) >= 200, 15))
        before = sorted(os.listdir(d))
        st_before = os.stat(os.path.join(d, "r007"))
        self.m.stop()
        self.m.start()
        after = sorted(os.listdir(self.p("")))
        self.assertEqual(before, after)
        self.assertEqual(os.stat(os.path.join(self.p(""), "r007")).st_ino, st_before.st_ino)



class ColdOpenConfirmedByFetch(MountCase):
    """Close-to-open without a HEAD at open (issue 8): the first open of a
    version asks nothing and its first GET, pinned to the version the
    listing showed, confirms it.  A file replaced after the listing is then
    read whole in its new version, longer or shorter than the size the
    kernel took with the lookup."""
    MODE, TAG = "s3", "coldopen"

    def test_replaced_after_listing(self):
        cases = [(b"short", b"a much longer new version; " * 400),
                 (b"x" * 10000, b"tiny"),
                 (os.urandom(300 << 10), os.urandom(2 << 20))]
        for i, (old, new) in enumerate(cases):
            key = f"{self.prefix}/r/f{i}"
            ml.s3_put(key, old)
            p = self.m.path(f"r/f{i}")
            self.assertTrue(ml.wait_until(lambda: os.path.exists(p), 10))
            self.assertEqual(os.stat(p).st_size, len(old))  # the kernel has the old size
            time.sleep(0.3)  # past the grace after a lookup: the open must confirm
            ml.s3_put(key, new)
            with open(p, "rb") as f:
                got = f.read()
            self.assertEqual(len(got), len(new), f"case {i}")
            self.assertTrue(got == new, f"case {i}: wrong bytes")
            self.assertEqual(os.stat(p).st_size, len(new))


    def test_warm_open_keeps_mtime_and_pages(self):
        """A listing gives mtimes in milliseconds, a HEAD in seconds: the
        HEAD of a warm open (same version) must not move the mtime, or the
        kernel drops the file's pages and reads it again (issue 8)."""
        d = self.m.path("w")
        for i in range(5):  # a Last-Modified on a whole second has nothing to lose
            key = f"{self.prefix}/w/f{i}"
            ml.s3_put(key, b"w" * 4096)
            os.listdir(d) if os.path.isdir(d) else None
            p = os.path.join(d, f"f{i}")
            self.assertTrue(ml.wait_until(lambda: os.path.exists(p), 10))
            m0 = os.stat(p).st_mtime_ns
            if m0 % 1_000_000_000:
                break
        self.assertNotEqual(m0 % 1_000_000_000, 0, "no listing mtime with milliseconds")
        with open(p, "rb") as f:
            f.read()
        time.sleep(0.3)  # past the grace after a lookup: this open asks the store
        with open(p, "rb") as f:
            f.read()
        time.sleep(1.1)  # the kernel's attribute cache
        self.assertEqual(os.stat(p).st_mtime_ns, m0)

if __name__ == "__main__":
    unittest.main(verbosity=2)
