# The container tier (label container): the product image built once per ctest run (fixture
# container.images), run with podman, compose with Postgres, the units under systemd as PID 1,
# and a cleanup at the end (the debootstrap base image and the build caches stay in the build
# dir). One podman with its storage under the build dir serves the tier: RESOURCE_LOCK keeps its
# tests one at a time. Included from tests/ops.cmake.
#
# By default container.images builds the image as a user does: the documented
# `podman build --format docker -f docker/Dockerfile -t cloudmeta .` at the root of a clean clone
# (build_images.sh), compiling in the Dockerfile's build stage. CONTAINER_IMAGE_FROM_SOURCE=OFF
# replaces that stage with this tree's cloudmeta binary (same Debian 12 packages), for a quick
# local run of the tier with uncommitted changes; it cannot see a Dockerfile that fails to build.
option(CONTAINER_IMAGE_FROM_SOURCE "container tests: build the image from a clean clone" ON)
set(container_dir "${CMAKE_CURRENT_LIST_DIR}")
set(container_args "${PROJECT_SOURCE_DIR}" "${CMAKE_BINARY_DIR}")

if(CONTAINER_IMAGE_FROM_SOURCE)
  add_test(NAME container.images COMMAND bash "${container_dir}/build_images.sh" ${container_args})
  set(images_timeout 2400)
else()
  add_test(NAME container.images COMMAND bash "${container_dir}/build_images.sh" ${container_args}
           "$<TARGET_FILE:cloudmeta>")
  set(images_timeout 900)
endif()
# COST: ctest starts the costliest tests first. The tier is one chain (an image build of
# minutes, then its tests one at a time under the podman lock), the longest in the suite: started
# last, as its place in the file would have it on a machine with no timings yet (CI), it ran
# alone at the end while the other slot of `-j2` stood idle.
set_tests_properties(container.images PROPERTIES LABELS container TIMEOUT ${images_timeout}
                     FIXTURES_SETUP container_images RESOURCE_LOCK podman COST 10000)
add_test(NAME container.cleanup COMMAND bash "${container_dir}/cleanup.sh" ${container_args})
set_tests_properties(container.cleanup PROPERTIES LABELS container TIMEOUT 120
                     FIXTURES_CLEANUP container_images RESOURCE_LOCK podman)

foreach(name IN ITEMS test_image test_compose test_systemd_pid1)
  add_test(NAME container.${name} COMMAND bash "${container_dir}/${name}.sh" ${container_args})
  set_tests_properties(container.${name} PROPERTIES LABELS container TIMEOUT 600
                       FIXTURES_REQUIRED container_images RESOURCE_LOCK podman COST 5000)
endforeach()
