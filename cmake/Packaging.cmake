# Installation layout and the Debian package.
#
#   PREFIX/bin/babelcast
#   PREFIX/share/babelcast/web/            the binary finds it beside itself
#   PREFIX/lib/systemd/system/babelcast.service
#
# `cpack -G DEB` always packages for PREFIX=/usr, whatever prefix the build
# tree was configured with: the binary looks for its pages relative to its
# own path first, so the compiled-in install prefix only matters for a
# binary moved out of PREFIX/bin.

# Packing never builds: a package holds what was built (and tested), and
# cpack run from a test must not rebuild the tree under the other tests.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

install(TARGETS babelcast RUNTIME DESTINATION bin)
install(DIRECTORY web/ DESTINATION share/babelcast/web)
# The unit names the binary's installed path, known only at install time
# (cpack installs with its own prefix).
install(CODE "
  set(unit_template \"${CMAKE_CURRENT_SOURCE_DIR}/packaging/babelcast.service.in\")
  file(READ \"\${unit_template}\" unit)
  string(REPLACE \"@BINDIR@\" \"\${CMAKE_INSTALL_PREFIX}/bin\" unit \"\${unit}\")
  set(unit_dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
  message(STATUS \"Installing: \${unit_dir}/babelcast.service\")
  file(MAKE_DIRECTORY \"\${unit_dir}\")
  file(WRITE \"\${unit_dir}/babelcast.service\" \"\${unit}\")
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${unit_dir}/babelcast.service\")
")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME babelcast)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "self-hosted real-time speech translation broadcast server")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "A speaker talks into a browser; listeners get live captions and translated speech\n"
    "in their language. Speech recognition (pocketsphinx), translation (Apertium) and\n"
    "speech synthesis (espeak-ng) run on the machine itself.")
set(CPACK_PACKAGE_CONTACT "babelcast maintainers <babelcast@localhost>")
# Installed with DESTDIR into the staging tree, so the install-time prefix
# that the unit names is /usr and not the staging path.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The shared libraries the binary links (each checked against the binary by
# tests/cli/package.sh), the English recognition model, the synthesizer's
# voices, and Apertium with English-Spanish, through which the other
# languages pivot.
set(BABELCAST_DEB_LIBRARIES
    libc6 libpocketsphinx3 libsphinxbase3 libsoxr0 libcjson1 libsqlite3-0 libwebsockets17
    libqrencode4 libespeak-ng1 libopus0 libcurl4 libhiredis0.14 libssl3)
set(BABELCAST_DEB_DATA pocketsphinx-en-us espeak-ng-data apertium apertium-eng-spa)
# More target languages: direct from English, or pivoted through Spanish.
set(BABELCAST_DEB_LANGUAGES
    apertium-eng-cat apertium-en-gl apertium-eo-en apertium-fr-es apertium-es-pt
    apertium-spa-ita apertium-oc-es apertium-spa-ast apertium-spa-arg)
list(JOIN BABELCAST_DEB_LIBRARIES ", " deb_libraries)
list(JOIN BABELCAST_DEB_DATA ", " deb_data)
list(JOIN BABELCAST_DEB_LANGUAGES ", " deb_languages)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${deb_libraries}, ${deb_data}")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "${deb_languages}")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "redis-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/postinst"
    "${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/prerm"
    "${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
