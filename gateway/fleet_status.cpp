#include "gateway/fleet_status.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "common/files.hpp"
#include "common/json_text.hpp"
#include "store/records.hpp"

namespace gpufleet::gateway {

using nlohmann::json;

namespace {

int64_t to_int64(const std::string& text, int64_t fallback = 0) {
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  return end == text.c_str() ? fallback : value;
}

}  // namespace

BrokerState broker_state(const HashFields& broker, int64_t now_ms) {
  int64_t alive_ms = 0;
  int64_t heartbeat_ms = 1000;
  for (const auto& [field, value] : broker) {
    if (field == "alive_ms") alive_ms = to_int64(value);
    if (field == "heartbeat_ms") heartbeat_ms = to_int64(value, heartbeat_ms);
  }
  if (alive_ms == 0) return BrokerState::kUnknown;
  return now_ms - alive_ms <= 3 * heartbeat_ms + 1000 ? BrokerState::kUp : BrokerState::kDown;
}

const char* to_string(BrokerState state) {
  switch (state) {
    case BrokerState::kUp:
      return "up";
    case BrokerState::kDown:
      return "down";
    case BrokerState::kUnknown:
      break;
  }
  return "unknown";
}

HealthReport health_report(const FleetRecords& records, const Catalog& catalog, int64_t now_ms) {
  std::map<std::string, int> by_device;
  std::map<std::string, std::set<std::string>> gpus;  // device kind -> host/device names
  int workers = 0;
  json failed_models = json::array();
  for (const auto& [id, value] : records.workers) {
    const auto worker = parse_worker_record(value);
    if (!worker) continue;
    ++workers;
    ++by_device[worker->device];
    // A GPU is a device on a host; several workers may share one.
    if (worker->device != "cpu") {
      gpus[worker->device].insert(worker->host + "/" +
                                  (worker->device_name.empty() ? worker->device : worker->device_name));
    }
    for (const auto& model : worker->failed_models) {
      failed_models.push_back(
          {{"worker", worker->id}, {"name", model.name}, {"error", redact_paths(model.error)}});
    }
  }
  json queues = json::object();
  int64_t queue_depth = 0;
  for (const auto& [model, depth] : records.queues) {
    const int64_t value = to_int64(depth);
    queues[model] = value;
    queue_depth += value;
  }
  const BrokerState broker = records.redis_ok ? broker_state(records.broker, now_ms) : BrokerState::kUnknown;
  bool tts = false, video = false, lipsync = false;
  if (records.redis_ok) {
    for (const auto& [name, model] : catalog.models()) {
      if (model.workers == 0) continue;
      tts = tts || model.kind == "tts";
      video = video || model.offers("talking_head");
      lipsync = lipsync || model.offers("lip_sync");
    }
  }
  json gpu_counts = json::object();
  for (const auto& [kind, names] : gpus) gpu_counts[kind] = names.size();
  const json fleet{{"redis", records.redis_ok ? "up" : "down"},
                   {"broker", to_string(broker)},
                   {"workers", workers},
                   {"workers_by_device", by_device},
                   {"gpus", gpu_counts},
                   {"queue_depth", queue_depth},
                   {"queues", queues},
                   // configured on a worker but not loaded there, with the error
                   {"failed_models", failed_models}};

  HealthReport report;
  report.healthy = records.redis_ok && tts && broker == BrokerState::kUp;
  const std::string device = by_device.count("cuda")  ? "cuda"
                             : by_device.count("mps") ? "mps"
                             : by_device.count("cpu") ? "cpu"
                                                      : "none";
  report.body = {
      {"status", report.healthy ? "healthy" : "unhealthy"},
      {"device", device},
      {"capabilities", {{"mps", by_device.count("mps") > 0}, {"cuda", by_device.count("cuda") > 0}}},
      {"models", {{"tts", tts}, {"video", video}, {"lipsync", lipsync}}},
      {"fleet", fleet}};
  if (!records.redis_ok) report.body["error"] = {{"code", "unavailable"}, {"message", records.redis_failure}};
  return report;
}

json models_listing(const Catalog& catalog, const std::string& default_tts_model,
                    const std::string& default_video_model) {
  json models = json::array();
  for (const auto& [name, model] : catalog.models()) {
    models.push_back({{"name", name},
                      {"kind", model.kind},
                      {"languages", model.languages},
                      {"cloning", model.cloning},
                      {"sample_rate", model.sample_rate},
                      {"max_batch", model.max_batch},
                      {"parameters", model.parameters},
                      {"modes", model.modes},
                      {"workers", model.workers},
                      {"slots", model.slots},
                      {"devices", model.devices},
                      {"default", (model.kind == "tts" && name == default_tts_model) ||
                                      (model.kind == "video" && name == default_video_model)}});
  }
  return {{"models", models}};
}

json queues_summary(const std::vector<QueueHead>& queues, int64_t now_ms) {
  json summary = json::object();
  for (const auto& queue : queues) {
    const double oldest_age_s =
        queue.oldest_created_ms
            ? std::max(0.0, (static_cast<double>(now_ms) - *queue.oldest_created_ms) / 1000.0)
            : 0.0;
    summary[queue.model] = {{"depth", queue.depth}, {"oldest_age_s", oldest_age_s}};
  }
  return summary;
}

}  // namespace gpufleet::gateway
