# The real PostgreSQL server behind the store tests' <postgres> cases: ctest starts it once
# (fixture setup), every <postgres> test gets its own database on it, and ctest stops and removes
# it at the end (fixture cleanup). tests/support/pg_cluster.sh picks a free port and a temp dir.
# Included from tests/CMakeLists.txt after cloudmeta_store_tests is defined.
set(pg_cluster_script "${CMAKE_CURRENT_SOURCE_DIR}/support/pg_cluster.sh")
set(pg_state_dir "${CMAKE_CURRENT_BINARY_DIR}/postgres-fixture")

target_compile_definitions(cloudmeta_store_tests PRIVATE
  CLOUDMETA_PG_CLUSTER_SCRIPT="${pg_cluster_script}")

add_test(NAME store.postgres_start COMMAND bash "${pg_cluster_script}" start "${pg_state_dir}")
set_tests_properties(store.postgres_start PROPERTIES
  FIXTURES_SETUP postgres LABELS "store;postgres" TIMEOUT 180)
add_test(NAME store.postgres_stop COMMAND bash "${pg_cluster_script}" stop "${pg_state_dir}")
set_tests_properties(store.postgres_stop PROPERTIES
  FIXTURES_CLEANUP postgres LABELS "store;postgres" TIMEOUT 60)

# doctest_discover_tests names the cases only at build time, so their properties are set by a
# script ctest runs after loading them (the TEST_INCLUDE_FILES way the doctest module documents).
file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/postgres_tests.cmake" "
foreach(test IN LISTS cloudmeta_store_tests_TESTS)
  if(test MATCHES \"postgres\")
    set_tests_properties(\"\${test}\" PROPERTIES
      LABELS \"store;postgres\"
      FIXTURES_REQUIRED postgres
      ENVIRONMENT \"CLOUDMETA_TEST_PG_STATE=${pg_state_dir}\")
  endif()
endforeach()
")
set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES
  "${CMAKE_CURRENT_BINARY_DIR}/postgres_tests.cmake")
