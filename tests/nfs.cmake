# NFS backend tests (backends/nfs/).
#   unit:        URL/export splitting, error mapping, attributes and version
#                tokens, the connection pool (threads), the handle cache
#   integration: nfs_backend_test against the POSIX export (FSAL_VFS) and
#                the bucket view (FSAL_RGW) of the stack; it must run inside
#                the stack's network namespace (scripts/test.sh does) and
#                exits 77 (skipped) when the MPFS_NFS_* variables are unset
#   not a test:  nfs_bench (tests/integration/nfs_bench.c), by hand
foreach(t url err attr pool fhcache)
  mpfs_unit_test(test_nfs_${t}
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_nfs_${t}.c
    LIBS mpfs_nfs)
endforeach()

add_executable(nfs_backend_test ${CMAKE_CURRENT_LIST_DIR}/integration/nfs_backend_test.c)
target_link_libraries(nfs_backend_test PRIVATE mpfs_nfs PkgConfig::CMOCKA)
mpfs_integration_test(nfs_backend_posix TIMEOUT 600 COMMAND sh -c
  "exec $<TARGET_FILE:nfs_backend_test> \"$MPFS_NFS_POSIX_URL\" posix")
mpfs_integration_test(nfs_backend_bucket TIMEOUT 600 COMMAND sh -c
  "exec $<TARGET_FILE:nfs_backend_test> \"$MPFS_NFS_BUCKET_URL\" bucket")
set_tests_properties(nfs_backend_posix nfs_backend_bucket PROPERTIES
  SKIP_RETURN_CODE 77)

add_executable(nfs_bench ${CMAKE_CURRENT_LIST_DIR}/integration/nfs_bench.c)
target_link_libraries(nfs_bench PRIVATE mpfs_nfs)

# Across a real NFS-Ganesha restart (scripts/stack.sh restart-nfs): skipped
# (77) unless MPFS_TEST_RESTART_NFS=1 says the stack is the caller's own
# (scripts/test.sh sets it for a stack it started itself).
add_executable(nfs_restart_test ${CMAKE_CURRENT_LIST_DIR}/integration/nfs_restart_test.c)
target_link_libraries(nfs_restart_test PRIVATE mpfs_nfs)
mpfs_integration_test(nfs_restart TIMEOUT 300 COMMAND sh -c
  "exec $<TARGET_FILE:nfs_restart_test> \"$MPFS_NFS_POSIX_URL\"")
set_tests_properties(nfs_restart PROPERTIES SKIP_RETURN_CODE 77)
