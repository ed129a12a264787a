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
            pids = daemon_pids(conf)
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
