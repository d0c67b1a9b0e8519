#include "store/records.hpp"

#include "common/json_text.hpp"

namespace gpufleet {

using nlohmann::json;

json to_json(const ModelRecord& record) {
  return {{"name", record.name},
          {"kind", record.kind},
          {"languages", record.languages},
          {"cloning", record.cloning},
          {"sample_rate", record.sample_rate},
          {"max_batch", record.max_batch},
          {"parameters", record.parameters},
          {"modes", record.modes},
          {"workers", record.workers},
          {"slots", record.slots},
          {"devices", record.devices},
          {"updated_ms", record.updated_ms}};
}

std::optional<ModelRecord> parse_model_record(std::string_view name, std::string_view text) {
  const auto value = parse_json_or_discarded(text);
  if (!value.is_object()) return std::nullopt;
  ModelRecord record;
  record.name = std::string(name);
  try {
    // value() throws when a field holds another type than its default's: a record of the wrong shape.
    record.kind = value.value("kind", "");
    record.languages = value.value("languages", std::vector<std::string>{});
    record.cloning = value.value("cloning", false);
    record.sample_rate = value.value("sample_rate", 0u);
    record.max_batch = value.value("max_batch", 1u);
    record.parameters = value.value("parameters", std::vector<std::string>{});
    record.modes = value.value("modes", std::vector<std::string>{});
    record.workers = value.value("workers", 0u);
    record.slots = value.value("slots", 0u);
    record.devices = value.value("devices", std::vector<std::string>{});
    record.updated_ms = value.value("updated_ms", int64_t{0});
  } catch (const json::exception&) {
    return std::nullopt;
  }
  return record;
}

json to_json(const WorkerRecord& record) {
  json failed = json::array();
  for (const auto& model : record.failed_models)
    failed.push_back({{"name", model.name}, {"error", model.error}});
  return {{"id", record.id},
          {"host", record.host},
          {"pid", record.pid},
          {"device", record.device},
          {"device_name", record.device_name},
          {"slots", record.slots},
          {"active", record.active},
          {"models", record.models},
          {"running", record.running},
          {"failed_models", failed},
          {"version", record.version},
          {"state", record.state},
          {"updated_ms", record.updated_ms},
          {"heartbeat_age_ms", record.heartbeat_age_ms}};
}

std::optional<WorkerRecord> parse_worker_record(std::string_view text) {
  const auto value = parse_json_or_discarded(text);
  if (!value.is_object()) return std::nullopt;
  WorkerRecord record;
  try {
    record.id = value.value("id", "");
    record.host = value.value("host", "");
    record.pid = value.value("pid", int64_t{0});
    record.device = value.value("device", "cpu");
    record.device_name = value.value("device_name", "");
    record.slots = value.value("slots", 0u);
    record.active = value.value("active", uint64_t{0});
    record.models = value.value("models", std::vector<std::string>{});
    record.running = value.value("running", std::vector<std::string>{});
    if (auto failed = value.find("failed_models"); failed != value.end() && failed->is_array()) {
      for (const auto& model : *failed) {
        if (!model.is_object()) continue;  // one odd entry does not hide the others
        record.failed_models.push_back({model.value("name", ""), model.value("error", "")});
      }
    }
    record.version = value.value("version", "");
    record.state = value.value("state", "up");
    record.updated_ms = value.value("updated_ms", int64_t{0});
    record.heartbeat_age_ms = value.value("heartbeat_age_ms", int64_t{0});
  } catch (const json::exception&) {
    return std::nullopt;
  }
  return record;
}

}  // namespace gpufleet
