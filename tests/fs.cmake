# fs core: unit tests over the in-memory backends (no mount, no server).
add_library(mpfs_fs_fixture STATIC ${CMAKE_CURRENT_LIST_DIR}/fs/fs_fixture.c)
target_link_libraries(mpfs_fs_fixture PUBLIC mpfs_fs)
mpfs_unit_test(test_vfs SOURCES ${CMAKE_CURRENT_LIST_DIR}/fs/test_vfs.c LIBS mpfs_fs_fixture)
mpfs_unit_test(test_namespace SOURCES ${CMAKE_CURRENT_LIST_DIR}/fs/test_namespace.c LIBS mpfs_fs_fixture)
mpfs_unit_test(test_policy SOURCES ${CMAKE_CURRENT_LIST_DIR}/fs/test_policy.c LIBS mpfs_fs)
mpfs_unit_test(test_consistency SOURCES ${CMAKE_CURRENT_LIST_DIR}/fs/test_consistency.c LIBS mpfs_fs_fixture)
mpfs_unit_test(test_model SOURCES ${CMAKE_CURRENT_LIST_DIR}/fs/test_model.c LIBS mpfs_fs_fixture)
# 3 modes x 60 seeded sequences of 60 steps: 33 s in the sanitizer build here
set_tests_properties(test_model PROPERTIES TIMEOUT 600)
mpfs_unit_test(test_announce SOURCES ${CMAKE_CURRENT_LIST_DIR}/fs/test_announce.c LIBS mpfs_fs_fixture)
mpfs_unit_test(test_notify SOURCES ${CMAKE_CURRENT_LIST_DIR}/fs/test_notify.c LIBS mpfs_fs_fixture)
mpfs_unit_test(test_reconciler SOURCES ${CMAKE_CURRENT_LIST_DIR}/fs/test_reconciler.c LIBS mpfs_fs_fixture)
