#include "store/redis_schema.hpp"

#include <nlohmann/json.hpp>

#include "common/json_text.hpp"

namespace gpufleet {

namespace {

void append_field(std::string& out, std::string_view name) {
  out.push_back(',');
  append_json_string(out, name);
  out.push_back(':');
}

}  // namespace

// Written by hand: it runs for every state change of every job, and building an nlohmann object for it cost
// more than the rest of the broker's work per job.
std::string to_json(const JobEvent& event) {
  std::string out;
  out.reserve(192 + event.result_json.size() + event.error_message.size());
  out.append("{\"type\":\"job\",\"id\":");
  append_json_string(out, event.id);
  append_field(out, "state");
  append_json_string(out, to_string(event.state));
  append_field(out, "kind");
  append_json_string(out, event.kind);
  append_field(out, "model");
  append_json_string(out, event.model);
  append_field(out, "at_ms");
  out.append(std::to_string(event.at_ms));
  if (event.attempt != 0) {
    append_field(out, "attempt");
    out.append(std::to_string(event.attempt));
  }
  if (!event.worker.empty()) {
    append_field(out, "worker");
    append_json_string(out, event.worker);
  }
  // The result comes from a worker: embedded only if it is a JSON object, so a broken worker cannot break
  // every subscriber's parser.
  if (!event.result_json.empty() && event.result_json.front() == '{' &&
      nlohmann::json::accept(event.result_json)) {
    append_field(out, "result");
    out.append(event.result_json);
  }
  if (event.stage) {
    append_field(out, "stage");
    out.append(std::to_string(*event.stage));
  }
  if (event.progress_total > 0) {
    append_field(out, "progress");
    out.append("{\"done\":" + std::to_string(event.progress_done) +
               ",\"total\":" + std::to_string(event.progress_total) + "}");
  }
  if (!event.error_code.empty()) {
    append_field(out, "error");
    out.append("{\"code\":");
    append_json_string(out, event.error_code);
    out.append(",\"message\":");
    append_json_string(out, event.error_message);
    out.push_back('}');
  }
  out.push_back('}');
  return out;
}

std::vector<RedisArgs> job_transition_commands(const RedisKeys& keys, const JobEvent& event,
                                               const std::vector<std::pair<std::string, std::string>>& extra,
                                               int64_t retention_s) {
  const std::string key = keys.job(event.id);
  RedisArgs hset{"HSET",
                 key,
                 std::string(job_field::kState),
                 std::string(to_string(event.state)),
                 std::string(job_field::kUpdatedMs),
                 std::to_string(event.at_ms)};
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
