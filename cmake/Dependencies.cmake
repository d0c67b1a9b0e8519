# Every third-party dependency is found here, once, and exposed as an imported target.
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(ZMQ REQUIRED IMPORTED_TARGET libzmq)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
if(NOT GPUFLEET_FUZZ_ONLY)
  pkg_check_modules(ESPEAK REQUIRED IMPORTED_TARGET espeak-ng)
endif()
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(Boost 1.74 REQUIRED)

find_path(CPPZMQ_INCLUDE_DIR zmq.hpp REQUIRED)
find_path(MSGPACK_INCLUDE_DIR msgpack.hpp REQUIRED)
add_library(gpufleet_deps_zmq INTERFACE)
target_include_directories(gpufleet_deps_zmq SYSTEM INTERFACE ${CPPZMQ_INCLUDE_DIR})
target_link_libraries(gpufleet_deps_zmq INTERFACE PkgConfig::ZMQ)
add_library(gpufleet_deps_msgpack INTERFACE)
target_include_directories(gpufleet_deps_msgpack SYSTEM INTERFACE ${MSGPACK_INCLUDE_DIR})
# msgpack-c's C++ side only needs its headers; keep Boost out of its adaptors.
target_compile_definitions(gpufleet_deps_msgpack INTERFACE MSGPACK_NO_BOOST)

# LibTorch: Debian's libtorch-dev (CPU) or the one inside a CUDA PyTorch
# (-DCMAKE_PREFIX_PATH="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')").
if(NOT GPUFLEET_FUZZ_ONLY)
  find_package(Torch REQUIRED)
  message(STATUS "gpufleet: LibTorch ${Torch_VERSION} flags='${TORCH_CXX_FLAGS}'")
endif()

if(GPUFLEET_BUILD_TESTS AND NOT GPUFLEET_FUZZ_ONLY)
  find_package(GTest REQUIRED)
endif()
