# The metadata index (index/): unit tests, and a benchmark that is built but
# not registered (run by hand: see docs/INDEX.md).
set(MPFS_INDEX_TESTS ${CMAKE_CURRENT_LIST_DIR}/unit)

mpfs_unit_test(test_index_codec SOURCES ${MPFS_INDEX_TESTS}/test_index_codec.c
  LIBS mpfs_index)
mpfs_unit_test(test_index SOURCES ${MPFS_INDEX_TESTS}/test_index.c
  ${MPFS_INDEX_TESTS}/test_index_util.c LIBS mpfs_index)
mpfs_unit_test(test_index_open SOURCES ${MPFS_INDEX_TESTS}/test_index_open.c
  ${MPFS_INDEX_TESTS}/test_index_disk.c ${MPFS_INDEX_TESTS}/test_index_util.c
  LIBS mpfs_index)
mpfs_unit_test(test_index_recover SOURCES ${MPFS_INDEX_TESTS}/test_index_recover.c
  ${MPFS_INDEX_TESTS}/test_index_disk.c ${MPFS_INDEX_TESTS}/test_index_util.c
  LIBS mpfs_index)

add_executable(bench_index ${MPFS_INDEX_TESTS}/bench_index.c
  ${MPFS_INDEX_TESTS}/test_index_util.c)
target_link_libraries(bench_index PRIVATE mpfs_index)
