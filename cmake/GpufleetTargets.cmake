# Helpers that give every gpufleet target the same warnings and layout.

# -Wshadow=local is GCC's; clang (the fuzz build) has only -Wshadow, which is far noisier.
# -Wno-missing-field-initializers: plain structs with default member initializers (ModelInput, configs) are
# meant to be brace-initialised with their leading fields only; the rest keep their defaults.
set(GPUFLEET_WARNINGS -Wall -Wextra -Wpedantic $<$<CXX_COMPILER_ID:GNU>:-Wshadow=local> -Wnon-virtual-dtor
    -Wno-unused-parameter -Wno-missing-field-initializers)

# gpufleet_library(NAME SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
function(gpufleet_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${GPUFLEET_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# gpufleet_executable(NAME SOURCES ... DEPS ...): lands in build/bin.
function(gpufleet_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${GPUFLEET_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# The Python whose torch builds the tests' TorchScript modules (tests/models/): its torch must be able to write
# what this build's LibTorch reads. Debian's python3-torch for Debian's LibTorch; the wheel's own Python for a
# build against a PyTorch wheel's LibTorch (scripts/test-torch2.sh passes .tools/torch/bin/python).
if(DEFINED ENV{GPUFLEET_PYTHON})
  set(GPUFLEET_MODELS_PYTHON_DEFAULT "$ENV{GPUFLEET_PYTHON}")
else()
  set(GPUFLEET_MODELS_PYTHON_DEFAULT /usr/bin/python3)
endif()
set(GPUFLEET_MODELS_PYTHON "${GPUFLEET_MODELS_PYTHON_DEFAULT}" CACHE FILEPATH "Python that builds test models")

# gpufleet_test(NAME SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s]): a GoogleTest binary registered with CTest.
# Integration tests get the built binaries' folder through GPUFLEET_BIN_DIR.
function(gpufleet_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${GPUFLEET_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}"
    ENVIRONMENT
    "GPUFLEET_BIN_DIR=${CMAKE_BINARY_DIR}/bin;GPUFLEET_SOURCE_DIR=${PROJECT_SOURCE_DIR};GPUFLEET_PYTHON=${GPUFLEET_MODELS_PYTHON}")
endfunction()


# gpufleet_torch_headers(TARGET HEADER...): LibTorch's headers parsed once for all of TARGET's sources (a
# precompiled header) instead of once per source, where most of their compile time goes. Only for targets of
# several LibTorch sources: for one source, building the header costs what it saves.
function(gpufleet_torch_headers target)
  target_precompile_headers(${target} PRIVATE ${ARGN})
endfunction()
