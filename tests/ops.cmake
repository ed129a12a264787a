# Operations (issue 10): always-on assertions, the source lint that keeps
# bare assert() out, the test-store script, packaging and the control
# channel.  Script tests live in tests/ops/.
set(MPFS_OPS_TESTS ${CMAKE_CURRENT_LIST_DIR}/ops)

mpfs_unit_test(test_check SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_check.c LIBS mpfs_base)

add_test(NAME lint_assert COMMAND ${MPFS_OPS_TESTS}/lint_assert.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(lint_assert PROPERTIES LABELS unit TIMEOUT 60)

find_program(PYTHON3 python3 REQUIRED)
mpfs_integration_test(ops COMMAND ${PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/integration/test_ops.py)

# scripts/stack.sh: the config heredocs run nothing (no store needed) ...
add_test(NAME stack_heredoc COMMAND ${MPFS_OPS_TESTS}/test_stack_heredoc.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(stack_heredoc PROPERTIES LABELS unit TIMEOUT 60)
# ... and, on a store of its own (MPFS_OPS_NS, default "ops"), the holder
# does not capture host FUSE mounts and `up` restarts a dead daemon in place.
mpfs_integration_test(stack_store TIMEOUT 900 COMMAND ${MPFS_OPS_TESTS}/test_stack_store.sh)

# The vfs operations behind `mpfs ctl` (fs/invalidate.c, fs/flush.c).
mpfs_unit_test(test_ops SOURCES ${CMAKE_CURRENT_LIST_DIR}/fs/test_ops.c LIBS mpfs_fs_fixture)

# The daemon's log: rate limiting, rotation, path shortening (base/log.c).
mpfs_unit_test(test_log SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_log.c LIBS mpfs_base)
