#include "broker/stages.hpp"

#include "common/pipeline.hpp"

namespace gpufleet::broker {

StageStep step_after_success(const QueuedJob& job, uint32_t attempt, std::string_view result_json) {
  StageStep step;
  if (job.stages_json.empty()) return step;
  const auto stages = parse_pipeline(job.stages_json);
  if (!stages || job.stage >= stages->size()) {
    step.kind = StageStep::Kind::kBroken;
    step.error = "the job's stages cannot be read";
    return step;
  }
  if (job.stage + 1 == stages->size()) return step;
  const PipelineStage& next = (*stages)[job.stage + 1];
  auto input = next_stage_input(next, result_json);
  if (!input) {
    step.kind = StageStep::Kind::kBroken;
    step.error = "stage " + std::to_string(job.stage) + " answered a result that is not a JSON object";
    return step;
  }
  step.kind = StageStep::Kind::kNext;
  step.next = job;
  step.next.kind = next.kind;
  step.next.model = next.model;
  step.next.input_json = std::move(*input);
  step.next.stage = job.stage + 1;
  step.next.stage_base = attempt;
  step.next.attempts = attempt;
  step.next.reference.clear();  // the next stage's own, found by the dispatcher from its input
  step.next.avoid_worker.clear();
  step.next.entry = 0;
  return step;
}

}  // namespace gpufleet::broker
