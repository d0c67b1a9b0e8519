#include "broker/admission.hpp"

#include <algorithm>

namespace gpufleet::broker {

std::vector<std::string> Admission::restore(std::map<std::string, std::string> bindings) {
  std::vector<std::string> dropped;
  for (auto& [worker_id, key] : bindings) {
    if (clients_ != nullptr && clients_->find_name(key) != nullptr) {
      owners_[worker_id] = std::move(key);
    } else {
      dropped.push_back(worker_id);
    }
  }
  return dropped;
}

Admission::Verdict Admission::check_sender(const std::string& worker_id, const std::string& user) const {
  if (clients_ == nullptr) return Verdict::kAdmit;
  if (user.empty()) return Verdict::kForeignKey;
  const auto owner = owners_.find(worker_id);
  return owner == owners_.end() || owner->second == user ? Verdict::kAdmit : Verdict::kForeignKey;
}

Admission::ReadyVerdict Admission::admit_ready(const std::string& worker_id, const std::string& user,
                                               protocol::Ready& ready) {
  const CurveClient* client = clients_ == nullptr || user.empty() ? nullptr : clients_->find_name(user);
  if (client == nullptr) return {};
  std::vector<protocol::ModelInfo> allowed;
  for (auto& model : ready.models) {
    if (client->may_serve(model.name)) {
      allowed.push_back(std::move(model));
    } else {
      ready.failed_models.push_back({model.name, "the worker's key (" + user + ") may not serve this model"});
    }
  }
  ready.models = std::move(allowed);
  if (owners_.count(worker_id) != 0) return {};
  if (ids_of(user) >= kMaxIdsPerKey) return {Verdict::kTooManyIds, false};
  owners_[worker_id] = user;
  return {Verdict::kAdmit, true};
}

size_t Admission::ids_of(const std::string& user) const {
  return static_cast<size_t>(std::count_if(owners_.begin(), owners_.end(),
                                           [&user](const auto& entry) { return entry.second == user; }));
}

}  // namespace gpufleet::broker
