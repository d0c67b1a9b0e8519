#include "common/redis_schema.hpp"

#include <nlohmann/json.hpp>

namespace gpufleet {

std::string to_json(const JobEvent& event) {
  nlohmann::json json{{"type", "job"},   {"id", event.id},       {"state", to_string(event.state)},
                      {"kind", event.kind}, {"model", event.model}, {"at_ms", event.at_ms}};
  if (event.attempt != 0) json["attempt"] = event.attempt;
  if (!event.worker.empty()) json["worker"] = event.worker;
  if (!event.result_json.empty()) {
    json["result"] = nlohmann::json::parse(event.result_json, nullptr, /*allow_exceptions=*/false);
  }
  if (!event.error_code.empty()) {
    json["error"] = {{"code", event.error_code}, {"message", event.error_message}};
  }
  return json.dump();
}

std::vector<RedisArgs> job_transition_commands(const RedisKeys& keys, const JobEvent& event,
                                               const std::vector<std::pair<std::string, std::string>>& extra,
                                               int64_t retention_s) {
  const std::string key = keys.job(event.id);
  RedisArgs hset{"HSET", key, std::string(job_field::kState), std::string(to_string(event.state)),
                 std::string(job_field::kUpdatedMs), std::to_string(event.at_ms)};
  for (const auto& [field, value] : extra) {
    hset.push_back(field);
    hset.push_back(value);
  }
  std::vector<RedisArgs> commands;
  commands.push_back(std::move(hset));
  if (is_final(event.state) && retention_s > 0) {
    commands.push_back({"EXPIRE", key, std::to_string(retention_s)});
  }
  commands.push_back({"PUBLISH", keys.job_events(), to_json(event)});
  return commands;
}

}  // namespace gpufleet
