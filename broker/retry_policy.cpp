#include "broker/retry_policy.hpp"

namespace gpufleet::broker {

RetryDecision after_lost_attempt(ErrorCode code, const std::string& reason, uint32_t attempt,
                                 uint32_t stage_attempt, uint32_t worker_losses, const RetryLimits& limits) {
  RetryDecision decision;
  if (code == ErrorCode::kWorkerLost && worker_losses >= limits.poison_after) {
    // A job that crashes its worker would otherwise take down one worker after another.
    decision.code = ErrorCode::kPoison;
    decision.poisoned = true;
    decision.message = "the job's worker was lost " + std::to_string(worker_losses) +
                       " times while running it; it is not offered again (last: " + reason + ")";
    return decision;
  }
  if (stage_attempt >= limits.max_attempts) {
    decision.code = code;
    decision.message = reason + " (after " + std::to_string(attempt) + " attempts)";
    return decision;
  }
  decision.kind = RetryDecision::Kind::kRequeue;
  decision.state = JobState::kQueued;
  decision.code = code;
  decision.message = reason;
  return decision;
}

RetryDecision after_failure(const std::string& error_code, const std::string& message,
                            const std::string& worker, bool assigned, uint32_t stage_attempt,
                            const RetryLimits& limits) {
  RetryDecision decision;
  decision.code = parse_error_code(error_code).value_or(ErrorCode::kModelError);
  decision.message = message;
  decision.state = decision.code == ErrorCode::kCancelled          ? JobState::kCancelled
                   : decision.code == ErrorCode::kDeadlineExceeded ? JobState::kExpired
                                                                   : JobState::kFailed;
  if (decision.code == ErrorCode::kOutOfMemory && assigned && stage_attempt < limits.max_attempts) {
    // Device memory runs out on one worker, not necessarily on another: try elsewhere.
    decision.kind = RetryDecision::Kind::kRequeue;
    decision.state = JobState::kQueued;
    decision.avoid_worker = true;
    decision.message = "out of memory on worker " + worker + ": " + message;
  }
  return decision;
}

}  // namespace gpufleet::broker
