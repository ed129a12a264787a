# Bucket notifications through a real mount (radosgw pushes to the daemon).
find_program(PYTHON3 python3 REQUIRED)
mpfs_integration_test(mount_notify TIMEOUT 300
  COMMAND ${PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/integration/test_notify.py)
