# Helpers that give every module the same shape.
#
# metastack_module(NAME SOURCES ... DEPS ...)
#   One static library per src/<module>. DEPS is the module's whole allowed dependency list:
#   before any module compiles, cmake/check_layering.py checks that no file includes a header
#   from a module it does not list (or an external header its module may not see), and a
#   violation fails the build.
# metastack_test(NAME SOURCES ... DEPS ... [PROPERTIES prop value ...])
#   A GoogleTest binary registered with CTest (one CTest entry per test case, each given
#   PROPERTIES, e.g. a fixture it needs). Built only with METASTACK_TESTS (off in the fuzz
#   build, which runs no unit tests, and in the run preset).

if(METASTACK_TESTS)
  include(GoogleTest)
endif()

find_program(METASTACK_PYTHON3 NAMES python3 REQUIRED)
file(GLOB_RECURSE METASTACK_LAYERING_INPUTS CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/src/*.h ${PROJECT_SOURCE_DIR}/src/*.cc
     ${PROJECT_SOURCE_DIR}/src/*/CMakeLists.txt)
add_custom_command(
  OUTPUT ${PROJECT_BINARY_DIR}/layering.stamp
  COMMAND ${METASTACK_PYTHON3} ${PROJECT_SOURCE_DIR}/cmake/check_layering.py
          ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/layering.stamp
  DEPENDS ${PROJECT_SOURCE_DIR}/cmake/check_layering.py ${METASTACK_LAYERING_INPUTS}
  COMMENT "Checking module boundaries (cmake/check_layering.py)"
  VERBATIM)
add_custom_target(layering_check DEPENDS ${PROJECT_BINARY_DIR}/layering.stamp)

# Precompiled headers: the third-party headers most files include (Asio/Beast, nlohmann/json,
# GoogleTest, the standard library) are parsed once per build instead of once per file. Four
# flavours, each compiled once in its own target and reused by every target of that kind
# (REUSE_FROM): a module or binary that sees Asio (it links metastack::http) or not, and its
# tests. core/ and the modules below http/ never get Asio this way. Off for clang-tidy and the
# fuzz build (clang reads no GCC PCH); -Winvalid-pch says when a file could not use one.
if(NOT METASTACK_CLANG_TIDY AND NOT METASTACK_FUZZ)
  option(METASTACK_PCH "Use precompiled headers" ON)
endif()
set(METASTACK_PCH_STD <algorithm> <chrono> <cstdint> <expected> <functional> <map> <memory>
    <optional> <string> <string_view> <utility> <vector>)
if(METASTACK_PCH)
  add_compile_options(-Winvalid-pch)
  set(flavours lib lib_asio)
  if(METASTACK_TESTS)
    list(APPEND flavours test test_asio)
  endif()
  foreach(flavour IN LISTS flavours)
    add_library(metastack_pch_${flavour} OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch/empty.cc)
    set(headers ${METASTACK_PCH_STD} <nlohmann/json.hpp>)
    if(flavour MATCHES "asio")
      list(APPEND headers ${PROJECT_SOURCE_DIR}/src/http/asio.h)
      target_link_libraries(metastack_pch_${flavour} PRIVATE Boost::headers)
    endif()
    if(flavour MATCHES "test")
      list(APPEND headers <gmock/gmock.h> <gtest/gtest.h>)
      target_link_libraries(metastack_pch_${flavour} PRIVATE GTest::gtest GTest::gmock)
    endif()
    target_link_libraries(metastack_pch_${flavour} PRIVATE nlohmann_json::nlohmann_json)
    target_precompile_headers(metastack_pch_${flavour} PRIVATE ${headers})
  endforeach()
endif()

# metastack_use_pch(TARGET lib|lib_asio|test|test_asio)
function(metastack_use_pch target flavour)
  if(METASTACK_PCH)
    target_precompile_headers(${target} REUSE_FROM metastack_pch_${flavour})
  endif()
endfunction()

# lib_asio if any of `deps` is a module that sees Asio, else lib.
function(metastack_pch_flavour deps out)
  get_property(asio_modules GLOBAL PROPERTY METASTACK_ASIO_MODULES)
  set(flavour lib)
  foreach(dep IN LISTS deps)
    if(dep STREQUAL "Boost::headers" OR dep IN_LIST asio_modules)
      set(flavour lib_asio)
    endif()
  endforeach()
  set(${out} ${flavour} PARENT_SCOPE)
endfunction()

function(metastack_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(metastack_${name} STATIC ${M_SOURCES})
  add_library(metastack::${name} ALIAS metastack_${name})
  target_include_directories(metastack_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(metastack_${name} PUBLIC ${M_DEPS})
  add_dependencies(metastack_${name} layering_check)
  metastack_pch_flavour("${M_DEPS}" flavour)
  if(flavour STREQUAL "lib_asio")
    set_property(GLOBAL APPEND PROPERTY METASTACK_ASIO_MODULES metastack::${name})
  endif()
  if(NOT name STREQUAL "base")  # base/ sees neither JSON nor Asio
    metastack_use_pch(metastack_${name} ${flavour})
  endif()
endfunction()

function(metastack_test name)
  if(NOT METASTACK_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "" "SOURCES;DEPS;PROPERTIES" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  metastack_pch_flavour("${T_DEPS}" flavour)
  string(REPLACE "lib" "test" flavour ${flavour})
  metastack_use_pch(${name} ${flavour})
  if(T_PROPERTIES)
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 30 PROPERTIES ${T_PROPERTIES})
  else()
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 30)
  endif()
endfunction()
