// gpufleet-worker: loads its models, picks its device and serves jobs from the broker.
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/config.hpp"
#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/usage.hpp"
#include "models/backend_registry.hpp"
#include "worker/torch_runtime.hpp"
#include "worker/worker.hpp"
#ifdef GPUFLEET_HAVE_VIDEO
#include "common/json_text.hpp"
#include "models/video/talking_head.hpp"
#endif

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) {
  g_stop.store(true);
}
}  // namespace

namespace {

constexpr std::string_view kUsage =
    "usage: gpufleet-worker [--print-device] [-h|--help]\n"
    "  Loads its models, picks its device and serves jobs from the broker until SIGINT or SIGTERM (then\n"
    "  drains for DRAIN_GRACE_MS). --print-device: prints the device this host would use, as JSON, and "
    "exits.\n"
    "  Every other setting comes from the environment (docs/operations.md), chiefly\n"
    "    BROKER_URL (or BROKER_PORT) BROKER_CURVE_PUBLIC_KEY WORKER_CURVE_SECRET_KEY WORKER_CONFIG\n"
    "    WORKER_MODELS WORKER_SLOTS WORKER_ID DEVICE STORAGE_ROOT INPUT_ROOT VOICE_STORE DRAIN_GRACE_MS\n"
    "    WORKER_METRICS_PORT NOOP_DRILLS OPENCV_HAAR_DIR GPUFLEET_TORCH_PLUGIN LOG_LEVEL LOG_FORMAT\n";

// `gpufleet-worker --print-device`: which device this host would use, as JSON, without joining a fleet.
int print_device() {
  using namespace gpufleet;
  const auto device = worker::load_torch_and_device(env_string("DEVICE", "auto")).device;
  nlohmann::json json{{"device", device.type},
                      {"name", device.name},
                      {"cuda_available", device.cuda_available},
                      {"cuda_devices", device.cuda_devices},
                      {"mps_available", device.mps_available},
                      {"torch_version", device.torch_version}};
  std::cout << gpufleet::dump_json(json) << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (gpufleet::asks_for_help(argc, argv)) return gpufleet::print_usage(kUsage);
  if (argc > 2 || (argc == 2 && std::string(argv[1]) != "--print-device")) {
    return gpufleet::usage_error("gpufleet-worker", std::string("unknown argument ") + argv[argc - 1],
                                 kUsage);
  }
  gpufleet::init_logging("worker");
  if (argc > 1) {
    try {
      return print_device();
    } catch (const std::exception& error) {
      spdlog::critical("{}", error.what());
      return 1;
    }
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  using namespace gpufleet;
  try {
    auto config = worker::WorkerConfig::from_env();
    set_log_worker_id(config.worker_id);
    // Without the LibTorch plugin the worker still serves what needs none (espeak, noop, portrait) on the
    // CPU; a model that needs it fails to load and is reported, like any other.
    auto loaded_torch = worker::load_torch_and_device(config.device);
    const auto& torch = loaded_torch.runtime;
    const models::DeviceInfo device = loaded_torch.device;
    if (!torch) {
      spdlog::warn("{}; serving only the models that need no LibTorch, on the CPU", loaded_torch.unavailable);
    }
    std::map<std::string, std::unique_ptr<models::Model>> loaded;
    std::vector<protocol::FailedModel> failed;
    auto backends = models::BackendRegistry::standard();
#ifdef GPUFLEET_HAVE_VIDEO
    video::add_video_backends(backends);
#endif
    models::ModelServices services;
    services.torch = torch.get();
    services.torch_unavailable = loaded_torch.unavailable;
    services.device = device.name;
    services.voice_store = config.voice_store;
    services.noop_drills = env_string("NOOP_DRILLS", "0") == "1";
    services.haar_cascade_dir = env_string("OPENCV_HAAR_DIR", "");
    for (const auto& spec : config.models) {
      try {
        auto model = backends.load(spec, services);
        if (spec.warmup) model->warm_up();
        spdlog::info("model {} loaded ({}, {})", spec.name, spec.backend,
                     spec.warmup ? "warmed up" : "no warm-up");
        loaded[spec.name] = std::move(model);
      } catch (const std::exception& error) {
        // A model that fails to load is reported and not announced; the worker serves the rest.
        spdlog::error("model {} failed to load: {}", spec.name, error.what());
        failed.push_back(protocol::FailedModel{spec.name, error.what()});
      }
    }
    if (loaded.empty()) {
      spdlog::critical("no model could be loaded; exiting");
      return 1;
    }
    auto* runtime = torch.get();
    auto runner = std::make_unique<worker::JobRunner>(
        std::move(loaded), config.storage_root,
        [runtime] {
          if (runtime != nullptr) runtime->release_cached_memory();
        },
        config.input_root);
    auto worker = std::make_unique<worker::Worker>(config, device, std::move(runner), std::move(failed));
    worker->set_memory_probe([runtime, device] {
      return runtime != nullptr ? runtime->memory_reserved(device) : std::optional<uint64_t>();
    });
    worker->run(g_stop);
    // Not destroyed: a model call stuck past the drain grace would keep its executor thread, and so the
    // process, alive for ever. Everything that matters was sent or handed back before run() returned.
    spdlog::shutdown();
    std::_Exit(0);
  } catch (const std::exception& error) {
    spdlog::critical("worker failed: {}", error.what());
    return 1;
  }
}
