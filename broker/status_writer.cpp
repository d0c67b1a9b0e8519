#include "broker/status_writer.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/json_text.hpp"
#include "store/job_store.hpp"
#include "store/records.hpp"

namespace gpufleet::broker {
namespace {

// Bounded so that a long Redis outage costs memory in proportion to this, not to the job rate.
constexpr size_t kMaxBacklog = 1'000'000;

std::string worker_record(const WorkerState& worker, int64_t now_ms, int64_t heartbeat_age_ms) {
  WorkerRecord record;
  record.id = worker.ready.worker_id;
  record.host = worker.ready.host;
  record.pid = worker.ready.pid;
  record.device = worker.ready.device;
  record.device_name = worker.ready.device_name;
  record.slots = worker.ready.slots;
  record.active = worker.running.size();
  for (const auto& model : worker.ready.models) record.models.push_back(model.name);
  for (const auto& [job_id, assignment] : worker.running) record.running.push_back(job_id);
  for (const auto& model : worker.ready.failed_models)
    record.failed_models.push_back({model.name, model.error});
  record.version = worker.ready.version;
  record.updated_ms = now_ms;
  record.heartbeat_age_ms = heartbeat_age_ms;
  return dump_json(to_json(record));
}

// Events of a pipeline job say which stage they are about.
JobEvent& with_stage(JobEvent& event, const QueuedJob& job) {
  if (!job.stages_json.empty()) event.stage = job.stage;
  return event;
}

}  // namespace

StatusWriter::StatusWriter(RedisEndpoint endpoint, int64_t retention_s)
    : redis_(std::move(endpoint)), keys_(redis_.keys()), retention_s_(retention_s) {
  redis_.enable_job_store_scripts();
}

void StatusWriter::reset_catalog() {
  try {
    auto reply = redis_.command({"HGETALL", keys_.models()});
    for (const auto& [name, value] : reply.pairs()) served_models_[name] = value;
  } catch (const RedisError& error) {
    spdlog::warn("cannot read the model catalog at start: {}", error.what());
  }
}

void StatusWriter::push_group(job_store::Batch batch, std::vector<std::string> group, GroupHandler handler) {
  constexpr size_t kMaxGroups = 512;
  if (!open_batch_ || open_batch_->kind != batch || open_batch_->handlers->size() >= kMaxGroups) {
    auto handlers = std::make_shared<std::vector<GroupHandler>>();
    push(job_store::batch_command(keys_, batch), [handlers](const RedisReply& reply) {
      for (size_t i = 0; i < handlers->size(); ++i) {
        if ((*handlers)[i]) (*handlers)[i](reply.element_integer(i));
      }
    });
    open_batch_ = OpenBatch{batch, handlers};
  }
  RedisArgs& command = backlog_.back();
  command.insert(command.end(), std::make_move_iterator(group.begin()), std::make_move_iterator(group.end()));
  open_batch_->handlers->push_back(std::move(handler));
}

void StatusWriter::push(RedisArgs args, ReplyHandler handler) {
  close_batch();
  if (backlog_.size() >= kMaxBacklog) {
    // Only status writes without a handler (snapshots, worker registry) may be dropped: job-store
    // operations are what the fleet's guarantees rest on, and they are bounded by the jobs in flight.
    size_t dropped = 0;
    for (size_t i = 0; i < backlog_.size() && dropped < kMaxBacklog / 10; ++i) {
      if (!handlers_[i] && backlog_[i].front() != "EVALSHA") {
        backlog_[i].clear();
        ++dropped;
      }
    }
    std::vector<RedisArgs> kept;
    std::vector<ReplyHandler> kept_handlers;
    for (size_t i = 0; i < backlog_.size(); ++i) {
      if (backlog_[i].empty()) continue;
      kept.push_back(std::move(backlog_[i]));
      kept_handlers.push_back(std::move(handlers_[i]));
    }
    backlog_.swap(kept);
    handlers_.swap(kept_handlers);
    dropped_ += dropped;
    spdlog::error("redis backlog full: dropped {} status writes ({} so far)", dropped, dropped_);
  }
  backlog_.push_back(std::move(args));
  handlers_.push_back(std::move(handler));
}

void StatusWriter::record_dispatch(const Assignment& assignment,
                                   std::function<void(job_store::DispatchVerdict)> handler) {
  const int64_t now = unix_ms();
  JobEvent event{assignment.job.id,
                 JobState::kRunning,
                 assignment.job.kind,
                 assignment.job.model,
                 now,
                 assignment.attempt,
                 assignment.worker_id,
                 {},
                 {},
                 {}};
  with_stage(event, assignment.job);
  push_group(job_store::Batch::kDispatch,
             job_store::dispatch_group(assignment.job.id, assignment.attempt, assignment.worker_id, now,
                                       to_json(event)),
             [handler = std::move(handler)](std::optional<long long> reply) {
               if (handler) handler(job_store::parse_dispatch_verdict(reply));
             });
}

void StatusWriter::record_progress(const Assignment& assignment, uint64_t done, uint64_t total) {
  JobEvent event{assignment.job.id,
                 JobState::kRunning,
                 assignment.job.kind,
                 assignment.job.model,
                 unix_ms(),
                 assignment.attempt,
                 assignment.worker_id,
                 {},
                 {},
                 {},
                 done,
                 total};
  with_stage(event, assignment.job);
  push(
      job_store::progress_command(keys_, assignment.job.id, assignment.attempt, done, total, to_json(event)));
}

void StatusWriter::record_final(const QueuedJob& job, JobState expected, uint32_t attempt,
                                const std::string& worker, const Outcome& outcome,
                                std::function<void(job_store::FinishVerdict)> handler) {
  job_store::Completion completion;
  completion.id = job.id;
  completion.expected = expected;
  completion.attempt = attempt;
  completion.worker = worker;
  completion.final_state = outcome.state;
  completion.now_ms = unix_ms();
  completion.retention_s = retention_s_;
  JobEvent event{job.id,
                 outcome.state,
                 job.kind,
                 job.model,
                 completion.now_ms,
                 attempt,
                 worker,
                 outcome.result_json,
                 outcome.error_code,
                 outcome.error_message};
  completion.event = to_json(with_stage(event, job));
  if (outcome.state == JobState::kSucceeded) {
    completion.fields.emplace_back(job_field::kResult, outcome.result_json);
  } else {
    completion.fields.emplace_back(job_field::kErrorCode, outcome.error_code);
    completion.fields.emplace_back(job_field::kErrorMessage, outcome.error_message);
  }
  if (expected == JobState::kRunning)
    completion.fields.emplace_back(job_field::kRunMs, std::to_string(outcome.run_ms));
  if (metrics_ != nullptr) {
    // Counted once the job store has recorded it: a refused (stale) or repeated outcome is not a new job.
    handler = [metrics = metrics_, kind = job.kind.empty() ? "unknown" : job.kind,
               model = job.model.empty() ? "unknown" : job.model,
               state = std::string(to_string(outcome.state)),
               run_s = expected == JobState::kRunning ? outcome.run_ms / 1000.0 : -1.0,
               handler = std::move(handler)](job_store::FinishVerdict verdict) {
      if (verdict == job_store::FinishVerdict::kRecorded) {
        metrics->increment("gpufleet_jobs_total", {{"kind", kind}, {"model", model}, {"state", state}});
        if (run_s >= 0) metrics->observe("gpufleet_job_run_seconds", {{"model", model}}, run_s);
      }
      if (handler) handler(verdict);
    };
  }
  push_group(job_store::Batch::kFinish, job_store::finish_group(completion),
             [handler = std::move(handler)](std::optional<long long> reply) {
               if (handler) handler(job_store::parse_finish_verdict(reply));
             });
}

void StatusWriter::record_requeue(const QueuedJob& job, uint32_t attempt, const std::string& code,
                                  const std::string& reason,
                                  std::function<void(job_store::RequeueVerdict)> handler) {
  const int64_t now = unix_ms();
  JobEvent queued_event{job.id, JobState::kQueued, job.kind, job.model, now, attempt, {}, {}, code, reason};
  JobEvent cancelled_event{job.id,
                           JobState::kCancelled,
                           job.kind,
                           job.model,
                           now,
                           attempt,
                           {},
                           {},
                           std::string(to_string(ErrorCode::kCancelled)),
                           "cancelled by a client; its worker stopped answering"};
  const std::string queued = to_json(with_stage(queued_event, job));
  const std::string cancelled = to_json(with_stage(cancelled_event, job));
  ReplyHandler on_reply;
  if (handler) {
    on_reply = [handler = std::move(handler)](const RedisReply& reply) {
      handler(job_store::parse_requeue_verdict(reply.is_integer() ? std::optional<long long>(reply.integer())
                                                                  : std::nullopt));
    };
  }
  push(job_store::requeue_command(keys_, job.id, attempt, now, queued, cancelled, retention_s_, code, reason),
       std::move(on_reply));
}

void StatusWriter::record_advance(const QueuedJob& done, uint32_t attempt, const std::string& worker,
                                  const std::string& stage_result, const QueuedJob& next,
                                  std::function<void(job_store::AdvanceVerdict)> handler) {
  job_store::Advance advance;
  advance.id = done.id;
  advance.attempt = attempt;
  advance.worker = worker;
  advance.stage = done.stage;
  advance.now_ms = unix_ms();
  advance.next_kind = next.kind;
  advance.next_model = next.model;
  advance.next_input = next.input_json;
  advance.stage_result = stage_result;
  // The queued event carries the finished stage's result, so a subscriber sees each stage's output as it
  // comes.
  JobEvent queued{next.id, JobState::kQueued, next.kind, next.model, advance.now_ms, attempt,
                  {},      stage_result,      {},        {}};
  advance.queued_event = to_json(with_stage(queued, next));
  JobEvent cancelled{done.id,
                     JobState::kCancelled,
                     done.kind,
                     done.model,
                     advance.now_ms,
                     attempt,
                     worker,
                     {},
                     std::string(to_string(ErrorCode::kCancelled)),
                     "cancelled by a client"};
  advance.cancelled_event = to_json(with_stage(cancelled, done));
  advance.retention_s = retention_s_;
  ReplyHandler on_reply;
  if (handler) {
    on_reply = [handler = std::move(handler)](const RedisReply& reply) {
      handler(job_store::parse_advance_verdict(reply.is_integer() ? std::optional<long long>(reply.integer())
                                                                  : std::nullopt));
    };
  }
  push(job_store::advance_command(keys_, advance), std::move(on_reply));
}

void StatusWriter::worker_joined(const WorkerState& worker) {
  const int64_t now = unix_ms();
  push({"HSET", keys_.workers(), worker.ready.worker_id, worker_record(worker, now, 0)});
  nlohmann::json event{{"type", "worker"},
                       {"id", worker.ready.worker_id},
                       {"state", "up"},
                       {"device", worker.ready.device},
                       {"at_ms", now}};
  push({"PUBLISH", keys_.worker_events(), dump_json(event)});
}

void StatusWriter::bind_worker(const std::string& worker_id, const std::string& key) {
  if (key.empty()) return push({"HDEL", keys_.worker_keys(), worker_id});
  push({"HSETNX", keys_.worker_keys(), worker_id, key});
}

void StatusWriter::worker_left(const std::string& worker_id, const std::string& reason) {
  push({"HDEL", keys_.workers(), worker_id});
  nlohmann::json event{
      {"type", "worker"}, {"id", worker_id}, {"state", "down"}, {"reason", reason}, {"at_ms", unix_ms()}};
  push({"PUBLISH", keys_.worker_events(), dump_json(event)});
}

void StatusWriter::snapshot(const Dispatcher& dispatcher, int64_t heartbeat_ms) {
  const int64_t now_ms = unix_ms();
  const auto now = SteadyClock::now();
  if (!dispatcher.workers().empty()) {
    RedisArgs workers{"HSET", keys_.workers()};
    for (const auto& [id, worker] : dispatcher.workers()) {
      auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - worker.last_seen).count();
      workers.push_back(id);
      workers.push_back(worker_record(worker, now_ms, age));
    }
    push(std::move(workers));
  }
  const auto models = dispatcher.models();
  auto depths = dispatcher.queue_depths();
  // Every model the fleet has seen stays in the catalog, with 0 workers while none serves it, so that
  // jobs for it are still accepted and queued.
  RedisArgs catalog{"HSET", keys_.models()};
  for (auto it = served_models_.begin(); it != served_models_.end();) {
    if (models.count(it->first) != 0) {
      ++it;
      continue;
    }
    if (auto entry = parse_model_record(it->first, it->second)) {
      entry->workers = 0;
      entry->slots = 0;
      entry->devices.clear();
      entry->updated_ms = now_ms;
      catalog.push_back(it->first);
      catalog.push_back(dump_json(to_json(*entry)));
    }
    it = served_models_.erase(it);
  }
  for (const auto& [name, summary] : models) {
    ModelRecord entry;
    entry.name = name;
    entry.kind = summary.info.kind;
    entry.languages = summary.info.languages;
    entry.cloning = summary.info.cloning;
    entry.sample_rate = summary.info.sample_rate;
    entry.max_batch = summary.info.max_batch;
    entry.parameters = summary.info.parameters;
    entry.modes = summary.info.modes;
    entry.workers = summary.workers;
    entry.slots = summary.slots;
    entry.devices.assign(summary.devices.begin(), summary.devices.end());
    entry.updated_ms = now_ms;
    catalog.push_back(name);
    catalog.push_back(dump_json(to_json(entry)));
    served_models_[name] = catalog.back();
    depths.try_emplace(name, 0);
  }
  if (catalog.size() > 2) push(std::move(catalog));
  if (!depths.empty() && depths != last_depths_) {
    RedisArgs queues{"HSET", keys_.queues()};
    for (const auto& [model, depth] : depths) {
      queues.push_back(model);
      queues.push_back(std::to_string(depth));
    }
    push(std::move(queues));
    last_depths_ = std::move(depths);
  }
  push({"HSET", keys_.broker(), "heartbeat_ms", std::to_string(heartbeat_ms), "alive_ms",
        std::to_string(now_ms), "queued", std::to_string(dispatcher.queued()), "running",
        std::to_string(dispatcher.running()), "workers", std::to_string(dispatcher.workers().size())});
}

bool StatusWriter::flush() {
  close_batch();  // the slice below may take the open batch, which must not grow after it was sent
  if (backlog_.empty()) return true;
  const auto now = SteadyClock::now();
  if (!redis_.connected() && now < next_connect_attempt_) return false;
  try {
    // Send in bounded slices so a large backlog after an outage does not stall dispatching.
    constexpr size_t kSlice = 4096;
    const size_t count = std::min(kSlice, backlog_.size());
    auto replies = redis_.pipeline(std::span<const RedisArgs>(backlog_.data(), count));
    std::vector<ReplyHandler> handlers(
        std::make_move_iterator(handlers_.begin()),
        std::make_move_iterator(handlers_.begin() + static_cast<std::ptrdiff_t>(count)));
    backlog_.erase(backlog_.begin(), backlog_.begin() + static_cast<std::ptrdiff_t>(count));
    handlers_.erase(handlers_.begin(), handlers_.begin() + static_cast<std::ptrdiff_t>(count));
    // Handlers may push more commands; they run after the slice has left the backlog.
    for (size_t i = 0; i < replies.size(); ++i) {
      if (replies[i].is_error()) spdlog::warn("redis refused a status write: {}", replies[i].str());
      if (handlers[i]) handlers[i](replies[i]);
    }
    if (!healthy_) spdlog::info("redis reachable again; {} status writes pending", backlog_.size());
    healthy_ = true;
    return backlog_.empty();
  } catch (const RedisError& error) {
    if (healthy_) spdlog::error("redis unreachable, keeping status writes for later: {}", error.what());
    healthy_ = false;
    next_connect_attempt_ = now + std::chrono::milliseconds(500);
    return false;
  }
}

}  // namespace gpufleet::broker
