#pragma once
// The broker's scheduling state, kept apart from sockets and Redis so that it is tested as plain logic:
// per-model queues (higher priority first, FIFO within a priority), the registry of workers with their
// free slots, which job each worker holds under which lease, and the jobs a restarted broker found running
// whose workers have not come back yet. The transport (broker.hpp) turns its decisions into messages and
// the job store (store/job_store.hpp) has the last word on every state change.

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
#include "protocol/protocol.hpp"

namespace gpufleet::broker {

struct QueuedJob {
  std::string id;
  std::string kind;
  std::string model;
  std::string input_json;
  int32_t priority = 0;
  int64_t created_ms = 0;
  int64_t deadline_ms = 0;     // unix ms; 0: none
  uint32_t attempts = 0;       // attempts started so far
  uint32_t worker_losses = 0;  // attempts that ended with their worker lost (the record's worker_losses)
  bool cancel_requested = false;
  std::string avoid_worker;  // after an out-of-memory failure: prefer any other worker
  std::string reference;     // input.speaker_wav (set by enqueue): workers holding its voice are preferred
  uint64_t entry = 0;        // the Dispatcher's queue entry number (see queued_)
  // Pipeline jobs (common/pipeline.hpp): the stages as JSON (empty for a job of one stage), the index of
  // the stage this is, and the attempts spent before it began (max_attempts counts per stage).
  std::string stages_json;
  uint32_t stage = 0;
  uint32_t stage_base = 0;

  uint32_t stage_attempt(uint32_t attempt) const { return attempt > stage_base ? attempt - stage_base : 0; }
};

// A job handed to a worker. `attempt` is the fencing token the worker's result must echo.
struct Assignment {
  std::string worker_id;
  QueuedJob job;
  uint32_t attempt = 0;
  // Until the job store has recorded the dispatch the job is not sent and its lease does not run.
  bool confirmed = false;
  SteadyClock::time_point lease_deadline{};
};

struct WorkerState {
  protocol::Ready ready;
  std::set<std::string> models;
  std::unordered_map<std::string, Assignment> running;  // by job id
  // Jobs taken away from this worker (lease expired, deadline passed) that it may still be running: they
  // keep their slot busy until the worker reports them or re-registers without them.
  std::unordered_set<std::string> revoked;
  SteadyClock::time_point last_seen;
  bool draining = false;

  std::map<std::string, uint32_t> max_batch;  // by model, as announced (absent: 1)
  // Speaker references whose voices the worker holds in memory, by model, as its last heartbeat listed them.
  std::map<std::string, std::unordered_set<std::string>> voices;

  bool holds_voice(const std::string& model, const std::string& reference) const {
    if (reference.empty()) return false;
    auto held = voices.find(model);
    return held != voices.end() && held->second.count(reference) != 0;
  }

  uint32_t busy() const { return static_cast<uint32_t>(running.size() + revoked.size()); }
  // A worker that batches a model takes slots x max_batch of its jobs, so that its batches can fill; the
  // slots of a model that does not batch are not overcommitted by it.
  uint32_t free_slots_for(const std::string& model) const {
    if (draining) return 0;
    auto batch = max_batch.find(model);
    const uint32_t capacity = ready.slots * (batch == max_batch.end() ? 1 : batch->second);
    return capacity > busy() ? capacity - busy() : 0;
  }
};

// A model as the fleet serves it: what its workers announced, and how much capacity there is.
struct ModelSummary {
  protocol::ModelInfo info;
  uint32_t workers = 0;
  uint32_t slots = 0;
  std::set<std::string> devices;
};

// What a worker's READY means for the jobs it reports and the ones the broker thought it had.
struct Registration {
  std::vector<Assignment> lost;            // assignments (or orphans) the worker does not hold: requeue
  std::vector<protocol::HeldJob> unknown;  // jobs the worker holds that are not its to run: cancel there
};

class Dispatcher {
 public:
  // Queues a new job. False when a job with this id is already queued or running (a repeated submission).
  bool enqueue(QueuedJob job);
  // Puts a job back at the head of its priority level: it was waiting longest.
  void requeue(QueuedJob job);
  // Takes a queued job out (cancelled, expired). False when it is not queued here.
  bool remove_queued(const std::string& job_id);
  // Queued, running (or revoked-but-unrecorded) here, or an orphan awaiting its worker.
  bool knows_job(const std::string& job_id) const {
    return queued_.count(job_id) != 0 || running_.count(job_id) != 0 || orphans_.count(job_id) != 0;
  }
  // Queued jobs whose deadline has passed, taken out of their queues.
  std::vector<QueuedJob> take_expired_queued(int64_t now_unix_ms);

  // A job a previous broker recorded as running on `worker_id`: it is adopted when that worker registers
  // and reports it, and returned by take_expired_orphans after `deadline` otherwise.
  void add_orphan(Assignment assignment, SteadyClock::time_point deadline);
  std::vector<Assignment> take_expired_orphans(SteadyClock::time_point now);
  size_t orphans() const { return orphans_.size(); }

  // Registers a worker (or re-registers one that reconnected), adopting what it still holds.
  Registration add_worker(const protocol::Ready& ready, SteadyClock::time_point now,
                          std::chrono::milliseconds lease);
  // Forgets a worker; returns the jobs it held, for requeueing.
  std::vector<Assignment> remove_worker(const std::string& worker_id);
  // Records that a worker was heard from. False for a worker the broker does not know.
  bool touch(const std::string& worker_id, SteadyClock::time_point now);
  // A draining worker keeps its jobs but is given no new ones.
  void set_draining(const std::string& worker_id, bool draining);
  // Replaces what a worker says it holds in memory (bounded per model by protocol::kMaxAdvertisedVoices).
  void set_voices(const std::string& worker_id, const std::vector<protocol::ModelVoices>& voices);
  // Extends the leases of `job_ids` held by `worker_id` to `deadline`.
  void renew(const std::string& worker_id, const std::vector<std::string>& job_ids,
             SteadyClock::time_point deadline);
  std::vector<std::string> silent_workers(SteadyClock::time_point now,
                                          std::chrono::milliseconds timeout) const;

  // Hands queued jobs to workers that serve their model and have a free slot: a worker holding the job's
  // voice in memory first, then the least-loaded. The preference never makes a job wait: with the warm
  // workers full it goes to a cold one (which loads the voice from the fleet's store or computes it).
  // The assignments are unconfirmed until confirm().
  std::vector<Assignment> dispatch();
  // The job store recorded the dispatch: the lease starts. False when the assignment is gone meanwhile.
  bool confirm(const std::string& worker_id, const std::string& job_id, uint32_t attempt,
               SteadyClock::time_point lease_deadline);
  // The job store refused a dispatch. With `attempts_done`, the job is still queued there with that count:
  // it goes back to the head of its queue; without, it is no longer queued and is dropped.
  void retract(const std::string& worker_id, const std::string& job_id, uint32_t attempt,
               std::optional<uint32_t> attempts_done);

  // Ends an assignment (or a revoked one) on a worker's result. nullopt when `worker_id` did not hold
  // `job_id` at `attempt`.
  std::optional<Assignment> complete(const std::string& worker_id, const std::string& job_id,
                                     uint32_t attempt);
  // Takes a job away from its worker, whose slot stays busy until it reports the job (see WorkerState).
  std::optional<Assignment> revoke(const std::string& worker_id, const std::string& job_id);
  // Confirmed assignments whose lease ran out, and those past their deadline (`now_unix_ms`).
  std::vector<Assignment> expired_leases(SteadyClock::time_point now) const;
  std::vector<Assignment> past_deadline(int64_t now_unix_ms) const;
  // The worker running `job_id` and its assignment, if any.
  const Assignment* find_running(const std::string& job_id) const;
  void mark_cancel_requested(const std::string& job_id);

  bool knows_worker(const std::string& worker_id) const { return workers_.count(worker_id) != 0; }
  const std::map<std::string, WorkerState>& workers() const { return workers_; }
  std::map<std::string, ModelSummary> models() const;
  std::map<std::string, size_t> queue_depths() const;
  // The submission time (unix ms) of each model's oldest queued job.
  std::map<std::string, int64_t> oldest_queued_ms() const;
  size_t queued() const { return queued_.size(); }
  size_t running() const;

 private:
  using PriorityQueues = std::map<int32_t, std::deque<QueuedJob>, std::greater<>>;
  struct ModelQueue {
    PriorityQueues levels;
    size_t live = 0;  // entries not removed
  };

  WorkerState* pick_worker(const QueuedJob& job);
  bool serves_elsewhere(const std::string& model, const std::string& avoid) const;
  void push(QueuedJob job, bool front);

  std::unordered_map<std::string, ModelQueue> queues_;  // by model
  std::set<std::string> models_with_work_;
  std::map<std::string, WorkerState> workers_;
  // Queued job id -> its live entry number. A removed or superseded entry stays in its deque until dispatch
  // passes it and sees that its number is not the live one: removal by id stays O(1).
  // The pointer stays valid: a deque's elements do not move when it grows at either end.
  struct LiveEntry {
    uint64_t entry = 0;
    const QueuedJob* job = nullptr;
  };
  std::unordered_map<std::string, LiveEntry> queued_;
  uint64_t next_entry_ = 1;
  std::unordered_map<std::string, std::string> running_;  // job id -> worker id
  std::multimap<int64_t, std::string> deadlines_;  // queued jobs with a deadline, soonest first (lazy too)
  std::unordered_map<std::string, std::pair<Assignment, SteadyClock::time_point>> orphans_;  // by job id
};

}  // namespace gpufleet::broker
