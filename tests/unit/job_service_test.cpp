// Guards the job service's answers, built without sockets: a synchronous generate answers in the original
// service's shape with the status its failure deserves (a timeout is 504, not 200 with success false); a
// replayed creation does not claim its job is still queued; a batch counts what it accepted; a cancel maps
// each store verdict to its status; and the recent-jobs limit refuses what is not a number from 1 to 500 (an
// unbounded scan of the completions log) instead of clamping or crashing.
#include "gateway/job_service.hpp"

#include <gtest/gtest.h>

namespace gpufleet::gateway {
namespace {

using nlohmann::json;

TEST(GenerateAnswer, SucceededCarriesTheFileUnderItsField) {
  FinalOutcome outcome{"succeeded", {{"video_path", "/data/video/a.mp4"}, {"duration_s", 2.5}}, "", ""};
  const auto answer = generate_answer("job-1", "portrait", "video_path", &outcome);
  EXPECT_EQ(answer.status, 200u);
  EXPECT_EQ(answer.body["success"], true);
  EXPECT_EQ(answer.body["video_path"], "/data/video/a.mp4");
  EXPECT_EQ(answer.body["duration_s"], 2.5);
  EXPECT_EQ(answer.body["generation_time_ms"], 0.0);  // absent from the result: zero, not missing
  EXPECT_EQ(answer.body["job_id"], "job-1");
  EXPECT_EQ(answer.body["model"], "portrait");
  EXPECT_FALSE(answer.body.contains("audio_path"));
}

TEST(GenerateAnswer, TimeoutIs504WithWhereToPoll) {
  const auto answer = generate_answer("job-2", "espeak", "audio_path", nullptr);
  EXPECT_EQ(answer.status, 504u);
  EXPECT_EQ(answer.body["success"], false);
  EXPECT_EQ(answer.body["error"]["code"], "timeout");
  EXPECT_NE(answer.body["error"]["message"].get<std::string>().find("/v1/jobs/job-2"), std::string::npos);
}

TEST(GenerateAnswer, AFailureKeepsItsCodeAndStatus) {
  FinalOutcome refused{"failed", nullptr, "text_too_long", "at most 5000 characters"};
  const auto answer = generate_answer("job-3", "espeak", "audio_path", &refused);
  EXPECT_EQ(answer.status, 422u);
  EXPECT_EQ(answer.body["success"], false);
  EXPECT_EQ(answer.body["error"]["code"], "text_too_long");
  EXPECT_EQ(answer.body["error"]["message"], "at most 5000 characters");
  // A code this gateway does not know (a newer worker's) is a failed job, not a crash or a 200.
  FinalOutcome odd{"failed", nullptr, "brand_new_code", "?"};
  EXPECT_EQ(generate_answer("job-4", "espeak", "audio_path", &odd).status, 409u);
  // No code at all: the state stands in for it.
  FinalOutcome cancelled{"cancelled", nullptr, "", ""};
  const auto gone = generate_answer("job-5", "espeak", "audio_path", &cancelled);
  EXPECT_EQ(gone.body["error"]["code"], "cancelled");
  EXPECT_EQ(gone.status, 409u);
}

TEST(AcceptedJson, AReplayDoesNotClaimTheJobIsQueued) {
  const auto fresh = accepted_json(Created{"abc", false});
  EXPECT_EQ(fresh["state"], "queued");
  EXPECT_EQ(fresh["links"]["self"], "/v1/jobs/abc");
  EXPECT_EQ(fresh["links"]["result"], "/v1/jobs/abc/result");
  EXPECT_FALSE(accepted_json(Created{"abc", true}).contains("state"));
}

TEST(BatchAnswer, EachOutcomeInOrderAndTheCounts) {
  const std::vector<SubmitOutcome> outcomes{
      Created{"a", false}, api_error(ErrorCode::kUnknownModel, "no model 'x'"), Created{"b", true}};
  const auto body = batch_answer(outcomes);
  EXPECT_EQ(body["accepted"], 2);
  EXPECT_EQ(body["refused"], 1);
  ASSERT_EQ(body["jobs"].size(), 3u);
  EXPECT_EQ(body["jobs"][0]["status"], 202);
  EXPECT_EQ(body["jobs"][1]["status"], 404);
  EXPECT_EQ(body["jobs"][1]["error"]["code"], "unknown_model");
  EXPECT_EQ(body["jobs"][2]["replayed"], true);
  EXPECT_EQ(batch_answer({})["jobs"], json::array());
}

TEST(CancelAnswer, EachVerdictItsStatus) {
  using Kind = job_store::CancelOutcome::Kind;
  auto status_of = [](Kind kind, std::string state = "") {
    auto answer = cancel_answer("j", job_store::CancelOutcome{kind, std::move(state)});
    if (auto* error = std::get_if<ApiError>(&answer)) return error->status;
    return static_cast<int>(std::get<JsonAnswer>(answer).status);
  };
  EXPECT_EQ(status_of(Kind::kMissing), 404);
  EXPECT_EQ(status_of(Kind::kCancelled), 200);
  EXPECT_EQ(status_of(Kind::kCancelling), 202);
  EXPECT_EQ(status_of(Kind::kAlreadyFinal, "succeeded"), 409);
  auto final = cancel_answer("j", job_store::CancelOutcome{Kind::kAlreadyFinal, "succeeded"});
  EXPECT_EQ(std::get<ApiError>(final).code, ErrorCode::kAlreadyFinal);
  EXPECT_NE(std::get<ApiError>(final).message.find("succeeded"), std::string::npos);
  auto running = cancel_answer("j", job_store::CancelOutcome{Kind::kCancelling, ""});
  EXPECT_EQ(std::get<JsonAnswer>(running).body["cancel_requested"], true);
}

TEST(RecentLimit, OneTo500OrRefused) {
  EXPECT_EQ(std::get<long long>(parse_recent_limit("")), 50);
  EXPECT_EQ(std::get<long long>(parse_recent_limit("other=1")), 50);
  EXPECT_EQ(std::get<long long>(parse_recent_limit("limit=1")), 1);
  EXPECT_EQ(std::get<long long>(parse_recent_limit("limit=500")), 500);
  for (const char* bad : {"limit=", "limit=0", "limit=501", "limit=-1", "limit=5x", "limit=abc",
                          "limit=99999999999999999999999", "limit=%00", "limit=1%20"}) {
    auto parsed = parse_recent_limit(bad);
    ASSERT_TRUE(std::holds_alternative<ApiError>(parsed)) << bad;
    EXPECT_EQ(std::get<ApiError>(parsed).status, 400) << bad;
  }
}

}  // namespace
}  // namespace gpufleet::gateway
