# Helpers that give every module the same shape.
#
# metastack_module(NAME SOURCES ... DEPS ...)
#   One static library per src/<module>. DEPS is the module's whole allowed dependency list;
#   tests/layering_test.py checks that no file includes a header from a module it does not list.
# metastack_test(NAME SOURCES ... DEPS ...)
#   A GoogleTest binary registered with CTest (one CTest entry per test case). Not built with
#   METASTACK_FUZZ (the fuzz build runs no unit tests).

if(NOT METASTACK_FUZZ)
  include(GoogleTest)
endif()

function(metastack_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(metastack_${name} STATIC ${M_SOURCES})
  add_library(metastack::${name} ALIAS metastack_${name})
  target_include_directories(metastack_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(metastack_${name} PUBLIC ${M_DEPS})
  set_property(GLOBAL APPEND PROPERTY METASTACK_MODULES "${name}:${M_DEPS}")
endfunction()

function(metastack_test name)
  if(METASTACK_FUZZ)
    return()
  endif()
  cmake_parse_arguments(T "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 30)
endfunction()
