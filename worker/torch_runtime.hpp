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

// Where a worker runs without the plugin (a build without LibTorch, or a plugin that does not load): on the
// CPU, for DEVICE "auto" or "cpu". Any other request throws ConfigError, naming `why` the plugin is missing:
// a worker told to use a GPU must not quietly run on the CPU.
models::DeviceInfo device_without_torch(const std::string& requested, const std::string& why);

}  // namespace gpufleet::worker
