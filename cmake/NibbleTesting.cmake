# Test helpers: nibble_add_gtest(NAME SOURCES... LABELS ... [LIBS ...]) registers a GoogleTest
# binary with CTest (each TEST as its own CTest entry). GoogleTest is linked statically so that a
# GPU test binary built here runs unchanged on the GPU machine.
find_package(GTest REQUIRED)
include(GoogleTest)

set(NIBBLE_TEST_DATA_DIR "${PROJECT_SOURCE_DIR}/tests/data")
set(NIBBLE_RESOURCES_DIR "${PROJECT_SOURCE_DIR}/resources")

function(nibble_add_gtest name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LABELS;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE nibble_engine GTest::gtest GTest::gtest_main nibble_warnings ${ARG_LIBS})
  target_compile_definitions(${name} PRIVATE
    NIBBLE_TEST_DATA_DIR="${NIBBLE_TEST_DATA_DIR}" NIBBLE_RESOURCES_DIR="${NIBBLE_RESOURCES_DIR}")
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()
