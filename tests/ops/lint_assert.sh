#!/bin/bash
# No assert() from <assert.h> anywhere in the tree: Release and RelWithDebInfo
# builds define NDEBUG and compile it out, which silently drops any side
# effect inside it and trips -Werror on variables used only there.  Use
# MPFS_ASSERT (base/check.h), which is always on.  cmocka's assert_*()
# and _Static_assert are fine.
set -euo pipefail
SRC=${1:-${MPFS_SOURCE_DIR:?}}
cd "$SRC"
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null ||
  find . -name '*.[ch]' -not -path './build*')
bad=$(grep -nE '(^|[^_A-Za-z0-9])assert[[:space:]]*\(|#[[:space:]]*include[[:space:]]*<assert\.h>' "${files[@]}" || true)
if [ -n "$bad" ]; then
  echo "bare assert() / <assert.h> found (use MPFS_ASSERT from base/check.h):" >&2
  echo "$bad" >&2
  exit 1
fi
echo "ok: no bare assert()"
