#include "worker/torch_runtime.hpp"

#include <dlfcn.h>

#include <filesystem>

#include "common/config.hpp"
#include "common/error.hpp"

namespace gpufleet::worker {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPluginName = "libgpufleet_torch.so";

std::string default_plugin_path() {
  if (auto path = env_value("GPUFLEET_TORCH_PLUGIN")) return *path;
  std::error_code ec;
  const fs::path exe_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (const auto& candidate : {exe_dir.parent_path() / "lib" / kPluginName, exe_dir / kPluginName}) {
    if (fs::exists(candidate, ec)) return candidate.string();
  }
  return kPluginName;  // let the loader search LD_LIBRARY_PATH
}

// Keeps the library loaded for as long as the runtime it created lives.
class PluginRuntime final : public TorchRuntime {
 public:
  PluginRuntime(void* handle, TorchRuntime* runtime) : handle_(handle), runtime_(runtime) {}
  ~PluginRuntime() override {
    runtime_.reset();
    // Not dlclose()d: LibTorch and CUDA register process-wide state that must outlive static destructors.
    (void)handle_;
  }
  DeviceInfo select_device(const std::string& requested) override {
    return runtime_->select_device(requested);
  }
  void release_cached_memory() override { runtime_->release_cached_memory(); }
  std::optional<uint64_t> memory_reserved(const DeviceInfo& device) override {
    return runtime_->memory_reserved(device);
  }
  std::unique_ptr<models::VitsSynthesizer> load_vits(const std::filesystem::path& file,
                                                     const std::string& device) override {
    return runtime_->load_vits(file, device);
  }
  std::unique_ptr<models::Model> load_model(const models::ModelSpec& spec,
                                            const std::string& device) override {
    return runtime_->load_model(spec, device);
  }
  std::unique_ptr<video::FaceRenderer> load_face_renderer(const models::ModelSpec& spec,
                                                          const std::string& device) override {
    return runtime_->load_face_renderer(spec, device);
  }

 private:
  void* handle_;
  std::unique_ptr<TorchRuntime> runtime_;
};

}  // namespace

std::unique_ptr<TorchRuntime> load_torch_runtime(const std::string& path) {
  const std::string plugin = path.empty() ? default_plugin_path() : path;
  void* handle = ::dlopen(plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) throw ConfigError("cannot load the LibTorch plugin " + plugin + ": " + ::dlerror());
  auto* create = reinterpret_cast<TorchRuntime* (*)()>(::dlsym(handle, "gpufleet_create_torch_runtime"));
  if (create == nullptr) throw ConfigError(plugin + " has no gpufleet_create_torch_runtime");
  return std::make_unique<PluginRuntime>(handle, create());
}

}  // namespace gpufleet::worker
