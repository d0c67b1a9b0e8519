#include "models/torch/device.hpp"

#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <charconv>

// Only a LibTorch built with CUDA: Debian's CPU LibTorch ships the c10/cuda headers but not the header its
// CUDA build generates, and a machine may have the CUDA toolkit's headers beside a CPU LibTorch.
#if __has_include(<c10/cuda/impl/cuda_cmake_macros.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define GPUFLEET_HAS_CUDA_ALLOCATOR 1
#endif

#include "common/error.hpp"

namespace gpufleet::models {

DeviceInfo select_device(const std::string& requested) {
  DeviceInfo info;
  info.torch_version = TORCH_VERSION;
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.mps_available = at::hasMPS();

  std::string kind = requested;
  if (auto colon = requested.find(':'); colon != std::string::npos) {
    kind = requested.substr(0, colon);
    const std::string index = requested.substr(colon + 1);
    auto [ptr, ec] = std::from_chars(index.data(), index.data() + index.size(), info.index);
    if (kind != "cuda" || ec != std::errc() || ptr != index.data() + index.size() || info.index < 0) {
      throw ConfigError("DEVICE='" + requested + "': expected auto, cuda, cuda:N, mps or cpu");
    }
  }
  if (kind == "auto") {
    kind = info.cuda_available ? "cuda" : info.mps_available ? "mps" : "cpu";
  }
  if (kind == "cuda") {
    if (!info.cuda_available) throw ConfigError("DEVICE=" + requested + " but LibTorch sees no CUDA device");
    if (info.index >= info.cuda_devices) {
      throw ConfigError("DEVICE=" + requested + " but only " + std::to_string(info.cuda_devices) +
                        " CUDA device(s) exist");
    }
  } else if (kind == "mps") {
    if (!info.mps_available) throw ConfigError("DEVICE=mps but this LibTorch has no MPS device");
  } else if (kind != "cpu") {
    throw ConfigError("DEVICE='" + requested + "': expected auto, cuda, cuda:N, mps or cpu");
  }
  info.type = kind;
  info.name = kind == "cuda" ? "cuda:" + std::to_string(info.index) : kind;
  return info;
}

void release_cached_memory() {
#ifdef GPUFLEET_HAS_CUDA_ALLOCATOR
  if (torch::cuda::is_available()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
}

std::optional<uint64_t> device_memory_reserved(const DeviceInfo& device) {
#ifdef GPUFLEET_HAS_CUDA_ALLOCATOR
  if (device.type == "cuda" && torch::cuda::is_available()) {
    // Stat index 0 is the aggregate over pool types, in LibTorch 1.13 and 2.x alike.
    const auto stats =
        c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device.index));
    return static_cast<uint64_t>(stats.reserved_bytes[0].current);
  }
#else
  (void)device;
#endif
  return std::nullopt;
}

}  // namespace gpufleet::models
