// Guards the event hub's pure parts: a server-sent event whose data holds newlines stays one event (a record
// a worker wrote cannot inject events into another client's stream), and waiters are woken only by final
// states, with the outcome the event or the record carries (an ill-formed result is null, not an error).
#include "gateway/event_hub.hpp"

#include <gtest/gtest.h>

#include "store/redis_schema.hpp"

namespace gpufleet::gateway {
namespace {

using nlohmann::json;

TEST(SseEvent, OneLineOfData) {
  EXPECT_EQ(sse_event("job", R"({"id":"a"})"), "event: job\ndata: {\"id\":\"a\"}\n\n");
}

TEST(SseEvent, NewlinesInDataCannotEndTheEventOrStartAnother) {
  const std::string text = sse_event("job", "first\n\nevent: worker\ndata: forged\n");
  EXPECT_EQ(text, "event: job\ndata: first\ndata: \ndata: event: worker\ndata: data: forged\ndata: \n\n");
  // Exactly one blank line, the one that ends the event.
  EXPECT_EQ(text.find("\n\n"), text.size() - 2);
}

TEST(FinalOutcome, OnlyFinalEventsCarryOne) {
  for (const char* state : {"queued", "running", "cancelling", "", "SUCCEEDED", "bogus"}) {
    EXPECT_FALSE(outcome_from_event(json{{"id", "a"}, {"state", state}})) << state;
  }
  const auto failed = outcome_from_event(
      json{{"id", "a"}, {"state", "failed"}, {"error", {{"code", "model_error"}, {"message", "boom"}}}});
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->state, "failed");
  EXPECT_EQ(failed->error_code, "model_error");
  EXPECT_EQ(failed->error_message, "boom");
  const auto succeeded =
      outcome_from_event(json{{"state", "succeeded"}, {"result", {{"audio_path", "x.wav"}}}});
  ASSERT_TRUE(succeeded);
  EXPECT_EQ(succeeded->result["audio_path"], "x.wav");
  // An error that is not an object is no error message (not a crash).
  const auto odd = outcome_from_event(json{{"state", "failed"}, {"error", "text"}});
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->error_code, "");
}

TEST(FinalOutcome, FromARecord) {
  using Fields = std::vector<std::pair<std::string, std::string>>;
  EXPECT_FALSE(outcome_from_record(Fields{{std::string(job_field::kState), "running"}}));
  EXPECT_FALSE(outcome_from_record(Fields{}));
  const auto done = outcome_from_record(
      Fields{{std::string(job_field::kState), "succeeded"}, {std::string(job_field::kResult), R"({"a":1})"}});
  ASSERT_TRUE(done);
  EXPECT_EQ(done->result["a"], 1);
  const auto garbled = outcome_from_record(
      Fields{{std::string(job_field::kState), "succeeded"}, {std::string(job_field::kResult), "{not json"}});
  ASSERT_TRUE(garbled);
  EXPECT_TRUE(garbled->result.is_null());
}

}  // namespace
}  // namespace gpufleet::gateway
