#include "worker/batch_queue.hpp"

#include <set>

namespace gpufleet::worker {

BatchQueue::BatchQueue(std::map<std::string, BatchPolicy> policies) : policies_(std::move(policies)) {
  for (auto& [model, policy] : policies_) {
    if (policy.max_batch == 0) policy.max_batch = 1;
  }
}

const BatchPolicy& BatchQueue::policy(const std::string& model) const {
  auto found = policies_.find(model);
  return found == policies_.end() ? single_ : found->second;
}

void BatchQueue::push(PendingJob job) {
  jobs_.push_back(std::move(job));
}

std::optional<std::vector<PendingJob>> BatchQueue::take(SteadyClock::time_point now,
                                                        SteadyClock::time_point* next_check) {
  *next_check = SteadyClock::time_point::max();
  std::set<std::string> seen;
  for (const auto& oldest : jobs_) {
    const std::string model = oldest.job.model;  // a copy: extract() moves the job it names
    if (!seen.insert(model).second || joining(model)) continue;
    const BatchPolicy& rule = policy(model);
    size_t waiting = 0;
    for (const auto& job : jobs_) waiting += job.job.model == model ? 1 : 0;
    const auto due = oldest.arrived + rule.max_delay;
    if (waiting >= rule.max_batch || now >= due) return extract(model, rule.max_batch);
    *next_check = std::min(*next_check, due);
  }
  return std::nullopt;
}

std::optional<std::vector<PendingJob>> BatchQueue::take_any() {
  if (jobs_.empty()) return std::nullopt;
  const std::string model = jobs_.front().job.model;
  return extract(model, policy(model).max_batch);
}

std::vector<PendingJob> BatchQueue::join(const std::string& model, size_t room) {
  return extract(model, room);
}

void BatchQueue::close_join(const std::string& model) {
  auto found = joining_.find(model);
  if (found != joining_.end() && --found->second <= 0) joining_.erase(found);
}

std::vector<PendingJob> BatchQueue::extract(const std::string& model, size_t count) {
  std::vector<PendingJob> batch;
  for (auto it = jobs_.begin(); it != jobs_.end() && batch.size() < count;) {
    if (it->job.model == model) {
      batch.push_back(std::move(*it));
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
  return batch;
}

}  // namespace gpufleet::worker
