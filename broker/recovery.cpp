#include "broker/recovery.hpp"

#include <algorithm>

#include "store/job_store.hpp"

namespace gpufleet::broker {
namespace {

constexpr size_t kChunk = 1000;

// The records of `ids`, pipelined in chunks.
std::vector<job_store::JobRecord> read_jobs(RedisClient& redis, const RedisKeys& keys,
                                            const std::vector<std::string>& ids) {
  std::vector<job_store::JobRecord> records;
  for (size_t start = 0; start < ids.size(); start += kChunk) {
    std::vector<RedisArgs> commands;
    for (size_t i = start; i < std::min(ids.size(), start + kChunk); ++i) {
      commands.push_back(job_store::read_record_command(keys, ids[i]));
    }
    for (auto& reply : redis.pipeline(commands))
      records.push_back(job_store::record_from_hmget(reply.strings()));
  }
  return records;
}

}  // namespace

std::optional<QueuedJob> job_from_record(const std::string& id, const job_store::JobRecord& record) {
  if (record.state.empty() || record.model.empty()) return std::nullopt;
  QueuedJob job;
  job.id = id;
  job.kind = record.kind;
  job.model = record.model;
  job.priority = record.priority;
  job.input_json = record.input_json;
  job.created_ms = record.created_ms;
  job.deadline_ms = record.deadline_ms;
  job.attempts = record.attempts;
  job.cancel_requested = record.cancel_requested;
  job.stages_json = record.stages_json;
  job.stage = record.stage;
  job.stage_base = record.stage_base;
  job.worker_losses = record.worker_losses;
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

  auto queued = read_jobs(redis, keys, queued_ids);
  for (size_t i = 0; i < queued_ids.size(); ++i) {
    if (queued[i].state != "queued") continue;
    if (auto job = job_from_record(queued_ids[i], queued[i])) state.queued.push_back(std::move(*job));
  }
  std::stable_sort(state.queued.begin(), state.queued.end(),
                   [](const QueuedJob& a, const QueuedJob& b) { return a.created_ms < b.created_ms; });

  auto running = read_jobs(redis, keys, running_ids);
  for (size_t i = 0; i < running_ids.size(); ++i) {
    if (running[i].state != "running") continue;
    auto job = job_from_record(running_ids[i], running[i]);
    if (!job) continue;
    Assignment assignment;
    assignment.worker_id = running[i].worker;
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
  counts.reserve(models.size());
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
  auto records = read_jobs(redis, keys, unknown);
  for (size_t i = 0; i < unknown.size(); ++i) {
    if (records[i].state != "queued") continue;
    if (auto job = job_from_record(unknown[i], records[i])) found.push_back(std::move(*job));
  }
  return found;
}

}  // namespace gpufleet::broker
