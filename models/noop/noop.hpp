#pragma once
#include "models/model.hpp"

namespace gpufleet::models {

// Returns at once with no output: lets the benchmark measure the fleet itself, not a model. An optional
// input "sleep_ms" makes it hold its slot that long, for failure drills. With `cloning` (registry option
// {"cloning": true}) it accepts a speaker_wav and answers that reference's audio: a drill of the reference
// plumbing (upload, validation, the worker's path resolution) for fleets without a cloning model.
// The failure drills ("hang_ms", "fail", "crash": the worker process exits) only with `drills` (the worker's
// NOOP_DRILLS=1): on a public fleet a client must not be able to make a worker hang or report errors at will.
class NoopModel final : public Model {
 public:
  // The input fields that are failure drills, refused unless `drills`.
  static constexpr const char* kDrills[] = {"hang_ms", "fail", "crash"};

  explicit NoopModel(bool cloning = false, bool drills = false);
  const models::ModelInfo& info() const override { return info_; }
  ModelOutput run(const ModelInput& input, JobContext& context) override;
  // Batches one job after another: lets the batching path be drilled without LibTorch.
  bool batches() const override { return true; }

 private:
  models::ModelInfo info_;
  bool drills_ = false;
};

}  // namespace gpufleet::models
