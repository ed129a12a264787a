#!/usr/bin/env python3
"""Mount-level benchmarks: mpfs against s3fs and rclone on the same bucket,
plus the raw protocols, in the same run.

Run inside the store's network namespace (bench/run.sh does that).  For
each client and round: mount on a fresh cache, time `ls -l` of a 10,000-
entry directory (first, second), remount and time it again, `stat` 10,000
files, create 1,000 small files, `find` over the tree, and read a 512 MiB
shard sequentially.  Prints a Markdown table of medians and the ratios
mpfs/peer.  Timing is wall clock; the machine is small and noisy, so every
number is the median of --rounds rounds.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import concurrent.futures as cf

sys.path.insert(0, os.path.dirname(__file__))
from s3lite import S3  # noqa: E402

EP = os.environ.get("MPFS_S3_ENDPOINT", "http://127.0.0.1:7480")
BUCKET = os.environ.get("MPFS_S3_BUCKET", "testbucket")
NFS_BUCKET_URL = os.environ.get("MPFS_NFS_BUCKET_URL", "nfs://127.0.0.1/testbucket")
AK = os.environ.get("AWS_ACCESS_KEY_ID", "")
SK = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MPFS = os.environ.get("MPFS_BIN", os.path.join(ROOT, "build", "tools", "mpfs"))
PREFIX = "bench"
NFILES = 10000
BIG = 512 << 20


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=900, **kw)


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def seed(s3):
    if s3.get(BUCKET, f"{PREFIX}/.complete") is not None:
        return
    print("seeding the benchmark dataset through S3 ...", file=sys.stderr)
    jobs = [(f"{PREFIX}/flat/f{i:05d}", os.urandom(1024)) for i in range(NFILES)]
    jobs += [(f"{PREFIX}/tree/d{i % 50:02d}/s{i // 50 % 10}/g{i:05d}", b"t" * 512) for i in range(5000)]
    with cf.ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda j: s3.put(BUCKET, *j), jobs))
    big = os.urandom(1 << 20) * (BIG >> 20)
    s3.put(BUCKET, f"{PREFIX}/big/shard.bin", big)
    s3.put(BUCKET, f"{PREFIX}/.complete", b"")


class Client:
    def __init__(self, name):
        self.name = name
        self.mnt = tempfile.mkdtemp(prefix=f"bench-{name}-")
        self.cache = None

    def mount(self, fresh):
        raise NotImplementedError

    def umount(self):
        for _ in range(100):
            if subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        for _ in range(100):
            if not any(l.split()[1] == self.mnt for l in open("/proc/mounts")):
                break
            time.sleep(0.1)
        time.sleep(0.3)


class Mpfs(Client):
    def __init__(self, mode):
        super().__init__(f"mpfs-{mode}")
        self.mode = mode

    def mount(self, fresh):
        if fresh or not self.cache:
            if self.cache:
                shutil.rmtree(self.cache, ignore_errors=True)
            self.cache = tempfile.mkdtemp(prefix="bench-cache-")
        args = [MPFS, "mount", "--s3", f"s3://{BUCKET}/{PREFIX}", "--endpoint", EP]
        if self.mode == "dual":
            args += ["--nfs", f"{NFS_BUCKET_URL}/{PREFIX}"]
        subprocess.run(args + ["-o", f"cache_dir={self.cache}", self.mnt], check=True, timeout=120)


class S3fs(Client):
    def __init__(self):
        super().__init__("s3fs")
        self.pw = tempfile.NamedTemporaryFile("w", delete=False)
        self.pw.write(f"{AK}:{SK}\n")
        self.pw.close()
        os.chmod(self.pw.name, 0o600)

    def mount(self, fresh):
        subprocess.run(["s3fs", f"{BUCKET}:/{PREFIX}", self.mnt, "-o",
                        f"url={EP},use_path_request_style,passwd_file={self.pw.name},"
                        "endpoint=us-east-1,sigv4"], check=True, timeout=120)
        for _ in range(50):
            if os.path.ismount(self.mnt):
                return
            time.sleep(0.1)


class Rclone(Client):
    def __init__(self):
        super().__init__("rclone")

    def mount(self, fresh):
        remote = (f":s3,provider=Ceph,endpoint='{EP}',access_key_id={AK},"
                  f"secret_access_key={SK},region=us-east-1:{BUCKET}/{PREFIX}")
        # rclone 1.60's AWS SDK fails on a CA bundle variable with a plain
        # http endpoint ("LoadCustomCABundleError"): drop it for rclone
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        subprocess.run(["rclone", "mount", remote, self.mnt, "--daemon",
                        "--daemon-wait", "30s"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=120, env=env)


def ls_l(path):
    sh(f"ls -l '{path}' > /dev/null")


def stat_all(path, n):
    code = ("import os,sys\n"
            f"for i in range({n}): os.stat(os.path.join(sys.argv[1], 'f%05d' % i))\n")
    subprocess.run([sys.executable, "-c", code, path], check=True, timeout=900)


def create_small(path, n):
    code = ("import os,sys\nd=sys.argv[1]\nos.makedirs(d, exist_ok=True)\n"
            f"for i in range({n}):\n"
            "    with open(os.path.join(d, 'n%04d' % i), 'wb') as f: f.write(b'x' * 1024)\n")
    subprocess.run([sys.executable, "-c", code, path], check=True, timeout=900)


def find_all(path):
    sh(f"find '{path}' > /dev/null")


def seq_read(path):
    code = ("import sys\nf=open(sys.argv[1],'rb',buffering=0)\n"
            "while f.read(1<<20): pass\n")
    subprocess.run([sys.executable, "-c", code, path], check=True, timeout=900)


def run_client(c, s3, rnd, ls_only=False):
    r = {}
    try:
        c.mount(fresh=True)
        r["ls_first"] = timed(lambda: ls_l(f"{c.mnt}/flat"))
        r["ls_second"] = timed(lambda: ls_l(f"{c.mnt}/flat"))
        c.umount()
        c.mount(fresh=False)
        r["ls_remount"] = timed(lambda: ls_l(f"{c.mnt}/flat"))
        c.umount()
        if ls_only:
            return r
        c.mount(fresh=False)
        r["stat_10k"] = timed(lambda: stat_all(f"{c.mnt}/flat", NFILES))
        tag = f"new-{c.name}-{rnd}-{os.getpid()}"
        r["create_1k"] = timed(lambda: create_small(f"{c.mnt}/{tag}", 1000))
        c.umount()
        c.mount(fresh=False)
        r["find_tree"] = timed(lambda: find_all(c.mnt))
        c.umount()
        c.mount(fresh=True)
        r["read_512m"] = timed(lambda: seq_read(f"{c.mnt}/big/shard.bin"))
        c.umount()
        for k in s3.list_keys(BUCKET, f"{PREFIX}/{tag}/"):
            s3.delete(BUCKET, k)
        s3.delete(BUCKET, f"{PREFIX}/{tag}/")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        print(f"{c.name}: {e} {getattr(e, 'stderr', b'')!r}", file=sys.stderr)
        c.umount()
    return r


def curl_get_time():
    url = f"{EP}/{BUCKET}/{PREFIX}/big/shard.bin"
    return timed(lambda: sh(f"curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user '{AK}:{SK}' "
                            f"-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -o /dev/null '{url}'"))


def nfs_cat_time():
    return timed(lambda: sh(f"nfs-cat '{NFS_BUCKET_URL}/{PREFIX}/big/shard.bin' > /dev/null"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", default="mpfs-dual,mpfs-s3,s3fs,rclone")
    ap.add_argument("--json", default=None)
    ap.add_argument("--ls-only", action="store_true", help="only the three `ls -l` rows")
    a = ap.parse_args()
    s3 = S3(EP)
    seed(s3)
    makers = {"mpfs-dual": lambda: Mpfs("dual"), "mpfs-s3": lambda: Mpfs("s3"),
              "s3fs": S3fs, "rclone": Rclone}
    clients = [makers[n]() for n in a.clients.split(",")]
    results = {c.name: {} for c in clients}
    raw = {"curl_get_512m": [], "nfs_cat_512m": []}
    for rnd in range(a.rounds):
        raw["curl_get_512m"].append(curl_get_time())
        raw["nfs_cat_512m"].append(nfs_cat_time())
        for c in clients:
            print(f"round {rnd + 1}/{a.rounds}: {c.name}", file=sys.stderr)
            for k, v in run_client(c, s3, rnd, a.ls_only).items():
                results[c.name].setdefault(k, []).append(v)
    med = {c: {k: statistics.median(v) for k, v in r.items()} for c, r in results.items()}
    rawmed = {k: statistics.median(v) for k, v in raw.items()}
    ops = [("ls_first", "`ls -l` 10,000 entries, first"), ("ls_second", "`ls -l`, second"),
           ("ls_remount", "`ls -l` after remount"), ("stat_10k", "`stat` 10,000 files (after remount)"),
           ("create_1k", "create 1,000 small files"), ("find_tree", "`find` over the tree (15,000 entries)"),
           ("read_512m", "sequential read of a 512 MiB shard")]
    names = [c.name for c in clients]
    print(f"| operation (median of {a.rounds}, seconds) | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    if a.ls_only:
        ops = ops[:3]
    for k, title in ops:
        print(f"| {title} | " + " | ".join(f"{med[n].get(k, float('nan')):.3f}" for n in names) + " |")
    print(f"| raw: curl GET of the 512 MiB shard | {rawmed['curl_get_512m']:.3f} |" + " |" * (len(names) - 1))
    print(f"| raw: nfs-cat of the 512 MiB shard (bucket's NFS view) | {rawmed['nfs_cat_512m']:.3f} |" + " |" * (len(names) - 1))
    ref = names[0]
    print()
    print(f"Speed-up of {ref} (peer time / {ref} time; above 1 means {ref} is faster):")
    print()
    print("| operation | " + " | ".join(f"vs {n}" for n in names[1:]) + " |")
    print("|---|" + "---|" * (len(names) - 1))
    for k, title in ops:
        cells = []
        for n in names[1:]:
            a_, b_ = med[ref].get(k), med[n].get(k)
            cells.append(f"{b_ / a_:.1f}x" if a_ and b_ else "n/a")
        print(f"| {title} | " + " | ".join(cells) + " |")
    if med[ref].get("read_512m"):
        print()
        print(f"{ref} sequential read: {BIG / med[ref]['read_512m'] / 1e6:.0f} MB/s; "
              f"curl GET: {BIG / rawmed['curl_get_512m'] / 1e6:.0f} MB/s "
              f"(ratio {rawmed['curl_get_512m'] / med[ref]['read_512m']:.2f}); "
              f"nfs-cat: {BIG / rawmed['nfs_cat_512m'] / 1e6:.0f} MB/s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"median": med, "raw": rawmed, "all": results, "raw_all": raw}, f, indent=1)


if __name__ == "__main__":
    main()
