# Integration tests through a real FUSE mount against the real store.
find_program(PYTHON3 python3 REQUIRED)
set(MNT_DIR ${CMAKE_CURRENT_LIST_DIR}/integration)
foreach(mode dual s3 nfs)
  mpfs_integration_test(mount_posix_${mode} TIMEOUT 900
    COMMAND env MPFS_TEST_MODE=${mode} ${PYTHON3} ${MNT_DIR}/test_posix.py)
endforeach()
mpfs_integration_test(mount_namespace COMMAND ${PYTHON3} ${MNT_DIR}/test_namespace_mount.py)
mpfs_integration_test(mount_consistency COMMAND ${PYTHON3} ${MNT_DIR}/test_consistency.py)
mpfs_integration_test(mount_badinput COMMAND ${PYTHON3} ${MNT_DIR}/test_badinput.py)
mpfs_integration_test(mount_durability COMMAND ${PYTHON3} ${MNT_DIR}/test_durability.py)
# NFS-only mode across a real NFS-Ganesha restart: skipped (77) unless
# MPFS_TEST_RESTART_NFS=1 (a stack of one's own; scripts/test.sh sets it).
mpfs_integration_test(mount_nfs_restart COMMAND ${PYTHON3} ${MNT_DIR}/test_nfs_restart_mount.py)
set_tests_properties(mount_nfs_restart PROPERTIES SKIP_RETURN_CODE 77)
mpfs_integration_test(mount_visibility TIMEOUT 300 COMMAND ${PYTHON3} ${MNT_DIR}/test_visibility.py)
