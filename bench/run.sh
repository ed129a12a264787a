#!/bin/bash
# The benchmarks, all in one run on this machine (results go into
# docs/BENCHMARKS.md by hand, with this command):
#   1. backends: the S3 backend reading a 512 MiB object with parallel ranged
#      reads against one curl GET; the NFS backend against nfs-cat, on the
#      bucket's NFS view and on the POSIX export (tests/integration/*_bench.c);
#   2. mounts: mpfs (dual and S3-only) against s3fs and rclone mounted on the
#      same bucket, and the raw protocols (bench/bench_mount.py);
#   3. with --datapath, instead of 1 and 2: the data path of issue 8 (fio,
#      small files, time to first byte, peak RSS, a PyTorch DataLoader
#      training emulation; bench/bench_datapath.py, its options follow);
#   4. with --visibility, instead: how soon others' changes show through the
#      mount (issue 9; bench/bench_visibility.py, its options follow).
# Builds Release binaries into build-bench/, starts the store if it is not up.
#   bench/run.sh [--rounds N] [--clients mpfs-dual,mpfs-s3,s3fs,rclone] [--skip-backends]
#   bench/run.sh --datapath [--rounds N] [--seq-mib M] [--nsmall N] [--epochs E] [--cache SIZE]
#   bench/run.sh --visibility [--mode dual|nfs] [--stat-loop] [--mount-opts OPTS] [--changes N]
#   bench/run.sh --datapath --hints [--rounds N] [--hint-small N] [--hint-large N]
#                [--hint-large-mib M] [--hint-clients "hints,no hints,hints+immutable,no hints+immutable,s3fs,rclone"]
#                [--s3-delay-ms 0,20]
#      (announced reads, issue 11: DataLoader epochs with and without hints; --s3-delay-ms
#      puts bench/delay_proxy.py in front of the store: a far store's first-byte latency)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
SKIP_BACKENDS=0
DATAPATH=0
VISIBILITY=0
ARGS=()
for a in "$@"; do
  if [ "$a" = --skip-backends ]; then SKIP_BACKENDS=1
  elif [ "$a" = --datapath ]; then DATAPATH=1
  elif [ "$a" = --visibility ]; then VISIBILITY=1
  else ARGS+=("$a"); fi
done
scripts/deps.sh >/dev/null
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DMPFS_SANITIZE=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" --target mpfs s3_bench nfs_bench >/dev/null
scripts/stack.sh status >/dev/null 2>&1 || scripts/stack.sh up
eval "$(scripts/stack.sh env)"
NS=(nsenter --net="$MPFS_NETNS_PATH")
if [ "$VISIBILITY" = 1 ]; then
  echo "## visibility"
  MPFS_BUILD_DIR=$REPO/build-bench "${NS[@]}" python3 bench/bench_visibility.py "${ARGS[@]}"
  exit 0
fi
if [ "$DATAPATH" = 1 ]; then
  echo "## data path"
  MPFS_BIN=$REPO/build-bench/tools/mpfs "${NS[@]}" python3 bench/bench_datapath.py "${ARGS[@]}"
  exit 0
fi
if [ "$SKIP_BACKENDS" = 0 ]; then
  echo "## backends"
  "${NS[@]}" build-bench/tests/s3_bench rgw 512 4 8 3
  "${NS[@]}" build-bench/tests/nfs_bench "$MPFS_NFS_BUCKET_URL" --size 512 --threads 4 --rounds 3
  "${NS[@]}" build-bench/tests/nfs_bench "$MPFS_NFS_POSIX_URL" --size 512 --threads 4 --rounds 3
fi
echo "## mounts"
MPFS_BIN=$REPO/build-bench/tools/mpfs "${NS[@]}" python3 bench/bench_mount.py "${ARGS[@]}"
