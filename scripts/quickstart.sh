#!/bin/bash
# mpfs quickstart: the README's first command.  On a fresh Debian 12 machine
# (as root) it installs the dependencies, builds mpfs, starts the local
# multi-protocol store (Ceph radosgw + NFS-Ganesha in a network namespace),
# writes a sample dataset through S3, mounts it in dual mode (S3 + the
# bucket's NFS view) and shows it working.  The mount stays up.
#
#   scripts/quickstart.sh            set up and mount (idempotent)
#   scripts/quickstart.sh stop       unmount and stop the store
#
# Environment: MPFS_MNT (default /mnt/mpfs-sample), MPFS_SAMPLE_FILES (2000),
# MPFS_SAMPLE_SHARDS (4), MPFS_SAMPLE_SHARD_MB (64).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
. "$REPO/scripts/lib.sh"
MNT=${MPFS_MNT:-/mnt/mpfs-sample}
PREFIX=sample
BIN=$REPO/build/tools/mpfs

if [ "${1:-}" = stop ]; then
  if grep -q " $MNT fuse.mpfs " /proc/mounts; then
    fusermount3 -u "$MNT" && ts "unmounted $MNT"
  fi
  scripts/stack.sh down
  exit 0
fi

ts "installing dependencies"
scripts/deps.sh
ts "building (Release) into build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMPFS_SANITIZE=OFF -DMPFS_TSAN=OFF >/dev/null
cmake --build build -j"$(nproc)" --target mpfs >/dev/null
ts "starting the store"
scripts/stack.sh up
eval "$(scripts/stack.sh env)"
NS="nsenter --net=$MPFS_NETNS_PATH"

ts "writing the sample dataset through S3"
$NS python3 scripts/seed_dataset.py "$MPFS_S3_ENDPOINT" "$MPFS_S3_BUCKET" "$PREFIX" \
  --files "${MPFS_SAMPLE_FILES:-2000}" --shards "${MPFS_SAMPLE_SHARDS:-4}" \
  --shard-mb "${MPFS_SAMPLE_SHARD_MB:-64}"

mkdir -p "$MNT"
if grep -q " $MNT fuse.mpfs " /proc/mounts; then
  ts "already mounted at $MNT"
else
  ts "mounting s3://$MPFS_S3_BUCKET/$PREFIX + $MPFS_NFS_BUCKET_URL/$PREFIX at $MNT (dual mode)"
  # the daemon joins only the store's network namespace: the mount stays
  # visible on the host
  $NS "$BIN" mount --s3 "s3://$MPFS_S3_BUCKET/$PREFIX" --endpoint "$MPFS_S3_ENDPOINT" \
    --nfs "$MPFS_NFS_BUCKET_URL/$PREFIX" "$MNT"
fi

S3GET() { $NS curl -sS -f --aws-sigv4 aws:amz:us-east-1:s3 \
  --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
  "$MPFS_S3_ENDPOINT/$MPFS_S3_BUCKET/$1"; }

echo
echo "== one file, three ways =="
echo "-- through the mount:  cat $MNT/README.txt"
cat "$MNT/README.txt"
echo "-- through S3:         GET s3://$MPFS_S3_BUCKET/$PREFIX/README.txt"
S3GET "$PREFIX/README.txt"
echo "-- through NFS:        nfs-cat $MPFS_NFS_BUCKET_URL/$PREFIX/README.txt"
$NS nfs-cat "$MPFS_NFS_BUCKET_URL/$PREFIX/README.txt"
echo
echo "== the tree =="
ls -l "$MNT" "$MNT/shards"
echo "train/: $(find "$MNT/train" -type f | wc -l) files in $(ls "$MNT/train" | wc -l) directories"
echo
echo "== a file written through the mount, read back through S3 =="
NOTE="written through mpfs at $(date -u +%FT%TZ)"
echo "$NOTE" > "$MNT/hello-from-mpfs.txt"
echo "-- GET s3://$MPFS_S3_BUCKET/$PREFIX/hello-from-mpfs.txt:"
S3GET "$PREFIX/hello-from-mpfs.txt"
echo
echo "mpfs is mounted at $MNT (log: /var/cache/mpfs/*/mpfs.log)."
echo "Stop it with:  scripts/quickstart.sh stop   (or fusermount3 -u $MNT; scripts/stack.sh down)"
