#include "models/xtts/torch/decode_graph.hpp"

#include <torch/torch.h>

#include "common/error.hpp"

// GPUFLEET_TORCH_CUDA comes from CMake where the LibTorch was built with CUDA (cmake/Dependencies.cmake).
#ifdef GPUFLEET_TORCH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace gpufleet::xtts {

#ifdef GPUFLEET_TORCH_CUDA

struct DecodeGraph::Captured {
  at::cuda::CUDAGraph graph;
  torch::Tensor codes;   // the graph's input, [slots]
  torch::Tensor logits;  // its outputs, [slots, V] and [slots, d]
  torch::Tensor latents;
  const void* keys = nullptr;  // the first layer's key buffer it was captured for
  int64_t slots = 0;
  int64_t capacity = 0;
};

bool DecodeGraph::available() {
  return true;
}

DecodeGraph::DecodeGraph(const XttsGpt& gpt) : gpt_(gpt) {}

void DecodeGraph::capture(SlotCache& cache) {
  captured_.reset();  // frees the old graph's memory pool before the new one takes its own
  auto captured = std::make_unique<Captured>();
  const auto device = cache.lengths.device();
  if (!device.is_cuda())
    throw ModelError(ErrorCode::kModelError, "CUDA graphs need the slots on a CUDA device");
  captured->codes = torch::zeros({cache.slots()}, torch::TensorOptions().dtype(torch::kLong).device(device));
  captured->keys = cache.keys.front().data_ptr();
  captured->slots = cache.slots();
  captured->capacity = cache.capacity();

  // Warm-up and capture run on a side stream (capture is not allowed on the default one), with no slot active
  // so that nothing advances: the warm-up's writes land at each slot's next position, which the next real
  // step writes again.
  const auto saved_active = cache.active.clone();
  cache.active.zero_();
  const c10::cuda::CUDAGuard device_guard(device);
  auto main_stream = c10::cuda::getCurrentCUDAStream(device.index());
  auto side_stream = c10::cuda::getStreamFromPool(false, device.index());
  at::cuda::CUDAEvent ready;
  ready.record(main_stream);
  ready.block(side_stream);
  {
    const c10::cuda::CUDAStreamGuard stream_guard(side_stream);
    torch::Tensor latents;
    for (int warm = 0; warm < 2; ++warm) gpt_.decode_slots(captured->codes, cache, &latents);
    captured->graph.capture_begin();
    captured->logits = gpt_.decode_slots(captured->codes, cache, &captured->latents);
    captured->graph.capture_end();
  }
  at::cuda::CUDAEvent captured_event;
  captured_event.record(side_stream);
  captured_event.block(main_stream);
  cache.active.copy_(saved_active);
  captured_ = std::move(captured);
  ++captures_;
}

torch::Tensor DecodeGraph::step(const torch::Tensor& codes, SlotCache& cache, torch::Tensor& latents) {
  if (!captured_ || captured_->keys != cache.keys.front().data_ptr() || captured_->slots != cache.slots() ||
      captured_->capacity != cache.capacity()) {
    capture(cache);
  }
  captured_->codes.copy_(codes);
  captured_->graph.replay();
  latents = captured_->latents;
  return captured_->logits;
}

#else

struct DecodeGraph::Captured {};

bool DecodeGraph::available() {
  return false;
}

DecodeGraph::DecodeGraph(const XttsGpt& gpt) : gpt_(gpt) {
  throw ModelError(ErrorCode::kModelError, "this LibTorch was built without CUDA: no CUDA graphs");
}

void DecodeGraph::capture(SlotCache&) {}

torch::Tensor DecodeGraph::step(const torch::Tensor& codes, SlotCache& cache, torch::Tensor& latents) {
  return gpt_.decode_slots(codes, cache, &latents);
}

#endif

DecodeGraph::~DecodeGraph() = default;

}  // namespace gpufleet::xtts
