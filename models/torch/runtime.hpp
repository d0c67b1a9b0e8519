#pragma once
// What the models need from LibTorch, behind a plugin boundary: this interface is implemented once, in
// libgpufleet_torch.so (models/torch/plugin.cpp, the only library that links LibTorch), which the worker
// loads with dlopen(RTLD_LOCAL) (worker/torch_runtime.hpp). PyTorch's CUDA wheels export their own copies of
// libstdc++ symbols (std::filesystem among them) that, linked into the executable, took precedence over the
// system's and crashed (seen with PyTorch 2.11 on an H100 host); loaded locally, they cannot. Objects cross
// the boundary by their C++ interfaces, so the plugin must be built with the worker's compiler and C++ ABI
// (_GLIBCXX_USE_CXX11_ABI; PyTorch 2.x wheels use the new one, as Debian does). This header is torch-free.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "models/model.hpp"
#include "models/torch/device.hpp"

namespace gpufleet::video {
class FaceRenderer;
}  // namespace gpufleet::video

namespace gpufleet::models {

struct ModelSpec;
class VitsSynthesizer;

class TorchRuntime {
 public:
  virtual ~TorchRuntime() = default;
  // See select_device in device.hpp.
  virtual DeviceInfo select_device(const std::string& requested) = 0;
  // See release_cached_memory in device.hpp.
  virtual void release_cached_memory() = 0;
  // See device_memory_reserved in device.hpp.
  virtual std::optional<uint64_t> memory_reserved(const DeviceInfo& device) = 0;
  // The "piper" backend's network (models/piper/torch/torchscript_vits.hpp).
  virtual std::unique_ptr<VitsSynthesizer> load_vits(const std::filesystem::path& file,
                                                     const std::string& device) = 0;
  // The "xtts" backend, which lives wholly on this side (models/xtts/torch/xtts_model.hpp).
  virtual std::unique_ptr<Model> load_xtts(const ModelSpec& spec, const std::string& device) = 0;
  // The "liveportrait" and "wav2lip" backends' renderers (models/video/torch/torchscript_video.hpp); the
  // video job around them is models/video/talking_head.hpp.
  virtual std::unique_ptr<video::FaceRenderer> load_face_renderer(const ModelSpec& spec,
                                                                  const std::string& device) = 0;
};

}  // namespace gpufleet::models

// The plugin's single entry point; the caller owns the object.
extern "C" gpufleet::models::TorchRuntime* gpufleet_create_torch_runtime();
