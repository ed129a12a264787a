#!/usr/bin/python3
"""A complete training loop whose DataLoader tells the mpfs mount what it
will read next (docs/PREFETCH.md).  Runs on any directory of files; on an
mpfs mount each epoch's shuffled order is prefetched in that order.

  /usr/bin/python3 examples/train_with_prefetch.py DIR [--epochs 3] [--workers 4]

Each file is one sample: its first 256 bytes are the features, the parity
of its first byte the label (a stand-in for decoding an image).
"""
import argparse
import os
import sys
import time

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from mpfs_loader import PrefetchSampler  # noqa: E402

FEATURES = 256


class FileSamples(Dataset):
    def __init__(self, root):
        self.paths = sorted(os.path.join(root, n) for n in os.listdir(root)
                            if os.path.isfile(os.path.join(root, n)))

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with open(self.paths[i], "rb") as f:
            data = f.read()
        x = torch.zeros(FEATURES)
        head = data[:FEATURES]
        x[:len(head)] = torch.tensor(list(head), dtype=torch.float32) / 255.0
        y = (data[0] & 1) if data else 0
        return x, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()

    ds = FileSamples(a.root)
    g = torch.Generator()
    g.manual_seed(0)
    # The sampler draws each epoch's permutation, then announces to the
    # mount which files each DataLoader worker will open, in order.  Give it
    # the same batch_size and num_workers as the DataLoader.
    sampler = PrefetchSampler(RandomSampler(ds, generator=g), ds.paths.__getitem__,
                              batch_size=a.batch, num_workers=a.workers)
    dl = DataLoader(ds, batch_size=a.batch, sampler=sampler, num_workers=a.workers,
                    persistent_workers=a.workers > 0)

    model = torch.nn.Sequential(torch.nn.Linear(FEATURES, 64), torch.nn.ReLU(),
                                torch.nn.Linear(64, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        total, n = 0.0, 0
        for x, y in dl:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            total += float(loss) * len(y)
            n += len(y)
        dt = time.perf_counter() - t0
        print(f"epoch {epoch + 1}: {n} samples, loss {total / max(1, n):.4f}, {dt:.2f} s, "
              f"hints {'on' if sampler.streams else 'off (not an mpfs mount)'}", flush=True)
    sampler.close()


if __name__ == "__main__":
    main()
