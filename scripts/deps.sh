#!/bin/bash
# Install every Debian package mpfs needs to build, test and benchmark.
# Idempotent and non-interactive; never starts a daemon on the host: a
# policy-rc.d that refuses service starts is in place while apt runs
# (rpcbind's and ceph's postinst scripts would otherwise start them in the
# host network namespace).
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config
  libfuse3-dev fuse3 libnfs-dev librocksdb-dev libxxhash-dev libcmocka-dev
  libcurl4-openssl-dev libxml2-dev libssl-dev librabbitmq-dev
  # the real test store
  ceph-mon ceph-osd radosgw nfs-ganesha nfs-ganesha-rgw nfs-ganesha-vfs rpcbind
  rabbitmq-server
  libnfs-utils s3cmd uuid-runtime bc iproute2 util-linux curl procps psmisc
  # peers and tools for the benchmarks (bench/run.sh): fio, and Debian's
  # PyTorch for the DataLoader training emulation (/usr/bin/python3)
  s3fs rclone fio python3-torch
  # misc test tools (strace: test_datapath.py counts ls -l's getxattr calls)
  attr strace
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages (${missing[*]}) and not root: run as root" >&2
  exit 1
fi

echo "deps: installing ${missing[*]}"
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  made_policy=1
fi
trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
