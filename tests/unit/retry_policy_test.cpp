// Guards the broker's retry rules, each against the loop it prevents: a job that kills its workers is not
// offered forever (poison), a job lost again and again fails after MAX_ATTEMPTS per stage, an out-of-memory
// failure is tried on another worker but not endlessly, and a worker's failure codes map to the right final
// state (a made-up code is a model error, never a retry).
#include "broker/retry_policy.hpp"

#include <gtest/gtest.h>

namespace gpufleet::broker {
namespace {

const RetryLimits kLimits{3, 2};

TEST(RetryPolicy, ALostWorkerIsRetriedUntilPoisonAfter) {
  const auto first = after_lost_attempt(ErrorCode::kWorkerLost, "worker w1 lost", 1, 1, 1, kLimits);
  EXPECT_EQ(first.kind, RetryDecision::Kind::kRequeue);
  EXPECT_EQ(first.state, JobState::kQueued);
  EXPECT_EQ(first.code, ErrorCode::kWorkerLost);
  const auto second = after_lost_attempt(ErrorCode::kWorkerLost, "worker w2 lost", 2, 2, 2, kLimits);
  EXPECT_EQ(second.kind, RetryDecision::Kind::kFinal);
  EXPECT_TRUE(second.poisoned);
  EXPECT_EQ(second.state, JobState::kFailed);
  EXPECT_EQ(second.code, ErrorCode::kPoison);
  EXPECT_NE(second.message.find("lost 2 times"), std::string::npos) << second.message;
  EXPECT_NE(second.message.find("worker w2 lost"), std::string::npos) << second.message;
}

TEST(RetryPolicy, ExpiredLeasesFailAfterMaxAttemptsPerStageNotAsPoison) {
  const RetryLimits no_poison{3, 100};
  EXPECT_EQ(after_lost_attempt(ErrorCode::kLeaseExpired, "lease", 2, 2, 0, no_poison).kind,
            RetryDecision::Kind::kRequeue);
  const auto last = after_lost_attempt(ErrorCode::kLeaseExpired, "lease ran out", 5, 3, 0, no_poison);
  EXPECT_EQ(last.kind, RetryDecision::Kind::kFinal);
  EXPECT_FALSE(last.poisoned);
  EXPECT_EQ(last.code, ErrorCode::kLeaseExpired);
  // The message counts the job's attempts in all (a pipeline's earlier stages included).
  EXPECT_EQ(last.message, "lease ran out (after 5 attempts)");
  // Expired leases never count toward poison, however many.
  EXPECT_EQ(after_lost_attempt(ErrorCode::kLeaseExpired, "lease", 1, 1, 50, kLimits).kind,
            RetryDecision::Kind::kRequeue);
}

TEST(RetryPolicy, OutOfMemoryTriesAnotherWorkerWithinMaxAttempts) {
  const auto retry = after_failure("out_of_memory", "CUDA OOM", "gpu-1", true, 1, kLimits);
  EXPECT_EQ(retry.kind, RetryDecision::Kind::kRequeue);
  EXPECT_TRUE(retry.avoid_worker);
  EXPECT_EQ(retry.message, "out of memory on worker gpu-1: CUDA OOM");
  const auto spent = after_failure("out_of_memory", "CUDA OOM", "gpu-1", true, 3, kLimits);
  EXPECT_EQ(spent.kind, RetryDecision::Kind::kFinal);
  EXPECT_EQ(spent.state, JobState::kFailed);
  EXPECT_EQ(spent.code, ErrorCode::kOutOfMemory);
  // A result for an attempt the broker no longer holds (revoked, or unknown after a restart) is not run
  // again: the job store decides whether it counts at all.
  EXPECT_EQ(after_failure("out_of_memory", "x", "gpu-1", false, 1, kLimits).kind,
            RetryDecision::Kind::kFinal);
}

TEST(RetryPolicy, FailureCodesMapToFinalStates) {
  EXPECT_EQ(after_failure("cancelled", "", "w", true, 1, kLimits).state, JobState::kCancelled);
  EXPECT_EQ(after_failure("deadline_exceeded", "", "w", true, 1, kLimits).state, JobState::kExpired);
  const auto refused = after_failure("invalid_input", "no such voice", "w", true, 1, kLimits);
  EXPECT_EQ(refused.kind, RetryDecision::Kind::kFinal);
  EXPECT_EQ(refused.state, JobState::kFailed);
  EXPECT_EQ(refused.code, ErrorCode::kInvalidInput);
  EXPECT_EQ(refused.message, "no such voice");
  // A code no worker should send is a model error, and is not retried.
  const auto odd = after_failure("please_retry_forever", "?", "w", true, 1, kLimits);
  EXPECT_EQ(odd.kind, RetryDecision::Kind::kFinal);
  EXPECT_EQ(odd.code, ErrorCode::kModelError);
}

}  // namespace
}  // namespace gpufleet::broker
