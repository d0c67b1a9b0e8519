#pragma once
// Loads the models' LibTorch side, libgpufleet_torch.so (models/torch/runtime.hpp says why it is a plugin).

#include <memory>
#include <string>

#include "models/torch/runtime.hpp"

namespace gpufleet::worker {

// Loads the plugin from `path`, or when empty from GPUFLEET_TORCH_PLUGIN, else libgpufleet_torch.so in
// ../lib next to the running executable, else beside it. Throws ConfigError with dlerror()'s text. The
// library stays loaded for the life of the process: LibTorch and CUDA register process-wide state that must
// outlive static destructors.
std::unique_ptr<models::TorchRuntime> load_torch_runtime(const std::string& path = "");

// The plugin and the device it picks for `requested` (DEVICE). Without the plugin (a build without LibTorch,
// or a plugin that does not load): no runtime, the reason, and the CPU for "auto" or "cpu"; any other request
// throws ConfigError naming the reason, since a worker told to use a GPU must not quietly run on the CPU.
// A device the plugin refuses throws its own ConfigError.
struct TorchAndDevice {
  std::unique_ptr<models::TorchRuntime> runtime;  // null without the plugin
  std::string unavailable;                        // why there is no plugin
  models::DeviceInfo device;
};
TorchAndDevice load_torch_and_device(const std::string& requested);

}  // namespace gpufleet::worker
