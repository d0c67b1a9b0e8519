#pragma once
// What the worker needs from LibTorch, behind a plugin boundary. LibTorch lives in a separate shared library
// (libgpufleet_torch.so) that the worker loads with dlopen(RTLD_LOCAL): PyTorch's CUDA wheels export their
// own copies of libstdc++ symbols (std::filesystem among them) that, linked into the executable, took
// precedence over the system's and crashed (seen with PyTorch 2.11 on an H100 host). Loaded locally, they
// cannot. TorchScript model backends plug in at the same boundary. Objects cross it by their C++ interfaces,
// so the plugin must be built with the worker's compiler and C++ ABI (_GLIBCXX_USE_CXX11_ABI; PyTorch 2.x
// wheels use the new one, as Debian does).

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "models/registry.hpp"
#include "models/video/face_renderer.hpp"
#include "models/vits_synthesizer.hpp"
#include "worker/device.hpp"

namespace gpufleet::worker {

class TorchRuntime {
 public:
  virtual ~TorchRuntime() = default;
  // See select_device in device.hpp.
  virtual DeviceInfo select_device(const std::string& requested) = 0;
  // See release_cached_memory in device.hpp.
  virtual void release_cached_memory() = 0;
  // See device_memory_reserved in device.hpp.
  virtual std::optional<uint64_t> memory_reserved(const DeviceInfo& device) = 0;
  // See load_torchscript_vits in torchscript_vits.hpp.
  virtual std::unique_ptr<models::VitsSynthesizer> load_vits(const std::filesystem::path& file,
                                                             const std::string& device) = 0;
  // Models that live wholly in the plugin (backend "xtts", see xtts_model.hpp). Throws ConfigError for a
  // backend the plugin does not have.
  virtual std::unique_ptr<models::Model> load_model(const models::ModelSpec& spec,
                                                    const std::string& device) = 0;
  // Neural talking-head renderers (backends "liveportrait", "wav2lip", see torchscript_video.hpp); the video
  // job around them is models/video/talking_head.hpp.
  virtual std::unique_ptr<video::FaceRenderer> load_face_renderer(const models::ModelSpec& spec,
                                                                  const std::string& device) = 0;
};

// Loads the plugin from `path`, or when empty from GPUFLEET_TORCH_PLUGIN, else libgpufleet_torch.so in
// ../lib next to the running executable, else beside it. Throws ConfigError with dlerror()'s text.
std::unique_ptr<TorchRuntime> load_torch_runtime(const std::string& path = "");

}  // namespace gpufleet::worker

// The plugin's single entry point.
extern "C" gpufleet::worker::TorchRuntime* gpufleet_create_torch_runtime();
