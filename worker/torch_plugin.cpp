// libgpufleet_torch.so: the worker's LibTorch side (see torch_runtime.hpp for why it is a plugin).
#include "common/error.hpp"
#include "worker/torch_runtime.hpp"
#include "worker/torchscript_video.hpp"
#include "worker/torchscript_vits.hpp"
#include "worker/xtts_model.hpp"

namespace gpufleet::worker {
namespace {

class LibTorchRuntime final : public TorchRuntime {
 public:
  DeviceInfo select_device(const std::string& requested) override { return worker::select_device(requested); }
  void release_cached_memory() override { worker::release_cached_memory(); }
  std::optional<uint64_t> memory_reserved(const DeviceInfo& device) override {
    return device_memory_reserved(device);
  }
  std::unique_ptr<models::VitsSynthesizer> load_vits(const std::filesystem::path& file,
                                                     const std::string& device) override {
    return load_torchscript_vits(file, device);
  }
  std::unique_ptr<models::Model> load_model(const models::ModelSpec& spec,
                                            const std::string& device) override {
    if (spec.backend == "xtts") return load_xtts_model(spec, device);
    throw ConfigError("the LibTorch plugin has no backend '" + spec.backend + "'");
  }
  std::unique_ptr<video::FaceRenderer> load_face_renderer(const models::ModelSpec& spec,
                                                          const std::string& device) override {
    return load_torchscript_face_renderer(spec, device);
  }
};

}  // namespace
}  // namespace gpufleet::worker

extern "C" __attribute__((visibility("default"))) gpufleet::worker::TorchRuntime*
gpufleet_create_torch_runtime() {
  return new gpufleet::worker::LibTorchRuntime();
}
