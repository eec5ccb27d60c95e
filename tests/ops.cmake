# Operations tier. systemd: the unit files, and the binary under a service manager played by the
# test (socket activation, sd_notify, signals).
foreach(script IN ITEMS systemd/test_units.sh)
  get_filename_component(name "${script}" NAME_WE)
  add_test(NAME systemd.${name} COMMAND bash "${CMAKE_CURRENT_SOURCE_DIR}/${script}"
           "$<TARGET_FILE:cloudmeta>")
  set_tests_properties(systemd.${name} PROPERTIES LABELS systemd TIMEOUT 60)
endforeach()
add_test(NAME systemd.test_lifecycle COMMAND python3
         "${CMAKE_CURRENT_SOURCE_DIR}/systemd/test_lifecycle.py" "$<TARGET_FILE:cloudmeta>")
set_tests_properties(systemd.test_lifecycle PROPERTIES LABELS "systemd;integration" TIMEOUT 180)

# The container image with podman, compose with Postgres, the units under systemd as PID 1.
include(container/container.cmake)
