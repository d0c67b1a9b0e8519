// Guards how the job store's replies are read: every number a script returns maps to one verdict and every
// other number to the safe one (a dispatch is not sent, a result is refused), no answer is told apart from
// "no", a worker's result counts as accepted exactly when the store took it (or had taken it), and a job's
// record is read by field name, so that a reordered or partial reply cannot put one field in another's place.
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

TEST(JobRecord, ReadByNameFromHmgetInTheCommandsOrder) {
  const RedisKeys keys("gf");
  const auto command = read_record_command(keys, "job1");
  ASSERT_GE(command.size(), 3u);
  EXPECT_EQ(command[0], "HMGET");
  EXPECT_EQ(command[1], keys.job("job1"));
  // Answer each field with a value derived from its name, as Redis would in that order.
  std::vector<std::string> values;
  for (size_t i = 2; i < command.size(); ++i) {
    const std::string& field = command[i];
    if (field == "state")
      values.push_back("running");
    else if (field == "worker")
      values.push_back("gpu-7");
    else if (field == "model")
      values.push_back("xtts");
    else if (field == "attempts")
      values.push_back("4");
    else if (field == "worker_losses")
      values.push_back("1");
    else if (field == "cancel_requested")
      values.push_back("1");
    else if (field == "priority")
      values.push_back("-3");
    else
      values.push_back("");
  }
  const auto record = record_from_hmget(values);
  EXPECT_EQ(record.state, "running");
  EXPECT_EQ(record.worker, "gpu-7");
  EXPECT_EQ(record.model, "xtts");
  EXPECT_EQ(record.attempts, 4u);
  EXPECT_EQ(record.worker_losses, 1u);
  EXPECT_TRUE(record.cancel_requested);
  EXPECT_EQ(record.priority, -3);
  // A reply of another length is no record.
  values.pop_back();
  EXPECT_EQ(record_from_hmget(values).state, "");
  EXPECT_EQ(record_from_hmget({}).state, "");
}

TEST(JobRecord, FromFieldsIgnoresUnknownNamesAndBadNumbers) {
  const auto record = record_from_fields({{"op", "submit"},
                                          {"id", "x"},
                                          {"model", "espeak"},
                                          {"created_ms", "1700000000000"},
                                          {"attempts", "many"},
                                          {"stage", "-1"},
                                          {"priority", "99999999999"},
                                          {"input", R"({"text":"hi"})"}});
  EXPECT_EQ(record.model, "espeak");
  EXPECT_EQ(record.created_ms, 1700000000000);
  EXPECT_EQ(record.attempts, 0u);  // not a number
  EXPECT_EQ(record.stage, 0u);     // negative for an unsigned field
  EXPECT_EQ(record.priority, 0);   // out of range
  EXPECT_EQ(record.input_json, R"({"text":"hi"})");
  EXPECT_EQ(record.state, "");
}

}  // namespace
}  // namespace gpufleet::job_store
