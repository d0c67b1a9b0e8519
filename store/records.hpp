#pragma once
// The JSON records the broker keeps in Redis for everyone else to read: one per model of the catalog
// (keys().models()) and one per registered worker (keys().workers()). The broker writes them with to_json;
// the gateway (catalog, /health, /v1/workers) reads them with the parse functions, which take a record of
// the wrong shape as no record instead of throwing: Redis's contents are checked like any other input.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpufleet {

// A model the fleet serves (or served: it stays with 0 workers so that jobs for it still queue).
struct ModelRecord {
  std::string name;
  std::string kind;                    // "tts", "video", "noop"
  std::vector<std::string> languages;  // empty: any
  bool cloning = false;
  uint32_t sample_rate = 0;
  uint32_t max_batch = 1;
  std::vector<std::string> parameters;  // input fields of the model's own
  std::vector<std::string> modes;       // a video model's
  uint32_t workers = 0;                 // serving it now
  uint32_t slots = 0;                   // their slots in all
  std::vector<std::string> devices;     // their device kinds
  int64_t updated_ms = 0;
};
nlohmann::json to_json(const ModelRecord& record);
// `name` is the hash field the record is stored under (it wins over a "name" inside).
std::optional<ModelRecord> parse_model_record(std::string_view name, std::string_view text);

// A model a worker was configured with but could not load.
struct FailedModelRecord {
  std::string name;
  std::string error;
};

// A registered worker as of the broker's last snapshot.
struct WorkerRecord {
  std::string id;
  std::string host;
  int64_t pid = 0;
  std::string device;  // "cpu", "cuda", "mps"
  std::string device_name;
  uint32_t slots = 0;
  uint64_t active = 0;               // jobs it runs now
  std::vector<std::string> models;   // served
  std::vector<std::string> running;  // job ids
  std::vector<FailedModelRecord> failed_models;
  std::string version;
  std::string state = "up";
  int64_t updated_ms = 0;
  int64_t heartbeat_age_ms = 0;
};
nlohmann::json to_json(const WorkerRecord& record);
std::optional<WorkerRecord> parse_worker_record(std::string_view text);

}  // namespace gpufleet
