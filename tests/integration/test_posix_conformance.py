"""POSIX conformance through a real mpfs mount (issue 7), in one mode.

Run as root with MPFS_TEST_MODE=dual|s3|nfs.  The mount is made with
allow_other (default_permissions is always on), and the cases that are about
ownership and permission checks run in a forked child that has dropped to
uid/gid 65534 ("nobody"), as a user of a shared mount would.

Covered: owner and group of new entries (and a setgid directory's group),
kept by the store (a second mount with an empty index sees them); chown by a
non-owner and chmod's setgid rule; directory mtime/ctime and link counts
after every namespace operation, then again once the index entry has expired
and the store was asked; ftruncate's reply; link's ctime and hard-link
counts (NFS); paths longer than the store can hold (ENAMETOOLONG before
anything exists, and everything made removable); 4095-byte symlink targets;
utimensat(AT_SYMLINK_NOFOLLOW); ".." in readdir; FIFOs, sockets and device
nodes, including ones written by s3fs-style clients.
"""
import errno
import os
import pickle
import shutil
import socket
import stat
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import mountlib as ml  # noqa: E402

MODE = os.environ.get("MPFS_TEST_MODE", "s3")
NOBODY = 65534
# the index trusts an entry this long; waiting past it makes the mount ask the store
META_TTL = 2
OPTS = f"allow_other,meta_ttl={META_TTL},dir_ttl=1,attr_timeout=0.5"


def as_nobody(fn, *args):
    """Run fn(*args) in a child with uid/gid 65534 and no supplementary
    groups; return its result, or raise the OSError it raised."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            os.umask(0o022)
            res = ("ok", fn(*args))
        except OSError as e:
            res = ("err", e.errno, str(e))
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            res = ("exc", repr(e))
        with os.fdopen(w, "wb") as f:
            pickle.dump(res, f)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    res = pickle.loads(data)
    if res[0] == "err":
        raise OSError(res[1], res[2])
    if res[0] == "exc":
        raise AssertionError("child failed: " + res[1])
    return res[1]


def owner(p):
    st = os.lstat(p)
    return (st.st_uid, st.st_gid)


class Conformance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = ml.unique_prefix(f"pconf-{MODE}")
        if MODE == "nfs":
            ml.nfs_posix_mkdir(cls.prefix)
        cls.m = ml.Mount(MODE, cls.prefix, opts=OPTS).start()
        os.chmod(cls.m.mnt, 0o755)

    @classmethod
    def tearDownClass(cls):
        log = cls.m.log()
        cls.m.cleanup()
        if MODE in ("s3", "dual"):
            ml.s3_delete_prefix(cls.prefix + "/")
        if "runtime error" in log or "AddressSanitizer" in log:
            raise AssertionError("sanitizer report in the mount log:\n" + log[-4000:])

    def d(self, name=None, mode=0o777):
        """The test's own directory (world-writable), or a path in it."""
        top = self.m.path(self._testMethodName)
        if not os.path.isdir(top):
            os.mkdir(top)
            os.chmod(top, mode)
        return os.path.join(top, name) if name else top

    def remount(self):
        """A second mount of the same data with an empty index."""
        return ml.Mount(MODE, self.prefix, opts=OPTS)

    def s3_meta(self, rel):
        st, _, hdrs = ml._s3.request_full("HEAD", ml.BUCKET, f"{self.prefix}/{rel}")
        self.assertEqual(st, 200, rel)
        return hdrs

    # ------------------------------------------------------ bug 1: owners
    def test_new_entries_owned_by_caller(self):
        top = self.d()

        def make(top):
            os.mkdir(os.path.join(top, "dir"))
            with open(os.path.join(top, "file"), "w") as f:
                f.write("x")
            os.symlink("file", os.path.join(top, "sym"))
            os.mkfifo(os.path.join(top, "fifo"))
            # the creator may chmod and truncate its own file
            os.chmod(os.path.join(top, "file"), 0o600)
            with open(os.path.join(top, "file"), "r+") as f:
                f.truncate(0)
            return [owner(os.path.join(top, n)) for n in ("dir", "file", "sym", "fifo")]

        got = as_nobody(make, top)
        self.assertEqual(got, [(NOBODY, NOBODY)] * 4)
        for n in ("dir", "file", "sym", "fifo"):
            self.assertEqual(owner(os.path.join(top, n)), (NOBODY, NOBODY), n)
        if MODE in ("s3", "dual"):
            for key in ("file", "dir/", "sym", "fifo"):
                h = self.s3_meta(f"{self._testMethodName}/{key}")
                self.assertEqual((h.get("x-amz-meta-uid"), h.get("x-amz-meta-gid")),
                                 (str(NOBODY), str(NOBODY)), key)
        with self.remount() as m2:
            for n in ("dir", "file", "sym", "fifo"):
                self.assertEqual(owner(m2.path(self._testMethodName, n)), (NOBODY, NOBODY), n)
            self.assertEqual(stat.S_IMODE(os.stat(m2.path(self._testMethodName, "file")).st_mode),
                             0o600)

    def test_setgid_directory_gives_its_group(self):
        top = self.d()
        sg = os.path.join(top, "sg")
        os.mkdir(sg)
        os.chown(sg, 0, 1234)
        os.chmod(sg, 0o2777)

        def make(sg):
            open(os.path.join(sg, "f"), "w").close()
            os.mkdir(os.path.join(sg, "sub"))
            return owner(os.path.join(sg, "f")), os.stat(os.path.join(sg, "sub"))

        (fo, sub) = as_nobody(make, sg)
        self.assertEqual(fo, (NOBODY, 1234))
        self.assertEqual((sub.st_uid, sub.st_gid), (NOBODY, 1234))
        self.assertTrue(sub.st_mode & stat.S_ISGID, oct(sub.st_mode))
        with self.remount() as m2:
            self.assertEqual(owner(m2.path(self._testMethodName, "sg", "f")), (NOBODY, 1234))

    def test_chown_by_non_owner_and_setgid_clearing(self):
        top = self.d()
        rootf = os.path.join(top, "rootf")
        open(rootf, "w").close()
        mine = os.path.join(top, "mine")
        open(mine, "w").close()
        os.chown(mine, NOBODY, 1234)
        with self.assertRaises(OSError) as cm:
            as_nobody(os.chown, rootf, NOBODY, NOBODY)
        self.assertEqual(cm.exception.errno, errno.EPERM)
        with self.assertRaises(OSError) as cm:
            as_nobody(os.chown, mine, 0, -1)
        self.assertEqual(cm.exception.errno, errno.EPERM)
        # not in group 1234: the setgid bit is dropped, the rest applied
        as_nobody(os.chmod, mine, 0o2755)
        self.assertEqual(stat.S_IMODE(os.stat(mine).st_mode), 0o755)
        # root may
        os.chmod(mine, 0o2755)
        self.assertEqual(stat.S_IMODE(os.stat(mine).st_mode), 0o2755)

    # ------------------------------------------- bug 2: directory times
    def _changes_dir(self, d, op, dlink=0):
        before = os.stat(d)
        time.sleep(0.02)
        op()
        after = os.stat(d)
        self.assertGreater(after.st_mtime_ns, before.st_mtime_ns, op.__name__)
        self.assertGreater(after.st_ctime_ns, before.st_ctime_ns, op.__name__)
        self.assertEqual(after.st_nlink, before.st_nlink + dlink, op.__name__)
        return after

    def test_directory_times_and_links(self):
        d = self.d("d")
        os.mkdir(d)
        other = self.d("other")
        os.mkdir(other)
        j = lambda *p: os.path.join(d, *p)  # noqa: E731

        def create():
            open(j("f"), "w").close()

        def mkdir():
            os.mkdir(j("sub"))

        def symlink():
            os.symlink("f", j("l"))

        def mkfifo():
            os.mkfifo(j("p"))

        def rename_in():
            before = os.stat(j("f")).st_ctime_ns
            time.sleep(0.02)
            os.rename(j("f"), j("g"))
            self.assertGreater(os.stat(j("g")).st_ctime_ns, before, "renamed file's ctime")

        def rename_dir_out():
            os.rename(j("sub"), os.path.join(other, "sub"))

        def unlink():
            os.unlink(j("g"))

        def rmdir():
            os.mkdir(j("gone"))
            os.rmdir(j("gone"))

        self.assertEqual(os.stat(d).st_nlink, 2)
        self._changes_dir(d, create)
        self._changes_dir(d, mkdir, +1)
        self._changes_dir(d, symlink)
        self._changes_dir(d, mkfifo)
        self._changes_dir(d, rename_in)
        self._changes_dir(d, rename_dir_out, -1)
        self._changes_dir(d, unlink)
        self._changes_dir(d, rmdir)
        if MODE == "nfs":
            def link():
                os.link(j("p"), j("p2"))
            self._changes_dir(d, link)
        os.mkdir(j("a"))
        os.mkdir(j("b"))
        self.assertEqual(os.stat(d).st_nlink, 4)
        self.assertEqual(os.stat(other).st_nlink, 3)
        last = os.stat(d)
        # once the index entries expired, the store's answer must not undo them
        time.sleep(META_TTL + 1)
        os.listdir(self.d())
        os.listdir(d)
        again = os.stat(d)
        self.assertGreaterEqual(again.st_mtime_ns, last.st_mtime_ns)
        self.assertGreaterEqual(again.st_ctime_ns, last.st_ctime_ns)
        self.assertEqual(again.st_nlink, 4)
        self.assertEqual(os.stat(other).st_nlink, 3)

    def test_ftruncate_reply_has_new_times(self):
        p = self.d("t")
        with open(p, "wb") as f:
            f.write(b"0123456789")
        with open(p, "r+b") as f:
            before = os.fstat(f.fileno())
            time.sleep(0.02)
            os.ftruncate(f.fileno(), 3)
            after = os.fstat(f.fileno())
            self.assertEqual(after.st_size, 3)
            self.assertGreater(after.st_mtime_ns, before.st_mtime_ns)
            self.assertGreater(after.st_ctime_ns, before.st_ctime_ns)

    # -------------------------------------------- bug 3: hard-link counts
    def test_hard_links(self):
        f = self.d("f")
        with open(f, "w") as fh:
            fh.write("F")
        if MODE != "nfs":
            with self.assertRaises(OSError) as cm:
                os.link(f, self.d("g"))
            self.assertEqual(cm.exception.errno, errno.EPERM)
            return
        before = os.stat(f)
        time.sleep(0.02)
        os.link(f, self.d("g"))
        after = os.stat(f)
        self.assertGreater(after.st_ctime_ns, before.st_ctime_ns)
        os.link(f, self.d("h"))
        for n in "fgh":
            self.assertEqual(os.stat(self.d(n)).st_nlink, 3, n)
        os.unlink(self.d("h"))
        for n in "fg":
            self.assertEqual(os.stat(self.d(n)).st_nlink, 2, n)
        # rename over one of the names
        open(self.d("new"), "w").close()
        os.rename(self.d("new"), self.d("g"))
        self.assertEqual(os.stat(f).st_nlink, 1)
        self.assertEqual(os.stat(self.d("g")).st_nlink, 1)
        with open(f) as fh:
            self.assertEqual(fh.read(), "F")

    # ---------------------------------------------------- bug 4: long paths
    def _limits(self):
        """Candidates for the longest dataset-relative path the store holds:
        S3 keys are 1024 bytes (prefix and '/' included, a directory marker
        adds its '/'); libnfs paths are 4095 bytes below the mounted
        export, which is the prefix itself where the server mounts
        subdirectories, else the export above it."""
        if MODE in ("s3", "dual"):
            return [1024 - (len(self.prefix) + 1) - 1]
        return [4094, 4094 - len(self.prefix) - 1]

    def test_long_paths(self):
        top = self.d()
        rel0 = len(self._testMethodName)  # path of top below the mount root
        name = "n" * 200
        fds = [os.open(top, os.O_RDONLY | os.O_DIRECTORY)]
        depth_len = rel0
        try:
            while True:
                try:
                    os.mkdir(name, dir_fd=fds[-1])
                except OSError as e:
                    self.assertEqual(e.errno, errno.ENAMETOOLONG, depth_len)
                    break
                depth_len += 1 + len(name)
                fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
                self.assertLessEqual(depth_len, max(self._limits()))
            self.assertNotIn(name, os.listdir(fds[-1]))
            # up to exactly the limit: works, and the content reads back
            limit = None
            for cand in self._limits():
                room = cand - depth_len - 1
                if not 0 < room <= 255:
                    continue
                try:
                    fd = os.open("e" * room, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fds[-1])
                except OSError as e:
                    self.assertEqual(e.errno, errno.ENAMETOOLONG)
                    continue
                with open(fd, "w") as f:
                    f.write("deep")
                with open(os.open("e" * room, os.O_RDONLY, dir_fd=fds[-1])) as f:
                    self.assertEqual(f.read(), "deep")
                limit = cand
                break
            self.assertIsNotNone(limit, (depth_len, self._limits()))
            # one byte more: refused before anything exists, for every kind of entry
            over = "o" * (limit - depth_len)
            for i, make in enumerate((
                    lambda: os.open(over, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fds[-1]),
                    lambda: os.mkdir(over, dir_fd=fds[-1]),
                    lambda: os.symlink("t", over, dir_fd=fds[-1]),
                    lambda: os.mkfifo(over, dir_fd=fds[-1]),
                    lambda: os.rename("e" * (limit - depth_len - 1), over,
                                      src_dir_fd=fds[-1], dst_dir_fd=fds[-1]))):
                with self.assertRaises(OSError, msg=f"op {i}") as cm:
                    make()
                self.assertEqual(cm.exception.errno, errno.ENAMETOOLONG, f"op {i}")
            self.assertNotIn(over, os.listdir(fds[-1]))
            # nothing can be there: a lookup says why, not the store's error
            with self.assertRaises(OSError) as cm:
                os.stat(over, dir_fd=fds[-1])
            self.assertEqual(cm.exception.errno, errno.ENAMETOOLONG)
        finally:
            for f in fds:
                os.close(f)
        # and all of it can be removed
        shutil.rmtree(os.path.join(top, name))
        self.assertEqual(os.listdir(top), [])
        if MODE in ("s3", "dual"):
            self.assertEqual(ml.s3_list(f"{self.prefix}/{self._testMethodName}/{name}"), [])

    def test_symlink_4095(self):
        t = "x" * 4095
        p = self.d("s")
        if MODE == "nfs":
            # libnfs 4.0 builds each request in a 4 KiB buffer: SYMLINK's
            # target and name share it (docs/SEMANTICS.md)
            with self.assertRaises(OSError) as cm:
                os.symlink(t, p)
            self.assertEqual(cm.exception.errno, errno.ENAMETOOLONG)
            self.assertFalse(os.path.lexists(p))
            t = "x" * (3800 - 1)
        os.symlink(t, p)
        self.assertEqual(os.readlink(p), t)
        with self.remount() as m2:
            self.assertEqual(os.readlink(m2.path(self._testMethodName, "s")), t)

    # ----------------------------------------------- bug 5: utimensat
    def test_utimensat_nofollow_sets_both(self):
        t = self.d("target")
        open(t, "w").close()
        s = self.d("s")
        os.symlink("target", s)
        os.utime(s, ns=(1_000_000_000_000_000_000, 1_200_000_000_000_000_000),
                 follow_symlinks=False)
        st = os.lstat(s)
        self.assertEqual(st.st_atime_ns // 10**9, 1_000_000_000)
        self.assertEqual(st.st_mtime_ns // 10**9, 1_200_000_000)
        # the target is untouched
        self.assertNotEqual(os.stat(t).st_mtime_ns // 10**9, 1_200_000_000)
        with self.remount() as m2:
            st = os.lstat(m2.path(self._testMethodName, "s"))
            got = (st.st_atime_ns // 10**9, st.st_mtime_ns // 10**9)
            if MODE == "nfs":
                # NFS-Ganesha (FSAL_VFS) accepts the SETATTR of a symlink's
                # times but keeps its own (SEMANTICS.md)
                self.assertNotEqual(got[0], 1_000_000_000)
                self.assertNotEqual(got[1], 1_200_000_000)
            else:
                self.assertEqual(got, (1_000_000_000, 1_200_000_000))

    # ------------------------------------------------------ bug 6: ".."
    def test_readdir_dotdot(self):
        d = self.d("sub")
        os.mkdir(d)
        out = ml.run(["ls", "-ai", d]).stdout.decode().split()
        inos = dict(zip(out[1::2], (int(x) for x in out[0::2])))
        self.assertEqual(inos.get("."), os.stat(d).st_ino)
        self.assertEqual(inos.get(".."), os.stat(self.d()).st_ino)
        root = ml.run(["ls", "-a", self.m.mnt]).stdout.decode().split()
        self.assertIn("..", root)

    # ----------------------------------------------------- special files
    def test_special_files(self):
        top = self.d()
        os.mkfifo(self.d("fifo"), 0o640)
        os.mknod(self.d("chr"), stat.S_IFCHR | 0o600, os.makedev(1, 7))
        os.mknod(self.d("blk"), stat.S_IFBLK | 0o600, os.makedev(8, 1))
        s = socket.socket(socket.AF_UNIX)
        try:
            s.bind(self.d("sock"))
        finally:
            s.close()
        want = {"fifo": stat.S_IFIFO, "chr": stat.S_IFCHR, "blk": stat.S_IFBLK,
                "sock": stat.S_IFSOCK}

        def check(base):
            # the listing's own types first (d_type), before any lookup
            for e in os.scandir(base):
                if e.name in want:
                    self.assertFalse(e.is_file(follow_symlinks=False), e.name)
                    self.assertFalse(e.is_dir(follow_symlinks=False), e.name)
            for n, t in want.items():
                st = os.lstat(os.path.join(base, n))
                self.assertEqual(stat.S_IFMT(st.st_mode), t, n)
                self.assertEqual(st.st_size, 0, n)
            self.assertEqual(stat.S_IMODE(os.lstat(os.path.join(base, "fifo")).st_mode), 0o640)
            self.assertEqual(os.lstat(os.path.join(base, "chr")).st_rdev, os.makedev(1, 7))
            self.assertEqual(os.lstat(os.path.join(base, "blk")).st_rdev, os.makedev(8, 1))
            kinds = {e.name: stat.S_IFMT(e.stat(follow_symlinks=False).st_mode)
                     for e in os.scandir(base)}
            for n, t in want.items():
                self.assertEqual(kinds.get(n), t, n)

        check(top)
        # a FIFO works as one (the kernel runs the pipe)
        fd = os.open(self.d("fifo"), os.O_RDWR | os.O_NONBLOCK)
        try:
            os.write(fd, b"ping")
            self.assertEqual(os.read(fd, 4), b"ping")
        finally:
            os.close(fd)
        if MODE in ("s3", "dual"):
            h = self.s3_meta(f"{self._testMethodName}/fifo")
            self.assertEqual(int(h["x-amz-meta-mode"]), stat.S_IFIFO | 0o640)
            h = self.s3_meta(f"{self._testMethodName}/chr")
            self.assertEqual(int(h["x-amz-meta-rdev"]), os.makedev(1, 7))
            # written by another s3fs-style client: seen with its type
            ml.s3_put(f"{self.prefix}/{self._testMethodName}/ext",
                      b"", headers=[f"x-amz-meta-mode: {stat.S_IFIFO | 0o644}"])
            want["ext"] = stat.S_IFIFO
        with self.remount() as m2:
            check(m2.path(self._testMethodName))
            for n in want:
                os.unlink(m2.path(self._testMethodName, n))
            self.assertEqual(os.listdir(m2.path(self._testMethodName)), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
