#!/bin/bash
# mpfs test entry point (the README's test command, also run by .ci/run):
#   1. scripts/deps.sh                      (packages; idempotent)
#   2. CMake Debug build into build/        (ASan+UBSan via -DMPFS_SANITIZE=ON)
#   3. scripts/stack.sh up                  (Ceph/radosgw + ganesha + moto in a netns)
#   4. ctest -L unit                        (host)
#   5. ctest -L integration                 (in the stack's netns *network* only:
#                                            host mount namespace, so FUSE works)
#   6. scripts/stack.sh down                (always, also on failure / Ctrl-C;
#                                            but a stack that was already up
#                                            before we started is left up)
# and prints, as the very last line, the combined totals "N passed, M failed"
# (a step that failed before/instead of its tests counts as one failure).
#
# Environment:
#   MPFS_TEST_NO_SANITIZE=1   build without sanitizers
#   MPFS_KEEP_STACK=1         leave the stack up afterwards
#   MPFS_NS, MPFS_STACK_DIR   passed through to scripts/stack.sh
# Exit status: 0 only if every step succeeded and no test failed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"

SANITIZE=ON
[ "${MPFS_TEST_NO_SANITIZE:-0}" = 1 ] && SANITIZE=OFF
KEEP_STACK=${MPFS_KEEP_STACK:-0}

PASSED=0
FAILED=0
FAILED_STEPS=()
SUMMARIES=()
STACK_STARTED=0
OUT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mpfs-test.XXXXXX")

step_failed() { # STEP: a non-test step failed
  FAILED_STEPS+=("$1")
  FAILED=$((FAILED + 1))
}

# stop the stack; keep its logs if anything failed
stack_down() {
  [ "$STACK_STARTED" = 1 ] || return 0
  STACK_STARTED=0
  if [ "$KEEP_STACK" = 1 ]; then
    echo "MPFS_KEEP_STACK=1: leaving the stack up (scripts/stack.sh down to stop it)" >&2
    return 0
  fi
  if [ "$FAILED" -gt 0 ]; then
    KEEP=1 scripts/stack.sh down >&2 || step_failed "stack down"
    echo "stack logs kept in ${MPFS_STACK_DIR:-$REPO/.stack}/log" >&2
  else
    scripts/stack.sh down >&2 || step_failed "stack down"
  fi
}

# Long steps run in their own process group (setsid, so our PID is its PGID)
# and we `wait` for them: a signal to this script is handled at once, and the
# trap stops that whole group (only processes this script started) before
# taking the stack down.  ctest alone would orphan a running test on SIGTERM.
CHILD_PGID=""
run_grouped() {
  local rc=0
  setsid "$@" &
  CHILD_PGID=$!
  wait "$CHILD_PGID" || rc=$?
  CHILD_PGID=""
  return "$rc"
}

stop_child_group() {
  local i
  [ -n "$CHILD_PGID" ] || return 0
  kill -TERM -- "-$CHILD_PGID" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 -- "-$CHILD_PGID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$CHILD_PGID" 2>/dev/null || true
  CHILD_PGID=""
}

on_exit() {
  local rc=$?
  stop_child_group
  stack_down || true
  rm -rf "$OUT_DIR"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM HUP

# run_ctest LABEL [PREFIX...]: run one label group, add its counts to the totals
run_ctest() {
  local label=$1 out="$OUT_DIR/ctest-$1.out" rc line nfail total
  shift
  echo "===== ctest -L $label ====="
  rc=0
  # shellcheck disable=SC2016  # expanded by the inner bash
  run_grouped bash -c 'set -o pipefail; "${@:2}" 2>&1 | tee "$1"' _ "$out" \
    "$@" ctest --test-dir build -L "$label" --output-on-failure || rc=$?
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$out" | tail -n 1 || true)
  if [[ $line =~ ^([0-9]+)%\ tests\ passed,\ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    nfail=${BASH_REMATCH[2]} total=${BASH_REMATCH[3]}
    PASSED=$((PASSED + total - nfail))
    FAILED=$((FAILED + nfail))
    SUMMARIES+=("$label: $line")
    # ctest failed for another reason (e.g. a harness error) with no test failure
    if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then step_failed "ctest -L $label (exit $rc)"; fi
  elif grep -q 'No tests were found' "$out"; then
    SUMMARIES+=("$label: no tests")
    [ "$rc" -eq 0 ] || step_failed "ctest -L $label (exit $rc)"
  else
    SUMMARIES+=("$label: no ctest summary (exit $rc)")
    step_failed "ctest -L $label (exit $rc)"
  fi
}

main() {
  echo "===== deps ====="
  if ! run_grouped bash scripts/deps.sh; then
    step_failed deps
    return
  fi

  echo "===== build (MPFS_SANITIZE=$SANITIZE) ====="
  if ! { run_grouped cmake -S . -B build -DCMAKE_BUILD_TYPE=Debug -DMPFS_SANITIZE="$SANITIZE" &&
    run_grouped cmake --build build -j2; }; then
    step_failed build
    return
  fi

  echo "===== stack up ====="
  # a stack that is already up belongs to whoever started it (other checkouts'
  # tests may be using it): reuse it and leave it up afterwards
  if scripts/stack.sh status >/dev/null 2>&1; then
    echo "stack already up: reusing it, it will be left up"
  else
    STACK_STARTED=1
  fi
  if ! run_grouped scripts/stack.sh up; then
    step_failed "stack up"
    return
  fi
  eval "$(scripts/stack.sh env)"
  # tests that restart the stack's NFS server run only on a stack of our own
  [ "$STACK_STARTED" = 1 ] && export MPFS_TEST_RESTART_NFS=1

  run_ctest unit
  run_ctest integration nsenter --net="$MPFS_NETNS_PATH" --
}

main
stack_down
echo
echo "===== summary ====="
for s in "${SUMMARIES[@]}"; do echo "$s"; done
for s in "${FAILED_STEPS[@]}"; do echo "FAILED step: $s"; done
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
