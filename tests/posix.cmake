# POSIX conformance (issue 7): the fs core over the in-memory backends, and
# a conformance run through a real mount in each mode (as root, with a
# forked child acting as uid 65534).
mpfs_unit_test(test_posix_vfs SOURCES ${CMAKE_CURRENT_LIST_DIR}/fs/test_posix_vfs.c LIBS mpfs_fs_fixture)
find_program(PYTHON3 python3 REQUIRED)
foreach(mode dual s3 nfs)
  mpfs_integration_test(posix_conformance_${mode} TIMEOUT 300
    COMMAND env MPFS_TEST_MODE=${mode} ${PYTHON3}
            ${CMAKE_CURRENT_LIST_DIR}/integration/test_posix_conformance.py)
endforeach()
