#!/usr/bin/env python3
"""bench_byname - small files opened by name in a directory the mount never
listed (a loader reading its own file list), one after another, on a fresh
S3-mode mount: seconds and the store requests the daemon counted.

  bench_byname.py [--bin MPFS]... [--delay-ms MS] [--files N] [--rounds R]

Every binary is run in each round (interleaved), each round on files no
earlier round read (so the store's answers are not warmer for one of
them); the files are bench_datapath.py's data set (bench-dp/small/f*,
seeded by it).  With --delay-ms every S3 response's first byte comes later
by that much (bench/delay_proxy.py), as from a far store.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import delay_proxy  # noqa: E402
from bench_mount import BUCKET, EP, MPFS  # noqa: E402


def one(binary, endpoint, first, n):
    mnt, cache = tempfile.mkdtemp(prefix="mpfs-byname-"), tempfile.mkdtemp(prefix="mpfs-cache-")
    subprocess.run([binary, "mount", "--s3", f"s3://{BUCKET}/bench-dp", "--endpoint", endpoint,
                    "-o", f"cache_dir={cache}", mnt], check=True)
    try:
        t0 = time.perf_counter()
        for i in range(first, first + n):
            with open(os.path.join(mnt, "small", f"f{i:05d}"), "rb", buffering=0) as f:
                while f.read(1 << 17):
                    pass
        dt = time.perf_counter() - t0
        out = subprocess.run([binary, "stats", mnt, "--raw"], capture_output=True,
                             text=True).stdout
        counts = {}
        for line in out.splitlines():
            key, _, v = line.rpartition(" ")
            if key.startswith("backend.s3.") and key.endswith(".count"):
                counts[key.split(".")[2]] = int(v)
        return dt, counts
    finally:
        subprocess.run(["fusermount3", "-u", mnt])
        time.sleep(0.3)
        shutil.rmtree(cache, ignore_errors=True)
        os.rmdir(mnt)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", action="append", help="mpfs binary (repeat to compare)")
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    bins = a.bin or [MPFS]
    proxy = None
    if a.delay_ms > 0:
        proxy = delay_proxy.Running(EP, a.delay_ms)
    res = {b: [] for b in bins}
    try:
        first = 0
        for _ in range(a.rounds):
            for b in bins:
                res[b].append(one(b, proxy.endpoint if proxy else EP, first, a.files))
                first += a.files
    finally:
        if proxy:
            proxy.stop()
    print(f"{a.files} files by name, one thread, +{a.delay_ms:g} ms, {a.rounds} rounds")
    for b, runs in res.items():
        secs = [r[0] for r in runs]
        print(f"{b}: median {statistics.median(secs):.2f} s (rounds "
              f"{' / '.join(f'{x:.2f}' for x in secs)}); requests per round: "
              + "; ".join(", ".join(f"{k} {v}" for k, v in sorted(r[1].items())) for r in runs))


if __name__ == "__main__":
    main()
