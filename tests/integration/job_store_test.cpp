// Guards the job store's pipeline scripts on a real Redis (under a key prefix of their own, beside a running
// fleet that does not follow it): a pipeline's stages are recorded at submission; an earlier stage's success
// can never end the job; advancing keeps the stage's result and queues the job under the next model in one
// step; a repeated advance is recognised, a stale one refused; a cancel asked for while a stage ran cancels
// the job instead of starting the next stage; and a restarted broker finds the job in its next stage.
#include "store/job_store.hpp"

#include <gtest/gtest.h>

#include "broker/recovery.hpp"
#include "common/pipeline.hpp"
#include "tests/support/fleet_fixture.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

class JobStorePipeline : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { fleet_ = new Fleet(FleetOptions{1, "espeak,noop", 1, {}}); }
  static void TearDownTestSuite() {
    delete fleet_;
    fleet_ = nullptr;
  }

  JobStorePipeline() : redis_(endpoint()), keys_(redis_.keys()) { redis_.enable_job_store_scripts(); }

  static RedisEndpoint endpoint() {
    RedisEndpoint endpoint = fleet_->redis_endpoint();
    endpoint.prefix = "pipeline-store-test";
    return endpoint;
  }

  std::string submit() {
    std::vector<PipelineStage> stages{{"tts", "espeak", {{"text", "Hi"}}, {}},
                                      {"video", "portrait", {{"size", 256}}, {{"audio_path", "audio_path"}}}};
    job_store::NewJob job;
    job.id = new_job_id();
    job.kind = "tts";
    job.model = "espeak";
    job.input_json = R"({"text":"Hi"})";
    job.created_ms = 1'000'000;
    job.pipeline = pipeline_to_json(stages);
    job.stage_count = stages.size();
    auto reply = redis_.command(job_store::submit_command(keys_, job));
    EXPECT_EQ(reply.element_str(0), "created") << reply.str();
    return job.id;
  }

  long long dispatch(const std::string& id, uint32_t attempt, const std::string& worker) {
    auto command = job_store::batch_command(keys_, job_store::Batch::kDispatch);
    for (auto& arg : job_store::dispatch_group(id, attempt, worker, 2'000'000, "{}")) command.push_back(arg);
    return redis_.command(command).element_integer(0).value_or(-99);
  }

  long long finish(const std::string& id, uint32_t attempt, const std::string& worker) {
    job_store::Completion completion;
    completion.id = id;
    completion.attempt = attempt;
    completion.worker = worker;
    completion.now_ms = 3'000'000;
    completion.event = "{}";
    completion.fields = {{"result", R"({"video_path":"/v.mp4"})"}};
    auto command = job_store::batch_command(keys_, job_store::Batch::kFinish);
    for (auto& arg : job_store::finish_group(completion)) command.push_back(arg);
    return redis_.command(command).element_integer(0).value_or(-99);
  }

  long long advance(const std::string& id, uint32_t attempt, const std::string& worker, uint32_t stage) {
    job_store::Advance step;
    step.id = id;
    step.attempt = attempt;
    step.worker = worker;
    step.stage = stage;
    step.now_ms = 2'500'000;
    step.next_kind = "video";
    step.next_model = "portrait";
    step.next_input = R"({"size":256,"audio_path":"/s/tts/a.wav"})";
    step.stage_result = R"({"audio_path":"/s/tts/a.wav"})";
    step.queued_event = step.cancelled_event = "{}";
    auto reply = redis_.command(job_store::advance_command(keys_, step));
    return reply.is_integer() ? reply.integer() : -99;
  }

  std::map<std::string, std::string> record(const std::string& id) {
    auto pairs = redis_.command({"HGETALL", keys_.job(id)}).pairs();
    return {pairs.begin(), pairs.end()};
  }

  static Fleet* fleet_;
  RedisClient redis_;
  RedisKeys keys_;
};

Fleet* JobStorePipeline::fleet_ = nullptr;

TEST_F(JobStorePipeline, StagesAdvanceAtomicallyAndOnlyTheLastStageEndsTheJob) {
  const std::string id = submit();
  auto job = record(id);
  EXPECT_EQ(job["stage"], "0");
  EXPECT_EQ(job["stages_total"], "2");
  ASSERT_TRUE(parse_pipeline(job["stages"]));
  auto entries = redis_.command({"XREVRANGE", keys_.submissions(), "+", "-", "COUNT", "1"}).stream_entries();
  ASSERT_EQ(entries.size(), 1u);
  bool has_stages = false;
  for (const auto& [field, value] : entries[0].fields)
    has_stages = has_stages || (field == "stages" && value == job["stages"]);
  EXPECT_TRUE(has_stages) << "the submission stream entry lacks the stages";

  ASSERT_EQ(dispatch(id, 1, "w1"), 1);
  EXPECT_EQ(finish(id, 1, "w1"), 0) << "the speech stage's success ended the whole job";
  EXPECT_EQ(advance(id, 1, "w2", 0), 0) << "a worker that does not hold the stage advanced it";
  ASSERT_EQ(advance(id, 1, "w1", 0), 1);
  job = record(id);
  EXPECT_EQ(job["state"], "queued");
  EXPECT_EQ(job["kind"], "video");
  EXPECT_EQ(job["model"], "portrait");
  EXPECT_EQ(json::parse(job["input"])["audio_path"], "/s/tts/a.wav");
  EXPECT_EQ(job["stage"], "1");
  EXPECT_EQ(job["stage_base"], "1");
  EXPECT_EQ(job["stage_result_0"], R"({"audio_path":"/s/tts/a.wav"})");
  EXPECT_EQ(redis_.command({"ZSCORE", keys_.queue("portrait"), id}).str(),
            "1000000");  // its age keeps its place
  EXPECT_TRUE(redis_.command({"ZSCORE", keys_.running(), id}).is_nil());

  // A restarted broker finds it queued as its video stage, with the attempts it has used.
  auto state = broker::recover_state(redis_, keys_);
  ASSERT_EQ(state.queued.size(), 1u);
  EXPECT_EQ(state.queued[0].model, "portrait");
  EXPECT_EQ(state.queued[0].stage, 1u);
  EXPECT_EQ(state.queued[0].stage_base, 1u);
  EXPECT_EQ(state.queued[0].attempts, 1u);
  EXPECT_FALSE(state.queued[0].stages_json.empty());

  EXPECT_EQ(advance(id, 1, "w1", 0), 2) << "the same advance sent again was not recognised";
  ASSERT_EQ(dispatch(id, 2, "w3"), 1);
  EXPECT_EQ(advance(id, 1, "w1", 0), 0) << "a stale advance of the finished stage was accepted";
  EXPECT_EQ(finish(id, 2, "w3"), 1);
  job = record(id);
  EXPECT_EQ(job["state"], "succeeded");
  EXPECT_EQ(job["result"], R"({"video_path":"/v.mp4"})");
  EXPECT_EQ(job["stage_result_0"], R"({"audio_path":"/s/tts/a.wav"})");
}

TEST_F(JobStorePipeline, ACancelAskedForDuringAStageCancelsTheJobInsteadOfTheNextStage) {
  const std::string id = submit();
  ASSERT_EQ(dispatch(id, 1, "w1"), 1);
  auto cancel = redis_.command(job_store::cancel_command(keys_, id, 2'200'000, 3600));
  EXPECT_EQ(cancel.element_str(0), "cancelling");
  EXPECT_EQ(advance(id, 1, "w1", 0), 3);
  auto job = record(id);
  EXPECT_EQ(job["state"], "cancelled");
  EXPECT_EQ(job["error_code"], "cancelled");
  EXPECT_EQ(job["stage"], "0");
  EXPECT_FALSE(job["stage_result_0"].empty());
  EXPECT_TRUE(redis_.command({"ZSCORE", keys_.queue("portrait"), id}).is_nil());
  EXPECT_TRUE(redis_.command({"ZSCORE", keys_.running(), id}).is_nil());
}

}  // namespace
}  // namespace gpufleet::testing
