# cache/ unit tests: eviction policy, RAM tier, disk tier, access-pattern
# detector, reader.  bench_reader is built but not registered as a test.
mpfs_unit_test(test_cache_eviction
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cache_eviction.c LIBS mpfs_cache)
mpfs_unit_test(test_cache_ram
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cache_ram.c LIBS mpfs_cache)
mpfs_unit_test(test_cache_disk
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cache_disk.c LIBS mpfs_cache)
mpfs_unit_test(test_cache_pattern
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cache_pattern.c LIBS mpfs_cache)
mpfs_unit_test(test_reader
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_reader.c LIBS mpfs_cache)
add_executable(bench_reader ${CMAKE_CURRENT_SOURCE_DIR}/unit/bench_reader.c)
target_link_libraries(bench_reader PRIVATE mpfs_cache)
mpfs_unit_test(test_cache_training
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cache_training.c LIBS mpfs_cache)
mpfs_unit_test(test_cache_budget
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cache_budget.c LIBS mpfs_cache)
add_executable(bench_disk_open ${CMAKE_CURRENT_SOURCE_DIR}/unit/bench_disk_open.c)
target_link_libraries(bench_disk_open PRIVATE mpfs_cache)

# not a test: bench/bench_mount_time.sh fills a disk tier with it
add_executable(fill_disk_cache ${PROJECT_SOURCE_DIR}/bench/tools/fill_disk_cache.c)
target_link_libraries(fill_disk_cache PRIVATE mpfs_cache)
