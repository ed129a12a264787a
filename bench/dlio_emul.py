#!/usr/bin/python3
"""DLIO-style training emulation: epochs of a PyTorch DataLoader over the
files of a directory, a fresh shuffle every epoch, 4 persistent workers,
compute emulated by a sleep per batch (MLPerf Storage's accelerator
emulation).  Run with Debian's python3-torch (/usr/bin/python3).  Prints
one JSON line per epoch: epoch time, compute time, accelerator utilization
(compute / epoch time), samples, bytes and, on an mpfs mount, the epoch's
cache hit ratio (from the user.mpfs.cache_stats counters of the mount).
With --hints the epoch's order is announced to the mount
(python/mpfs_loader.PrefetchSampler, docs/PREFETCH.md) and the epoch line
also gives the mount's prefetch counters (opens served from prefetched
files, files fetched ahead).

  dlio_emul.py DIR [--epochs 3] [--workers 4] [--batch 16] [--compute-ms 20] [--hints]
"""
import argparse
import json
import os
import time

import sys

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from mpfs_loader import PrefetchSampler  # noqa: E402


class Files(Dataset):
    def __init__(self, root):
        self.paths = sorted(os.path.join(root, n) for n in os.listdir(root))

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with open(self.paths[i], "rb") as f:
            n = len(f.read())
            # drop the file from the page cache, as a dataset much larger
            # than the node's memory would be: the next epoch reads it
            # through the file system again (and its cache is measured)
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            return n


def counters(root):
    try:
        v = os.getxattr(root, "user.mpfs.cache_stats").decode()
    except OSError:
        return None
    d = dict(f.split("=") for f in v.split())
    return int(d["hits"]), int(d["misses"])


def prefetch_counters(root):
    """The mount's prefetch.* counters (docs/PREFETCH.md), or None."""
    d = root
    while d != os.path.dirname(d):
        try:
            with open(os.path.join(d, ".mpfs", "stats")) as f:
                return {k[9:]: int(v) for k, _, v in (l.strip().partition(" ") for l in f)
                        if k.startswith("prefetch.") and v.isdigit()}
        except OSError:
            d = os.path.dirname(d)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--compute-ms", type=float, default=20.0)
    ap.add_argument("--hints", action="store_true", help="announce each epoch's order")
    a = ap.parse_args()
    ds = Files(a.root)
    g = torch.Generator()
    g.manual_seed(a.seed)  # a fresh permutation every epoch
    if a.hints:
        # the same permutations as shuffle=True with this generator
        sampler = PrefetchSampler(RandomSampler(ds, generator=g), ds.paths.__getitem__,
                                  batch_size=a.batch, num_workers=a.workers)
        dl = DataLoader(ds, batch_size=a.batch, sampler=sampler, num_workers=a.workers,
                        persistent_workers=True)
    else:
        dl = DataLoader(ds, batch_size=a.batch, shuffle=True, num_workers=a.workers, generator=g,
                        persistent_workers=True)
    for epoch in range(a.epochs):
        c_before = counters(a.root)
        p_before = prefetch_counters(a.root)
        t0 = time.perf_counter()
        compute = 0.0
        nbytes = samples = 0
        for batch in dl:
            nbytes += int(batch.sum())
            samples += len(batch)
            c0 = time.perf_counter()
            time.sleep(a.compute_ms / 1000.0)
            compute += time.perf_counter() - c0
        t = time.perf_counter() - t0
        r = {"epoch": epoch + 1, "epoch_s": t, "compute_s": compute, "au": compute / t,
             "samples": samples, "bytes": nbytes}
        c_after = counters(a.root)
        if c_before and c_after:
            hits, misses = c_after[0] - c_before[0], c_after[1] - c_before[1]
            r["hit"] = hits / max(1, hits + misses)
        p_after = prefetch_counters(a.root)
        if p_before and p_after:
            r["prefetch_hits"] = p_after["hits"] - p_before["hits"]
            r["prefetch_fetched"] = p_after["fetched"] - p_before["fetched"]
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
