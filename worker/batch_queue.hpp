#pragma once
// The worker's queue of jobs waiting for an executor, and its dynamic batching: jobs of one model that
// arrive within the model's max queue delay are taken together, up to its max batch. Pure logic (no
// threads, no sockets), so its policy is tested directly; the worker guards it with its own mutex.
//
// Which batch goes next: the models are considered in the order of their oldest waiting job, and the first
// that is ready (max_batch jobs waiting, or its oldest job has waited max_delay) is taken. A model still
// filling its batch does not hold up another model whose batch is ready.
//
// Continuous batching: while a batch of a model runs and takes in newcomers (join), that model's jobs wait
// for it rather than start a second batch: the running one takes them as soon as it has room.

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "models/job_context.hpp"
#include "protocol/protocol.hpp"

namespace gpufleet::worker {

struct BatchPolicy {
  uint32_t max_batch = 1;
  std::chrono::milliseconds max_delay{0};
};

struct PendingJob {
  protocol::Job job;
  std::shared_ptr<models::JobContext> context;
  SteadyClock::time_point arrived{};
};

class BatchQueue {
 public:
  // Models without a policy run one job at a time, at once.
  explicit BatchQueue(std::map<std::string, BatchPolicy> policies = {});

  void push(PendingJob job);
  // The next batch that is ready at `now` (jobs of one model, in arrival order). Otherwise nothing, and
  // `*next_check` says when one will be ready (time_point::max() when the queue is empty).
  std::optional<std::vector<PendingJob>> take(SteadyClock::time_point now,
                                              SteadyClock::time_point* next_check);
  // Everything, at once (when a worker stops waiting for batches to fill).
  std::optional<std::vector<PendingJob>> take_any();
  // Up to `room` jobs of `model`, oldest first, for a batch of it that is running; they do not wait for
  // max_delay. Empty when none waits.
  std::vector<PendingJob> join(const std::string& model, size_t room);
  // A running batch of `model` takes its newcomers (a model that joins calls join() while it runs): take()
  // leaves that model's jobs to it until close_join().
  void open_join(const std::string& model) { ++joining_[model]; }
  void close_join(const std::string& model);
  bool joining(const std::string& model) const { return joining_.count(model) != 0; }

  size_t size() const { return jobs_.size(); }
  bool empty() const { return jobs_.empty(); }
  const BatchPolicy& policy(const std::string& model) const;

 private:
  std::vector<PendingJob> extract(const std::string& model, size_t count);

  std::map<std::string, BatchPolicy> policies_;
  BatchPolicy single_;
  std::deque<PendingJob> jobs_;         // arrival order
  std::map<std::string, int> joining_;  // running batches that take newcomers, by model
};

}  // namespace gpufleet::worker
