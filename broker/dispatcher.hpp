#pragma once
// The broker's scheduling state, kept apart from sockets and Redis so that it is tested as plain logic:
// per-model queues (higher priority first, FIFO within a priority), the registry of workers with their
// free slots, and which job each worker holds. The transport (broker.hpp) turns its decisions into messages.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.hpp"
#include "common/protocol.hpp"

namespace gpufleet::broker {

struct QueuedJob {
  std::string id;
  std::string kind;
  std::string model;
  std::string input_json;
  int32_t priority = 0;
  int64_t created_ms = 0;
  uint32_t attempts = 0;  // attempts started so far
};

// A job handed to a worker. `attempt` is the fencing token the worker's result must echo.
struct Assignment {
  std::string worker_id;
  QueuedJob job;
  uint32_t attempt = 0;
};

struct WorkerState {
  protocol::Ready ready;
  std::set<std::string> models;
  std::unordered_map<std::string, Assignment> running;  // by job id
  SteadyClock::time_point last_seen;
  bool draining = false;

  uint32_t free_slots() const {
    if (draining) return 0;
    return ready.slots > running.size() ? ready.slots - static_cast<uint32_t>(running.size()) : 0;
  }
};

// A model as the fleet serves it: what its workers announced, and how much capacity there is.
struct ModelSummary {
  protocol::ModelInfo info;
  uint32_t workers = 0;
  uint32_t slots = 0;
  std::set<std::string> devices;
};

class Dispatcher {
 public:
  // Queues a new job. False when a job with this id is already queued or running (a repeated submit).
  bool enqueue(QueuedJob job);
  // Puts a job back at the head of its priority level: it was waiting longest.
  void requeue(QueuedJob job);

  // Registers a worker (or re-registers one that reconnected). Jobs the broker had given it that it no longer
  // reports as running are returned for requeueing.
  std::vector<QueuedJob> add_worker(const protocol::Ready& ready, const std::vector<std::string>& still_running,
                                    SteadyClock::time_point now);
  // Forgets a worker; returns the jobs it held, for requeueing.
  std::vector<QueuedJob> remove_worker(const std::string& worker_id);
  // Records that a worker was heard from. False for a worker the broker does not know.
  bool touch(const std::string& worker_id, SteadyClock::time_point now);
  // A draining worker keeps its jobs but is given no new ones.
  void set_draining(const std::string& worker_id, bool draining);
  std::vector<std::string> silent_workers(SteadyClock::time_point now, std::chrono::milliseconds timeout) const;

  // Hands queued jobs to workers that serve their model and have a free slot, least-loaded worker first.
  std::vector<Assignment> dispatch();

  // Ends an assignment. nullopt when `worker_id` does not hold `job_id` at `attempt` (a stale or forged
  // result, which must be refused).
  std::optional<Assignment> complete(const std::string& worker_id, const std::string& job_id, uint32_t attempt);

  bool knows_worker(const std::string& worker_id) const { return workers_.count(worker_id) != 0; }
  const std::map<std::string, WorkerState>& workers() const { return workers_; }
  std::map<std::string, ModelSummary> models() const;
  std::map<std::string, size_t> queue_depths() const;
  size_t queued() const { return queued_count_; }
  size_t running() const;

 private:
  using PriorityQueues = std::map<int32_t, std::deque<QueuedJob>, std::greater<>>;

  WorkerState* pick_worker(const std::string& model);

  std::unordered_map<std::string, PriorityQueues> queues_;  // by model
  std::set<std::string> models_with_work_;
  std::map<std::string, WorkerState> workers_;
  std::unordered_set<std::string> active_jobs_;  // queued or running
  size_t queued_count_ = 0;
};

}  // namespace gpufleet::broker
