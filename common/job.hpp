#pragma once
// A job's identity and its life cycle. The state machine here is the single definition every component
// (gateway, broker, tests) checks transitions against; docs/redis.md shows it as a diagram.

#include <optional>
#include <string>
#include <string_view>

namespace gpufleet {

enum class JobState {
  kQueued,     // accepted and waiting for a worker
  kRunning,    // dispatched to a worker that holds it
  kSucceeded,  // final: result written
  kFailed,     // final: error code and message recorded
  kCancelled,  // final: cancelled by a client
  kExpired,    // final: its timeout ran out before it finished
};

std::string_view to_string(JobState state);
std::optional<JobState> parse_job_state(std::string_view text);
bool is_final(JobState state);
// Whether `from -> to` is a legal step. Running -> queued is legal: a job whose worker was lost is requeued.
bool can_transition(JobState from, JobState to);

enum class JobKind { kTts, kVideo };
std::string_view to_string(JobKind kind);
std::optional<JobKind> parse_job_kind(std::string_view text);

// 32 lowercase hex characters from a CSPRNG-seeded generator: unguessable enough that one client cannot
// enumerate another's jobs, and safe to embed in Redis keys and file names.
std::string new_job_id();
bool is_valid_job_id(std::string_view id);

}  // namespace gpufleet
