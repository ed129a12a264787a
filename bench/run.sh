#!/bin/bash
# Benchmarks, all in one run on this machine: mpfs (dual and S3-only)
# against s3fs and rclone mounted on the same bucket, and the raw protocols
# (curl GET, nfs-cat).  Builds a Release binary, starts the store if it is
# not up, runs bench_mount.py in the store's network namespace.
#   bench/run.sh [--rounds N] [--clients mpfs-dual,mpfs-s3,s3fs,rclone]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
scripts/deps.sh >/dev/null
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DMPFS_TESTS=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" --target mpfs >/dev/null
scripts/stack.sh status >/dev/null 2>&1 || scripts/stack.sh up
eval "$(scripts/stack.sh env)"
MPFS_BIN=$REPO/build-bench/tools/mpfs nsenter --net="$MPFS_NETNS_PATH" \
  python3 bench/bench_mount.py "$@"
