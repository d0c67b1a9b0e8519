#pragma once
// What becomes of an attempt that ended without a result the job can keep: the job runs again, or it ends
// with a final state, and why. Pure: the broker asks, then records and acts (tests/unit/retry_policy_test.cpp
// says which loop each rule prevents). docs/reliability.md describes the same rules for operators.

#include <cstdint>
#include <string>

#include "common/error.hpp"
#include "common/job.hpp"

namespace gpufleet::broker {

struct RetryLimits {
  uint32_t max_attempts = 3;  // attempts per stage (MAX_ATTEMPTS) before a lost or out-of-memory job fails
  uint32_t poison_after = 2;  // workers lost while running one job before it fails as `poison` (POISON_AFTER)
};

struct RetryDecision {
  enum class Kind {
    kRequeue,  // back on its queue; `avoid_worker`: prefer any other worker (its device ran out of memory)
    kFinal,    // ends as `state` with `code` and `message`
  } kind = Kind::kFinal;
  JobState state = JobState::kFailed;
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  bool avoid_worker = false;
  bool poisoned = false;  // kFinal because workers were lost too often while running it
};

// The attempt's worker was lost, or its lease ran out (`code`: kWorkerLost, kLeaseExpired) at `attempt`, the
// `stage_attempt`-th of its stage; `worker_losses` counts lost workers including this one.
RetryDecision after_lost_attempt(ErrorCode code, const std::string& reason, uint32_t attempt,
                                 uint32_t stage_attempt, uint32_t worker_losses, const RetryLimits& limits);

// The worker reported a failure with `error_code` (a name from common/error.hpp; anything else counts as
// model_error). `assigned`: the broker still held the attempt as the job's current one (only then can it run
// again).
RetryDecision after_failure(const std::string& error_code, const std::string& message,
                            const std::string& worker, bool assigned, uint32_t stage_attempt,
                            const RetryLimits& limits);

}  // namespace gpufleet::broker
