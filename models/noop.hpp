#pragma once
#include "models/model.hpp"

namespace gpufleet::models {

// Returns at once with no output: lets the benchmark measure the fleet itself, not a model. An optional
// input "sleep_ms" makes it hold its slot that long, for failure drills.
class NoopModel final : public Model {
 public:
  NoopModel();
  const protocol::ModelInfo& info() const override { return info_; }
  ModelOutput run(const ModelInput& input, JobContext& context) override;
  // Batches one job after another: lets the batching path be drilled without LibTorch.
  bool batches() const override { return true; }

 private:
  protocol::ModelInfo info_;
};

}  // namespace gpufleet::models
