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

# LibTorch: Debian's libtorch-dev (1.13, CPU; the default build) or the one inside a CUDA PyTorch, such as the
# pinned wheel scripts/install-torch.sh puts in .tools/torch (build-torch2/, scripts/test-torch2.sh):
# -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')".
# GPUFLEET_TORCH: AUTO (default) builds the LibTorch side where LibTorch is found, ON requires it, OFF leaves it
# out. Without it the fleet builds and its worker serves the models that need no LibTorch (espeak, noop,
# portrait) on the CPU; the plugin, the XTTS engine, gpufleet-xtts and the tests (which need it) are not built.
set(GPUFLEET_TORCH AUTO CACHE STRING "LibTorch for the models that need it: AUTO, ON or OFF")
set_property(CACHE GPUFLEET_TORCH PROPERTY STRINGS AUTO ON OFF)
set(GPUFLEET_HAVE_TORCH OFF)
set(GPUFLEET_TORCH_CUDA OFF)
if(NOT GPUFLEET_FUZZ_ONLY AND NOT GPUFLEET_TORCH STREQUAL "OFF")
  # A CUDA LibTorch's CMake config otherwise compiles and runs a probe for the GPUs of this machine, which fails
  # where there are none (and with CMake 3.25, which cannot pass C++20 to nvcc 13). gpufleet compiles no CUDA
  # code of its own, so the list only matters to a .cu file added later: A100, H100/H200 and Blackwell.
  if("$ENV{TORCH_CUDA_ARCH_LIST}" STREQUAL "")
    set(ENV{TORCH_CUDA_ARCH_LIST} "8.0;9.0;10.0")
  endif()
  if(GPUFLEET_TORCH STREQUAL "ON")
    find_package(Torch REQUIRED)
  else()
    find_package(Torch QUIET)
  endif()
  if(Torch_FOUND)
    set(GPUFLEET_HAVE_TORCH ON)
  endif()
  if(TORCH_CUDA_LIBRARIES)
    set(GPUFLEET_TORCH_CUDA ON)
  endif()
  # A PyTorch wheel's CUDA libraries (cuDNN, NCCL, cuBLAS, the runtime) are wheels of their own beside torch/,
  # found by libtorch_cuda.so through its RPATH. The linker must take the same ones when it checks an
  # executable's indirect references, not the older copies the CUDA toolkit installs (NCCL's symbols differ),
  # and programs should load them too.
  file(GLOB GPUFLEET_TORCH_WHEEL_LIBS LIST_DIRECTORIES true "${TORCH_INSTALL_PREFIX}/../nvidia/*/lib")
  if(GPUFLEET_TORCH_CUDA AND GPUFLEET_TORCH_WHEEL_LIBS)
    list(JOIN GPUFLEET_TORCH_WHEEL_LIBS ":" wheel_libs)
    add_link_options("LINKER:-rpath-link,${wheel_libs}" "LINKER:-rpath,${wheel_libs}")
  endif()
  if(GPUFLEET_HAVE_TORCH)
    message(STATUS "gpufleet: LibTorch ${Torch_VERSION}, CUDA compiled in: ${GPUFLEET_TORCH_CUDA}"
                   " (flags='${TORCH_CXX_FLAGS}')")
  endif()
endif()
if(NOT GPUFLEET_FUZZ_ONLY AND NOT GPUFLEET_HAVE_TORCH)
  message(STATUS "gpufleet: no LibTorch (GPUFLEET_TORCH=${GPUFLEET_TORCH}): the worker serves espeak, noop and "
                 "portrait on the CPU")
endif()

# Video (the "portrait" backend): OpenCV and FFmpeg's libraries, where they are installed. Without them the
# fleet builds and serves speech only; GPUFLEET_VIDEO=ON makes their absence an error (CI sets it).
option(GPUFLEET_VIDEO "require the video backend's dependencies" OFF)
set(GPUFLEET_HAVE_VIDEO OFF)
if(NOT GPUFLEET_FUZZ_ONLY)
  # The four OpenCV modules by hand: Debian's per-module -dev packages ship no CMake config (libopencv-dev,
  # which does, pulls VTK and MPI in).
  find_path(OPENCV_INCLUDE_DIR opencv2/objdetect.hpp PATH_SUFFIXES opencv4)
  set(OPENCV_LIBRARIES "")
  set(OpenCV_FOUND ON)
  foreach(module core imgproc imgcodecs objdetect)
    find_library(OPENCV_${module}_LIBRARY opencv_${module})
    if(OPENCV_${module}_LIBRARY)
      list(APPEND OPENCV_LIBRARIES ${OPENCV_${module}_LIBRARY})
    else()
      set(OpenCV_FOUND OFF)
    endif()
  endforeach()
  if(NOT OPENCV_INCLUDE_DIR)
    set(OpenCV_FOUND OFF)
  endif()
  pkg_check_modules(FFMPEG IMPORTED_TARGET libavcodec libavformat libavutil libswresample libswscale)
  if(OpenCV_FOUND AND FFMPEG_FOUND)
    set(GPUFLEET_HAVE_VIDEO ON)
    add_library(gpufleet_deps_opencv INTERFACE)
    target_include_directories(gpufleet_deps_opencv SYSTEM INTERFACE ${OPENCV_INCLUDE_DIR})
    target_link_libraries(gpufleet_deps_opencv INTERFACE ${OPENCV_LIBRARIES})
  elseif(GPUFLEET_VIDEO)
    message(FATAL_ERROR "GPUFLEET_VIDEO=ON but OpenCV (${OpenCV_FOUND}) or FFmpeg (${FFMPEG_FOUND}) is missing")
  endif()
  message(STATUS "gpufleet: video backend ${GPUFLEET_HAVE_VIDEO}")
endif()

if(GPUFLEET_BUILD_TESTS AND NOT GPUFLEET_FUZZ_ONLY)
  find_package(GTest REQUIRED)
endif()

# WebRTC egress (media/): GStreamer's webrtcbin with libnice, Opus and SRTP from Debian's packages.
# AUTO: built when the development files are found; ON: required; OFF: the gateway answers WHEP with 503.
set(GPUFLEET_WEBRTC AUTO CACHE STRING "Build WebRTC egress with GStreamer (AUTO, ON, OFF)")
set_property(CACHE GPUFLEET_WEBRTC PROPERTY STRINGS AUTO ON OFF)
set(GPUFLEET_HAVE_WEBRTC OFF)
if(NOT GPUFLEET_WEBRTC STREQUAL "OFF" AND NOT GPUFLEET_FUZZ_ONLY)
  pkg_check_modules(GST_WEBRTC IMPORTED_TARGET gstreamer-1.0 gstreamer-app-1.0 gstreamer-sdp-1.0
    gstreamer-webrtc-1.0)
  if(GST_WEBRTC_FOUND)
    set(GPUFLEET_HAVE_WEBRTC ON)
  elseif(GPUFLEET_WEBRTC STREQUAL "ON")
    message(FATAL_ERROR "GPUFLEET_WEBRTC=ON but GStreamer's WebRTC development files are missing "
      "(scripts/install-deps.sh installs them)")
  endif()
endif()
message(STATUS "gpufleet: WebRTC egress ${GPUFLEET_HAVE_WEBRTC}")
