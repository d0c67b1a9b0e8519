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

}  // namespace

std::unique_ptr<models::TorchRuntime> load_torch_runtime(const std::string& path) {
#ifndef GPUFLEET_HAVE_TORCH
  if (path.empty() && !env_value("GPUFLEET_TORCH_PLUGIN")) {
    throw ConfigError(
        "this build has no LibTorch (configured with GPUFLEET_TORCH=OFF or without libtorch-dev)");
  }
#endif
  const std::string plugin = path.empty() ? default_plugin_path() : path;
  void* handle = ::dlopen(plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  // dlerror() is not thread-safe; the worker loads its plugin once, before it starts any thread.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  if (handle == nullptr) throw ConfigError("cannot load the LibTorch plugin " + plugin + ": " + ::dlerror());
  auto* create =
      reinterpret_cast<models::TorchRuntime* (*)()>(::dlsym(handle, "gpufleet_create_torch_runtime"));
  if (create == nullptr) throw ConfigError(plugin + " has no gpufleet_create_torch_runtime");
  return std::unique_ptr<models::TorchRuntime>(create());
}

TorchAndDevice load_torch_and_device(const std::string& requested) {
  TorchAndDevice loaded;
  try {
    loaded.runtime = load_torch_runtime();
  } catch (const ConfigError& error) {
    loaded.unavailable = error.what();
  }
  if (loaded.runtime) {
    loaded.device = loaded.runtime->select_device(requested);
  } else if (requested != "auto" && requested != "cpu") {
    throw ConfigError("DEVICE=" + requested + " needs the LibTorch plugin: " + loaded.unavailable);
  } else {
    loaded.device.name = "cpu";  // DeviceInfo's type is "cpu" already
  }
  return loaded;
}

}  // namespace gpufleet::worker
