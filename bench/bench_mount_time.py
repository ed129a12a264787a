#!/usr/bin/env python3
"""Mount time against the size of the disk cache (issue 8: "mount time with
a 10 GiB disk cache <= 1 s").

Fills a cache directory's disk tier with --gib GiB of 1 MiB blocks
(build/tests/fill_disk_cache, through the real block cache, so the files
have the format a mount scans), then, interleaved for --rounds rounds, mounts
the store's bucket with that cache directory and with an empty one, and
times:
  - `mpfs mount` until it returns (the mount is up and serving),
  - the first `stat` of a file through the mount,
  - until the disk tier's background scan has indexed every block
    (`cache.disk_bytes` of .mpfs/stats reaching the filled size).
Prints a Markdown table of medians.  Run inside the store's network
namespace with the stack.sh env (see docs/BENCHMARKS.md).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from s3lite import S3  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MPFS = os.environ.get("MPFS_BIN", os.path.join(ROOT, "build", "tools", "mpfs"))
FILL = os.environ.get("MPFS_FILL_BIN", os.path.join(ROOT, "build", "tests", "fill_disk_cache"))
EP = os.environ.get("MPFS_S3_ENDPOINT", "http://127.0.0.1:7480")
BUCKET = os.environ.get("MPFS_S3_BUCKET", "testbucket")
PREFIX = f"bench-mounttime-{os.getpid()}"


def stats(mnt):
    out = {}
    with open(os.path.join(mnt, ".mpfs", "stats")) as f:
        for line in f:
            k, _, v = line.strip().rpartition(" ")
            if v.isdigit():
                out[k] = int(v)
    return out


def one_mount(cache, disk_gib, want_disk_bytes):
    mnt = tempfile.mkdtemp(prefix="mpfs-mt-")
    t0 = time.monotonic()
    subprocess.run([MPFS, "mount", "--s3", f"s3://{BUCKET}/{PREFIX}", "--endpoint", EP,
                    "-o", f"cache_dir={cache},cache_disk={disk_gib + 2}G", mnt], check=True)
    t_mount = time.monotonic() - t0
    os.stat(os.path.join(mnt, "f"))
    t_stat = time.monotonic() - t0
    t_scan = None
    while time.monotonic() - t0 < 300:
        if stats(mnt).get("cache.disk_bytes", 0) >= want_disk_bytes:
            t_scan = time.monotonic() - t0
            break
        time.sleep(0.05)
    subprocess.run(["fusermount3", "-u", mnt], check=True)
    for _ in range(200):  # the daemon exits after the unmount; its lock goes with it
        if subprocess.run(["pgrep", "-f", f"mpfs mount .* {mnt}$"], capture_output=True).returncode:
            break
        time.sleep(0.05)
    os.rmdir(mnt)
    return t_mount, t_stat, t_scan


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=int, default=10, help="disk cache to fill, GiB (default 10)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", default="/var/tmp", help="where the cache directories go")
    ap.add_argument("--drop-caches", action="store_true",
                    help="drop the page cache before each full-cache mount (machine-wide: "
                    "the disk tier's headers are then read from the disk, as after a reboot)")
    a = ap.parse_args()
    s3 = S3(EP, os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY"))
    s3.put(BUCKET, f"{PREFIX}/f", b"x")
    full = tempfile.mkdtemp(prefix="mpfs-mt-full-", dir=a.workdir)
    t0 = time.monotonic()
    subprocess.run([FILL, full, str(a.gib)], check=True)
    print(f"filled {a.gib} GiB in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    blocks = os.path.join(full, "blocks")
    filled = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(blocks) for f in fs)
    nfiles = sum(1 for _, _, fs in os.walk(blocks) for f in fs if f.endswith(".blk"))
    rows = {"empty": [], "full": []}
    try:
        for r in range(a.rounds):
            for kind in ("empty", "full"):
                if kind == "empty":
                    cache = tempfile.mkdtemp(prefix="mpfs-mt-empty-", dir=a.workdir)
                    res = one_mount(cache, a.gib, 0)
                    shutil.rmtree(cache, ignore_errors=True)
                else:
                    # the index of the previous round must not help: only the
                    # blocks stay, as after a node reboot with a wiped index
                    for name in os.listdir(full):
                        if name != "blocks":
                            p = os.path.join(full, name)
                            shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.unlink(p)
                    if a.drop_caches:
                        subprocess.run(["sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches"],
                                       check=False)
                    res = one_mount(full, a.gib, int(filled * 0.95))
                rows[kind].append(res)
                print(f"round {r + 1} {kind}: mount {res[0]:.3f} s, first stat {res[1]:.3f} s, "
                      f"scan done {res[2] if res[2] is None else round(res[2], 2)} s", file=sys.stderr)
    finally:
        shutil.rmtree(full, ignore_errors=True)
        s3.delete(BUCKET, f"{PREFIX}/f")

    def med(kind, i):
        v = [x[i] for x in rows[kind] if x[i] is not None]
        return f"{statistics.median(v):.3f}" if v else "—"

    print(f"| disk cache | `mpfs mount` returns, s | first `stat`, s | scan of the disk tier done, s |")
    print("|---|---|---|---|")
    print(f"| empty | {med('empty', 0)} | {med('empty', 1)} | — |")
    print(f"| {a.gib} GiB ({filled >> 20} MiB in {nfiles} block files)"
          f"{', page cache dropped' if a.drop_caches else ''} | {med('full', 0)} | {med('full', 1)} "
          f"| {med('full', 2)} |")


if __name__ == "__main__":
    main()
