#pragma once
// The Redis key schema and event format: a public interface (docs/redis.md) that dashboards and the
// runtime build on. Every key and channel name in the fleet is defined here, by RedisKeys. The job-store
// scripts (store/job_store.cpp) spell none: they are given their keys, and the prefixes of the per-job and
// per-model keys they find only as they run, from RedisKeys (tests/unit/redis_schema_test.cpp checks that
// no script spells a name).
//
// Redis Cluster: a prefix with a hash tag ("{gpufleet}") puts every key of a fleet in one slot, so that a
// script's keys, declared or found as it runs, are always served by one node (docs/redis.md#redis-cluster).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/job.hpp"

namespace gpufleet {

class RedisKeys {
 public:
  explicit RedisKeys(std::string prefix) : prefix_(std::move(prefix)) {}

  std::string job(std::string_view id) const { return job_prefix() + std::string(id); }
  // What every job's key starts with (a job's key is this and its id).
  std::string job_prefix() const { return prefix_ + ":job:"; }
  std::string job_events() const { return prefix_ + ":events:jobs"; }
  std::string worker_events() const { return prefix_ + ":events:workers"; }
  std::string workers() const { return prefix_ + ":workers"; }
  std::string models() const { return prefix_ + ":models"; }
  std::string queues() const { return prefix_ + ":queues"; }
  std::string broker() const { return prefix_ + ":broker"; }
  // Under CURVE: worker id -> the name of the worker key that first registered it (broker/broker.cpp).
  std::string worker_keys() const { return prefix_ + ":worker-keys"; }
  // The durable queue (docs/redis.md): queued job ids per model, scored by creation time; the models that
  // have such a queue; running job ids scored by start time; the stream of submissions and cancellations
  // the broker follows; idempotency keys.
  std::string queue(std::string_view model) const { return queue_prefix() + std::string(model); }
  std::string queue_prefix() const { return prefix_ + ":queue:"; }
  std::string queue_models() const { return prefix_ + ":queue-models"; }
  std::string running() const { return prefix_ + ":running"; }
  std::string submissions() const { return prefix_ + ":submissions"; }
  // Every final state as it is recorded (id, state, attempt, worker): a durable log that, unlike the
  // events channel, survives a subscriber's absence; capped at about a million entries.
  std::string completions() const { return prefix_ + ":completions"; }
  // Webhook deliveries to make, scored by when each is due (gateway/webhook_sender.hpp).
  std::string webhooks() const { return prefix_ + ":webhooks"; }
  std::string idempotency(std::string_view key) const { return idempotency_prefix() + std::string(key); }
  std::string idempotency_prefix() const { return prefix_ + ":idem:"; }
  const std::string& prefix() const { return prefix_; }

 private:
  std::string prefix_;
};

// Field names of the job hash.
namespace job_field {
inline constexpr std::string_view kId = "id";
inline constexpr std::string_view kKind = "kind";
inline constexpr std::string_view kModel = "model";
inline constexpr std::string_view kOwner = "owner";  // the API key that created the job; absent without keys
inline constexpr std::string_view kState = "state";
inline constexpr std::string_view kPriority = "priority";
inline constexpr std::string_view kInput = "input";
inline constexpr std::string_view kCreatedMs = "created_ms";
inline constexpr std::string_view kUpdatedMs = "updated_ms";
inline constexpr std::string_view kStartedMs = "started_ms";
inline constexpr std::string_view kFinishedMs = "finished_ms";
inline constexpr std::string_view kAttempts = "attempts";
inline constexpr std::string_view kWorker = "worker";
inline constexpr std::string_view kResult = "result";
inline constexpr std::string_view kErrorCode = "error_code";
inline constexpr std::string_view kErrorMessage = "error_message";
inline constexpr std::string_view kRunMs = "run_ms";
inline constexpr std::string_view kDeadlineMs = "deadline_ms";
inline constexpr std::string_view kCancelRequested = "cancel_requested";
// Workers lost while running the job (POISON_AFTER counts them).
inline constexpr std::string_view kWorkerLosses = "worker_losses";
inline constexpr std::string_view kLastErrorCode = "last_error_code";  // why the last attempt was requeued
inline constexpr std::string_view kLastErrorMessage = "last_error_message";
inline constexpr std::string_view kProgressDone =
    "progress_done";  // while running: units done (video frames)
inline constexpr std::string_view kProgressTotal = "progress_total";
// Pipeline jobs (common/pipeline.hpp) only: the stages as JSON, the index of the one the record's kind, model
// and input belong to now, the attempts spent before it began (attempts count on across stages, so that a
// late result of an earlier stage can never pass for the current one), and each finished stage's result
// under stage_result_<index>.
inline constexpr std::string_view kStages = "stages";
inline constexpr std::string_view kStage = "stage";
inline constexpr std::string_view kStageBase = "stage_base";
inline std::string stage_result_field(size_t stage) {
  return "stage_result_" + std::to_string(stage);
}
// Webhook on completion: its URL; then, once the job ended, pending | retrying | delivered | failed, the
// deliveries tried, the receiver's last HTTP status (0: none), the last failure, and when it was delivered.
inline constexpr std::string_view kWebhook = "webhook";
inline constexpr std::string_view kWebhookState = "webhook_state";
inline constexpr std::string_view kWebhookAttempts = "webhook_attempts";
inline constexpr std::string_view kWebhookLastStatus = "webhook_last_status";
inline constexpr std::string_view kWebhookLastError = "webhook_last_error";
inline constexpr std::string_view kWebhookDeliveredMs = "webhook_delivered_ms";
}  // namespace job_field

// One state change of one job, as published on <prefix>:events:jobs.
struct JobEvent {
  std::string id;
  JobState state = JobState::kQueued;
  std::string kind;
  std::string model;
  int64_t at_ms = 0;
  uint32_t attempt = 0;
  std::string worker;
  std::string result_json;  // only on succeeded: embedded as an object
  std::string error_code;   // only on failed / requeued-after-loss
  std::string error_message;
  uint64_t progress_done = 0;  // a running job's progress report: published when progress_total > 0
  uint64_t progress_total = 0;
  std::optional<uint32_t> stage;  // pipeline jobs: the stage this event is about
};

std::string to_json(const JobEvent& event);

// A redis command as its argument list.
using RedisArgs = std::vector<std::string>;

// The commands that record `event` in the job hash and publish it. `extra` fields are set as well.
// Final states get an expiry of `retention_s` so that finished jobs do not pile up forever.
std::vector<RedisArgs> job_transition_commands(const RedisKeys& keys, const JobEvent& event,
                                               const std::vector<std::pair<std::string, std::string>>& extra,
                                               int64_t retention_s);

}  // namespace gpufleet
