#pragma once
// What the gateway says about the fleet as a whole (GET /health, GET /v1/models, GET /v1/workers), computed
// from the records the broker keeps in Redis and from the model catalog. Pure functions: the gateway reads
// the hashes and answers; these decide what the answer says, and are tested without Redis or sockets
// (tests/unit/fleet_status_test.cpp).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/catalog.hpp"

namespace gpufleet::gateway {

// A Redis hash as HGETALL answers it: field, value.
using HashFields = std::vector<std::pair<std::string, std::string>>;

// Whether the broker is alive, from its hash (keys().broker(): alive_ms, heartbeat_ms): kUnknown before it
// ever wrote one, kDown when it missed three heartbeats and a second.
enum class BrokerState { kUnknown, kUp, kDown };
BrokerState broker_state(const HashFields& broker, int64_t now_ms);
const char* to_string(BrokerState state);

// The Redis records /health is made from; `redis_ok` false (with `redis_failure`) when they could not be
// read, and then the hashes are empty.
struct FleetRecords {
  bool redis_ok = true;
  std::string redis_failure;
  HashFields workers;  // keys().workers(): worker id -> its JSON record
  HashFields queues;   // keys().queues(): model -> queued jobs
  HashFields broker;   // keys().broker()
};

// GET /health: the original service's shape (status, device, capabilities, models) plus `fleet`. Healthy
// when Redis answers, the broker is up and some worker serves a TTS model (the original service's one
// duty); `status_code` 200 then, 503 otherwise. Failed models' errors are shown without server paths, since
// /health is open to anyone.
struct HealthReport {
  bool healthy = false;
  nlohmann::json body;
  unsigned status_code() const { return healthy ? 200 : 503; }
};
HealthReport health_report(const FleetRecords& records, const Catalog& catalog, int64_t now_ms);

// GET /v1/models: every model of the catalog, `default` marking the default model of its kind.
nlohmann::json models_listing(const Catalog& catalog, const std::string& default_tts_model,
                              const std::string& default_video_model);

// One model's queue for GET /v1/workers: its depth and the age of its oldest job.
struct QueueHead {
  std::string model;
  int64_t depth = 0;
  std::optional<double> oldest_created_ms;  // the oldest queued job's score (created_ms); none when empty
};
nlohmann::json queues_summary(const std::vector<QueueHead>& queues, int64_t now_ms);

}  // namespace gpufleet::gateway
