"""NFS-only mode across a real NFS-Ganesha restart, through the mount
(issue 6, defect 10: read() on an open file failed at once with ENOTCONN,
fsync/close with EIO, during a 2-4 s server restart).

It kills and restarts the stack's ganesha (`scripts/stack.sh restart-nfs`,
MPFS_NS / MPFS_STACK_DIR say which stack), so it runs only with
MPFS_TEST_RESTART_NFS=1, which says the stack is the caller's own
(scripts/test.sh sets it for a stack it started); otherwise it exits 77
(skipped).  Never on a shared store.
"""
import os
import socket
import subprocess
import sys
import time
import unittest

import mountlib as ml

SRC = os.environ.get("MPFS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
STACK = os.path.join(SRC, "scripts", "stack.sh")


def nfs_port_open():
    s = socket.socket()
    s.settimeout(1.0)
    try:
        s.connect(("127.0.0.1", 2049))
        return True
    except OSError:
        return False
    finally:
        s.close()


def restart_nfs(down_s):
    """Start a restart; return the process once the server is down."""
    p = subprocess.Popen(["bash", STACK, "restart-nfs", str(down_s)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if not ml.wait_until(lambda: not nfs_port_open(), timeout=15, interval=0.05):
        p.kill()
        raise RuntimeError("the NFS server did not go down")
    return p


def finish(p):
    err, _ = p.communicate(timeout=120)
    if p.returncode != 0:
        raise RuntimeError("restart-nfs failed: " + err.decode(errors="replace"))
    sys.stderr.write(err.decode(errors="replace").strip().splitlines()[-1] + "\n")


class NfsRestartThroughMount(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = ml.unique_prefix("nfsrestart")
        ml.nfs_posix_mkdir(cls.prefix)
        # written by someone else before the mount: nothing of it is cached
        cls.shard = os.urandom(6 << 20)
        ml.nfs_put(f"{ml.NFS_POSIX_URL}/{cls.prefix}/shard", cls.shard)
        cls.m = ml.Mount("nfs", cls.prefix).start()

    @classmethod
    def tearDownClass(cls):
        cls.m.cleanup()

    def test_read_open_file_across_restart(self):
        data = self.shard
        with open(self.m.path("shard"), "rb", buffering=0) as f:
            self.assertEqual(f.read(4096), data[:4096])
            p = restart_nfs(3)
            t0 = time.time()
            got = f.read(len(data))  # the rest, from the server that is down
            took = time.time() - t0
            finish(p)
        sys.stderr.write(f"  read of 6 MiB across the restart: {took:.2f} s\n")
        self.assertEqual(got, data[4096:])
        self.assertGreater(took, 1.0)  # it did wait for the server

    def test_write_fsync_close_across_restart(self):
        data = b"checkpoint " * 100000
        fd = os.open(self.m.path("ckpt"), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        p = restart_nfs(3)
        t0 = time.time()
        try:
            # all of it while the server is down: whether write() or fsync()
            # reaches the store, it must wait for it, not fail
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        took = time.time() - t0
        finish(p)
        sys.stderr.write(f"  write+fsync+close across the restart: {took:.2f} s\n")
        self.assertEqual(ml.nfs_cat(f"{ml.NFS_POSIX_URL}/{self.prefix}/ckpt"), data)
        self.assertNotIn("lost+found", os.listdir(self.m.path()))


if __name__ == "__main__":
    if os.environ.get("MPFS_TEST_RESTART_NFS") != "1" or not ml.NFS_POSIX_URL:
        sys.stderr.write("test_nfs_restart_mount: skipped: restarts the stack's NFS server; set "
                         "MPFS_TEST_RESTART_NFS=1 only for a stack of your own\n")
        sys.exit(77)
    unittest.main()
