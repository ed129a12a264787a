#!/usr/bin/env python3
"""Write a sample dataset into an S3 bucket through S3 (curl with SigV4).

  seed_dataset.py ENDPOINT BUCKET PREFIX [--files N] [--shards N] [--shard-mb N]

The layout imitates a training dataset: PREFIX/train/class-XX/img-XXXXX.bin
(small files, a few KiB each), PREFIX/shards/shard-XXX.tar (large shards),
PREFIX/README.txt.  Credentials come from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY.  Uploads run in parallel; the script is idempotent
(a complete dataset has PREFIX/.complete and is left alone).
"""
import argparse
import concurrent.futures as cf
import os
import subprocess
import sys
import tempfile


def put(endpoint, bucket, key, path):
    cmd = ["curl", "-sS", "-f", "-X", "PUT", "--aws-sigv4", "aws:amz:us-east-1:s3",
           "--user", f"{os.environ['AWS_ACCESS_KEY_ID']}:{os.environ['AWS_SECRET_ACCESS_KEY']}",
           "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T", path, "-o", "/dev/null",
           f"{endpoint}/{bucket}/{key}"]
    subprocess.run(cmd, check=True, timeout=300)


def exists(endpoint, bucket, key):
    cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-I", "--aws-sigv4",
           "aws:amz:us-east-1:s3",
           "--user", f"{os.environ['AWS_ACCESS_KEY_ID']}:{os.environ['AWS_SECRET_ACCESS_KEY']}",
           "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", f"{endpoint}/{bucket}/{key}"]
    return subprocess.run(cmd, capture_output=True, timeout=60).stdout == b"200"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("endpoint")
    ap.add_argument("bucket")
    ap.add_argument("prefix")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--shard-mb", type=int, default=64)
    ap.add_argument("--jobs", type=int, default=16)
    a = ap.parse_args()
    pre = a.prefix.strip("/")
    if exists(a.endpoint, a.bucket, f"{pre}/.complete"):
        print(f"dataset s3://{a.bucket}/{pre} already complete")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for i in range(a.files):
            p = os.path.join(tmp, f"img{i}")
            with open(p, "wb") as f:
                f.write(os.urandom(2048 + (i * 97) % 6144))
            jobs.append((f"{pre}/train/class-{i % a.classes:02d}/img-{i:05d}.bin", p))
        for s in range(a.shards):
            p = os.path.join(tmp, f"shard{s}")
            with open(p, "wb") as f:
                for _ in range(a.shard_mb):
                    f.write(os.urandom(1 << 20))
            jobs.append((f"{pre}/shards/shard-{s:03d}.tar", p))
        readme = os.path.join(tmp, "README")
        with open(readme, "w") as f:
            f.write("mpfs sample dataset: train/class-XX/img-XXXXX.bin (small samples) and "
                    "shards/shard-XXX.tar (large shards), written through S3.\n")
        jobs.append((f"{pre}/README.txt", readme))
        with cf.ThreadPoolExecutor(a.jobs) as ex:
            list(ex.map(lambda j: put(a.endpoint, a.bucket, *j), jobs))
        open(os.path.join(tmp, "done"), "w").close()
        put(a.endpoint, a.bucket, f"{pre}/.complete", os.path.join(tmp, "done"))
    print(f"wrote {a.files} small files and {a.shards} x {a.shard_mb} MiB shards to "
          f"s3://{a.bucket}/{pre}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
