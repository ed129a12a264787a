"""Bad input at mount time: each case must fail fast with a clear message
and a non-zero exit, never hang and never leave a mount behind."""
import os
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import mountlib as ml  # noqa: E402


def mount(args, env=None, timeout=60):
    mnt = tempfile.mkdtemp(prefix="mpfs-bad-")
    cache = tempfile.mkdtemp(prefix="mpfs-bad-cache-")
    t0 = time.time()
    p = subprocess.run([ml.MPFS, "mount"] + args + ["-o", f"cache_dir={cache},connect_timeout=1000,retries=1", mnt],
                       capture_output=True, timeout=timeout, env=env)
    took = time.time() - t0
    mounted = any(l.split()[1] == mnt for l in open("/proc/mounts"))
    if mounted:
        subprocess.run(["fusermount3", "-u", mnt])
    os.rmdir(mnt)
    return p.returncode, p.stderr.decode(), took, mounted


class BadInput(unittest.TestCase):
    def test_unreachable_s3(self):
        rc, err, took, mounted = mount(["--s3", "s3://x", "--endpoint", "http://127.0.0.1:1"])
        self.assertNotEqual(rc, 0)
        self.assertFalse(mounted)
        self.assertRegex(err.lower(), r"reach|refused|connect")
        self.assertLess(took, 20)

    def test_unreachable_nfs(self):
        rc, err, took, mounted = mount(["--nfs", "nfs://127.0.0.1:1/nothing"])
        self.assertNotEqual(rc, 0)
        self.assertFalse(mounted)
        self.assertIn("nfs", err.lower())
        self.assertLess(took, 30)

    def test_wrong_credentials(self):
        env = dict(os.environ, AWS_SECRET_ACCESS_KEY="wrong-secret-key-000000000000000000000")
        rc, err, _, mounted = mount(["--s3", f"s3://{ml.BUCKET}", "--endpoint", ml.S3_ENDPOINT], env=env)
        self.assertNotEqual(rc, 0)
        self.assertFalse(mounted)
        self.assertRegex(err.lower(), r"credential|denied|signature|access")
        self.assertNotIn("wrong-secret-key", err)  # secrets never printed

    def test_missing_bucket(self):
        rc, err, _, mounted = mount(["--s3", "s3://no-such-bucket-mpfs", "--endpoint", ml.S3_ENDPOINT])
        self.assertNotEqual(rc, 0)
        self.assertFalse(mounted)
        self.assertIn("no-such-bucket-mpfs", err)

    def test_missing_export(self):
        rc, err, _, mounted = mount(["--nfs", "nfs://127.0.0.1/no/such/export"])
        self.assertNotEqual(rc, 0)
        self.assertFalse(mounted)
        self.assertIn("export", err.lower())

    def test_bad_urls_and_options(self):
        for args in (["--s3", "http://bucket"], ["--nfs", "ftp://x"], [],
                     ["--s3", "s3://b", "-o", "cache_ram=lots"], ["--s3", "s3://b", "-o", "nosuchopt=1"]):
            rc, err, _, mounted = mount(args)
            self.assertNotEqual(rc, 0, args)
            self.assertFalse(mounted)
            self.assertTrue(err.strip(), args)

    def test_mountpoint_busy(self):
        prefix = ml.unique_prefix("busy")
        with ml.Mount("s3", prefix) as m:
            p = subprocess.run([ml.MPFS, "mount", "--s3", f"s3://{ml.BUCKET}/{prefix}",
                                "--endpoint", ml.S3_ENDPOINT, m.mnt], capture_output=True, timeout=60)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("busy", p.stderr.decode())

    def test_mountpoint_missing(self):
        p = subprocess.run([ml.MPFS, "mount", "--s3", f"s3://{ml.BUCKET}", "--endpoint", ml.S3_ENDPOINT,
                            "/nonexistent/mpfs/mnt"], capture_output=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("/nonexistent/mpfs/mnt", p.stderr.decode())

    def test_cache_dir_not_writable(self):
        mnt = tempfile.mkdtemp()
        # root ignores permission bits: use a path below a regular file
        p = subprocess.run([ml.MPFS, "mount", "--s3", f"s3://{ml.BUCKET}", "--endpoint", ml.S3_ENDPOINT,
                            "-o", "cache_dir=/etc/hostname/cache", mnt], capture_output=True, timeout=60)
        os.rmdir(mnt)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cache", p.stderr.decode())

    def test_help_and_print_config(self):
        p = subprocess.run([ml.MPFS, "--help"], capture_output=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"mount", p.stdout)
        env = dict(os.environ, AWS_SECRET_ACCESS_KEY="topsecret-value-123")
        p = subprocess.run([ml.MPFS, "mount", "--s3", "s3://b/p", "--print-config", "/mnt"],
                           capture_output=True, env=env)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"s3 = s3://b/p", p.stdout)
        self.assertNotIn(b"topsecret", p.stdout)



class Lifecycle(unittest.TestCase):
    """The daemon stops cleanly on SIGTERM/SIGINT: unmounted, data committed."""

    def _daemon_pid(self, mnt):
        out = subprocess.run(["pgrep", "-f", f"mpfs mount .* {mnt}$"], capture_output=True, text=True)
        pids = [int(p) for p in out.stdout.split()]
        self.assertEqual(len(pids), 1, out.stdout)
        return pids[0]

    def _signal_case(self, sig):
        import signal
        prefix = ml.unique_prefix(f"sig{sig}")
        m = ml.Mount("s3", prefix).start()
        try:
            with open(m.path("committed.txt"), "w") as f:
                f.write("closed before the signal")
            pid = self._daemon_pid(m.mnt)
            os.kill(pid, sig)
            self.assertTrue(ml.wait_until(lambda: not m.mounted(), 20))
            self.assertTrue(ml.wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 20))
            self.assertEqual(ml.s3_get(f"{prefix}/committed.txt"), b"closed before the signal")
        finally:
            m.cleanup()
            ml.s3_delete_prefix(prefix + "/")

    def test_sigterm(self):
        import signal
        self._signal_case(signal.SIGTERM)

    def test_sigint(self):
        import signal
        self._signal_case(signal.SIGINT)

    def test_remount_after_unmount(self):
        """`umount && mount` at once reuses the cache dir (waits for the old daemon)."""
        prefix = ml.unique_prefix("remount")
        m = ml.Mount("s3", prefix).start()
        try:
            with open(m.path("a"), "w") as f:
                f.write("A")
            m.stop()
            m.start()
            with open(m.path("a")) as f:
                self.assertEqual(f.read(), "A")
        finally:
            m.cleanup()
            ml.s3_delete_prefix(prefix + "/")

    def test_fstab_style_mount(self):
        """mount -t fuse.mpfs SOURCE DIR -o OPTS, as an /etc/fstab line does
        (mount.fuse3 runs `mpfs SOURCE DIR -o OPTS` from /usr/local/bin)."""
        link = "/usr/local/bin/mpfs"
        made = False
        if not os.path.exists(link):
            os.symlink(os.path.abspath(ml.MPFS), link)
            made = True
        mnt = tempfile.mkdtemp(prefix="mpfs-fstab-")
        cache = tempfile.mkdtemp(prefix="mpfs-fstab-cache-")
        prefix = ml.unique_prefix("fstab")
        ml.s3_put(f"{prefix}/hello", b"from fstab")
        try:
            p = subprocess.run(["mount", "-t", "fuse.mpfs", f"s3://{ml.BUCKET}/{prefix}", mnt, "-o",
                                f"s3_endpoint={ml.S3_ENDPOINT},cache_dir={cache},_netdev,nofail"],
                               capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(os.path.join(mnt, "hello"), "rb") as f:
                self.assertEqual(f.read(), b"from fstab")
            self.assertEqual(subprocess.run(["umount", mnt]).returncode, 0)
        finally:
            subprocess.run(["umount", mnt], capture_output=True)
            if made:
                os.unlink(link)
            ml.s3_delete_prefix(prefix + "/")


if __name__ == "__main__":
    unittest.main(verbosity=2)
