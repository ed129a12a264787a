#!/bin/bash
# mpfs test store: a real multi-protocol object store on one machine, inside a
# private network namespace (loopback only), for mpfs's integration tests.
#
#   Ceph (mon + one memstore OSD) + radosgw   S3   http://127.0.0.1:7480  bucket testbucket
#   rpcbind + NFS-Ganesha 4.3                 NFS  nfs://127.0.0.1/testbucket  (FSAL_RGW: the same bucket)
#                                                  nfs://127.0.0.1/            (FSAL_RGW: every bucket of user test)
#                                                  nfs://127.0.0.1$STATE/posix (FSAL_VFS: a plain POSIX dir)
#   moto_server                               S3   http://127.0.0.1:5000  bucket motobucket (any credentials)
#   RabbitMQ (epmd + rabbitmq-server)         AMQP amqp://127.0.0.1:5672  (radosgw's bucket notifications)
#
# Usage: scripts/stack.sh up | down | env | status | restart-nfs [DOWN_S]
#   up      start everything (idempotent: says so if already up and healthy;
#           cleans up after a killed/stale previous run first)
#   down    stop what `up` started (by recorded PID only), delete the netns and
#           the state dir (KEEP=1 keeps the state dir with the logs)
#   env     print `export` lines for tests:  eval "$(scripts/stack.sh env)"
#   status  exit 0 only if S3, both NFS exports and moto answer (and the OSD
#           is not full)
#   restart-nfs [DOWN_S]  SIGKILL NFS-Ganesha, wait DOWN_S s (default 2), start
#           it again as `up` does (for the NFS reconnect tests; never on a
#           store others are using)
#
# Environment: MPFS_STACK_DIR (state dir, default $REPO/.stack), MPFS_NS
# (netns name, default mpfs).  The daemons run in the netns plus a private
# mount namespace (a "holder" process bind-mounts $STATE/vrun over /run so that
# rpcbind's /run/rpcbind.sock cannot clash with the host); clients only need the
# network:  nsenter --net=/run/netns/$MPFS_NS CMD   (or scripts/nsrun CMD), which
# keeps the host mount namespace so FUSE mounts stay visible.
#
# Derived from a measured reference recipe (single-node Ceph + ganesha).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"

NS=${MPFS_NS:-mpfs}
STATE=${MPFS_STACK_DIR:-$REPO/.stack}
case $STATE in /*) ;; *) STATE=$PWD/$STATE ;; esac
STATE=$(realpath -m -- "$STATE")
NETNS_PATH=/run/netns/$NS
KEEP=${KEEP:-0}

BUCKET=testbucket
MOTO_BUCKET=motobucket
AK=TESTACCESSKEY0000001
SK=testsecretkey0000000000000000000000000001
REGION="us-east-1"
S3_PORT=7480
MOTO_PORT=5000
AMQP_PORT=5672
AMQP_URL=amqp://127.0.0.1:$AMQP_PORT
S3_ENDPOINT=http://127.0.0.1:$S3_PORT
MOTO_ENDPOINT=http://127.0.0.1:$MOTO_PORT
NFS_BUCKET_URL=nfs://127.0.0.1/$BUCKET
NFS_ROOT_URL=nfs://127.0.0.1/
NFS_POSIX_URL=nfs://127.0.0.1$STATE/posix

# host-side bookkeeping shared by every checkout: a lock per netns name and a
# record of which state dir owns the netns (several checkouts may run stacks).
SYS_DIR=/run/mpfs-stack
LOCK_FILE=$SYS_DIR/$NS.lock
OWNER_FILE=$SYS_DIR/$NS.owner
MARKER=$STATE/.mpfs-stack     # proves $STATE is ours before we ever rm -rf it
PIDS=$STATE/pids              # NAME.pid + NAME.stime (start time, vs PID reuse)

# Daemons in stop order (reverse of start); osd.N / mon.a names are fixed.
STOP_ORDER=(moto ganesha rpcbind rgw.gw rabbitmq epmd osd.0 mon.a holder)
ALL_DAEMONS=(holder moto epmd rabbitmq mon.a osd.0 rgw.gw rpcbind ganesha)
STARTED=()

# ------------------------------------------------------------------ helpers

validate() {
  [[ $NS =~ ^[A-Za-z0-9_.-]+$ ]] || die "MPFS_NS='$NS': only [A-Za-z0-9_.-] allowed"
  [[ $STATE =~ ^/[A-Za-z0-9_./+-]+$ ]] ||
    die "state dir '$STATE': only [A-Za-z0-9_./+-] allowed (it goes into ceph/ganesha configs)"
  case $STATE in
    / | /run | /run/* | /var/run | /var/run/* | /proc* | /sys* | /dev*)
      die "state dir '$STATE' not allowed (/run is replaced inside the netns)" ;;
  esac
  # unix socket paths are limited to 107 bytes (ceph admin sockets live here)
  [ ${#STATE} -le 60 ] || log "warning: state dir path is long (${#STATE} chars); ceph admin sockets may fail"
}

need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root (netns, mounts)"; }

take_lock() {
  mkdir -p "$SYS_DIR"
  exec 9>"$LOCK_FILE"
  flock -w 300 9 || die "another stack.sh holds $LOCK_FILE for 300 s"
}

netns_exists() { [ -e "$NETNS_PATH" ] && ip netns list 2>/dev/null | grep -qE "^$NS( |$)"; }

# run a client in the netns network only (host mount namespace)
nsnet() { timeout -k 2 "$WAIT_FOR_TRY_S" nsenter --net="$NETNS_PATH" -- "$@"; }

holder_pid() { cat "$PIDS/holder.pid" 2>/dev/null; }

# run inside the holder's network + mount namespaces (sees the private /run)
nsx() { timeout -k 2 "$WAIT_FOR_TRY_S" nsenter -t "$(holder_pid)" -m -n -- "$@"; }

# pid_of NAME [DIR]: prints the recorded PID if that process is still alive and
# is the same process (start time matches), else fails.
pid_of() {
  local name=$1 dir=${2:-$PIDS} pid stime now
  pid=$(cat "$dir/$name.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  proc_alive "$pid" || return 1
  stime=$(cat "$dir/$name.stime" 2>/dev/null) || return 1
  now=$(proc_starttime "$pid") || return 1
  [ "$now" = "$stime" ] || return 1
  printf '%s\n' "$pid"
}

daemon_logs() {
  local l="$STATE/log/$1.out"
  case $1 in
    mon.a) l+=" $STATE/log/mon.a.log" ;;
    osd.*) l+=" $STATE/log/$1.log $STATE/log/osd-mkfs.out" ;;
    rgw.gw) l+=" $STATE/log/client.rgw.gw.log" ;;
    ganesha) l+=" $STATE/log/ganesha.log $STATE/log/rgw-nfs.log" ;;
  esac
  printf '%s\n' "$l"
}

# WAIT_FOR_HOOK: fail a wait at once if a daemon we started has died
check_started() {
  local n
  for n in "${STARTED[@]}"; do
    if ! pid_of "$n" >/dev/null; then
      log "daemon $n (pid $(cat "$PIDS/$n.pid" 2>/dev/null)) has exited"
      # shellcheck disable=SC2046
      tail_logs $(daemon_logs "$n")
      return 1
    fi
  done
}

record_pid() { # NAME: wait for the launcher to write NAME.pid, add start time
  local name=$1 i pid
  for i in $(seq 1 50); do
    pid=$(cat "$PIDS/$name.pid" 2>/dev/null || true)
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || die "$name did not start"
  proc_starttime "$pid" >"$PIDS/$name.stime" || {
    # shellcheck disable=SC2046
    tail_logs $(daemon_logs "$name")
    die "$name (pid $pid) exited at once"
  }
  STARTED+=("$name")
}

# start NAME CMD...: run a daemon in the foreground inside the holder's
# namespaces, detached from our session; the launcher shell writes its own PID
# (it then execs into nsenter, which execs CMD without forking), so the
# recorded PID is the daemon's even if setsid had to fork.
start() {
  local name=$1
  shift
  # shellcheck disable=SC2016  # expanded by the inner sh
  setsid sh -c 'echo $$ >"$0"; exec "$@"' "$PIDS/$name.pid" \
    nsenter -t "$(holder_pid)" -m -n -- "$@" \
    </dev/null >>"$STATE/log/$name.out" 2>&1 9>&- &
  disown "$!"   # no "Killed" job notices when we stop it ourselves
  record_pid "$name"
}

# stop NAME [TENTHS]: SIGTERM the recorded PID (only if it is still that
# process), wait up to TENTHS*0.1 s, then SIGKILL it.
stop_daemon() {
  local name=$1 w=${2:-50} dir=${3:-$PIDS} pid i
  if pid=$(pid_of "$name" "$dir"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < w; i++)); do
      proc_alive "$pid" || break
      sleep 0.1
    done
    if proc_alive "$pid"; then
      [ "$name" = ganesha ] || log "$name (pid $pid) still running after SIGTERM, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do proc_alive "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$dir/$name.pid" "$dir/$name.stime"
}

stop_all() {
  local n
  [ -d "$PIDS" ] || return 0
  for n in "${STOP_ORDER[@]}"; do
    case $n in
      # ganesha + FSAL_RGW hangs in librgw shutdown on SIGTERM: 2 s, then KILL
      ganesha) stop_daemon ganesha 20 ;;
      *) stop_daemon "$n" 50 ;;
    esac
  done
  # anything else recorded (e.g. a daemon added later) goes last
  for n in "$PIDS"/*.pid; do
    [ -e "$n" ] || continue
    n=${n##*/}
    stop_daemon "${n%.pid}" 50
  done
}

# report (never kill) processes still inside the netns that we did not record
report_leftovers() {
  local ino p list=()
  netns_exists || return 0
  ino=$(stat -L -c %i "$NETNS_PATH" 2>/dev/null) || return 0
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "net:[$ino]" ] || continue
    list+=("${p#/proc/}($(cat "$p/comm" 2>/dev/null))")
  done
  [ ${#list[@]} -eq 0 ] ||
    log "warning: processes not started by this stack are still in netns $NS (left alone): ${list[*]}"
}

# netns owned by another (live) state dir? then it is not ours to touch.
netns_owned_elsewhere() {
  local other
  other=$(cat "$OWNER_FILE" 2>/dev/null) || return 1
  [ -n "$other" ] && [ "$other" != "$STATE" ] || return 1
  pid_of holder "$other/pids" >/dev/null
}

delete_netns() {
  if netns_owned_elsewhere; then
    log "netns $NS belongs to the live stack in $(cat "$OWNER_FILE"); not deleting it"
    return 0
  fi
  report_leftovers
  if netns_exists || [ -e "$NETNS_PATH" ]; then
    ip netns del "$NS" 2>/dev/null || { umount -l "$NETNS_PATH" 2>/dev/null || true; rm -f "$NETNS_PATH"; }
  fi
  rm -f "$OWNER_FILE"
}

# unmount anything still mounted under $STATE (a test's FUSE mount left
# behind) so rm -rf never walks into a mount.
umount_under_state() {
  local mp
  while read -r mp; do
    log "unmounting leftover mount $mp"
    umount -l "$mp" 2>/dev/null || fusermount3 -uz "$mp" 2>/dev/null || true
  done < <(awk -v s="$STATE/" 'index($5, s) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
}

wipe_state() {
  [ -e "$STATE" ] || return 0
  if [ ! -e "$MARKER" ] && [ -n "$(ls -A "$STATE" 2>/dev/null)" ]; then
    die "$STATE exists, is not empty and was not made by stack.sh; refusing to delete it"
  fi
  umount_under_state
  rm -rf --one-file-system "$STATE"
}

# ------------------------------------------------------------------ checks

check_nfs() { timeout -k 2 10 nsenter --net="$NETNS_PATH" -- nfs-ls "$1" >/dev/null 2>&1; }

# ceph itself: a full OSD blocks every write (and hangs the FSAL_RGW exports)
check_ceph() {
  local h
  h=$(timeout -k 2 15 nsenter --net="$NETNS_PATH" -- \
    ceph -c "$STATE/ceph.conf" --connect-timeout 5 health 2>&1) || { CEPH_HEALTH="no answer from the mon"; return 1; }
  CEPH_HEALTH=$h
  case $h in *full*) return 1 ;; esac
  return 0
}

check_s3() { # ENDPOINT BUCKET: signed (SigV4) HEAD of the bucket, from the netns
  timeout -k 2 10 nsenter --net="$NETNS_PATH" -- curl -sf -o /dev/null -I --max-time 5 \
    --aws-sigv4 "aws:amz:$REGION:s3" --user "$AK:$SK" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$1/$2"
}

# status_checks [quiet]: ceph not full, S3, both NFS exports (+ the RGW root
# export), moto
status_checks() {
  local quiet=${1:-} rc=0 what target ok
  netns_exists || { [ -n "$quiet" ] || echo "netns $NS: missing"; return 1; }
  for what in ceph s3 nfs-bucket nfs-posix nfs-root moto; do
    ok=FAIL
    case $what in
      ceph) target=""; check_ceph && ok=ok; [ $ok = ok ] ||
        target="$CEPH_HEALTH (memstore ${MPFS_MEMSTORE_GB:-12} GiB = MPFS_MEMSTORE_GB; \`stack.sh up\` restarts the stack empty)" ;;
      s3) target=$S3_ENDPOINT/$BUCKET; check_s3 "$S3_ENDPOINT" "$BUCKET" >/dev/null 2>&1 && ok=ok ;;
      moto) target=$MOTO_ENDPOINT/$MOTO_BUCKET; check_s3 "$MOTO_ENDPOINT" "$MOTO_BUCKET" >/dev/null 2>&1 && ok=ok ;;
      nfs-bucket) target=$NFS_BUCKET_URL; check_nfs "$target" && ok=ok ;;
      nfs-posix) target=$NFS_POSIX_URL; check_nfs "$target" && ok=ok ;;
      nfs-root) target=$NFS_ROOT_URL; check_nfs "$target" && ok=ok ;;
    esac
    [ $ok = ok ] || rc=1
    [ -n "$quiet" ] || printf '%-11s %-4s %s\n' "$what" "$ok" "$target"
  done
  return $rc
}

daemons_alive() {
  local n
  for n in "${ALL_DAEMONS[@]}"; do pid_of "$n" >/dev/null || return 1; done
}

# Up and answering?  Other users' tests may be using this stack right now, so
# a check that fails once (load) is retried before we call it unhealthy and
# restart everything.
healthy() {
  local i
  [ -e "$MARKER" ] && [ -e "$STATE/up.ok" ] && netns_exists &&
    [ "$(cat "$OWNER_FILE" 2>/dev/null)" = "$STATE" ] && daemons_alive || return 1
  for i in 1 2 3; do
    status_checks quiet && return 0
    sleep 1
    daemons_alive || return 1
  done
  return 1
}

find_moto() {
  local m
  if m=$(command -v moto_server 2>/dev/null); then
    MOTO_CMD=("$m")
  elif [ -x /root/.pyenv/shims/moto_server ]; then
    MOTO_CMD=(/root/.pyenv/shims/moto_server)
  elif python3 -c 'import moto.server' 2>/dev/null; then
    MOTO_CMD=(python3 -m moto.server)
  else
    die "moto_server not found (pip install 'moto[server]')"
  fi
}

# ------------------------------------------------------------------ up

write_ceph_conf() {
  local fsid=$1
  cat >"$STATE/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
mon initial members = a
public addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $STATE/keyring
run dir = $STATE/run
crash dir = $STATE/crash
log file = $STATE/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon warn on insecure global id reclaim allowed = false

[mon]
mon data = $STATE/mon.\$id
keyring = $STATE/mon.\$id/keyring
admin socket = $STATE/run/\$cluster-\$name.asok
mon cluster log file = $STATE/log/cluster.log
# propose map changes every 0.1 s instead of 1 s: radosgw creates its pools
# one osdmap epoch at a time, this cuts ~8 s off the start-up
paxos propose interval = 0.1
paxos min wait = 0.01

[osd]
osd data = $STATE/osd.\$id
keyring = $STATE/osd.\$id/keyring
admin socket = $STATE/run/\$cluster-\$name.asok
osd objectstore = memstore
# RAM is only used as data is stored; at 95 % the OSD goes "full" and every
# write blocks (FSAL_RGW's NFS exports then hang): see the gc settings below
memstore device bytes = $(( ${MPFS_MEMSTORE_GB:-12} * 1073741824 ))
osd crush update on start = true

[client]
# RGW keeps the data of deleted/overwritten objects (everything past the
# first 4 MiB, and multipart parts) until its garbage collector runs: by
# default 2 h after the delete, checked once an hour.  In a memstore test
# store that fills the OSD within minutes of benchmarks; free it within ~1 min.
rgw gc obj min wait = 30
rgw gc processor period = 15
rgw gc processor max time = 15

[client.rgw.gw]
# tcp_nodelay: without it beast sends headers and a small body in two
# segments and the second waits for the client's delayed ACK (~40 ms per
# small GET or LIST; 'mpfs probe' measured 44 ms to the first byte).
# (This text is an unquoted heredoc: no backquotes or command substitutions
# in comments, the shell would run them.)
rgw frontends = beast endpoint=127.0.0.1:$S3_PORT tcp_nodelay=1
rgw data = $STATE/rgw
# bucket notifications to an AMQP broker whose URL names a user and password
# (the test broker is on loopback, without TLS)
rgw allow notification secrets in cleartext = true
admin socket = $STATE/run/\$cluster-\$name.asok

[client.rgw.nfs]
# the librgw instance embedded in ganesha.nfsd (FSAL_RGW)
log file = $STATE/log/rgw-nfs.log
# level 1 logs every NFS op and statfs poll (~80 MB/h under tests); keep
# level 5 in memory for crash dumps.  MPFS_STACK_DEBUG=1 restores it.
debug rgw = $([ "${MPFS_STACK_DEBUG:-0}" = 1 ] && echo 1/5 || echo 0/5)
# librgw caches attrs + directory listings until the namespace expires
# (default 300 s): an S3 new key/overwrite is invisible over NFS until then.
rgw nfs namespace expire secs = 2
# Meant to commit NFSv3 (stateless) writes after 2 s instead of 10 s; NFSv4
# commits on CLOSE.  Measured with ceph 16.2.15 + ganesha 4.3: no effect (2
# and 20 behave the same): an NFSv3-written object stays 0 bytes for S3 and
# empty/blocking for NFS reads for ~10.1 s after the write.
rgw nfs write completion interval s = 2
EOF
}

write_s3cfg() { # FILE HOSTPORT
  cat >"$1" <<EOF
[default]
access_key = $AK
secret_key = $SK
host_base = $2
host_bucket = $2
bucket_location = $REGION
use_https = False
signature_v2 = False
check_ssl_certificate = False
EOF
}

write_ganesha_conf() {
  local fsal="Name = RGW; User_Id = \"test\"; Access_Key_Id = \"$AK\"; Secret_Access_Key = \"$SK\";"
  cat >"$STATE/ganesha.conf" <<EOF
NFS_CORE_PARAM {
    # no Bind_addr: "127.0.0.1" makes ganesha 4.3 fail (getaddrinfo
    # AI_ADDRCONFIG with only lo up); the netns has nothing but lo anyway.
    NFS_Port = 2049;
    MNT_Port = 20048;
    Protocols = 3, 4;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Mount_Path_Pseudo = false;   # NFSv3 mounts by the real path
}
NFSV4 {
    Graceless = true;            # else creates fail for 90 s after start
    RecoveryBackend = fs;
    RecoveryRoot = "$STATE/ganesha-recov";
    Lease_Lifetime = 10;
    Only_Numeric_Owners = true;  # else NFSv4 clients see owner 65534
}
NFS_KRB5 { Active_krb5 = false; }
RGW {
    ceph_conf = "$STATE/ceph.conf";
    name = "client.rgw.nfs";
    cluster = "ceph";
}
# the whole RGW namespace of user "test": every bucket is a top-level directory
EXPORT {
    Export_ID = 1; Path = "/"; Pseudo = "/rgw";
    Access_Type = RW; Squash = No_Root_Squash; Protocols = 3, 4; Transports = TCP; SecType = sys;
    FSAL { $fsal }
}
# one bucket as an export: the same data as s3://$BUCKET
EXPORT {
    Export_ID = 2; Path = "/$BUCKET"; Pseudo = "/$BUCKET";
    Access_Type = RW; Squash = No_Root_Squash; Protocols = 3, 4; Transports = TCP; SecType = sys;
    FSAL { $fsal }
}
# a plain POSIX directory (FSAL_VFS), not shared with S3
EXPORT {
    Export_ID = 3; Path = "$STATE/posix"; Pseudo = "/posix";
    Access_Type = RW; Squash = No_Root_Squash; Protocols = 3, 4; Transports = TCP; SecType = sys;
    FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
EOF
}

# cleanup after a previous run that was killed or half-failed
cleanup_stale() {
  local n pid
  if [ -d "$PIDS" ]; then
    for n in "$PIDS"/*.pid; do
      [ -e "$n" ] || continue
      n=${n##*/}
      n=${n%.pid}
      if pid=$(pid_of "$n"); then
        ts "stopping $n (pid $pid) of the previous run"
      fi
    done
    stop_all
  fi
  if netns_exists || [ -e "$NETNS_PATH" ]; then
    ts "deleting stale netns $NS"
    delete_netns
  fi
  if [ -e "$STATE" ]; then
    ts "wiping stale state dir $STATE"
    wipe_state
  fi
}

# The holder: a process owning a private mount namespace (inside the netns)
# with $STATE/vrun bound over /run.  unshare copies every mount that exists
# at that moment, FUSE mounts of the host included; a copy keeps the FUSE
# connection open, so a daemon unmounted on the host would keep running (and
# its mount point stay busy) until this store goes down.  So the holder
# lazily detaches every FUSE mount from its copy before anything else joins
# it; mounts made on the host later are not propagated (private).
# shellcheck disable=SC2016  # expanded by the inner sh
HOLDER_SH='echo $$ >"$2" && mount --bind "$1" /run &&
  awk '"'"'{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) ~ /^fuse/) print $5; break } }'"'"' \
    /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$(printf "%b" "$m")" || exit 1; done &&
  exec sleep infinity'

start_holder() {
  setsid ip netns exec "$NS" unshare -m --propagation private \
    sh -c "$HOLDER_SH" sh "$STATE/vrun" "$PIDS/holder.pid" </dev/null >>"$STATE/log/holder.out" 2>&1 9>&- &
  disown "$!"
  record_pid holder
}

# One function per daemon: start it and wait until it answers.  Used by the
# first `up` and to restart a daemon that died (see restart_dead).
start_moto() {
  start moto "${MOTO_CMD[@]}" -H 127.0.0.1 -p "$MOTO_PORT"
  ts "moto started (${MOTO_CMD[*]})"
}
# moto keeps its buckets in memory: (re)create ours once it answers
moto_bucket() {
  wait_for "moto $MOTO_ENDPOINT" 60 "$(daemon_logs moto)" \
    nsnet curl -s -o /dev/null --max-time 5 "$MOTO_ENDPOINT/"
  timeout 60 nsenter --net="$NETNS_PATH" -- s3cmd -c "$STATE/s3cfg-moto" mb "s3://$MOTO_BUCKET" >/dev/null
  ts "moto bucket $MOTO_BUCKET created"
}
# RabbitMQ for radosgw's AMQP bucket notifications (docs/NOTIFY.md).  epmd
# runs in the foreground as a daemon of its own (else erl would fork one that
# no PID file records); the broker keeps its data, logs and Erlang cookie
# under $STATE/rabbitmq, listens on loopback only, and is kept small.
write_rabbit_conf() {
  local d=$STATE/rabbitmq
  mkdir -p "$d/mnesia" "$d/log" "$d/home"
  cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
loopback_users = none
vm_memory_high_watermark.absolute = 256MB
disk_free_limit.absolute = 50MB
log.console = true
log.file = false
EOF
  printf '[].\n' >"$d/enabled_plugins"
}
start_epmd() {
  start epmd epmd -address 127.0.0.1
}
start_rabbit() {
  local d=$STATE/rabbitmq
  # RUNNING_UNDER_SYSTEMD: the script execs the VM (the recorded PID is the
  # broker, SIGTERM stops it cleanly) instead of staying as a signal proxy
  start rabbitmq env HOME="$d/home" RUNNING_UNDER_SYSTEMD=1 ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$AMQP_PORT" RABBITMQ_DIST_PORT=25672 \
    RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+S 1:1 +A 4" \
    /usr/lib/rabbitmq/bin/rabbitmq-server
}
rabbit_ready() {
  wait_for "rabbitmq $AMQP_URL" 90 "$(daemon_logs rabbitmq)" \
    nsnet bash -c "exec 3<>/dev/tcp/127.0.0.1/$AMQP_PORT"
}
start_mon() {
  start mon.a ceph-mon -c "$STATE/ceph.conf" -f -i a
  wait_for "ceph mon quorum" 60 "$(daemon_logs mon.a)" \
    nsnet ceph -c "$STATE/ceph.conf" --connect-timeout 3 mon stat
}
start_osd() {
  start osd.0 ceph-osd -c "$STATE/ceph.conf" -f -i 0
  wait_for "ceph osd.0 up" 90 "$(daemon_logs osd.0)" \
    sh -c "nsenter --net='$NETNS_PATH' -- ceph -c '$STATE/ceph.conf' --connect-timeout 3 osd dump | grep -q '^osd.0 up'"
}
start_rgw() {
  start rgw.gw radosgw -c "$STATE/ceph.conf" -f -n client.rgw.gw
  wait_for "radosgw $S3_ENDPOINT" 120 "$(daemon_logs rgw.gw)" \
    nsnet curl -sf -o /dev/null --max-time 5 "$S3_ENDPOINT/"
}
start_rpcbind() {
  # rpcbind must run in the holder (private /run); `rpcbind -h 127.0.0.1`
  # crashes, the netns only has lo anyway.
  start rpcbind rpcbind -f -w
  wait_for "rpcbind" 20 "$(daemon_logs rpcbind)" nsx rpcinfo -p 127.0.0.1
}
start_ganesha() {
  start ganesha ganesha.nfsd -F -f "$STATE/ganesha.conf" -L "$STATE/log/ganesha.log" \
    -p "$STATE/run/ganesha.nfsd.pid" -N NIV_EVENT
  wait_for "ganesha registered (rpcinfo nfs v3)" 120 "$(daemon_logs ganesha)" \
    nsx rpcinfo -t 127.0.0.1 nfs 3
  # clients use the netns *network* only (host mount namespace), like mpfs
  wait_for "NFS $NFS_BUCKET_URL" 60 "$(daemon_logs ganesha)" check_nfs "$NFS_BUCKET_URL"
  wait_for "NFS $NFS_POSIX_URL" 30 "$(daemon_logs ganesha)" check_nfs "$NFS_POSIX_URL"
  wait_for "NFS $NFS_ROOT_URL" 30 "$(daemon_logs ganesha)" check_nfs "$NFS_ROOT_URL"
}

# A store that was up (marker, up.ok, our netns, the holder alive) with some
# daemons dead: restart just those, in start order, keeping the state dir
# (the data).  Prints what it restarted; fails if nothing was dead (then the
# store is unhealthy for another reason and starts over) or a restart fails.
restart_dead() {
  local n dead=()
  [ -e "$MARKER" ] && [ -e "$STATE/up.ok" ] && netns_exists &&
    [ "$(cat "$OWNER_FILE" 2>/dev/null)" = "$STATE" ] && pid_of holder >/dev/null || return 1
  for n in "${ALL_DAEMONS[@]}"; do pid_of "$n" >/dev/null || dead+=("$n"); done
  [ ${#dead[@]} -gt 0 ] || return 1
  ts "daemons not running: ${dead[*]}: restarting them (state dir kept)"
  export CEPH_CONF="$STATE/ceph.conf"
  WAIT_FOR_HOOK=check_started
  for n in "${dead[@]}"; do
    rm -f "$PIDS/$n.pid" "$PIDS/$n.stime"
    case $n in
      moto) find_moto; start_moto; moto_bucket ;;
      epmd) start_epmd ;;
      rabbitmq) write_rabbit_conf; start_rabbit; rabbit_ready ;;
      mon.a) start_mon ;;
      osd.0) start_osd ;;
      rgw.gw) start_rgw ;;
      rpcbind) start_rpcbind ;;
      ganesha) start_ganesha ;;
    esac
  done
  wait_for "status (S3, NFS x3, moto)" 60 "" status_checks quiet
}

up_failed() {
  local rc=$?
  trap - EXIT
  [ "$rc" -ne 0 ] || return 0
  log "up failed (exit $rc): stopping what was started; logs kept in $STATE/log"
  stop_all
  delete_netns
  exit "$rc"
}

cmd_up() {
  need_root
  validate
  take_lock
  if healthy; then
    ts "stack already up and healthy ($STATE, netns $NS)"
    return 0
  fi
  if netns_owned_elsewhere; then
    die "netns $NS is in use by the live stack in $(cat "$OWNER_FILE"); use MPFS_NS=<other name>"
  fi
  # a subshell: a failed wait exits it, and then we start over
  if (restart_dead); then
    ts "stack up again ($STATE, netns $NS)"
    return 0
  fi
  if [ -e "$STATE" ] || netns_exists || [ -e "$NETNS_PATH" ]; then
    ts "found a stale or unhealthy stack: cleaning up"
    cleanup_stale
  fi
  find_moto

  # from here on we own $STATE and the netns: tear down on failure
  trap up_failed EXIT
  trap 'exit 130' INT TERM HUP
  mkdir -p "$STATE"
  : >"$MARKER"
  mkdir -p "$PIDS" "$STATE"/{run,log,crash,vrun/rpcbind,vrun/lock,ganesha-recov,rgw,posix}
  chmod 0777 "$STATE/posix"
  chown _rpc "$STATE/vrun/rpcbind" 2>/dev/null || true
  write_s3cfg "$STATE/s3cfg" "127.0.0.1:$S3_PORT"
  write_s3cfg "$STATE/s3cfg-moto" "127.0.0.1:$MOTO_PORT"

  # ---- namespaces: netns + a holder owning a private mount ns with /run replaced
  ip netns add "$NS"
  printf '%s\n' "$STATE" >"$OWNER_FILE"
  ip netns exec "$NS" ip link set lo up
  start_holder
  WAIT_FOR_HOOK=check_started
  wait_for "netns $NS + mount-ns holder (pid $(holder_pid))" 10 "$STATE/log/holder.out" \
    sh -c "[ \"\$(cat /proc/$(holder_pid)/comm)\" = sleep ]"

  # ---- moto and RabbitMQ (independent of ceph: started first, they boot in
  # parallel)
  start_moto
  write_rabbit_conf
  start_epmd
  start_rabbit

  # ---- ceph mon
  local fsid osd_uuid osd_secret osd_id C
  fsid=$(uuidgen)
  write_ceph_conf "$fsid"
  export CEPH_CONF="$STATE/ceph.conf"
  C=(-c "$STATE/ceph.conf")
  ceph-authtool --create-keyring "$STATE/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$STATE/keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$STATE/mon.keyring" --import-keyring "$STATE/keyring" >/dev/null
  monmaptool --create --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' --fsid "$fsid" "$STATE/monmap" >/dev/null
  ceph-mon "${C[@]}" --mkfs -i a --monmap "$STATE/monmap" --keyring "$STATE/mon.keyring" \
    >"$STATE/log/mon-mkfs.out" 2>&1 || { tail_logs "$STATE/log/mon-mkfs.out"; die "ceph-mon --mkfs"; }
  start_mon

  # ---- ceph osd (memstore). `ceph-osd --mkfs --mkkey` fails ("failed to
  # fetch mon config"): register the key first, write the keyring, then mkfs.
  osd_uuid=$(uuidgen)
  osd_secret=$(ceph-authtool --gen-print-key)
  printf '{"cephx_secret": "%s"}\n' "$osd_secret" >"$STATE/osd-secret.json"
  osd_id=$(timeout 60 nsenter --net="$NETNS_PATH" -- ceph "${C[@]}" osd new "$osd_uuid" -i "$STATE/osd-secret.json")
  [ "$osd_id" = 0 ] || die "expected osd id 0, got '$osd_id'"
  mkdir -p "$STATE/osd.0"
  ceph-authtool --create-keyring "$STATE/osd.0/keyring" --name osd.0 --add-key "$osd_secret" >/dev/null
  timeout 120 nsenter --net="$NETNS_PATH" -- ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$osd_uuid" \
    >"$STATE/log/osd-mkfs.out" 2>&1 || { tail_logs "$STATE/log/osd-mkfs.out"; die "ceph-osd --mkfs"; }
  start_osd

  # ---- radosgw + user + bucket
  timeout 60 nsenter --net="$NETNS_PATH" -- ceph "${C[@]}" auth get-or-create client.rgw.gw \
    mon 'allow rw' osd 'allow rwx' mgr 'allow rw' >>"$STATE/keyring"
  timeout 60 nsenter --net="$NETNS_PATH" -- ceph "${C[@]}" auth get-or-create client.rgw.nfs \
    mon 'allow rw' osd 'allow rwx' mgr 'allow rw' >>"$STATE/keyring"
  start_rgw
  timeout 120 nsenter --net="$NETNS_PATH" -- radosgw-admin "${C[@]}" user create --uid=test \
    --display-name="Test User" --access-key="$AK" --secret-key="$SK" >"$STATE/user.json" 2>"$STATE/log/radosgw-admin.out" ||
    { tail_logs "$STATE/log/radosgw-admin.out"; die "radosgw-admin user create"; }
  ts "rgw user test created"
  timeout 60 nsenter --net="$NETNS_PATH" -- s3cmd -c "$STATE/s3cfg" mb "s3://$BUCKET" >/dev/null
  # the data pool is created lazily by the first write: pay for it now
  nsnet curl -sf -o /dev/null --max-time 30 --aws-sigv4 "aws:amz:$REGION:s3" --user "$AK:$SK" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T "$STATE/s3cfg" "$S3_ENDPOINT/$BUCKET/.mpfs-warmup"
  nsnet curl -sf -o /dev/null --max-time 30 --aws-sigv4 "aws:amz:$REGION:s3" --user "$AK:$SK" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X DELETE "$S3_ENDPOINT/$BUCKET/.mpfs-warmup"
  ts "bucket $BUCKET created"

  # ---- rpcbind + ganesha
  start_rpcbind
  write_ganesha_conf
  start_ganesha

  # ---- moto bucket, broker ready
  moto_bucket
  rabbit_ready

  wait_for "status (S3, NFS x3, moto)" 30 "" status_checks quiet
  : >"$STATE/up.ok"
  trap - EXIT INT TERM HUP
  local n pids=""
  for n in "${ALL_DAEMONS[@]}"; do pids+="$n=$(cat "$PIDS/$n.pid") "; done
  ts "ALL UP in $(elapsed) s: netns $NS, state $STATE; $pids"
}

# ------------------------------------------------------------------ down

cmd_down() {
  need_root
  validate
  take_lock
  if [ ! -e "$STATE" ] && ! netns_exists && [ ! -e "$NETNS_PATH" ]; then
    ts "stack not running (no $STATE, no netns $NS)"
    return 0
  fi
  stop_all
  if netns_exists || [ -e "$NETNS_PATH" ]; then delete_netns; fi
  if [ "$KEEP" = 1 ]; then
    rm -rf "$PIDS" "$STATE/up.ok"
    ts "down (state dir and logs kept in $STATE)"
  else
    wipe_state
    ts "down"
  fi
}

# ------------------------------------------------------------------ env/status

cmd_env() {
  local v
  for v in \
    "MPFS_NS=$NS" \
    "MPFS_NETNS_PATH=$NETNS_PATH" \
    "MPFS_STACK_DIR=$STATE" \
    "MPFS_S3_ENDPOINT=$S3_ENDPOINT" \
    "MPFS_S3_BUCKET=$BUCKET" \
    "AWS_ACCESS_KEY_ID=$AK" \
    "AWS_SECRET_ACCESS_KEY=$SK" \
    "AWS_REGION=$REGION" \
    "MPFS_NFS_BUCKET_URL=$NFS_BUCKET_URL" \
    "MPFS_NFS_POSIX_URL=$NFS_POSIX_URL" \
    "MPFS_NFS_ROOT_URL=$NFS_ROOT_URL" \
    "MPFS_MOTO_ENDPOINT=$MOTO_ENDPOINT" \
    "MPFS_MOTO_BUCKET=$MOTO_BUCKET" \
    "MPFS_AMQP_URL=$AMQP_URL"; do
    printf 'export %s=%q\n' "${v%%=*}" "${v#*=}"
  done
  [ -e "$STATE/up.ok" ] || log "warning: the stack does not look up (no $STATE/up.ok); run scripts/stack.sh up"
}

# ------------------------------------------------------------------ restart-nfs

# restart-nfs [DOWN_S]: a crash and restart of the NFS server only, for the
# reconnect tests: SIGKILL ganesha (what a crash or a node reboot looks like
# to clients: no goodbye), wait DOWN_S seconds (default 2), start it again
# exactly as `up` does, and wait until the POSIX export answers.  Prints the
# seconds the NFS service was unreachable.
cmd_restart_nfs() {
  need_root
  validate
  take_lock
  local down=${1:-2} pid t0
  [[ $down =~ ^[0-9]+([.][0-9]+)?$ ]] || die "restart-nfs: DOWN_S must be a number of seconds"
  [ -e "$STATE/up.ok" ] || die "restart-nfs: the stack in $STATE is not up"
  pid=$(pid_of ganesha) || die "restart-nfs: ganesha is not running"
  t0=$(date +%s.%N)
  kill -KILL "$pid"
  for _ in $(seq 1 50); do proc_alive "$pid" || break; sleep 0.1; done
  proc_alive "$pid" && die "restart-nfs: ganesha (pid $pid) survived SIGKILL"
  rm -f "$PIDS/ganesha.pid" "$PIDS/ganesha.stime" "$STATE/run/ganesha.nfsd.pid"
  ts "ganesha (pid $pid) killed; down for $down s"
  sleep "$down"
  STARTED=()
  start ganesha ganesha.nfsd -F -f "$STATE/ganesha.conf" -L "$STATE/log/ganesha.log" \
    -p "$STATE/run/ganesha.nfsd.pid" -N NIV_EVENT
  wait_for "ganesha registered (rpcinfo nfs v3)" 120 "$(daemon_logs ganesha)" \
    nsx rpcinfo -t 127.0.0.1 nfs 3
  wait_for "NFS $NFS_POSIX_URL" 60 "$(daemon_logs ganesha)" check_nfs "$NFS_POSIX_URL"
  ts "ganesha back (pid $(cat "$PIDS/ganesha.pid")): NFS unreachable for $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
}

cmd_status() {
  validate
  local rc=0 n pid
  echo "stack: $STATE  netns: $NS"
  for n in "${ALL_DAEMONS[@]}"; do
    if pid=$(pid_of "$n"); then printf '%-11s pid %s\n' "$n" "$pid"; else printf '%-11s not running\n' "$n"; fi
  done
  status_checks || rc=1
  [ $rc = 0 ] && echo "status: ok" || echo "status: FAIL"
  return $rc
}

main() {
  case ${1:-} in
    # a closed stdout (`stack.sh up | head`) must not kill these half-way
    up) trap '' PIPE; cmd_up ;;
    down) trap '' PIPE; cmd_down ;;
    env) cmd_env ;;
    status) cmd_status ;;
    restart-nfs) trap '' PIPE; shift; cmd_restart_nfs "$@" ;;
    *) echo "usage: $0 up|down|env|status|restart-nfs [DOWN_S]" >&2; exit 2 ;;
  esac
}

# sourced by the script tests (tests/ops/) to call one function: no main
[ "${MPFS_STACK_SOURCE_ONLY:-0}" = 1 ] || main "$@"
