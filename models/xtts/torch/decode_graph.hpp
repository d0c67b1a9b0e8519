#pragma once
// The fixed-shape GPT decode step (XttsGpt::decode_slots) captured as a CUDA graph and replayed: one launch
// per step for the whole batch instead of ~15 kernel launches per layer per step, the decode loop's cost on a
// GPU. A graph records the step for one SlotCache's buffers, so slots that grow (more slots, more capacity)
// are captured again at the next step. Only a LibTorch with CUDA has graphs (available()).

#include <torch/types.h>

#include <cstdint>
#include <memory>

#include "models/xtts/torch/gpt.hpp"

namespace gpufleet::xtts {

class DecodeGraph {
 public:
  // Whether this build's LibTorch can capture CUDA graphs (it was built with CUDA; a GPU is another matter).
  static bool available();

  // Throws ModelError where !available().
  explicit DecodeGraph(const XttsGpt& gpt);
  ~DecodeGraph();
  DecodeGraph(const DecodeGraph&) = delete;
  DecodeGraph& operator=(const DecodeGraph&) = delete;

  // decode_slots(codes, cache, &latents) by replaying the graph captured for `cache`'s buffers (captured
  // first when there is none or the buffers changed). The logits and latents returned are the graph's own
  // output buffers: the next step overwrites them, so a caller copies what it keeps longer.
  torch::Tensor step(const torch::Tensor& codes, SlotCache& cache, torch::Tensor& latents);

  // How many times a step was captured (a test and the bench read it).
  int64_t captures() const { return captures_; }

 private:
  struct Captured;
  void capture(SlotCache& cache);

  const XttsGpt& gpt_;
  std::unique_ptr<Captured> captured_;
  int64_t captures_ = 0;
};

}  // namespace gpufleet::xtts
