#!/usr/bin/env python3
"""The data-path benchmark of issue 8: mpfs (dual, S3-only) against s3fs,
rclone, a minimal FUSE passthrough of a local copy (the FUSE limit) and
the raw protocols (curl GET, nfs-cat, plain GETs), interleaved, medians.

Per client and round, on a fresh mount (and a fresh cache):
  * time to first byte: 1 byte of each of 10 fresh 1 MiB objects (median)
  * fio, O_DIRECT (the FUSE path, not the page cache): random 4 KiB QD1
    cold (p50 latency), sequential 1 MiB cold and warm (MB/s), random 4 KiB
    warm at QD1 and with 4 jobs (IOPS)
  * the small files (N x 128 KiB) in random order with 4 threads, cold and
    warm (files/s)
  * peak RSS of the client process (VmHWM)
and, per client on a fresh mount with a cache smaller than the dataset, a
DLIO-style training run (bench/dlio_emul.py: PyTorch DataLoader, 4
workers, shuffled, sleep per batch) over the small files: epoch time,
accelerator utilization and, for mpfs, the epoch's cache hit ratio (the
mount's user.mpfs.cache_stats counters).

With --hints, instead: the announced-reads comparison of issue 11
(docs/PREFETCH.md): the DLIO emulation with the epoch's order announced
(--hints of dlio_emul.py) and without, over 128 KiB samples and over large
samples, each set 1.6x the RAM cache, against s3fs and rclone on the same
files and against plain GETs of the same files at the DataLoader's
concurrency (4 threads: the bandwidth limit); interleaved rounds, medians.
--s3-delay-ms 0,20 runs each contender directly and through
bench/delay_proxy.py, which delays every response's first byte (a far
store's latency, without touching the shared network namespace).

Run inside the store's network namespace (bench/run.sh --datapath does).
Sizes are options so that one run fits the machine: see docs/BENCHMARKS.md
for the command behind the published table.
"""
import argparse
import concurrent.futures as cf
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from bench_mount import AK, BUCKET, EP, MPFS, NFS_BUCKET_URL, SK, Client, S3fs, sh, timed  # noqa: E402
from s3lite import S3  # noqa: E402
import delay_proxy as delay_proxy_mod  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "bench-dp"
KiB, MiB = 1 << 10, 1 << 20


class Mpfs(Client):
    def __init__(self, mode, opts="", binary=None, tag="", ep=None):
        super().__init__(f"mpfs-{mode}{tag}")
        self.mode, self.opts, self.binary = mode, opts, binary or MPFS
        self.ep = ep or EP

    def mount(self, fresh=True):
        if self.cache:
            shutil.rmtree(self.cache, ignore_errors=True)
        self.cache = tempfile.mkdtemp(prefix="bench-cache-")
        args = [self.binary, "mount", "--s3", f"s3://{BUCKET}/{PREFIX}", "--endpoint", self.ep]
        if self.mode == "dual":
            args += ["--nfs", f"{NFS_BUCKET_URL}/{PREFIX}"]
        o = f"cache_dir={self.cache}" + (f",{self.opts}" if self.opts else "")
        subprocess.run(args + ["-o", o, self.mnt], check=True, timeout=120)

    def pid(self):
        return find_pid(b"mpfs", self.mnt)


class S3fsDp(S3fs):
    ep = EP

    def mount(self, fresh=True):
        subprocess.run(["s3fs", f"{BUCKET}:/{PREFIX}", self.mnt, "-o",
                        f"url={self.ep},use_path_request_style,passwd_file={self.pw.name},"
                        "endpoint=us-east-1,sigv4"], check=True, timeout=120)
        wait_mounted(self.mnt)

    def pid(self):
        return find_pid(b"s3fs", self.mnt)


class RcloneDp(Client):
    def __init__(self, cache_max=None, ep=None):
        super().__init__("rclone")
        self.cache_max, self.ep = cache_max, ep or EP

    def mount(self, fresh=True):
        if self.cache:
            shutil.rmtree(self.cache, ignore_errors=True)
        self.cache = tempfile.mkdtemp(prefix="bench-rclone-")
        remote = (f":s3,provider=Ceph,endpoint='{self.ep}',access_key_id={AK},"
                  f"secret_access_key={SK},region=us-east-1:{BUCKET}/{PREFIX}")
        extra = ["--cache-dir", self.cache]
        if self.cache_max:
            extra += ["--vfs-cache-mode", "full", "--vfs-cache-max-size", self.cache_max]
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        subprocess.run(["rclone", "mount", remote, self.mnt, "--daemon", "--daemon-wait", "30s"]
                       + extra, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=120, env=env)

    def pid(self):
        return find_pid(b"rclone", self.mnt)


class Passthrough(Client):
    """libfuse's passthrough_ll example over a local copy: the FUSE limit."""

    def __init__(self, binary, local):
        super().__init__("passthrough")
        self.binary, self.local = binary, local

    def mount(self, fresh=True):
        subprocess.run([self.binary, "-o", f"source={self.local}", self.mnt], check=True,
                       timeout=60)
        wait_mounted(self.mnt)

    def pid(self):
        return find_pid(os.path.basename(self.binary).encode(), self.mnt)


def wait_mounted(mnt):
    for _ in range(100):
        if os.path.ismount(mnt):
            return
        time.sleep(0.1)


def find_pid(name, mnt):
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if args and os.path.basename(args[0]).startswith(name) and mnt.encode() in b" ".join(args):
            return int(p)
    return None


def proc_cpu_s(pid):
    """User + system CPU seconds of process pid so far, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, TypeError, IndexError, ValueError):
        return None


def proc_field(pid, path, field):
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, TypeError):
        pass
    return None


# ---- the dataset ----------------------------------------------------------

def seq_name(a):
    """The sequential object, named by its size: runs with another
    --seq-mib must not read (or overwrite) each other's object."""
    return f"seq/big-{a.seq_mib}M.bin"


def seed(s3, a):
    tag = f"{PREFIX}/.complete-{a.seq_mib}-{a.nsmall}"
    if s3.get(BUCKET, tag) is not None:
        return
    print("seeding the data-path dataset through S3 ...", file=sys.stderr)
    s3.put(BUCKET, f"{PREFIX}/{seq_name(a)}", os.urandom(MiB) * a.seq_mib)
    jobs = [(f"{PREFIX}/small/f{i:05d}", os.urandom(128 * KiB)) for i in range(a.nsmall)]
    jobs += [(f"{PREFIX}/ttfb/t{i:03d}", os.urandom(MiB)) for i in range(10)]
    with cf.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda j: s3.put(BUCKET, *j), jobs))
    s3.put(BUCKET, tag, b"")


PAR = 4  # concurrent readers of different files ("par" measure)


def seed_par(s3, a):
    """PAR objects of seq_mib / PAR MiB each, for the concurrent-readers measure."""
    mib = max(1, a.seq_mib // PAR)
    tag = f"{PREFIX}/.complete-par-{mib}"
    if s3.get(BUCKET, tag) is not None:
        return
    print("seeding the concurrent-readers objects through S3 ...", file=sys.stderr)
    for i in range(PAR):
        s3.put(BUCKET, f"{PREFIX}/par/p{i}.bin", os.urandom(MiB) * mib)
    s3.put(BUCKET, tag, b"")


def fio_par(paths):
    """One sequential 1 MiB O_DIRECT reader per path, all at once: MB/s in total."""
    args = ["fio", "--output-format=json", "--direct=1", "--ioengine=psync", "--readonly",
            "--rw=read", "--bs=1M", "--group_reporting"]
    for i, p in enumerate(paths):
        args += [f"--name=r{i}", f"--filename={p}"]
    r = subprocess.run(args, check=True, capture_output=True, timeout=600)
    return json.loads(r.stdout)["jobs"][0]["read"]["bw_bytes"] / 1e6


def local_copy(s3, a):
    d = f"/tmp/bench-dp-local-{a.seq_mib}-{a.nsmall}"
    # the concurrent-readers objects came later: a copy made before them is redone once
    mark = ".complete" + (f"-par-{max(1, a.seq_mib // PAR)}" if "par" in a.measures.split(",")
                          else "")
    if os.path.exists(os.path.join(d, mark)):
        return d
    for sub in ("seq", "small", "ttfb", "par"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    keys = s3.list_keys(BUCKET, f"{PREFIX}/")
    for k in keys:
        rel = k[len(PREFIX) + 1:]
        if rel.split("/")[0] not in ("seq", "small", "ttfb", "par"):
            continue  # markers, and the sets of other benchmarks under the prefix
        if rel.startswith("seq/") and rel != seq_name(a):
            continue  # the sequential objects of other --seq-mib runs
        with open(os.path.join(d, rel), "wb") as f:
            f.write(s3.get(BUCKET, k))
    open(os.path.join(d, mark), "w").close()
    return d


def build_passthrough():
    out = os.path.join(tempfile.gettempdir(), "bench-passthrough_ll")
    if not os.path.exists(out):
        src = "/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c"
        sh(f"gcc -O2 -Wall {src} -o {out} $(pkg-config fuse3 --cflags --libs)")
    return out


# ---- measurements -----------------------------------------------------------

def fio(args, path):
    r = subprocess.run(["fio", "--output-format=json", "--direct=1", "--ioengine=psync",
                        f"--filename={path}", "--name=j", "--readonly"] + args,
                       check=True, capture_output=True, timeout=600)
    j = json.loads(r.stdout)["jobs"][0]["read"]
    return j


def ttfb(mnt):
    ts = []
    for i in range(10):
        p = os.path.join(mnt, "ttfb", f"t{i:03d}")
        t0 = time.perf_counter()
        with open(p, "rb", buffering=0) as f:
            f.read(1)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1000


def read_files(paths, threads=4):
    def one(p):
        with open(p, "rb", buffering=0) as f:
            while f.read(128 * KiB):
                pass
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, paths))
    return len(paths) / (time.perf_counter() - t0)


def guarded(c, label, fn, empty):
    """fn() on client c; a failed client is reported and left unmounted."""
    try:
        return fn()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        print(f"{c.name}{label}: {e} {getattr(e, 'stderr', b'')!r}", file=sys.stderr)
        c.umount()
        return empty


def run_client(c, a, rnd):
    r = {}
    m = set(a.measures.split(","))

    def body():
        c.mount()
        big = os.path.join(c.mnt, seq_name(a))
        if "ttfb" in m:
            r["ttfb_ms"] = ttfb(c.mnt)
        if "rand" in m:
            j = fio(["--rw=randread", "--bs=4k", "--runtime=3", "--time_based"], big)
            r["rand_cold_p50_ms"] = j["clat_ns"]["percentile"]["50.000000"] / 1e6
        c.umount()
        c.mount()
        pid = c.pid()
        if "seq" in m:
            cpu0 = proc_cpu_s(pid)
            r["seq_cold_mbs"] = fio(["--rw=read", "--bs=1M"], big)["bw_bytes"] / 1e6
            if cpu0 is not None and proc_cpu_s(pid) is not None:
                r["seq_cold_cpu_s"] = proc_cpu_s(pid) - cpu0
            r["seq_warm_mbs"] = fio(["--rw=read", "--bs=1M"], big)["bw_bytes"] / 1e6
        if "par" in m:
            r["par_cold_mbs"] = fio_par([os.path.join(c.mnt, "par", f"p{i}.bin")
                                         for i in range(PAR)])
        if "rand" in m:
            r["rand_qd1_iops"] = fio(["--rw=randread", "--bs=4k", "--runtime=5",
                                      "--time_based"], big)["iops"]
            r["rand_4j_iops"] = fio(["--rw=randread", "--bs=4k", "--runtime=5", "--time_based",
                                     "--numjobs=4", "--group_reporting"], big)["iops"]
        if "small" in m:
            small = [os.path.join(c.mnt, "small", f"f{i:05d}") for i in range(a.nsmall)]
            random.Random(rnd).shuffle(small)
            r["small_cold_fps"] = read_files(small)
            r["small_warm_fps"] = read_files(small)
        r["peak_rss_mb"] = (proc_field(pid, "status", "VmHWM") or 0) / 1024
        c.umount()
        return r
    return guarded(c, "", body, r)


def run_training(c, a):
    """Epochs of the DataLoader emulation on a fresh mount."""
    def body():
        c.mount()
        root = os.path.join(c.mnt, "small")
        os.listdir(root)
        p = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "dlio_emul.py"), root,
                            "--epochs", str(a.epochs), "--workers", "4", "--batch", "16",
                            "--compute-ms", str(a.compute_ms)],
                           check=True, capture_output=True, timeout=1800)
        c.umount()
        return [json.loads(line) for line in p.stdout.decode().splitlines()
                if line.startswith("{")]
    return guarded(c, " training", body, [])


def raw_limits(s3, a, ep=EP):
    r = {}
    url = f"{ep}/{BUCKET}/{PREFIX}/{seq_name(a)}"
    t = timed(lambda: sh(f"curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user '{AK}:{SK}' "
                         f"-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -o /dev/null '{url}'"))
    r["curl_mbs"] = a.seq_mib * MiB / t / 1e6
    t = timed(lambda: sh(f"nfs-cat '{NFS_BUCKET_URL}/{PREFIX}/{seq_name(a)}' > /dev/null"))
    r["nfscat_mbs"] = a.seq_mib * MiB / t / 1e6
    if "par" in a.measures.split(","):
        urls = " ".join(f"'{ep}/{BUCKET}/{PREFIX}/par/p{i}.bin'" for i in range(PAR))
        t = timed(lambda: sh(f"for u in {urls}; do curl -sf --aws-sigv4 aws:amz:us-east-1:s3 "
                             f"--user '{AK}:{SK}' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "
                             f"-o /dev/null $u & done; wait"))
        r["curl_par_mbs"] = PAR * max(1, a.seq_mib // PAR) * MiB / t / 1e6
    ts = []
    far = S3(ep, AK or None, SK or None)  # through the delay proxy when there is one
    for i in range(10):
        t0 = time.perf_counter()
        far.request("GET", BUCKET, f"{PREFIX}/ttfb/t{i:03d}", headers={"range": "bytes=0-0"})
        ts.append(time.perf_counter() - t0)
    r["get_ttfb_ms"] = statistics.median(ts) * 1000
    keys = [f"{PREFIX}/small/f{i:05d}" for i in range(a.nsmall)]
    local = threading.local()

    def get(k):
        if not hasattr(local, "s3"):
            local.s3 = S3(ep, AK or None, SK or None)
        local.s3.get(BUCKET, k)
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(4) as ex:
        list(ex.map(get, keys))
    r["gets_fps"] = len(keys) / (time.perf_counter() - t0)
    return r


# ---- announced reads (issue 11) ---------------------------------------------

def hint_sets(a):
    """(name, dir, files, bytes each, batch, compute ms) of the two sets."""
    sets = [("128 KiB", "hsmall", a.hint_small, 128 * KiB, 16, a.compute_ms),
            (f"{a.hint_large_mib} MiB", "hlarge", a.hint_large, a.hint_large_mib * MiB, 4,
             a.compute_ms)]
    return [x for x in sets if x[2] > 0]  # --hint-large 0: only the small samples


def seed_hints(s3, a):
    for _, d, n, size, _, _ in hint_sets(a):
        tag = f"{PREFIX}/.complete-{d}-{n}-{size}"
        if s3.get(BUCKET, tag) is not None:
            continue
        print(f"seeding {n} x {size >> 10} KiB under {d}/ ...", file=sys.stderr)
        blob = os.urandom(size)
        jobs = [(f"{PREFIX}/{d}/s{i:05d}", i.to_bytes(4, "little") + blob[4:]) for i in range(n)]
        with cf.ThreadPoolExecutor(4) as ex:
            list(ex.map(lambda j: s3.put(BUCKET, *j), jobs))
        s3.put(BUCKET, tag, b"")


def gets_bandwidth(keys, threads=4, ep=None):
    """Bytes/s of plain GETs of keys with `threads` at once (through ep)."""
    local = threading.local()
    got = []

    def get(k):
        if not hasattr(local, "s3"):
            local.s3 = S3(ep or EP, AK or None, SK or None)
        got.append(len(local.s3.get(BUCKET, k)))
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(threads) as ex:
        list(ex.map(get, keys))
    return sum(got) / (time.perf_counter() - t0)


def run_epochs(c, root_rel, batch, compute_ms, epochs, hints):
    def body():
        c.mount()
        root = os.path.join(c.mnt, root_rel)
        os.listdir(root)
        cmd = ["/usr/bin/python3", os.path.join(HERE, "dlio_emul.py"), root, "--epochs",
               str(epochs), "--workers", "4", "--batch", str(batch), "--compute-ms",
               str(compute_ms)] + (["--hints"] if hints else [])
        p = subprocess.run(cmd, check=True, capture_output=True, timeout=3600)
        c.umount()
        return [json.loads(line) for line in p.stdout.decode().splitlines()
                if line.startswith("{")]
    return guarded(c, " epochs", body, [])


def delay_proxy(ms):
    """bench/delay_proxy.py in front of the store: every response's first
    byte `ms` later (a far store's first-byte latency on this machine)."""
    return delay_proxy_mod.Running(EP, ms)


def main_hints(a):
    s3 = S3(EP, AK or None, SK or None)
    seed_hints(s3, a)
    variants = a.hint_clients.split(",")
    delays = [float(x) for x in str(a.s3_delay_ms).split(",")]
    proxies = {d: delay_proxy(d) for d in delays if d > 0}
    eps = {d: (proxies[d].endpoint if d > 0 else EP) for d in delays}
    res = {}  # (set, delay, variant) -> list of per-round epoch lists
    limits = {}
    try:
        for rnd in range(a.rounds):
            for sname, d, n, size, batch, compute in hint_sets(a):
                cache = f"{int(n * size / 1.6) >> 20}M"
                opts = (f"cache_ram={cache},cache_disk=0,"
                        f"memory_limit={2 * (int(n * size / 1.6) >> 20) + 64}M")
                imm = f"{opts},policy={d}:immutable"  # no revalidation per open
                keys = [f"{PREFIX}/{d}/s{i:05d}" for i in range(n)]
                for dl in (delays if rnd % 2 == 0 else delays[::-1]):  # interleaved
                    ep = eps[dl]
                    makers = {"hints": lambda: Mpfs("s3", opts, ep=ep),
                              "no hints": lambda: Mpfs("s3", opts, ep=ep),
                              "hints+immutable": lambda: Mpfs("s3", imm, ep=ep),
                              "no hints+immutable": lambda: Mpfs("s3", imm, ep=ep),
                              "s3fs": lambda: S3fsDp(), "rclone": lambda: RcloneDp(cache, ep)}
                    limits.setdefault((sname, dl), []).append(gets_bandwidth(keys, ep=ep))
                    order = variants if rnd % 2 == 0 else variants[::-1]  # interleaved
                    for v in order:
                        print(f"round {rnd + 1}/{a.rounds}: {sname} +{dl:g} ms {v}",
                              file=sys.stderr)
                        c = makers[v]()
                        c.ep = ep
                        r = run_epochs(c, d, batch, compute, a.epochs, v.startswith("hints"))
                        res.setdefault((sname, dl, v), []).append(r)
    finally:
        for p in proxies.values():
            p.stop()
    print(f"Announced reads (issue 11): {a.epochs} epochs, 4 workers, shuffled, RAM cache = "
          f"dataset / 1.6, no disk tier; first-byte delay added by bench/delay_proxy.py; "
          f"medians of {a.rounds} interleaved rounds.")
    print()
    print("| set | added delay | client | epoch 1 / 2 / 3, s | AU per epoch | epoch 1, fraction "
          "of the GET bandwidth | opens served from prefetched files, epoch 1 |")
    print("|---|---|---|---|---|---|---|")
    out = {}
    for sname, d, n, size, batch, compute in hint_sets(a):
        for dl in delays:
            lim = statistics.median(limits[(sname, dl)])
            for v in variants:
                runs = [r for r in res.get((sname, dl, v), []) if len(r) == a.epochs]
                if not runs:
                    print(f"| {sname} x {n} | {dl:g} ms | {v} | failed | | | |")
                    continue
                ep = [statistics.median(r[e]["epoch_s"] for r in runs) for e in range(a.epochs)]
                au = [statistics.median(r[e]["au"] for r in runs) for e in range(a.epochs)]
                frac = statistics.median(r[0]["bytes"] / r[0]["epoch_s"] / lim for r in runs)
                ph = [r[0].get("prefetch_hits") for r in runs if "prefetch_hits" in r[0]]
                out[f"{sname}/{dl:g}ms/{v}"] = {"epoch_s": ep, "au": au, "bw_fraction": frac,
                                                "runs": runs}
                print(f"| {sname} x {n} | {dl:g} ms | {v} | " +
                      " / ".join("%.2f" % e for e in ep) + " | " +
                      " / ".join("%.2f" % x for x in au) + f" | {frac:.2f} | " +
                      (f"{statistics.median(ph):.0f} of {n}" if ph else "—") + " |")
            print(f"| {sname} x {n} | {dl:g} ms | plain GETs, 4 threads | {n * size / lim:.2f} "
                  f"(bandwidth limit {lim / 1e6:.0f} MB/s) | | 1.00 | |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"limits": {f"{k[0]}/{k[1]:g}ms": v for k, v in limits.items()},
                       "results": out}, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seq-mib", type=int, default=1024)
    ap.add_argument("--nsmall", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--compute-ms", type=float, default=20.0)
    ap.add_argument("--cache", default="832M", help="cache budget of the training run")
    ap.add_argument("--clients", default="mpfs-dual,mpfs-s3,s3fs,rclone,passthrough")
    ap.add_argument("--json", default=None)
    ap.add_argument("--measures", default="ttfb,rand,seq,small,training",
                    help="subset of ttfb,rand,seq,par,small,training (par: 4 cold "
                         "sequential readers of 4 different files at once, and 4 curl GETs)")
    ap.add_argument("--mpfs-base", default=None,
                    help="another mpfs binary (e.g. the build before a change), run in the "
                         "same rounds as the contender mpfs-s3-base")
    ap.add_argument("--hints", action="store_true",
                    help="only the announced-reads comparison (issue 11)")
    ap.add_argument("--hint-small", type=int, default=1200, help="128 KiB samples")
    ap.add_argument("--hint-large", type=int, default=24, help="large samples")
    ap.add_argument("--hint-large-mib", type=int, default=8, help="size of a large sample")
    ap.add_argument("--s3-delay-ms", default="0",
                    help="first-byte delay added to every S3 response by bench/delay_proxy.py, "
                         "ms; with --hints a list (0,20) runs each, interleaved; without, one "
                         "value for the S3 clients and the curl limits (a far store)")
    ap.add_argument("--hint-clients",
                    default="hints,no hints,hints+immutable,no hints+immutable,s3fs,rclone")
    a = ap.parse_args()
    if a.hints:
        main_hints(a)
        return
    s3 = S3(EP, AK or None, SK or None)
    seed(s3, a)
    if "par" in a.measures.split(","):
        seed_par(s3, a)
    # a far store: S3 clients and the curl limits go through the delay proxy
    delay = float(str(a.s3_delay_ms).split(",")[0])
    proxy = delay_proxy(delay) if delay > 0 else None
    ep = proxy.endpoint if proxy else EP

    def s3fs_dp():
        c = S3fsDp()
        c.ep = ep
        return c
    makers = {
        "mpfs-dual": lambda t: Mpfs("dual", f"cache_ram={a.cache},cache_disk=0" if t else "",
                                    ep=ep),
        "mpfs-s3": lambda t: Mpfs("s3", f"cache_ram={a.cache},cache_disk=0" if t else "", ep=ep),
        "s3fs": lambda t: s3fs_dp(),
        "rclone": lambda t: RcloneDp(a.cache if t else None),
        "passthrough": lambda t: Passthrough(build_passthrough(), local_copy(s3, a)),
        "mpfs-s3-base": lambda t: Mpfs("s3", f"cache_ram={a.cache},cache_disk=0" if t else "",
                                       binary=a.mpfs_base, tag="-base", ep=ep),
    }
    names = a.clients.split(",")
    res = {n: {} for n in names}
    raw = {}
    try:
        for rnd in range(a.rounds):
            for k, v in raw_limits(s3, a, ep).items():
                raw.setdefault(k, []).append(v)
            for n in names:
                print(f"round {rnd + 1}/{a.rounds}: {n}", file=sys.stderr)
                for k, v in run_client(makers[n](False), a, rnd).items():
                    res[n].setdefault(k, []).append(v)
        train = {n: [] for n in names}
        for n in (names if "training" in a.measures.split(",") else []):
            print(f"training: {n}", file=sys.stderr)
            train[n] = run_training(makers[n](True), a)
    finally:
        if proxy:
            proxy.stop()
    med = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in res.items()}
    rawm = {k: statistics.median(v) for k, v in raw.items()}
    rows = [("ttfb_ms", "time to first byte (1 byte of a 1 MiB object), ms", "%.1f"),
            ("rand_cold_p50_ms", "cold random 4 KiB QD1, p50 ms", "%.2f"),
            ("seq_cold_mbs", "cold sequential 1 MiB, MB/s", "%.0f"),
            ("seq_cold_cpu_s", "CPU seconds of the client during the cold sequential read", "%.2f"),
            ("seq_warm_mbs", "warm sequential (same mount), MB/s", "%.0f"),
            ("par_cold_mbs", f"{PAR} cold sequential readers of {PAR} different files, MB/s in total",
             "%.0f"),
            ("rand_qd1_iops", "warm random 4 KiB QD1, IOPS", "%.0f"),
            ("rand_4j_iops", "warm random 4 KiB 4 jobs, IOPS", "%.0f"),
            ("small_cold_fps", f"{a.nsmall} x 128 KiB random order 4 threads cold, files/s", "%.0f"),
            ("small_warm_fps", "the same warm, files/s", "%.0f"),
            ("peak_rss_mb", "peak RSS of the client, MB", "%.0f")]
    print(f"| measure (median of {a.rounds}) | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for k, title, fmt in rows:
        if not any(k in med[n] for n in names):
            continue
        print(f"| {title} | " + " | ".join(
            (fmt % med[n][k]) if k in med[n] else "—" for n in names) + " |")
    d_mib = a.nsmall * 128 / 1024
    print(f"| training: {a.epochs} epochs over {a.nsmall} x 128 KiB ({d_mib:.0f} MiB), cache "
          f"{a.cache}: epoch s | " + " | ".join(
              " / ".join("%.1f" % e["epoch_s"] for e in train[n]) or "—" for n in names) + " |")
    print("| accelerator utilization per epoch | " + " | ".join(
        " / ".join("%.2f" % e["au"] for e in train[n]) or "—" for n in names) + " |")
    print("| epoch cache hit ratio (mpfs: user.mpfs.cache_stats) | " + " | ".join(
        " / ".join("%.2f" % e["hit"] for e in train[n] if "hit" in e) or "—" for n in names) + " |")
    if not rawm:
        return
    print()
    if "curl_par_mbs" in rawm:
        print(f"Concurrent-readers limit (median of {a.rounds}): {PAR} curl GETs of the {PAR} "
              f"files at once {rawm['curl_par_mbs']:.0f} MB/s in total.")
    print(f"Raw limits (median of {a.rounds}): curl GET {rawm['curl_mbs']:.0f} MB/s, nfs-cat "
          f"{rawm['nfscat_mbs']:.0f} MB/s, one ranged GET to first byte {rawm['get_ttfb_ms']:.1f} ms, "
          f"plain GETs of the small files with 4 threads {rawm['gets_fps']:.0f} files/s.")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"median": med, "raw": rawm, "train": train, "all": res}, f, indent=1)


if __name__ == "__main__":
    main()
