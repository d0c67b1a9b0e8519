// Guards what the broker does when a pipeline stage succeeds: the job becomes its next stage (kind, model,
// input filled from the result, attempts counted on from where the stage ended), the last stage's result is
// the job's, and stages or results it cannot read fail the job instead of looping or guessing.
#include "broker/stages.hpp"

#include <gtest/gtest.h>

#include "common/pipeline.hpp"

namespace gpufleet::broker {
namespace {

QueuedJob pipeline_job() {
  std::vector<PipelineStage> stages{{"tts", "espeak", {{"text", "Hi"}}, {}},
                                    {"video",
                                     "portrait",
                                     {{"reference_image", "uploads/face.png"}},
                                     {{"audio_path", "audio_path"}, {"phonemes", "phonemes"}}}};
  QueuedJob job;
  job.id = "0123456789abcdef0123456789abcdef";
  job.kind = "tts";
  job.model = "espeak";
  job.input_json = R"({"text":"Hi"})";
  job.created_ms = 1000;
  job.deadline_ms = 9000;
  job.priority = 5;
  job.stages_json = pipeline_to_json(stages);
  job.reference = "uploads/voice.wav";
  job.avoid_worker = "w1";
  return job;
}

TEST(PipelineStages, ASucceededStageBecomesTheNextStageWithItsResultFilledIn) {
  const QueuedJob job = pipeline_job();
  auto step =
      step_after_success(job, 2, R"({"audio_path":"/storage/tts/x-2.wav","phonemes":[{"phoneme":"h"}]})");
  ASSERT_EQ(step.kind, StageStep::Kind::kNext);
  EXPECT_EQ(step.next.id, job.id);
  EXPECT_EQ(step.next.kind, "video");
  EXPECT_EQ(step.next.model, "portrait");
  EXPECT_EQ(step.next.stage, 1u);
  EXPECT_EQ(step.next.stage_base, 2u);
  EXPECT_EQ(step.next.attempts, 2u);
  EXPECT_EQ(step.next.stage_attempt(3), 1u);        // its first attempt counts as the stage's first
  EXPECT_EQ(step.next.created_ms, job.created_ms);  // keeps its place by age, its priority and its deadline
  EXPECT_EQ(step.next.deadline_ms, job.deadline_ms);
  EXPECT_EQ(step.next.priority, 5);
  EXPECT_TRUE(step.next.reference.empty());
  EXPECT_TRUE(step.next.avoid_worker.empty());
  const auto input = nlohmann::json::parse(step.next.input_json);
  EXPECT_EQ(input["audio_path"], "/storage/tts/x-2.wav");
  EXPECT_EQ(input["reference_image"], "uploads/face.png");
  EXPECT_EQ(input["phonemes"][0]["phoneme"], "h");

  auto last = step_after_success(step.next, 3, R"({"video_path":"/storage/video/x-3.mp4"})");
  EXPECT_EQ(last.kind, StageStep::Kind::kLast);
}

TEST(PipelineStages, AJobOfOneStageEndsWithItsResult) {
  QueuedJob job = pipeline_job();
  job.stages_json.clear();
  EXPECT_EQ(step_after_success(job, 1, "{}").kind, StageStep::Kind::kLast);
}

TEST(PipelineStages, UnreadableStagesOrResultsFailTheJob) {
  QueuedJob job = pipeline_job();
  EXPECT_EQ(step_after_success(job, 1, "not json").kind, StageStep::Kind::kBroken);
  job.stage = 7;
  EXPECT_EQ(step_after_success(job, 1, "{}").kind, StageStep::Kind::kBroken);
  job.stage = 0;
  job.stages_json = "[oops";
  const auto step = step_after_success(job, 1, "{}");
  EXPECT_EQ(step.kind, StageStep::Kind::kBroken);
  EXPECT_FALSE(step.error.empty());
}

}  // namespace
}  // namespace gpufleet::broker
