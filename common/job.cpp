#include "common/job.hpp"

#include <random>

namespace gpufleet {

std::string_view to_string(JobState state) {
  switch (state) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
    case JobState::kCancelled: return "cancelled";
    case JobState::kExpired: return "expired";
  }
  return "unknown";
}

std::optional<JobState> parse_job_state(std::string_view text) {
  for (auto state : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                     JobState::kCancelled, JobState::kExpired}) {
    if (to_string(state) == text) return state;
  }
  return std::nullopt;
}

bool is_final(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed || state == JobState::kCancelled ||
         state == JobState::kExpired;
}

bool can_transition(JobState from, JobState to) {
  switch (from) {
    case JobState::kQueued:
      return to == JobState::kRunning || to == JobState::kFailed || to == JobState::kCancelled ||
             to == JobState::kExpired;
    case JobState::kRunning:
      return to == JobState::kQueued || to == JobState::kSucceeded || to == JobState::kFailed ||
             to == JobState::kCancelled || to == JobState::kExpired;
    case JobState::kSucceeded:
    case JobState::kFailed:
    case JobState::kCancelled:
    case JobState::kExpired:
      return false;
  }
  return false;
}

std::string_view to_string(JobKind kind) {
  switch (kind) {
    case JobKind::kTts: return "tts";
    case JobKind::kVideo: return "video";
  }
  return "unknown";
}

std::optional<JobKind> parse_job_kind(std::string_view text) {
  for (auto kind : {JobKind::kTts, JobKind::kVideo}) {
    if (to_string(kind) == text) return kind;
  }
  return std::nullopt;
}

std::string new_job_id() {
  thread_local std::mt19937_64 generator = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = generator();
    for (int i = 0; i < 16; ++i) {
      id[half * 16 + i] = kHex[bits & 0xF];
      bits >>= 4;
    }
  }
  return id;
}

bool is_valid_job_id(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace gpufleet
