#!/bin/bash
# scripts/stack.sh writes the ceph, ganesha and s3cmd configs from unquoted
# heredocs (they expand $STATE etc.).  A backquoted word in a comment there
# is a command the shell runs: `mpfs probe` ran on every `up` ("mpfs:
# command not found").  Call every writer with a fake `mpfs` (and the other
# words the comments mention) first on PATH that records being run; none
# may run, and the text must arrive literally.
set -euo pipefail
SRC=${1:-${MPFS_SOURCE_DIR:?}}
tmp=$(mktemp -d /tmp/mpfs-heredoc-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/state"
for w in mpfs rpcbind ceph-osd radosgw ganesha.nfsd; do
  printf '#!/bin/sh\necho "%s $*" >>"%s/ran"\n' "$w" "$tmp" >"$tmp/bin/$w"
  chmod +x "$tmp/bin/$w"
done
export PATH="$tmp/bin:$PATH" MPFS_STACK_DIR="$tmp/state" MPFS_NS=heredoc-test MPFS_STACK_SOURCE_ONLY=1
# shellcheck source=scripts/stack.sh
. "$SRC/scripts/stack.sh"
write_ceph_conf 00000000-0000-0000-0000-000000000000
write_ganesha_conf
write_s3cfg "$tmp/state/s3cfg" 127.0.0.1:1
if [ -e "$tmp/ran" ]; then
  echo "FAIL: writing the configs ran commands:" >&2
  cat "$tmp/ran" >&2
  exit 1
fi
grep -q "mpfs probe' measured" "$tmp/state/ceph.conf" ||
  { echo "FAIL: the ceph.conf comment did not arrive literally" >&2; exit 1; }
grep -q "^rgw data = $tmp/state/rgw$" "$tmp/state/ceph.conf" ||
  { echo "FAIL: \$STATE was not expanded in ceph.conf" >&2; exit 1; }
echo "ok: config heredocs run nothing"
