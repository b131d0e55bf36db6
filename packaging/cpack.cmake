# A .deb of the agent, chaosctl, the unit, the default config and the completion: `cpack -G DEB`
# in the build dir.
install(FILES ${CMAKE_SOURCE_DIR}/packaging/chaos-agent.service DESTINATION lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/agent.yaml DESTINATION /etc/chaos-agent)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/chaosctl.bash-completion DESTINATION share/bash-completion/completions
        RENAME chaosctl)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/experiments/ DESTINATION share/chaos-agent/experiments)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION share/doc/chaos-agent OPTIONAL)

set(CPACK_PACKAGE_NAME chaos-agent)
set(CPACK_PACKAGE_VENDOR "chaos-agent")
set(CPACK_PACKAGE_CONTACT "chaos-agent maintainers <chaos-agent@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Chaos-engineering fault injector for GPU nodes that never leaves a fault behind")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# postinst: the API's groups, chaos and chaos-operators (system groups; nobody is added to them).
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_SOURCE_DIR}/packaging/deb/postinst)
include(CPack)
