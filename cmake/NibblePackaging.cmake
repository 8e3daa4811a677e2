# Install rules and the CPack DEB package: binaries, the bundled demo model, icon, .desktop file
# and AppStream metainfo.
include(GNUInstallDirs)
set(NIBBLE_APP_ID "io.github.nibble.Nibble")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/resources/models/" DESTINATION "${CMAKE_INSTALL_DATADIR}/nibble/models")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/resources/calibration/" DESTINATION "${CMAKE_INSTALL_DATADIR}/nibble/calibration")
install(FILES "${PROJECT_SOURCE_DIR}/resources/evaluation/heldout.txt.gz" DESTINATION "${CMAKE_INSTALL_DATADIR}/nibble/evaluation")
install(FILES "${PROJECT_SOURCE_DIR}/resources/icons/nibble.svg"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps" RENAME "${NIBBLE_APP_ID}.svg")
if(NIBBLE_GUI)
  install(FILES "${PROJECT_SOURCE_DIR}/packaging/${NIBBLE_APP_ID}.desktop" DESTINATION "${CMAKE_INSTALL_DATADIR}/applications")
  install(FILES "${PROJECT_SOURCE_DIR}/packaging/${NIBBLE_APP_ID}.metainfo.xml" DESTINATION "${CMAKE_INSTALL_DATADIR}/metainfo")
endif()

set(CPACK_PACKAGE_NAME "nibble")
set(CPACK_PACKAGE_VENDOR "Nibble")
set(CPACK_PACKAGE_CONTACT "Nibble maintainers <maintainers@nibble.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_GENERATOR "DEB")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# QML modules are loaded at run time, so shlibdeps cannot see them.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "qml6-module-qtquick, qml6-module-qtquick-controls, qml6-module-qtquick-layouts, qml6-module-qtquick-window, qml6-module-qtquick-templates, qml6-module-qtqml-workerscript")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "qml6-module-qtquick-dialogs, qml6-module-qtcharts")
include(CPack)
