#include "broker/dispatcher.hpp"

#include <algorithm>

namespace gpufleet::broker {

bool Dispatcher::enqueue(QueuedJob job) {
  if (!active_jobs_.insert(job.id).second) return false;
  const std::string model = job.model;
  queues_[model][job.priority].push_back(std::move(job));
  models_with_work_.insert(model);
  ++queued_count_;
  return true;
}

void Dispatcher::requeue(QueuedJob job) {
  active_jobs_.insert(job.id);
  const std::string model = job.model;
  queues_[model][job.priority].push_front(std::move(job));
  models_with_work_.insert(model);
  ++queued_count_;
}

std::vector<QueuedJob> Dispatcher::add_worker(const protocol::Ready& ready,
                                              const std::vector<std::string>& still_running,
                                              SteadyClock::time_point now) {
  std::vector<QueuedJob> orphans;
  WorkerState state;
  if (auto existing = workers_.find(ready.worker_id); existing != workers_.end()) {
    state.running = std::move(existing->second.running);
    for (auto it = state.running.begin(); it != state.running.end();) {
      if (std::find(still_running.begin(), still_running.end(), it->first) == still_running.end()) {
        orphans.push_back(std::move(it->second.job));
        active_jobs_.erase(it->first);
        it = state.running.erase(it);
      } else {
        ++it;
      }
    }
  }
  state.ready = ready;
  if (state.ready.slots == 0) state.ready.slots = 1;
  for (const auto& model : ready.models) state.models.insert(model.name);
  state.last_seen = now;
  workers_[ready.worker_id] = std::move(state);
  return orphans;
}

std::vector<QueuedJob> Dispatcher::remove_worker(const std::string& worker_id) {
  std::vector<QueuedJob> orphans;
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return orphans;
  for (auto& [job_id, assignment] : it->second.running) {
    active_jobs_.erase(job_id);
    orphans.push_back(std::move(assignment.job));
  }
  workers_.erase(it);
  return orphans;
}

bool Dispatcher::touch(const std::string& worker_id, SteadyClock::time_point now) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return false;
  it->second.last_seen = now;
  return true;
}

void Dispatcher::set_draining(const std::string& worker_id, bool draining) {
  if (auto it = workers_.find(worker_id); it != workers_.end()) it->second.draining = draining;
}

std::vector<std::string> Dispatcher::silent_workers(SteadyClock::time_point now,
                                                    std::chrono::milliseconds timeout) const {
  std::vector<std::string> silent;
  for (const auto& [id, worker] : workers_) {
    if (now - worker.last_seen > timeout) silent.push_back(id);
  }
  return silent;
}

WorkerState* Dispatcher::pick_worker(const std::string& model) {
  WorkerState* best = nullptr;
  for (auto& [id, worker] : workers_) {
    const uint32_t free = worker.free_slots();
    if (free == 0 || worker.models.count(model) == 0) continue;
    if (best == nullptr || free > best->free_slots()) best = &worker;
  }
  return best;
}

std::vector<Assignment> Dispatcher::dispatch() {
  std::vector<Assignment> assignments;
  for (auto model_it = models_with_work_.begin(); model_it != models_with_work_.end();) {
    const std::string& model = *model_it;
    PriorityQueues& levels = queues_[model];
    while (!levels.empty()) {
      WorkerState* worker = pick_worker(model);
      if (worker == nullptr) break;
      auto level = levels.begin();
      QueuedJob job = std::move(level->second.front());
      level->second.pop_front();
      if (level->second.empty()) levels.erase(level);
      --queued_count_;
      Assignment assignment{worker->ready.worker_id, std::move(job), 0};
      assignment.attempt = ++assignment.job.attempts;
      worker->running.emplace(assignment.job.id, assignment);
      assignments.push_back(std::move(assignment));
    }
    model_it = levels.empty() ? models_with_work_.erase(model_it) : std::next(model_it);
  }
  return assignments;
}

std::optional<Assignment> Dispatcher::complete(const std::string& worker_id, const std::string& job_id,
                                               uint32_t attempt) {
  auto worker = workers_.find(worker_id);
  if (worker == workers_.end()) return std::nullopt;
  auto running = worker->second.running.find(job_id);
  if (running == worker->second.running.end() || running->second.attempt != attempt) return std::nullopt;
  Assignment assignment = std::move(running->second);
  worker->second.running.erase(running);
  active_jobs_.erase(job_id);
  return assignment;
}

std::map<std::string, ModelSummary> Dispatcher::models() const {
  std::map<std::string, ModelSummary> models;
  for (const auto& [id, worker] : workers_) {
    for (const auto& info : worker.ready.models) {
      ModelSummary& summary = models[info.name];
      if (summary.workers == 0) summary.info = info;
      ++summary.workers;
      summary.slots += worker.ready.slots;
      summary.devices.insert(worker.ready.device);
    }
  }
  return models;
}

std::map<std::string, size_t> Dispatcher::queue_depths() const {
  std::map<std::string, size_t> depths;
  for (const auto& [model, levels] : queues_) {
    size_t depth = 0;
    for (const auto& [priority, jobs] : levels) depth += jobs.size();
    depths[model] = depth;
  }
  return depths;
}

size_t Dispatcher::running() const {
  size_t count = 0;
  for (const auto& [id, worker] : workers_) count += worker.running.size();
  return count;
}

}  // namespace gpufleet::broker
