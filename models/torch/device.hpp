#pragma once
// Which accelerator a worker runs its models on, chosen through LibTorch. This header is torch-free so that
// only device.cpp pays for LibTorch's headers.

#include <cstdint>
#include <optional>
#include <string>

namespace gpufleet::models {

struct DeviceInfo {
  std::string type = "cpu";  // "cuda", "mps" or "cpu"
  int index = 0;
  std::string name;  // e.g. "cuda:0"
  bool cuda_available = false;
  int cuda_devices = 0;
  bool mps_available = false;
  std::string torch_version;
};

// `requested` is "auto" (CUDA, then MPS, then CPU), "cuda", "cuda:N", "mps" or "cpu".
// Throws ConfigError when the requested device is not available on this host.
DeviceInfo select_device(const std::string& requested);

// Returns the device allocator's cached blocks to the driver (CUDA); a no-op where there is no such cache.
// Called after an out-of-memory failure so that the next job starts from a clean pool.
void release_cached_memory();

// Bytes the device allocator holds on a CUDA device (reserved by LibTorch's caching allocator); nullopt for
// other devices and builds without CUDA.
std::optional<uint64_t> device_memory_reserved(const DeviceInfo& device);

}  // namespace gpufleet::models
