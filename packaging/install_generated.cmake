# /etc/mpfs for the system prefixes, PREFIX/etc/mpfs for any other (a test
# install into a temporary prefix must not write /etc).
# Runs at install time (install(SCRIPT)), so the paths written into the
# systemd unit follow `cmake --install --prefix P` and DESTDIR, not only the
# prefix chosen when the build was configured.

set(MPFS_BINDIR "${CMAKE_INSTALL_PREFIX}/${MPFS_BINDIR_REL}")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" OR CMAKE_INSTALL_PREFIX STREQUAL "/usr/local")
  set(MPFS_CONFDIR "/etc/mpfs")
else()
  set(MPFS_CONFDIR "${CMAKE_INSTALL_PREFIX}/etc/mpfs")
endif()
set(unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
configure_file("${MPFS_PACKAGING_DIR}/mpfs@.service.in" "${MPFS_BUILD_DIR}/mpfs@.service" @ONLY)
file(INSTALL "${MPFS_BUILD_DIR}/mpfs@.service" DESTINATION "${unitdir}")
file(INSTALL "${MPFS_PACKAGING_DIR}/example.conf" DESTINATION "${MPFS_CONFDIR}"
     RENAME "example.conf.sample")
