#!/bin/bash
# scripts/stack.sh on a store of its own (never the shared one):
#  1. the holder's mount namespace does not keep a host FUSE mount alive: a
#     mount made before `up`, unmounted on the host afterwards, ends its
#     daemon (before: unshare copied it, the daemon ran until `down`);
#  2. `up` on a store with one dead daemon restarts that daemon and keeps the
#     state dir, so data written before is still there (before: `up` wiped
#     everything and started an empty store).
# Needs root and the shared store's variables (MPFS_S3_*, AWS_*) for the
# FUSE mount of step 1; runs inside that store's netns like every
# integration test.  Own store: MPFS_OPS_NS (ops), MPFS_OPS_STACK_DIR
# (/tmp/ops-stack), 2 GiB memstore; taken down at the end.
set -euo pipefail
SRC=${MPFS_SOURCE_DIR:?}
BUILD=${MPFS_BUILD_DIR:?}
OPS_NS=${MPFS_OPS_NS:-ops}
OPS_DIR=${MPFS_OPS_STACK_DIR:-/tmp/ops-stack}
[ "$OPS_NS" != "${MPFS_NS:-mpfs}" ] || { echo "refusing: $OPS_NS is the shared store" >&2; exit 1; }
[ "$OPS_DIR" != "${MPFS_STACK_DIR:-}" ] || { echo "refusing: $OPS_DIR is the shared store" >&2; exit 1; }

stack() { env MPFS_NS="$OPS_NS" MPFS_STACK_DIR="$OPS_DIR" MPFS_MEMSTORE_GB=2 "$SRC/scripts/stack.sh" "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

mnt=$(mktemp -d /tmp/mpfs-holder-XXXXXX)
cache=$(mktemp -d /tmp/mpfs-holder-cache-XXXXXX)
cleanup() {
  grep -q " $mnt " /proc/mounts && fusermount3 -uz "$mnt"
  stack down >/dev/null 2>&1 || true
  rm -rf "$mnt" "$cache"
}
trap cleanup EXIT

# ---- 1. a FUSE mount that exists before the store starts
prefix="it-holder-$$"
"$BUILD/tools/mpfs" mount --s3 "s3://${MPFS_S3_BUCKET:?}/$prefix" --endpoint "${MPFS_S3_ENDPOINT:?}" \
  -o "cache_dir=$cache" "$mnt"
daemon=
for p in $(pgrep -x mpfs); do grep -q "cache_dir=$cache" "/proc/$p/cmdline" && daemon=$p; done
[ -n "$daemon" ] || fail "no mpfs daemon for $mnt"

stack up
holder=$(cat "$OPS_DIR/pids/holder.pid")
if grep -q " $mnt " "/proc/$holder/mountinfo"; then
  fail "the holder's mount namespace holds a copy of $mnt"
fi
fusermount3 -u "$mnt"
for _ in $(seq 100); do alive "$daemon" || break; sleep 0.1; done
alive "$daemon" && fail "mpfs (pid $daemon) still runs 10 s after its mount was unmounted on the host"
echo "ok: host unmount ends the daemon while the store runs"

# ---- 2. one dead daemon: `up` restarts it, the data stays
s3() { nsenter --net="/run/netns/$OPS_NS" -- curl -sf --max-time 20 --aws-sigv4 "aws:amz:us-east-1:s3" \
         --user "${AWS_ACCESS_KEY_ID:?}:${AWS_SECRET_ACCESS_KEY:?}" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"; }
echo "kept across a restart" >"$cache/obj"
s3 -o /dev/null -T "$cache/obj" "http://127.0.0.1:7480/testbucket/keep-me"
echo sentinel >"$OPS_DIR/posix/sentinel"
mon=$(cat "$OPS_DIR/pids/mon.a.pid")
rgw=$(cat "$OPS_DIR/pids/rgw.gw.pid")
kill -KILL "$rgw"
for _ in $(seq 50); do alive "$rgw" || break; sleep 0.1; done
out=$(stack up 2>&1) || { echo "$out" >&2; fail "up after killing rgw.gw failed"; }
echo "$out"
grep -q "restarting them" <<<"$out" || fail "up did not restart the dead daemon"
grep -q "cleaning up\|wiping" <<<"$out" && fail "up wiped the store"
[ "$(cat "$OPS_DIR/pids/mon.a.pid")" = "$mon" ] || fail "up restarted the live mon"
new=$(cat "$OPS_DIR/pids/rgw.gw.pid")
if [ "$new" = "$rgw" ] || ! alive "$new"; then fail "rgw.gw not running again"; fi
[ "$(s3 "http://127.0.0.1:7480/testbucket/keep-me")" = "kept across a restart" ] ||
  fail "the object written before the restart is gone"
[ -e "$OPS_DIR/posix/sentinel" ] || fail "the state dir was wiped"
stack status >/dev/null || fail "store not healthy after the restart"
echo "ok: up restarted rgw.gw only and kept the data"
