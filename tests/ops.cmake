# Operations (issue 10): always-on assertions, the source lint that keeps
# bare assert() out, the test-store script, packaging and the control
# channel.  Script tests live in tests/ops/.
set(MPFS_OPS_TESTS ${CMAKE_CURRENT_LIST_DIR}/ops)

mpfs_unit_test(test_check SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_check.c LIBS mpfs_base)

add_test(NAME lint_assert COMMAND ${MPFS_OPS_TESTS}/lint_assert.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(lint_assert PROPERTIES LABELS unit TIMEOUT 60)

find_program(PYTHON3 python3 REQUIRED)
mpfs_integration_test(ops COMMAND ${PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/integration/test_ops.py)
