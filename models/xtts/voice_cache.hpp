#pragma once
// The XTTS worker's voices in memory: a least-recently-used table of computed voices keyed by
// xtts::voice_key (the reference's content within its tenant's folder), each with the last few names its
// reference was sent under, which the worker advertises in heartbeats so that the broker sends jobs with
// that reference here. Thread-safe: the event loop lists it while a job holds the engine. Torch-free, so
// its rules are unit-tested without LibTorch (tests/unit/xtts_files_test.cpp); the voice type is a parameter.

#include <algorithm>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace gpufleet::xtts {

template <typename Voice>
class VoiceCache {
 public:
  static constexpr size_t kNamesPerVoice = 4;

  // `capacity` voices at most; 0 keeps none.
  explicit VoiceCache(size_t capacity) : capacity_(capacity) {}

  // The voice under `key`, made the most recently used, with `reference` as its newest name; nullptr when
  // it is not here.
  std::shared_ptr<Voice> find(const std::string& key, const std::string& reference) {
    std::lock_guard lock(mutex_);
    auto found = index_.find(key);
    if (found == index_.end()) return nullptr;
    entries_.splice(entries_.begin(), entries_, found->second);
    add_name(*found->second, reference);
    return found->second->voice;
  }

  // Keeps `voice` as the most recently used, evicting the least recently used past the capacity. A voice
  // stored meanwhile under the same key (another job computed it) is kept and only gains the name.
  void remember(const std::string& key, const std::string& reference, std::shared_ptr<Voice> voice) {
    if (capacity_ == 0) return;
    std::lock_guard lock(mutex_);
    if (auto found = index_.find(key); found != index_.end()) {
      add_name(*found->second, reference);
      return;
    }
    entries_.push_front(Entry{key, std::move(voice), {}});
    add_name(entries_.front(), reference);
    index_[key] = entries_.begin();
    if (entries_.size() > capacity_) {
      index_.erase(entries_.back().key);
      entries_.pop_back();
    }
  }

  // The names of the voices held, most recently used first, at most `limit`.
  std::vector<std::string> references(size_t limit) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> names;
    for (const auto& entry : entries_) {
      for (const auto& name : entry.references) {
        if (names.size() == limit) return names;
        names.push_back(name);
      }
    }
    return names;
  }

  size_t size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<Voice> voice;
    std::vector<std::string> references;  // newest first; the same bytes may be sent under several names
  };

  static void add_name(Entry& entry, const std::string& reference) {
    if (reference.empty()) return;
    auto& names = entry.references;
    names.erase(std::remove(names.begin(), names.end(), reference), names.end());
    names.insert(names.begin(), reference);
    if (names.size() > kNamesPerVoice) names.pop_back();
  }

  const size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> entries_;
  std::unordered_map<std::string, typename std::list<Entry>::iterator> index_;
};

}  // namespace gpufleet::xtts
