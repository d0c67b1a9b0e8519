#include "gateway/wait_quota.hpp"

namespace gpufleet::gateway {

WaitQuota::WaitQuota(size_t per_key)
    : per_key_(per_key), counts_(std::make_shared<std::unordered_map<std::string, size_t>>()) {}

WaitQuota::Lease::Lease(std::weak_ptr<std::unordered_map<std::string, size_t>> counts, std::string key)
    : counts_(std::move(counts)), key_(std::move(key)) {}

WaitQuota::Lease::~Lease() {
  auto counts = counts_.lock();
  if (!counts) return;
  auto it = counts->find(key_);
  if (it == counts->end()) return;
  if (--it->second == 0) counts->erase(it);
}

std::shared_ptr<WaitQuota::Lease> WaitQuota::acquire(const std::string& key) {
  auto& count = (*counts_)[key];
  if (count >= per_key_) {
    if (count == 0) counts_->erase(key);  // a limit of 0 admits nothing and keeps no entry
    return nullptr;
  }
  ++count;
  return std::shared_ptr<Lease>(new Lease(counts_, key));
}

size_t WaitQuota::open(const std::string& key) const {
  auto it = counts_->find(key);
  return it == counts_->end() ? 0 : it->second;
}

size_t WaitQuota::open_total() const {
  size_t total = 0;
  for (const auto& [key, count] : *counts_) total += count;
  return total;
}

}  // namespace gpufleet::gateway
