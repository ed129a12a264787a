# shellcheck shell=bash
# Shared shell helpers for mpfs scripts (sourced, never executed):
#   ts MSG...            print MSG prefixed with seconds since the script started
#   log MSG...           print MSG to stderr with the script name
#   die MSG...           print FATAL MSG to stderr and exit 1
#   wait_for DESC TIMEOUT_S "LOGFILES" CMD...
#                        poll CMD (every 0.2 s, each attempt capped by
#                        WAIT_FOR_TRY_S seconds unless CMD is a shell
#                        function) until it succeeds; on timeout
#                        print the tail of every LOGFILE and exit non-zero.
#                        If the function named by WAIT_FOR_HOOK is set, it is
#                        called before every attempt; a non-zero return aborts
#                        the wait at once (e.g. "the daemon died").
#   tail_logs FILE...    print the last LOG_TAIL_LINES lines of each FILE
#   proc_starttime PID   field 22 of /proc/PID/stat (boot-relative start time),
#                        used to tell a recorded PID from a recycled one
#   proc_alive PID       true if PID exists and is not a zombie (orphans are
#                        reaped by PID 1, which may take a while)

MPFS_T0=${MPFS_T0:-$EPOCHREALTIME}
LOG_TAIL_LINES=${LOG_TAIL_LINES:-40}
WAIT_FOR_TRY_S=${WAIT_FOR_TRY_S:-10}
WAIT_FOR_HOOK=${WAIT_FOR_HOOK:-}

elapsed() {
  local now=$EPOCHREALTIME
  # microsecond arithmetic without bc: strip the decimal point
  local a=${MPFS_T0/./} b=${now/./}
  local us=$((10#$b - 10#$a))
  printf '%d.%01d' $((us / 1000000)) $(((us % 1000000) / 100000))
}

# progress output must never kill the caller (stdout may be a closed pipe)
ts() { printf '[%6ss] %s\n' "$(elapsed)" "$*" 2>/dev/null || true; }

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2 2>/dev/null || true; }

die() { printf '%s: FATAL: %s\n' "${0##*/}" "$*" >&2; exit 1; }

tail_logs() {
  local f
  for f in "$@"; do
    if [ -s "$f" ]; then
      printf -- '----- last %d lines of %s -----\n' "$LOG_TAIL_LINES" "$f" >&2
      tail -n "$LOG_TAIL_LINES" "$f" >&2
    elif [ -e "$f" ]; then
      printf -- '----- %s is empty -----\n' "$f" >&2
    fi
  done
}

# one attempt: executables are capped by WAIT_FOR_TRY_S; shell functions
# cannot be run by timeout(1) and must bound their own run time.
wait_for_try() {
  if declare -F "$1" >/dev/null; then
    "$@"
  else
    timeout -k 2 "$WAIT_FOR_TRY_S" "$@"
  fi
}

wait_for() {
  local desc=$1 tmo=$2 logs=$3
  shift 3
  local deadline=$((${EPOCHREALTIME%.*} + tmo))
  while :; do
    if [ -n "$WAIT_FOR_HOOK" ] && ! "$WAIT_FOR_HOOK"; then
      log "gave up waiting for $desc"   # the hook printed what went wrong
      exit 1
    fi
    if wait_for_try "$@" >/dev/null 2>&1; then
      ts "$desc ok"
      return 0
    fi
    if [ "${EPOCHREALTIME%.*}" -ge "$deadline" ]; then
      log "timeout (${tmo}s) waiting for $desc; last attempt: $*"
      # shellcheck disable=SC2086  # $logs is a space-separated list on purpose
      tail_logs $logs
      exit 1
    fi
    sleep 0.2
  done
}

proc_starttime() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  # comm (field 2) may contain spaces: cut after the last ')'
  stat=${stat##*) }
  # now field 3 (state) is the first word; starttime is field 22 -> word 20
  # shellcheck disable=SC2086  # word splitting wanted
  set -- $stat
  printf '%s\n' "${20}"
}

proc_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  case ${stat%% *} in Z | X) return 1 ;; esac
  return 0
}
