# Announced reads through a real mount (issue 11), with Debian's
# python3-torch (the system interpreter: a pyenv python3 has no torch).
find_program(DEBIAN_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH REQUIRED)
mpfs_integration_test(mount_prefetch TIMEOUT 600
  COMMAND ${DEBIAN_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_prefetch.py)
