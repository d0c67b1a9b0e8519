#include "broker/dispatcher.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/json_text.hpp"

namespace gpufleet::broker {

void Dispatcher::push(QueuedJob job, bool front) {
  job.entry = next_entry_++;
  if (job.deadline_ms > 0) deadlines_.emplace(job.deadline_ms, job.id);
  const std::string model = job.model;
  ModelQueue& queue = queues_[model];
  auto& level = queue.levels[job.priority];
  if (front) {
    level.push_front(std::move(job));
  } else {
    level.push_back(std::move(job));
  }
  const QueuedJob& stored = front ? level.front() : level.back();
  queued_[stored.id] = LiveEntry{stored.entry, &stored};
  ++queue.live;
  models_with_work_.insert(model);
}

namespace {

// The job's speaker reference, as the gateway normalised it; empty for jobs without one. Only inputs that
// mention one are parsed.
std::string speaker_reference(const std::string& input_json) {
  if (input_json.find("speaker_wav") == std::string::npos) return {};
  const auto input = parse_json_or_discarded(input_json);
  if (!input.is_object()) return {};
  const auto speaker = input.find("speaker_wav");
  if (speaker == input.end()) return {};
  if (speaker->is_string()) return speaker->get<std::string>();
  // Several references of one voice: their names, one per line, as the worker reports them.
  std::string names;
  if (!speaker->is_array()) return names;
  for (const auto& name : *speaker) {
    if (!name.is_string()) return {};
    names += (names.empty() ? "" : "\n") + name.get<std::string>();
  }
  return names;
}

}  // namespace

bool Dispatcher::enqueue(QueuedJob job) {
  if (queued_.count(job.id) != 0 || running_.count(job.id) != 0 || orphans_.count(job.id) != 0) return false;
  if (job.reference.empty()) job.reference = speaker_reference(job.input_json);
  push(std::move(job), false);
  return true;
}

void Dispatcher::requeue(QueuedJob job) {
  if (queued_.count(job.id) != 0) remove_queued(job.id);
  push(std::move(job), true);
}

bool Dispatcher::remove_queued(const std::string& job_id) {
  auto it = queued_.find(job_id);
  if (it == queued_.end()) return false;
  --queues_[it->second.job->model].live;
  queued_.erase(it);
  return true;
}

std::vector<QueuedJob> Dispatcher::take_expired_queued(int64_t now_unix_ms) {
  std::vector<QueuedJob> expired;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now_unix_ms) {
    const std::string id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    auto live = queued_.find(id);
    if (live == queued_.end() || live->second.job->deadline_ms > now_unix_ms) continue;
    expired.push_back(*live->second.job);
    remove_queued(id);
  }
  return expired;
}

void Dispatcher::add_orphan(Assignment assignment, SteadyClock::time_point deadline) {
  const std::string id = assignment.job.id;
  if (queued_.count(id) != 0 || running_.count(id) != 0) return;
  orphans_[id] = {std::move(assignment), deadline};
}

std::vector<Assignment> Dispatcher::take_expired_orphans(SteadyClock::time_point now) {
  std::vector<Assignment> expired;
  for (auto it = orphans_.begin(); it != orphans_.end();) {
    if (it->second.second <= now) {
      expired.push_back(std::move(it->second.first));
      it = orphans_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

Registration Dispatcher::add_worker(const protocol::Ready& ready, SteadyClock::time_point now,
                                    std::chrono::milliseconds lease) {
  Registration registration;
  WorkerState state;
  auto held_at = [&](const std::string& job_id) -> std::optional<uint32_t> {
    for (const auto& held : ready.held) {
      if (held.job_id == job_id) return held.attempt;
    }
    return std::nullopt;
  };
  if (auto existing = workers_.find(ready.worker_id); existing != workers_.end()) {
    state.running = std::move(existing->second.running);
    for (auto it = state.running.begin(); it != state.running.end();) {
      if (held_at(it->first) != it->second.attempt) {
        registration.lost.push_back(std::move(it->second));
        running_.erase(it->first);
        it = state.running.erase(it);
      } else {
        ++it;
      }
    }
    // Revoked jobs it still runs keep their slots; the rest are over.
    for (const auto& id : existing->second.revoked) {
      if (held_at(id)) state.revoked.insert(id);
    }
  }
  for (const auto& held : ready.held) {
    if (state.running.count(held.job_id) != 0 || state.revoked.count(held.job_id) != 0) continue;
    auto orphan = orphans_.find(held.job_id);
    if (orphan != orphans_.end() && orphan->second.first.worker_id == ready.worker_id &&
        orphan->second.first.attempt == held.attempt) {
      Assignment assignment = std::move(orphan->second.first);
      orphans_.erase(orphan);
      assignment.confirmed = true;
      assignment.lease_deadline = now + lease;
      running_[held.job_id] = ready.worker_id;
      state.running.emplace(held.job_id, std::move(assignment));
    } else {
      registration.unknown.push_back(held);
    }
  }
  // Jobs a previous broker gave this worker that it does not hold: it never got them, or lost them.
  for (auto it = orphans_.begin(); it != orphans_.end();) {
    if (it->second.first.worker_id == ready.worker_id && !held_at(it->first)) {
      registration.lost.push_back(std::move(it->second.first));
      it = orphans_.erase(it);
    } else {
      ++it;
    }
  }
  state.ready = ready;
  if (state.ready.slots == 0) state.ready.slots = 1;
  for (const auto& model : ready.models) {
    state.models.insert(model.name);
    // A worker's word, bounded: a corrupt READY must not let one worker swallow a whole queue.
    state.max_batch[model.name] = std::clamp<uint32_t>(model.max_batch, 1, 256);
  }
  state.last_seen = now;
  workers_[ready.worker_id] = std::move(state);
  return registration;
}

std::vector<Assignment> Dispatcher::remove_worker(const std::string& worker_id) {
  std::vector<Assignment> orphans;
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return orphans;
  for (auto& [job_id, assignment] : it->second.running) {
    running_.erase(job_id);
    orphans.push_back(std::move(assignment));
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

void Dispatcher::set_voices(const std::string& worker_id, const std::vector<protocol::ModelVoices>& voices) {
  auto worker = workers_.find(worker_id);
  if (worker == workers_.end()) return;
  worker->second.voices.clear();
  for (const auto& model_voices : voices) {
    if (worker->second.models.count(model_voices.model) == 0) continue;
    auto& held = worker->second.voices[model_voices.model];
    for (const auto& reference : model_voices.references) {
      if (held.size() == protocol::kMaxAdvertisedVoices) break;
      held.insert(reference);
    }
  }
}

void Dispatcher::renew(const std::string& worker_id, const std::vector<std::string>& job_ids,
                       SteadyClock::time_point deadline) {
  auto worker = workers_.find(worker_id);
  if (worker == workers_.end()) return;
  for (const auto& id : job_ids) {
    auto running = worker->second.running.find(id);
    if (running != worker->second.running.end() && running->second.confirmed) {
      running->second.lease_deadline = std::max(running->second.lease_deadline, deadline);
    }
  }
}

std::vector<std::string> Dispatcher::silent_workers(SteadyClock::time_point now,
                                                    std::chrono::milliseconds timeout) const {
  std::vector<std::string> silent;
  for (const auto& [id, worker] : workers_) {
    if (now - worker.last_seen > timeout) silent.push_back(id);
  }
  return silent;
}

bool Dispatcher::serves_elsewhere(const std::string& model, const std::string& avoid) const {
  for (const auto& [id, worker] : workers_) {
    if (id != avoid && worker.models.count(model) != 0 && !worker.draining) return true;
  }
  return false;
}

WorkerState* Dispatcher::pick_worker(const QueuedJob& job) {
  const bool avoiding = !job.avoid_worker.empty() && serves_elsewhere(job.model, job.avoid_worker);
  WorkerState* best = nullptr;
  bool best_warm = false;
  uint32_t best_free = 0;
  for (auto& [id, worker] : workers_) {
    if (worker.models.count(job.model) == 0 || (avoiding && id == job.avoid_worker)) continue;
    const uint32_t free = worker.free_slots_for(job.model);
    if (free == 0) continue;
    const bool warm = worker.holds_voice(job.model, job.reference);
    if (best == nullptr || (warm && !best_warm) || (warm == best_warm && free > best_free)) {
      best = &worker;
      best_warm = warm;
      best_free = free;
    }
  }
  return best;
}

std::vector<Assignment> Dispatcher::dispatch() {
  std::vector<Assignment> assignments;
  for (auto model_it = models_with_work_.begin(); model_it != models_with_work_.end();) {
    ModelQueue& queue = queues_[*model_it];
    PriorityQueues& levels = queue.levels;
    while (!levels.empty()) {
      auto level = levels.begin();
      QueuedJob& head = level->second.front();
      auto live = queued_.find(head.id);
      if (live == queued_.end() || live->second.entry != head.entry) {  // removed or superseded
        level->second.pop_front();
        if (level->second.empty()) levels.erase(level);
        continue;
      }
      WorkerState* worker = pick_worker(head);
      if (worker == nullptr) break;
      QueuedJob job = std::move(head);
      level->second.pop_front();
      if (level->second.empty()) levels.erase(level);
      queued_.erase(live);
      --queue.live;
      Assignment assignment{worker->ready.worker_id, std::move(job), 0, false, {}};
      assignment.attempt = assignment.job.attempts + 1;
      running_[assignment.job.id] = assignment.worker_id;
      worker->running.emplace(assignment.job.id, assignment);
      assignments.push_back(std::move(assignment));
    }
    model_it = levels.empty() ? models_with_work_.erase(model_it) : std::next(model_it);
  }
  return assignments;
}

bool Dispatcher::confirm(const std::string& worker_id, const std::string& job_id, uint32_t attempt,
                         SteadyClock::time_point lease_deadline) {
  auto worker = workers_.find(worker_id);
  if (worker == workers_.end()) return false;
  auto running = worker->second.running.find(job_id);
  if (running == worker->second.running.end() || running->second.attempt != attempt) return false;
  running->second.confirmed = true;
  running->second.job.attempts = attempt;
  running->second.lease_deadline = lease_deadline;
  return true;
}

void Dispatcher::retract(const std::string& worker_id, const std::string& job_id, uint32_t attempt,
                         std::optional<uint32_t> attempts_done) {
  auto worker = workers_.find(worker_id);
  if (worker == workers_.end()) return;
  auto running = worker->second.running.find(job_id);
  if (running == worker->second.running.end() || running->second.attempt != attempt) return;
  QueuedJob job = std::move(running->second.job);
  worker->second.running.erase(running);
  running_.erase(job_id);
  if (attempts_done) {
    job.attempts = *attempts_done;
    requeue(std::move(job));
  }
}

std::optional<Assignment> Dispatcher::complete(const std::string& worker_id, const std::string& job_id,
                                               uint32_t attempt) {
  auto worker = workers_.find(worker_id);
  if (worker == workers_.end()) return std::nullopt;
  worker->second.revoked.erase(job_id);
  auto running = worker->second.running.find(job_id);
  if (running == worker->second.running.end() || running->second.attempt != attempt) return std::nullopt;
  Assignment assignment = std::move(running->second);
  worker->second.running.erase(running);
  running_.erase(job_id);
  return assignment;
}

std::optional<Assignment> Dispatcher::revoke(const std::string& worker_id, const std::string& job_id) {
  auto worker = workers_.find(worker_id);
  if (worker == workers_.end()) return std::nullopt;
  auto running = worker->second.running.find(job_id);
  if (running == worker->second.running.end()) return std::nullopt;
  Assignment assignment = std::move(running->second);
  worker->second.running.erase(running);
  worker->second.revoked.insert(job_id);
  running_.erase(job_id);
  return assignment;
}

std::vector<Assignment> Dispatcher::expired_leases(SteadyClock::time_point now) const {
  std::vector<Assignment> expired;
  for (const auto& [id, worker] : workers_) {
    for (const auto& [job_id, assignment] : worker.running) {
      if (assignment.confirmed && assignment.lease_deadline <= now) expired.push_back(assignment);
    }
  }
  return expired;
}

std::vector<Assignment> Dispatcher::past_deadline(int64_t now_unix_ms) const {
  std::vector<Assignment> expired;
  for (const auto& [id, worker] : workers_) {
    for (const auto& [job_id, assignment] : worker.running) {
      if (assignment.confirmed && assignment.job.deadline_ms > 0 &&
          assignment.job.deadline_ms <= now_unix_ms) {
        expired.push_back(assignment);
      }
    }
  }
  return expired;
}

const Assignment* Dispatcher::find_running(const std::string& job_id) const {
  auto running = running_.find(job_id);
  if (running == running_.end()) return nullptr;
  auto worker = workers_.find(running->second);
  if (worker == workers_.end()) return nullptr;
  auto assignment = worker->second.running.find(job_id);
  return assignment == worker->second.running.end() ? nullptr : &assignment->second;
}

void Dispatcher::mark_cancel_requested(const std::string& job_id) {
  if (auto orphan = orphans_.find(job_id); orphan != orphans_.end())
    orphan->second.first.job.cancel_requested = true;
  auto running = running_.find(job_id);
  if (running == running_.end()) return;
  auto worker = workers_.find(running->second);
  if (worker == workers_.end()) return;
  if (auto assignment = worker->second.running.find(job_id); assignment != worker->second.running.end()) {
    assignment->second.job.cancel_requested = true;
  }
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
  for (const auto& [model, queue] : queues_) depths[model] = queue.live;
  return depths;
}

std::map<std::string, int64_t> Dispatcher::oldest_queued_ms() const {
  std::map<std::string, int64_t> oldest;
  for (const auto& [id, live] : queued_) {
    auto [at, fresh] = oldest.try_emplace(live.job->model, live.job->created_ms);
    if (!fresh) at->second = std::min(at->second, live.job->created_ms);
  }
  return oldest;
}

size_t Dispatcher::running() const {
  return running_.size();
}

}  // namespace gpufleet::broker
