// Guards how the job store's script replies are read: every number a script returns maps to one verdict and
// every other number to the safe one (a dispatch is not sent, a result is refused), no answer is told apart
// from "no", and a worker's result counts as accepted exactly when the store took it (or had taken it).
#include <gtest/gtest.h>

#include "store/job_store.hpp"

namespace gpufleet::job_store {
namespace {

TEST(DispatchVerdict, ScriptNumbers) {
  EXPECT_EQ(parse_dispatch_verdict(1).kind, DispatchVerdict::Kind::kSend);
  EXPECT_EQ(parse_dispatch_verdict(0).kind, DispatchVerdict::Kind::kGone);
  EXPECT_EQ(parse_dispatch_verdict(std::nullopt).kind, DispatchVerdict::Kind::kUnanswered);
  const auto recount = parse_dispatch_verdict(-4);
  EXPECT_EQ(recount.kind, DispatchVerdict::Kind::kRecount);
  EXPECT_EQ(recount.attempts_done, 3u);
  EXPECT_EQ(parse_dispatch_verdict(-1).attempts_done, 0u);
  // Numbers no script sends never mean "send", nor an attempt count past uint32.
  EXPECT_EQ(parse_dispatch_verdict(2).kind, DispatchVerdict::Kind::kGone);
  EXPECT_EQ(parse_dispatch_verdict(-(1LL << 40)).kind, DispatchVerdict::Kind::kGone);
}

TEST(FinishVerdict, ScriptNumbers) {
  EXPECT_EQ(parse_finish_verdict(1), FinishVerdict::kRecorded);
  EXPECT_EQ(parse_finish_verdict(2), FinishVerdict::kRepeated);
  EXPECT_EQ(parse_finish_verdict(0), FinishVerdict::kStale);
  EXPECT_EQ(parse_finish_verdict(7), FinishVerdict::kStale);
  EXPECT_EQ(parse_finish_verdict(std::nullopt), FinishVerdict::kUnanswered);
  EXPECT_TRUE(result_accepted(FinishVerdict::kRecorded));
  EXPECT_TRUE(result_accepted(FinishVerdict::kRepeated));
  EXPECT_FALSE(result_accepted(FinishVerdict::kStale));
  EXPECT_FALSE(result_accepted(FinishVerdict::kUnanswered));
}

TEST(RequeueVerdict, ScriptNumbers) {
  EXPECT_EQ(parse_requeue_verdict(1), RequeueVerdict::kRequeued);
  EXPECT_EQ(parse_requeue_verdict(2), RequeueVerdict::kCancelled);
  EXPECT_EQ(parse_requeue_verdict(0), RequeueVerdict::kNotRunning);
  EXPECT_EQ(parse_requeue_verdict(std::nullopt), RequeueVerdict::kUnanswered);
  EXPECT_FALSE(result_accepted(RequeueVerdict::kNotRunning));
}

TEST(AdvanceVerdict, ScriptNumbers) {
  EXPECT_EQ(parse_advance_verdict(1), AdvanceVerdict::kAdvanced);
  EXPECT_EQ(parse_advance_verdict(2), AdvanceVerdict::kRepeated);
  EXPECT_EQ(parse_advance_verdict(3), AdvanceVerdict::kCancelled);
  EXPECT_EQ(parse_advance_verdict(0), AdvanceVerdict::kNotRunning);
  EXPECT_EQ(parse_advance_verdict(-5), AdvanceVerdict::kNotRunning);
  EXPECT_EQ(parse_advance_verdict(std::nullopt), AdvanceVerdict::kUnanswered);
  EXPECT_TRUE(result_accepted(AdvanceVerdict::kCancelled));  // the stage's output was taken; then cancelled
  EXPECT_FALSE(result_accepted(AdvanceVerdict::kNotRunning));
}

TEST(CancelOutcome, ScriptReplies) {
  EXPECT_EQ(parse_cancel_reply({"missing", ""})->kind, CancelOutcome::Kind::kMissing);
  EXPECT_EQ(parse_cancel_reply({"cancelled", "queued"})->kind, CancelOutcome::Kind::kCancelled);
  EXPECT_EQ(parse_cancel_reply({"cancelling", "running"})->kind, CancelOutcome::Kind::kCancelling);
  const auto final = parse_cancel_reply({"final", "succeeded"});
  ASSERT_TRUE(final);
  EXPECT_EQ(final->kind, CancelOutcome::Kind::kAlreadyFinal);
  EXPECT_EQ(final->state, "succeeded");
  EXPECT_FALSE(parse_cancel_reply({"final"}));
  EXPECT_FALSE(parse_cancel_reply({"gone", "x"}));
  EXPECT_FALSE(parse_cancel_reply({}));
}

}  // namespace
}  // namespace gpufleet::job_store
