# The .deb (scripts/package builds it: a Release tree configured with
# CMAKE_INSTALL_PREFIX=/usr, then `cpack -G DEB`). docs/service.md says
# what it installs and what its maintainer scripts do.
set(CPACK_PACKAGE_NAME ft)
set(CPACK_PACKAGE_VENDOR "ft maintainers")
set(CPACK_PACKAGE_CONTACT "ft maintainers <maintainers@users.noreply.r-seed-ea8df664.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "LAN file transfer server and clients with resumable, verified transfers")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "ft copies files and directory trees between machines of a LAN, resumes\n"
       "interrupted uploads and verifies every byte (XXH3). ftserve serves a\n"
       "directory to clients authenticated by pre-shared keys over TLS 1.3;\n"
       "ftsend, ftget and ftls send, fetch and list; ft-backup runs backups from\n"
       "cron or a systemd timer. The ftserve service is installed but not started.")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.invalid/ft")
# Library dependencies from the binaries themselves (dpkg-shlibdeps), and
# adduser for the system user the postinst creates.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/conffiles
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/postinst
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/prerm
    ${CMAKE_CURRENT_SOURCE_DIR}/debian/postrm)
set(CPACK_GENERATOR DEB)
include(CPack)
