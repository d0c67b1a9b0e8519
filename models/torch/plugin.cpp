// libgpufleet_torch.so: the models' LibTorch side (models/torch/runtime.hpp says why it is a plugin).
#include "models/piper/torch/torchscript_vits.hpp"
#include "models/torch/runtime.hpp"
#include "models/video/face_renderer.hpp"
#include "models/video/torch/torchscript_video.hpp"
#include "models/xtts/torch/xtts_model.hpp"

namespace gpufleet::models {
namespace {

class LibTorchRuntime final : public TorchRuntime {
 public:
  DeviceInfo select_device(const std::string& requested) override { return models::select_device(requested); }
  void release_cached_memory() override { models::release_cached_memory(); }
  std::optional<uint64_t> memory_reserved(const DeviceInfo& device) override {
    return device_memory_reserved(device);
  }
  std::unique_ptr<VitsSynthesizer> load_vits(const std::filesystem::path& file,
                                             const std::string& device) override {
    return load_torchscript_vits(file, device);
  }
  std::unique_ptr<Model> load_xtts(const ModelSpec& spec, const std::string& device) override {
    return xtts::load_xtts_model(spec, device);
  }
  std::unique_ptr<video::FaceRenderer> load_face_renderer(const ModelSpec& spec,
                                                          const std::string& device) override {
    return video::load_torchscript_face_renderer(spec, device);
  }
};

}  // namespace
}  // namespace gpufleet::models

extern "C" __attribute__((visibility("default"))) gpufleet::models::TorchRuntime*
gpufleet_create_torch_runtime() {
  return new gpufleet::models::LibTorchRuntime();
}
