#pragma once
// Everything the broker records in Redis: job transitions (with their published events), the worker
// registry, the model catalog and queue depths. Commands are pipelined and sent once per loop turn, so
// the Redis round trip is paid per batch, not per job. While Redis is down the broker dispatches nothing new
// (a dispatch is recorded before its job is sent); the other writes wait in a bounded backlog and go out
// when it is back.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/dispatcher.hpp"
#include "common/metrics.hpp"
#include "store/job_store.hpp"
#include "store/redis_client.hpp"

namespace gpufleet::broker {

class StatusWriter {
 public:
  StatusWriter(RedisEndpoint endpoint, int64_t retention_s);

  // At start: models a previous broker recorded are kept in the catalog, with no workers until some announce.
  void reset_catalog();

  // Called with the reply once the command has been through Redis (maybe after an outage, never twice).
  using ReplyHandler = std::function<void(const RedisReply&)>;
  // The job-store operations of store/job_store.hpp, with their events; each handler gets its operation's
  // verdict (kUnanswered when Redis refused the command).
  void record_dispatch(const Assignment& assignment, std::function<void(job_store::DispatchVerdict)> handler);
  // A final state. `expected` is the state the job must be in (running at `attempt` on `worker`, or queued).
  struct Outcome {
    JobState state = JobState::kSucceeded;
    std::string result_json;
    std::string error_code;
    std::string error_message;
    double run_ms = 0;
  };
  void record_final(const QueuedJob& job, JobState expected, uint32_t attempt, const std::string& worker,
                    const Outcome& outcome, std::function<void(job_store::FinishVerdict)> handler = {});
  void record_requeue(const QueuedJob& job, uint32_t attempt, const std::string& code,
                      const std::string& reason, std::function<void(job_store::RequeueVerdict)> handler = {});

  // A pipeline's stage `done` succeeded with `stage_result`: the job is queued again as `next` (its next
  // stage).
  void record_advance(const QueuedJob& done, uint32_t attempt, const std::string& worker,
                      const std::string& stage_result, const QueuedJob& next,
                      std::function<void(job_store::AdvanceVerdict)> handler);

  // A running job's progress report (kept only while that attempt runs), with its event.
  void record_progress(const Assignment& assignment, uint64_t done, uint64_t total);

  void worker_joined(const WorkerState& worker);
  void worker_left(const std::string& worker_id, const std::string& reason);
  // Records that `worker_id` belongs to the CURVE key named `key` (kept first-come, across restarts);
  // `key` empty: the binding is dropped.
  void bind_worker(const std::string& worker_id, const std::string& key);
  // The periodic snapshot: workers' load and heartbeat age, the model catalog, queue depths, broker liveness.
  void snapshot(const Dispatcher& dispatcher, int64_t heartbeat_ms);

  // Sends what is pending. Returns false (and keeps the backlog) when Redis is unreachable.
  bool flush();
  bool healthy() const { return healthy_; }
  // Final states recorded by the job store are counted here (jobs by kind, model and state; run times).
  void set_metrics(MetricsRegistry* metrics) { metrics_ = metrics; }
  size_t backlog() const { return backlog_.size(); }
  RedisClient& client() { return redis_; }

 private:
  // A batched group's integer verdict (nullopt: Redis refused the batch).
  using GroupHandler = std::function<void(std::optional<long long>)>;
  void push(RedisArgs args, ReplyHandler handler = {});
  // Adds a group to the batch at the tail of the backlog (or starts one there): order is kept exactly.
  void push_group(job_store::Batch batch, std::vector<std::string> group, GroupHandler handler);
  void close_batch() { open_batch_.reset(); }

  RedisClient redis_;
  RedisKeys keys_;
  int64_t retention_s_;
  std::vector<RedisArgs> backlog_;      // oldest first
  std::vector<ReplyHandler> handlers_;  // one per backlog entry
  struct OpenBatch {
    job_store::Batch kind;
    std::shared_ptr<std::vector<GroupHandler>> handlers;  // one per group of the backlog's last entry
  };
  std::optional<OpenBatch> open_batch_;
  bool healthy_ = true;
  SteadyClock::time_point next_connect_attempt_{};
  std::map<std::string, size_t> last_depths_;
  std::map<std::string, std::string> served_models_;  // model -> its last catalog entry with workers > 0
  size_t dropped_ = 0;
  MetricsRegistry* metrics_ = nullptr;
};

}  // namespace gpufleet::broker
