# The integration tests that run cloudmeta on PostgreSQL (fleet mode): every doctest case whose
# name contains "postgres" gets the labels integration;postgres and the `postgres` fixture of
# tests/postgres.cmake (its server's state directory in CLOUDMETA_TEST_PG_STATE). A test that
# stops its server starts a private one with the same script. Included from tests/CMakeLists.txt
# after cloudmeta_integration_tests is defined.
target_compile_definitions(cloudmeta_integration_tests PRIVATE
  CLOUDMETA_PG_CLUSTER_SCRIPT="${pg_cluster_script}")

file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/postgres_integration_tests.cmake" "
foreach(test IN LISTS cloudmeta_integration_tests_TESTS)
  if(test MATCHES \"postgres\")
    set_tests_properties(\"\${test}\" PROPERTIES
      LABELS \"integration;postgres\"
      FIXTURES_REQUIRED postgres
      TIMEOUT 300
      ENVIRONMENT \"CLOUDMETA_TEST_PG_STATE=${pg_state_dir}\")
  endif()
endforeach()
")
set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES
  "${CMAKE_CURRENT_BINARY_DIR}/postgres_integration_tests.cmake")
