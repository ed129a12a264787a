# The data path through a real mount (issue 8): the memory bound and the
# extended attributes `ls -l` asks for.
find_program(PYTHON3 python3 REQUIRED)
set(DP_DIR ${CMAKE_CURRENT_SOURCE_DIR}/integration)
mpfs_integration_test(mount_datapath TIMEOUT 600 COMMAND ${PYTHON3} ${DP_DIR}/test_datapath.py)
