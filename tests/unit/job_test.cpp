// Guards the job state machine (no way out of a final state, requeue allowed) and job id format.
#include "common/job.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "store/redis_schema.hpp"

namespace gpufleet {
namespace {

TEST(JobState, NamesRoundTrip) {
  for (auto state : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                     JobState::kCancelled, JobState::kExpired}) {
    EXPECT_EQ(parse_job_state(to_string(state)), state);
  }
  EXPECT_FALSE(parse_job_state("done"));
}

TEST(JobState, FinalStatesAreTerminal) {
  for (auto final_state :
       {JobState::kSucceeded, JobState::kFailed, JobState::kCancelled, JobState::kExpired}) {
    EXPECT_TRUE(is_final(final_state));
    for (auto to : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                    JobState::kCancelled, JobState::kExpired}) {
      EXPECT_FALSE(can_transition(final_state, to)) << to_string(final_state) << " -> " << to_string(to);
    }
  }
}

TEST(JobState, LegalSteps) {
  EXPECT_TRUE(can_transition(JobState::kQueued, JobState::kRunning));
  EXPECT_TRUE(can_transition(JobState::kRunning, JobState::kQueued));  // worker lost
  EXPECT_TRUE(can_transition(JobState::kRunning, JobState::kSucceeded));
  EXPECT_FALSE(can_transition(JobState::kQueued, JobState::kSucceeded));
  EXPECT_FALSE(can_transition(JobState::kQueued, JobState::kQueued));
}

TEST(JobId, IsHexOf32AndUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    auto id = new_job_id();
    EXPECT_TRUE(is_valid_job_id(id)) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_FALSE(is_valid_job_id("../../etc/passwd"));
  EXPECT_FALSE(is_valid_job_id("0123456789ABCDEF0123456789abcdef"));
  EXPECT_FALSE(is_valid_job_id(""));
}

TEST(RedisSchema, TransitionWritesHashExpiresFinalAndPublishes) {
  RedisKeys keys("gf");
  JobEvent event{"0123456789abcdef0123456789abcdef",
                 JobState::kSucceeded,
                 "tts",
                 "espeak",
                 5,
                 1,
                 "w",
                 R"({"a":1})",
                 {},
                 {}};
  auto commands = job_transition_commands(keys, event, {{"result", R"({"a":1})"}}, 60);
  ASSERT_EQ(commands.size(), 3u);
  EXPECT_EQ(commands[0][0], "HSET");
  EXPECT_EQ(commands[0][1], "gf:job:0123456789abcdef0123456789abcdef");
  EXPECT_EQ(commands[1], (RedisArgs{"EXPIRE", commands[0][1], "60"}));
  EXPECT_EQ(commands[2][0], "PUBLISH");
  EXPECT_EQ(commands[2][1], "gf:events:jobs");
  EXPECT_NE(commands[2][2].find(R"("result":{"a":1})"), std::string::npos) << commands[2][2];

  event.state = JobState::kRunning;
  EXPECT_EQ(job_transition_commands(keys, event, {}, 60).size(), 2u);  // no expiry while active
}

}  // namespace
}  // namespace gpufleet

namespace gpufleet {
namespace {

// The event writer is hand-made for speed; it must still produce JSON that any parser reads back exactly.
TEST(RedisSchema, EventJsonParsesBackWithEscapesAndRejectsABrokenResult) {
  JobEvent event{"0123456789abcdef0123456789abcdef",
                 JobState::kFailed,
                 "tts",
                 "esp\"eak",
                 42,
                 2,
                 "w\\1",
                 "",
                 "model_error",
                 "line1\nline2\t\x01 \"quoted\" é"};
  auto json = nlohmann::json::parse(to_json(event));
  EXPECT_EQ(json["type"], "job");
  EXPECT_EQ(json["state"], "failed");
  EXPECT_EQ(json["model"], "esp\"eak");
  EXPECT_EQ(json["worker"], "w\\1");
  EXPECT_EQ(json["at_ms"], 42);
  EXPECT_EQ(json["attempt"], 2);
  EXPECT_EQ(json["error"]["message"], event.error_message);
  EXPECT_FALSE(json.contains("result"));

  event.state = JobState::kSucceeded;
  event.error_code.clear();
  event.result_json = R"({"audio_path":"/x.wav","duration_s":1.5})";
  json = nlohmann::json::parse(to_json(event));
  EXPECT_EQ(json["result"]["duration_s"], 1.5);
  event.result_json = R"({"broken": )";
  EXPECT_FALSE(nlohmann::json::parse(to_json(event)).contains("result"));
}

}  // namespace
}  // namespace gpufleet
