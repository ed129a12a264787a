#!/usr/bin/env python3
"""Visibility latency: how long after someone else changes the dataset does
the mount show it?  Measured against the real store (run inside the store's
network namespace, like the integration tests: they share mountlib.py).

For each kind of change (S3 PUT of a new object, S3 overwrite with another
size, S3 overwrite with the same size, S3 DELETE; and, through another NFS
client, NFS write of a new file, NFS rename, NFS delete) the bench makes
--changes changes, one every 0.1-0.3 s, spread over --dirs directories,
while three observers poll every --poll seconds, each through its OWN mount
of the same prefix (so what one observer does, e.g. an open's revalidation,
cannot make another one see the change sooner):

  stat       os.stat(path) shows the new state (exists / size+mtime / gone)
  ls         os.listdir(dir) (plus a stat of the name for overwrites)
  open+read  open + read shows the new bytes (or ENOENT)

The latency of one change is from the moment the changing request returned
to the first poll that saw it.  p50 / p99 / max per kind and observer are
printed as a Markdown table (and --json writes them).  Polling only, default
options, unless --mount-opts adds some (e.g. -o notify=...).

`--stat-loop` measures instead the store requests a mount sends while
10,000 files in 100 directories are stat-ed in a loop (the mount's own
counters, <mnt>/.mpfs/stats): LIST and HEAD per second.

The "another NFS client" is a second mpfs mount in NFS-only mode of the
same NFS export (its requests are plain NFSv3 from another client), or
nfs-cp for writes.
"""
import argparse
import concurrent.futures as cf
import json
import os
import random
import shutil
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import mountlib as ml  # noqa: E402

OBSERVERS = ("stat", "ls", "open+read")


def pct(v, p):
    if not v:
        return float("nan")
    s = sorted(v)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def read_stats(mnt):
    out = {}
    try:
        with open(os.path.join(mnt, ".mpfs", "stats")) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1].isdigit():
                    out[parts[0]] = int(parts[1])
    except OSError:
        pass
    return out


class Change:
    def __init__(self, kind, d, name, new_name=None, data=b"", old=None):
        self.kind = kind
        self.d = d
        self.name = name
        self.new_name = new_name
        self.data = data
        self.old = old  # (size, mtime) before the change, for overwrites
        self.t = None
        self.seen = {}


def observe(kind, obs, mnt, c):
    """Does mount mnt show change c through observer obs?"""
    d = os.path.join(mnt, c.d)
    p = os.path.join(d, c.name)
    try:
        if obs == "ls":
            names = os.listdir(d)
            if kind in ("s3_new", "nfs_write"):
                return c.name in names
            if kind in ("s3_delete", "nfs_delete"):
                return c.name not in names
            if kind == "nfs_rename":
                return c.name not in names and c.new_name in names
            if c.name not in names:
                return False
            st = os.stat(p)
            return (st.st_size, st.st_mtime_ns) != c.old and st.st_size == len(c.data)
        if obs == "stat":
            if kind in ("s3_delete", "nfs_delete"):
                try:
                    os.stat(p)
                    return False
                except FileNotFoundError:
                    return True
            if kind == "nfs_rename":
                try:
                    os.stat(p)
                    return False
                except FileNotFoundError:
                    os.stat(os.path.join(d, c.new_name))
                    return True
            st = os.stat(p)
            if kind in ("s3_new", "nfs_write"):
                return st.st_size == len(c.data)
            return (st.st_size, st.st_mtime_ns) != c.old and st.st_size == len(c.data)
        # open+read
        if kind in ("s3_delete", "nfs_delete"):
            try:
                with open(p, "rb"):
                    return False
            except FileNotFoundError:
                return True
        if kind == "nfs_rename":
            try:
                with open(p, "rb"):
                    return False
            except FileNotFoundError:
                with open(os.path.join(d, c.new_name), "rb") as f:
                    return len(f.read()) == c.old[0]
        with open(p, "rb") as f:
            return f.read() == c.data
    except OSError:
        return False


def poller(kind, obs, mnt, changes, lock, stop, poll):
    while not stop.is_set():
        with lock:
            todo = [c for c in changes if c.t is not None and obs not in c.seen]
        for c in todo:
            if observe(kind, obs, mnt, c):
                c.seen[obs] = time.time() - c.t
        time.sleep(poll)


def content(i, size, tag):
    b = (f"{tag}-{i}-{time.time_ns()}-").encode()
    return (b * (size // len(b) + 1))[:size]


def run_kind(kind, args, prefix, mounts, other):
    """Make args.changes changes of one kind; return the Change list."""
    n = args.changes
    dirs = [f"{kind}-d{k}" for k in range(args.dirs)]
    changes = []
    nfs_side = kind.startswith("nfs_")
    for i in range(n):
        d = dirs[i % len(dirs)]
        name = f"f{i:03d}"
        changes.append(Change(kind, d, name))
    # the starting state, through S3 (NFS-only mode: the other NFS client)
    for d in dirs:
        if args.mode == "nfs":
            os.makedirs(other.path(d), exist_ok=True)
        else:
            ml.s3_put(f"{prefix}/{d}/", b"")
    if kind != "s3_new" and kind != "nfs_write":
        def start(c):
            if args.mode == "nfs":
                with open(other.path(c.d, c.name), "wb") as f:
                    f.write(content(0, 1000, "v0"))
            else:
                ml.s3_put(f"{prefix}/{c.d}/{c.name}", content(0, 1000, "v0"))
        with cf.ThreadPoolExecutor(8) as ex:
            list(ex.map(start, changes))
    # every observer mount has looked at every directory and file: they
    # are "used in the last minute" and indexed
    for m in mounts.values():
        for d in dirs:
            ml.wait_until(lambda: os.path.isdir(m.path(d)), timeout=30, interval=0.2)
            for name in os.listdir(m.path(d)):
                os.stat(m.path(d, name))
    if kind in ("nfs_rename", "nfs_delete"):
        ml.wait_until(lambda: all(os.path.exists(other.path(c.d, c.name)) for c in changes),
                      timeout=60)
    time.sleep(1.2)  # an overwrite must move S3's one-second LastModified
    for c in changes:
        if kind.startswith("s3_over") or kind in ("s3_delete", "nfs_delete", "nfs_rename",
                                                   "nfs_overwrite"):
            st = os.stat(mounts["stat"].path(c.d, c.name))
            c.old = (st.st_size, st.st_mtime_ns)
    lock = threading.Lock()
    stop = threading.Event()
    threads = [threading.Thread(target=poller, args=(kind, o, mounts[o].mnt, changes, lock, stop,
                                                     args.poll)) for o in OBSERVERS]
    for t in threads:
        t.start()
    try:
        for i, c in enumerate(changes):
            try:
                make_change(kind, i, c, prefix, args, other)
            except OSError as e:
                if i == 0:
                    raise Unsupported(f"{kind}: {e}")
                raise
            with lock:
                c.t = time.time()
            time.sleep(random.uniform(0.1, 0.3))
        end = time.time() + args.timeout
        while time.time() < end:
            with lock:
                if all(len(c.seen) == len(OBSERVERS) for c in changes):
                    break
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join()
    return changes


class Unsupported(Exception):
    pass


def make_change(kind, i, c, prefix, args, other):
    if kind == "s3_new":
        c.data = content(i, 1000 + i, "new")
        ml.s3_put(f"{prefix}/{c.d}/{c.name}", c.data)
    elif kind == "s3_overwrite_size":
        c.data = content(i, 2000 + i, "v1")
        ml.s3_put(f"{prefix}/{c.d}/{c.name}", c.data)
    elif kind == "s3_overwrite_same":
        c.data = content(i, 1000, "v1")
        ml.s3_put(f"{prefix}/{c.d}/{c.name}", c.data)
    elif kind == "s3_delete":
        ml.s3_delete(f"{prefix}/{c.d}/{c.name}")
    elif kind == "nfs_write":
        c.data = content(i, 1000 + i, "nfs")
        if other is not None:
            with open(other.path(c.d, c.name), "wb") as f:
                f.write(c.data)
        else:
            ml.nfs_put(f"{args.nfs_url}/{prefix}/{c.d}/{c.name}", c.data)
    elif kind == "nfs_overwrite":
        c.data = content(i, 2000 + i, "nfs1")
        with open(other.path(c.d, c.name), "r+b") as f:
            f.write(c.data)
    elif kind == "nfs_rename":
        c.new_name = c.name + ".mv"
        os.rename(other.path(c.d, c.name), other.path(c.d, c.new_name))
    elif kind == "nfs_delete":
        os.unlink(other.path(c.d, c.name))


def visibility(args):
    prefix = ml.unique_prefix("vis")
    kinds = args.kinds.split(",") if args.kinds else (
        ["nfs_write", "nfs_overwrite", "nfs_rename", "nfs_delete"] if args.mode == "nfs" else
        ["s3_new", "s3_overwrite_size", "s3_overwrite_same", "s3_delete", "nfs_write",
         "nfs_rename", "nfs_delete"])
    opts = args.mount_opts
    results = {}
    reqs = {}
    if args.mode == "nfs":
        ml.nfs_posix_mkdir(prefix)
    other = None
    need_other = any(k.startswith("nfs_") for k in kinds)
    try:
        if need_other:
            # another NFS client: an NFS-only mount of the same NFS export
            other = ml.Mount("nfs", prefix) if args.mode == "nfs" else OtherNfs(prefix)
            if args.mode != "nfs":
                ml.s3_put(prefix + "/", b"")  # the NFS view needs the directory
            for attempt in range(60):  # ... and shows a new one after a while
                try:
                    other.start()
                    break
                except RuntimeError:
                    if attempt == 59:
                        raise
                    time.sleep(1)
        for kind in kinds:
            if args.mode == "nfs" and kind.startswith("s3_"):
                continue
            # fresh observer mounts per kind: the directories of one kind are
            # the ones recently used (args.dirs of them, plus their parents)
            mounts = {o: ml.Mount(args.mode, prefix, opts=opts) for o in OBSERVERS}
            try:
                for m in mounts.values():
                    m.start()
                before = {o: read_stats(m.mnt) for o, m in mounts.items()}
                t0 = time.time()
                try:
                    changes = run_kind(kind, args, prefix, mounts, other)
                except Unsupported as e:
                    print(f"{kind}: the store refused the change ({e}); not measured",
                          flush=True)
                    results[kind] = {"unsupported": str(e)}
                    continue
                dt = time.time() - t0
                for o, m in mounts.items():
                    for k, v in read_stats(m.mnt).items():
                        if k.startswith("backend.") and k.endswith(".count") and v:
                            reqs.setdefault(kind, {}).setdefault(o, {})[k] = round(
                                (v - before[o].get(k, 0)) / dt, 1)
            finally:
                for m in mounts.values():
                    m.cleanup()
            results[kind] = {}
            for o in OBSERVERS:
                lat = [c.seen[o] for c in changes if o in c.seen]
                missed = len(changes) - len(lat)
                results[kind][o] = {"n": len(changes), "missed": missed,
                                    "p50": pct(lat, 50), "p99": pct(lat, 99),
                                    "max": max(lat) if lat else float("nan")}
                if missed:
                    results[kind][o]["max"] = float("inf")
            print(f"{kind}: " + "  ".join(
                f"{o} p50 {results[kind][o]['p50']:.2f} p99 {results[kind][o]['p99']:.2f} "
                f"max {results[kind][o]['max']:.2f}" for o in OBSERVERS), flush=True)
        results["_requests_per_s"] = reqs
    finally:
        if other is not None:
            if args.mode == "nfs":
                for e in os.listdir(other.mnt):
                    shutil.rmtree(other.path(e), ignore_errors=True)
            other.cleanup()
        if args.mode != "nfs":
            ml.s3_delete_prefix(prefix + "/")
    return results


class OtherNfs(ml.Mount):
    """An NFS-only mpfs mount of the bucket's NFS view: another NFS client."""

    def __init__(self, prefix):
        super().__init__("nfs", prefix)
        i = self.args.index("--nfs")
        self.args[i + 1] = f"{ml.NFS_BUCKET_URL}/{prefix}"


def stat_loop(args):
    prefix = ml.unique_prefix("statloop")
    ndirs, per = args.loop_dirs, args.loop_files // args.loop_dirs
    keys = [f"{prefix}/d{d:03d}/f{i:04d}" for d in range(ndirs) for i in range(per)]
    with cf.ThreadPoolExecutor(32) as ex:
        list(ex.map(lambda k: ml.s3_put(k, b"x" * 100), keys))
    m = ml.Mount("s3" if args.mode == "s3" else "dual", prefix, opts=args.mount_opts)
    try:
        m.start()
        paths = [m.path(f"d{d:03d}", f"f{i:04d}") for d in range(ndirs) for i in range(per)]
        for p in paths:  # warm: every entry looked up once
            os.stat(p)
        s0 = read_stats(m.mnt)
        t0 = time.time()
        loops = 0
        while time.time() - t0 < args.loop_seconds:
            for p in paths:
                os.stat(p)
            loops += 1
        dt = time.time() - t0
        s1 = read_stats(m.mnt)
        rate = {k: round((v - s0.get(k, 0)) / dt, 2) for k, v in s1.items()
                if k.startswith("backend.") and k.endswith(".count") and v != s0.get(k, 0)}
        return {"files": len(paths), "dirs": ndirs, "seconds": round(dt, 1), "loops": loops,
                "stats_per_s": round(loops * len(paths) / dt), "requests_per_s": rate}
    finally:
        m.cleanup()
        ml.s3_delete_prefix(prefix + "/")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", default="dual", choices=("dual", "s3", "nfs"))
    ap.add_argument("--kinds", default=None,
                    help="comma-separated; default: every S3 kind and nfs_write, nfs_rename, "
                    "nfs_delete (dual), every NFS kind (nfs)")
    ap.add_argument("--changes", type=int, default=50, help="changes of each kind")
    ap.add_argument("--dirs", type=int, default=5, help="directories the changes are spread over")
    ap.add_argument("--poll", type=float, default=0.05, help="observer poll interval, s")
    ap.add_argument("--timeout", type=float, default=60, help="wait at most this long per kind, s")
    ap.add_argument("--mount-opts", default="", help="extra -o options of the observer mounts")
    ap.add_argument("--nfs-url", default=ml.NFS_BUCKET_URL)
    ap.add_argument("--stat-loop", action="store_true", help="measure requests/s of a stat loop")
    ap.add_argument("--loop-files", type=int, default=10000)
    ap.add_argument("--loop-dirs", type=int, default=100)
    ap.add_argument("--loop-seconds", type=float, default=30)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    res = stat_loop(args) if args.stat_loop else visibility(args)
    if not args.stat_loop:
        print("\n| change | observer | n | p50 s | p99 s | max s |\n|---|---|---|---|---|---|")
        for kind, per in res.items():
            if kind.startswith("_"):
                continue
            if "unsupported" in per:
                print(f"| {kind} | all | 0 | - | - | refused by the store: {per['unsupported']} |")
                continue
            for o, r in per.items():
                mx = "not seen" if r["missed"] else f"{r['max']:.2f}"
                print(f"| {kind} | {o} | {r['n']} | {r['p50']:.2f} | {r['p99']:.2f} | {mx} |")
    print(json.dumps(res, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
