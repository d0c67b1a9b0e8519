#include "common/job.hpp"

#include <sys/random.h>

#include <cerrno>
#include <system_error>

namespace gpufleet {

std::string_view to_string(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
    case JobState::kExpired:
      return "expired";
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
    case JobKind::kTts:
      return "tts";
    case JobKind::kVideo:
      return "video";
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
  // From the kernel's CSPRNG: an id is a job's only name on the API, so it must not be guessable from others.
  unsigned char bytes[16];
  size_t filled = 0;
  while (filled < sizeof(bytes)) {
    const ssize_t got = getrandom(bytes + filled, sizeof(bytes) - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    filled += static_cast<size_t>(got);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (size_t i = 0; i < sizeof(bytes); ++i) {
    id[2 * i] = kHex[bytes[i] >> 4];
    id[2 * i + 1] = kHex[bytes[i] & 0xF];
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
