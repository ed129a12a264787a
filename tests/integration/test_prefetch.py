"""test_prefetch - announced reads through a real mount against the real
store (issue 11), with Debian's python3-torch and python/mpfs_loader.

* A shuffled DataLoader epoch (4 workers) with PrefetchSampler: every
  sample's bytes are right, and the mount's counters show the prefetch
  happened: files announced, fetched ahead, and opens served from them.
* An object overwritten through S3 after its prefetch: the read returns the
  new bytes only (the prefetched ones are dropped as stale).
* Bad input through .mpfs/prefetch and `mpfs ctl ... prefetch`: clear
  errnos, nothing queued.
* Off an mpfs mount the sampler is a no-op (the same order).
"""
import errno
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import mountlib as ml  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import mpfs_loader  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, RandomSampler  # noqa: E402

import dlio_emul  # noqa: E402  (bench/, put on the path by mountlib)

MODE = os.environ.get("MPFS_TEST_MODE", "s3")
N = 160
SIZE = 128 << 10


def content(i, gen=0):
    seed = hashlib.sha256(f"{i}-{gen}".encode()).digest()
    return (seed * (SIZE // len(seed) + 1))[:SIZE]


def stats(mnt):
    with open(os.path.join(mnt, ".mpfs", "stats")) as f:
        out = {}
        for line in f:
            k, _, v = line.strip().partition(" ")
            if v.isdigit():
                out[k] = int(v)
        return out


class Files(dlio_emul.Files):
    """The benchmark's dataset of files, returning each sample's digest."""

    def __getitem__(self, i):
        with open(self.paths[i], "rb") as f:
            return i, hashlib.sha256(f.read()).hexdigest()


class Prefetch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = ml.unique_prefix("prefetch")
        for i in range(N):
            ml.s3_put(f"{cls.prefix}/train/s{i:04d}", content(i))
        ml.s3_put(f"{cls.prefix}/other/x", b"x")
        ml.s3_put(f"{cls.prefix}/other/fresh", content(3))  # never read before its test
        cls.m = ml.Mount(MODE, cls.prefix).start()

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("KEEP_LOG"):
            print(cls.m.log()[-6000:], file=sys.stderr)
        cls.m.cleanup()
        ml.s3_delete_prefix(cls.prefix)

    def test_dataloader_epoch_is_prefetched(self):
        root = self.m.path("train")
        ds = Files(root)
        g = torch.Generator()
        g.manual_seed(7)
        sampler = mpfs_loader.PrefetchSampler(RandomSampler(ds, generator=g), ds.paths.__getitem__,
                                              batch_size=8, num_workers=4, lookahead=64)
        dl = DataLoader(ds, batch_size=8, num_workers=4, sampler=sampler)
        before = stats(self.m.mnt)
        seen = {}
        for idx, digest in dl:
            for i, d in zip(idx.tolist(), digest):
                seen[i] = d
        after = stats(self.m.mnt)
        sampler.close()
        self.assertEqual(len(seen), N)
        names = [os.path.basename(p) for p in ds.paths]
        for i, d in seen.items():
            want = hashlib.sha256(content(int(names[i][1:]))).hexdigest()
            self.assertEqual(d, want, names[i])
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        print("prefetch counters over the epoch:", {k: v for k, v in delta.items() if k.startswith("prefetch.") and v}, file=sys.stderr)
        self.assertEqual(delta["prefetch.announced"], N, delta)
        self.assertGreaterEqual(delta["prefetch.fetched"], N // 2, delta)
        # most opens found their file prefetched (the first few of each
        # worker may race their own prefetch: those wait or miss)
        self.assertGreaterEqual(delta["prefetch.hits"], N * 3 // 4, delta)
        self.assertGreaterEqual(delta["prefetch.hit_bytes"], (N * 3 // 4) * SIZE, delta)
        self.assertEqual(delta["prefetch.stale"], 0, delta)
        # the streams end with the sampler's handles
        self.assertEqual(after["prefetch.streams"] - before["prefetch.streams"], 4)
        self.assertEqual(stats(self.m.mnt)["prefetch.streams"], before["prefetch.streams"])

    def test_overwrite_after_prefetch_reads_new_bytes(self):
        key = "other/fresh"
        fd = os.open(self.m.path(".mpfs", "prefetch"), os.O_WRONLY)
        try:
            before = stats(self.m.mnt)
            os.write(fd, (key + "\n").encode())
            ml.wait_until(lambda: stats(self.m.mnt)["prefetch.fetched"] > before["prefetch.fetched"])
            new = content(3, gen=1)
            ml.s3_put(f"{self.prefix}/{key}", new)
            time.sleep(0.5)  # past the open's revalidation grace after a lookup
            with open(self.m.path(key), "rb") as f:
                got = f.read()
            self.assertEqual(got, new)
            after = stats(self.m.mnt)
            self.assertEqual(after["prefetch.hits"], before["prefetch.hits"])
            self.assertEqual(after["prefetch.stale"], before["prefetch.stale"] + 1)
        finally:
            os.close(fd)

    def test_bad_input(self):
        fd = os.open(self.m.path(".mpfs", "prefetch"), os.O_WRONLY)
        try:
            before = stats(self.m.mnt)
            cases = [(b"train/nosuch\n", errno.ENOENT), (b"../../etc/passwd\n", errno.EINVAL),
                     (b"/etc/passwd\n", errno.EXDEV), (b"train\n", errno.EISDIR),
                     (b"#bogus\n", errno.EINVAL), (b"x" * 5000 + b"\n", errno.ENAMETOOLONG),
                     (b"train/s0001\ntrain/nosuch\n", errno.ENOENT),
                     (b"train/s0001\n" * 5000, errno.ENOBUFS)]
            for data, err in cases:
                with self.assertRaises(OSError, msg=data[:40]) as cm:
                    os.write(fd, data)
                self.assertEqual(cm.exception.errno, err, data[:40])
            after = stats(self.m.mnt)
            self.assertEqual(after["prefetch.announced"], before["prefetch.announced"])
            self.assertEqual(after["prefetch.rejected"] - before["prefetch.rejected"], len(cases))
            # an absolute path under the mount point is fine
            os.write(fd, (self.m.path("other", "x") + "\n").encode())
            self.assertEqual(stats(self.m.mnt)["prefetch.announced"], before["prefetch.announced"] + 1)
        finally:
            os.close(fd)
        with self.assertRaises(OSError) as cm:
            open(self.m.path(".mpfs", "prefetch"), "rb")
        self.assertEqual(cm.exception.errno, errno.EACCES)

    def test_ctl_named_stream(self):
        mp = self.m.mnt
        p = ml.run([ml.MPFS, "ctl", mp, "prefetch", "job1", "add", "train/s0001",
                    self.m.path("train", "s0002")], check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("announced 2", p.stdout.decode())
        p = ml.run([ml.MPFS, "ctl", mp, "prefetch", "job1", "add", "train/nosuch"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("No such file", p.stderr.decode())
        p = ml.run([ml.MPFS, "ctl", mp, "prefetch", "job1", "add"], input=b"train/s0004\n",
                   check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("announced 3", p.stdout.decode())
        # the same through Python's client call
        lines = mpfs_loader.ctl_prefetch(mp, "job1", "status")
        self.assertIn("announced 3", lines)
        mpfs_loader.ctl_prefetch(mp, "job1", "reset")
        self.assertIn("queued 0", mpfs_loader.ctl_prefetch(mp, "job1", "status"))
        mpfs_loader.ctl_prefetch(mp, "job1", "close")
        with self.assertRaises(OSError) as cm:
            mpfs_loader.ctl_prefetch(mp, "job1", "close")
        self.assertEqual(cm.exception.errno, errno.ENOENT)

    def test_example_runs_with_hints(self):
        ex = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_with_prefetch.py")
        before = stats(self.m.mnt)
        p = ml.run([sys.executable, ex, self.m.path("train"), "--epochs", "2", "--workers", "2"],
                   timeout=300)
        out = p.stdout.decode()
        self.assertEqual(out.count("hints on"), 2, out)
        self.assertIn(f"epoch 2: {N} samples", out)
        after = stats(self.m.mnt)
        self.assertEqual(after["prefetch.announced"] - before["prefetch.announced"], 2 * N)

    def test_noop_off_mpfs(self):
        with tempfile.TemporaryDirectory() as d:
            for i in range(20):
                with open(os.path.join(d, f"s{i:02d}"), "wb") as f:
                    f.write(b"x")
            ds = Files(d)
            g1, g2 = torch.Generator(), torch.Generator()
            g1.manual_seed(3)
            g2.manual_seed(3)
            plain = list(RandomSampler(ds, generator=g1))
            s = mpfs_loader.PrefetchSampler(RandomSampler(ds, generator=g2), ds.paths.__getitem__, 4, 2)
            self.assertEqual(list(s), plain)
            self.assertIsNone(s.streams)
            self.assertEqual(list(mpfs_loader.announced(ds.paths)), ds.paths)


if __name__ == "__main__":
    unittest.main(verbosity=2)
