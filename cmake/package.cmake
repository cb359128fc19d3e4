# SPDX-License-Identifier: MIT
# Debian binary packages, built by ci/package (cpack -G DEB), from the same
# install() rules as `cmake --install`: each rule names its component (lib,
# dev, cli) and each component becomes one package. CPack rather than a
# debian/ directory because the install rules already say which file goes
# where; a debian/ directory would keep a second list of files (and a
# changelog for the version the header already holds) in step by hand, and
# would need debhelper. ci/package configures with SQLLOCK_PACKAGE_DEB=ON,
# CMAKE_INSTALL_PREFIX=/usr and dpkg-buildflags' flags.
option(SQLLOCK_PACKAGE_DEB "lay out the install for ci/package's Debian packages" OFF)

# The man page as the cli component installs it: Debian wants it gzipped.
set(SQLLOCK_MAN_PAGE ${PROJECT_SOURCE_DIR}/doc/sqllock.1)
if(NOT SQLLOCK_PACKAGE_DEB)
  return()
endif()

set(_deb ${CMAKE_CURRENT_BINARY_DIR}/deb)
set(_maint "the sqllock authors <sqllock@example.org>")
set(SQLLOCK_DEB_MAINTAINER "${_maint}" CACHE STRING "Maintainer: of the Debian packages")
set(_pkg_lib libsqllock${PROJECT_VERSION_MAJOR})
set(_pkg_dev libsqllock-dev)
set(_pkg_cli sqllock)

# gzip -n: no name or time stamp inside, so the same input gives the same package.
function(_sqllock_gzip in out)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${in})
  execute_process(COMMAND gzip -9nc ${in} OUTPUT_FILE ${out} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip ${in}: ${rc}")
  endif()
endfunction()

file(MAKE_DIRECTORY ${_deb})
_sqllock_gzip(${PROJECT_SOURCE_DIR}/doc/sqllock.1 ${_deb}/sqllock.1.gz)
set(SQLLOCK_MAN_PAGE ${_deb}/sqllock.1.gz)

# debian/copyright in the machine-readable format, the licence from LICENSE.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/LICENSE)
file(STRINGS ${PROJECT_SOURCE_DIR}/LICENSE _license)
set(_copyright "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
    "Upstream-Name: sqllock\n\nFiles: *\nCopyright: 2026 the sqllock authors\nLicense: MIT\n")
list(REMOVE_AT _license 0 1 2 3)  # "MIT License", blank, the copyright line, blank
foreach(_l IN LISTS _license)
  if(_l STREQUAL "")
    string(APPEND _copyright " .\n")
  else()
    string(APPEND _copyright " ${_l}\n")
  endif()
endforeach()
file(WRITE ${_deb}/copyright ${_copyright})

# A one-entry changelog: the packages are built from the tree, not from a
# Debian source package with a history of its own.
string(TIMESTAMP _date "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE ${_deb}/changelog
  "sqllock (${PROJECT_VERSION}) unstable; urgency=medium\n\n"
  "  * Built by ci/package from the sqllock source tree.\n\n"
  " -- ${SQLLOCK_DEB_MAINTAINER}  ${_date}\n")
# changelog.gz, not changelog.Debian.gz: a native package (no Debian revision).
_sqllock_gzip(${_deb}/changelog ${_deb}/changelog.gz)

# CPACK_STRIP_FILES strips the shared library and the command; then, as
# Debian's dh_strip does, the compiler's .comment and .note sections go too,
# and the static library loses only its debug sections (its symbols are
# what it is for). Runs in the staging tree after every other install rule.
function(_sqllock_strip component path)
  install(CODE "execute_process(COMMAND \"${CMAKE_STRIP}\" ${ARGN}
    --remove-section=.comment --remove-section=.note
    \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${path}\" COMMAND_ERROR_IS_FATAL ANY)"
    COMPONENT ${component})
endfunction()
# Deferred to the end of the top directory: src/cli's rules come later.
cmake_language(DEFER CALL _sqllock_strip dev ${CMAKE_INSTALL_LIBDIR}/libsqllock.a
               --strip-debug --enable-deterministic-archives)
cmake_language(DEFER CALL _sqllock_strip lib
               ${CMAKE_INSTALL_LIBDIR}/libsqllock.so.${PROJECT_VERSION} --strip-unneeded)
if(SQLLOCK_BUILD_CLI)
  cmake_language(DEFER CALL _sqllock_strip cli ${CMAKE_INSTALL_BINDIR}/sqllock)
endif()

foreach(_c lib dev cli)
  install(FILES ${_deb}/copyright ${_deb}/changelog.gz
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${_pkg_${_c}} COMPONENT ${_c})
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sqllock)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/packages)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL lib dev cli)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${SQLLOCK_DEB_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends: from the ELF files (dpkg-shlibdeps).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# dpkg-shlibdeps finds the command's libsqllock.so.0 in the build tree; the
# dependency on libsqllock0 itself comes from the component's DEPENDS.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CMAKE_CURRENT_BINARY_DIR})
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)

set(CPACK_DEBIAN_LIB_PACKAGE_NAME ${_pkg_lib})
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
# Our own shlibs (how other packages come to depend on libsqllock0; CPack's
# GENERATE_SHLIBS would add nothing else) and the ldconfig trigger Debian
# asks for. CPack also calls ldconfig from postinst/postrm whatever we do
# (lintian: maintscript-calls-ldconfig, a warning); replacing them by
# scripts of ours that do nothing only trades it for maintainer-script-empty.
file(WRITE ${_deb}/shlibs
  "libsqllock ${PROJECT_VERSION_MAJOR} ${_pkg_lib} (>= ${PROJECT_VERSION})\n")
file(WRITE ${_deb}/triggers "activate-noawait ldconfig\n")
set(CPACK_DEBIAN_LIB_PACKAGE_CONTROL_EXTRA ${_deb}/shlibs ${_deb}/triggers)
set(CPACK_DEBIAN_LIB_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_LIB_DESCRIPTION "distributed locks in SQL databases - library
sqllock takes locks on the database server: PostgreSQL advisory locks over
libpq or ODBC, SQL Server sp_getapplock over ODBC, and leases (rows of a
lease table on PostgreSQL or SQLite) that expire by the server's clock,
with fencing tokens and run-once.

This package holds the shared library.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME ${_pkg_dev})
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# The headers include <libpq-fe.h> and <sql.h>; sqllock.pc requires libpq and odbc.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libpq-dev, unixodbc-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION "distributed locks in SQL databases - development files
sqllock takes locks on the database server: PostgreSQL advisory locks over
libpq or ODBC, SQL Server sp_getapplock over ODBC, and leases that expire
by the server's clock.

This package holds the headers, the static library, the pkg-config file
and the CMake package (find_package(sqllock)).")

set(CPACK_DEBIAN_CLI_PACKAGE_NAME ${_pkg_cli})
set(CPACK_DEBIAN_CLI_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_CLI_DESCRIPTION "distributed locks in SQL databases - command
sqllock runs a command while holding a lock on the database server
(PostgreSQL advisory locks, SQL Server sp_getapplock, leases), shows who
holds a lock, runs a job once, and installs the lease schema.")

include(CPack)
cpack_add_component(lib)
cpack_add_component(dev DEPENDS lib)
cpack_add_component(cli DEPENDS lib)
