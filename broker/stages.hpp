#pragma once
// What the broker does when a stage of a pipeline job (common/pipeline.hpp) succeeds: the job becomes its
// next stage, with that stage's kind, model and an input filled from the result. Pure logic, tested alone.

#include <string>
#include <string_view>

#include "broker/dispatcher.hpp"

namespace gpufleet::broker {

struct StageStep {
  enum class Kind {
    kLast,    // not a pipeline, or its last stage: the result is the job's
    kNext,    // `next` is the job as its next stage
    kBroken,  // the stages or the result cannot be read: the job fails with `error`
  } kind = Kind::kLast;
  QueuedJob next;
  std::string error;
};

// `job` ran its current stage to success at `attempt` and answered `result_json`.
StageStep step_after_success(const QueuedJob& job, uint32_t attempt, std::string_view result_json);

}  // namespace gpufleet::broker
