// libgpufleet_torch.so: the worker's LibTorch side (see torch_runtime.hpp for why it is a plugin).
#include "worker/torch_runtime.hpp"

namespace gpufleet::worker {
namespace {

class LibTorchRuntime final : public TorchRuntime {
 public:
  DeviceInfo select_device(const std::string& requested) override { return worker::select_device(requested); }
  void release_cached_memory() override { worker::release_cached_memory(); }
};

}  // namespace
}  // namespace gpufleet::worker

extern "C" __attribute__((visibility("default"))) gpufleet::worker::TorchRuntime* gpufleet_create_torch_runtime() {
  return new gpufleet::worker::LibTorchRuntime();
}
