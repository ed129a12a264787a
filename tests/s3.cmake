# S3 backend tests (backends/s3/).
#   unit:        signer, encoding, XML, error mapping, metadata, credentials,
#                the topic API's answers
#   integration: s3_backend_test against radosgw and against moto, each
#                finding its store through `scripts/stack.sh env` variables
foreach(t sigv4 uri xml errmap meta creds config http topic)
  mpfs_unit_test(test_s3_${t}
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_s3_${t}.c
    LIBS mpfs_s3 PkgConfig::CRYPTO PkgConfig::CURL)
endforeach()

add_executable(s3_backend_test ${CMAKE_CURRENT_SOURCE_DIR}/integration/s3_backend_test.c)
target_link_libraries(s3_backend_test PRIVATE mpfs_s3 PkgConfig::CMOCKA Threads::Threads)
mpfs_integration_test(s3_backend_rgw TIMEOUT 600 COMMAND s3_backend_test rgw)
mpfs_integration_test(s3_backend_moto TIMEOUT 600 COMMAND s3_backend_test moto)
set_tests_properties(s3_backend_rgw s3_backend_moto PROPERTIES SKIP_RETURN_CODE 77)

# Read throughput against curl on one object; run by hand (see its header).
add_executable(s3_bench ${CMAKE_CURRENT_SOURCE_DIR}/integration/s3_bench.c)
target_link_libraries(s3_bench PRIVATE mpfs_s3 Threads::Threads)

# Racing If-Match PUTs on a bucket of its own with versioning on (issue 6,
# defect 11): counts double wins and checks the version-chain detection.
add_executable(s3_race_test ${CMAKE_CURRENT_SOURCE_DIR}/integration/s3_race_test.c)
target_link_libraries(s3_race_test PRIVATE mpfs_s3 Threads::Threads)
mpfs_integration_test(s3_race_rgw TIMEOUT 600 COMMAND s3_race_test 200)
set_tests_properties(s3_race_rgw PROPERTIES SKIP_RETURN_CODE 77)
