#include "broker/recovery.hpp"

#include <algorithm>
#include <charconv>

#include "store/job_store.hpp"

namespace gpufleet::broker {
namespace {

template <typename T>
T number(const std::string& text, T fallback = 0) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() ? value : fallback;
}

constexpr size_t kChunk = 1000;

// HMGET of the recovery fields for `ids`, pipelined in chunks.
std::vector<std::vector<std::string>> read_jobs(RedisClient& redis, const RedisKeys& keys,
                                                const std::vector<std::string>& ids) {
  std::vector<std::vector<std::string>> values;
  for (size_t start = 0; start < ids.size(); start += kChunk) {
    std::vector<RedisArgs> commands;
    for (size_t i = start; i < std::min(ids.size(), start + kChunk); ++i) {
      RedisArgs command{"HMGET", keys.job(ids[i])};
      for (const auto& field : job_store::recovery_fields()) command.push_back(field);
      commands.push_back(std::move(command));
    }
    for (auto& reply : redis.pipeline(commands)) values.push_back(reply.strings());
  }
  return values;
}

}  // namespace

std::optional<QueuedJob> job_from_fields(const std::string& id, const std::vector<std::string>& values) {
  if (values.size() != job_store::recovery_fields().size() || values[0].empty() || values[2].empty()) {
    return std::nullopt;
  }
  QueuedJob job;
  job.id = id;
  job.kind = values[1];
  job.model = values[2];
  job.priority = number<int32_t>(values[3]);
  job.input_json = values[4];
  job.created_ms = number<int64_t>(values[5]);
  job.deadline_ms = number<int64_t>(values[6]);
  job.attempts = number<uint32_t>(values[7]);
  job.cancel_requested = !values[9].empty();
  job.stages_json = values[10];
  job.stage = number<uint32_t>(values[11]);
  job.stage_base = number<uint32_t>(values[12]);
  job.worker_losses = number<uint32_t>(values[13]);
  return job;
}

RecoveredState recover_state(RedisClient& redis, const RedisKeys& keys) {
  RecoveredState state;
  // The stream position first: whatever is submitted while the rest is read shows up in both, and the
  // dispatcher ignores the second copy.
  auto last = redis.command({"XREVRANGE", keys.submissions(), "+", "-", "COUNT", "1"});
  if (last.is_error()) throw RedisError("XREVRANGE: " + last.str());
  if (auto entries = last.stream_entries(); !entries.empty()) state.stream_position = entries.front().id;

  auto bindings = redis.command({"HGETALL", keys.worker_keys()});
  if (bindings.is_error()) throw RedisError("HGETALL: " + bindings.str());
  for (auto& [worker, key] : bindings.pairs()) state.worker_keys[std::move(worker)] = std::move(key);

  auto models = redis.command({"SMEMBERS", keys.queue_models()});
  std::vector<std::string> queued_ids;
  for (const auto& model : models.strings()) {
    auto ids = redis.command({"ZRANGE", keys.queue(model), "0", "-1"});
    for (auto& id : ids.strings()) queued_ids.push_back(std::move(id));
  }
  auto running_ids = redis.command({"ZRANGE", keys.running(), "0", "-1"}).strings();

  auto queued_values = read_jobs(redis, keys, queued_ids);
  for (size_t i = 0; i < queued_ids.size(); ++i) {
    if (recorded_state(queued_values[i]) != "queued") continue;
    if (auto job = job_from_fields(queued_ids[i], queued_values[i])) state.queued.push_back(std::move(*job));
  }
  std::stable_sort(state.queued.begin(), state.queued.end(),
                   [](const QueuedJob& a, const QueuedJob& b) { return a.created_ms < b.created_ms; });

  auto running_values = read_jobs(redis, keys, running_ids);
  for (size_t i = 0; i < running_ids.size(); ++i) {
    if (recorded_state(running_values[i]) != "running") continue;
    auto job = job_from_fields(running_ids[i], running_values[i]);
    if (!job) continue;
    Assignment assignment;
    assignment.worker_id = running_values[i][8];
    assignment.attempt = job->attempts;
    assignment.confirmed = true;
    assignment.job = std::move(*job);
    state.running.push_back(std::move(assignment));
  }
  return state;
}

std::vector<QueuedJob> find_unknown_queued(RedisClient& redis, const RedisKeys& keys,
                                           const std::map<std::string, size_t>& depths,
                                           const std::function<bool(const std::string&)>& known,
                                           int64_t min_age_ms) {
  std::vector<QueuedJob> found;
  const auto models = redis.command({"SMEMBERS", keys.queue_models()}).strings();
  std::vector<RedisArgs> counts;
  for (const auto& model : models) counts.push_back({"ZCARD", keys.queue(model)});
  const auto sizes = redis.pipeline(counts);
  std::vector<std::string> unknown;
  for (size_t i = 0; i < models.size(); ++i) {
    auto depth = depths.find(models[i]);
    const long long held = depth == depths.end() ? 0 : static_cast<long long>(depth->second);
    if (!sizes[i].is_integer() || sizes[i].integer() <= held) continue;
    auto ids =
        redis.command({"ZRANGEBYSCORE", keys.queue(models[i]), "-inf", "(" + std::to_string(min_age_ms)});
    for (auto& id : ids.strings()) {
      if (!known(id)) unknown.push_back(std::move(id));
    }
  }
  auto values = read_jobs(redis, keys, unknown);
  for (size_t i = 0; i < unknown.size(); ++i) {
    if (recorded_state(values[i]) != "queued") continue;
    if (auto job = job_from_fields(unknown[i], values[i])) found.push_back(std::move(*job));
  }
  return found;
}

}  // namespace gpufleet::broker
