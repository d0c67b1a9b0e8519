#pragma once
// XTTS-v2's GPT conditioning: reference audio -> mel chunks -> conditioning encoder (attention blocks over
// the mel frames) -> perceiver resampler (a fixed number of learned latents attending to the frames) ->
// the mean over chunks is the speaker's conditioning latent the GPT is prefixed with.

#include <torch/types.h>

#include "models/xtts/config.hpp"
#include "models/xtts/torch/weights.hpp"

namespace gpufleet::xtts {

// [B, 80, T] mel -> [B, d, T]; `heads` is the config's gpt_n_heads.
torch::Tensor conditioning_encoder(const Weights& weights, const torch::Tensor& mel, int64_t heads);

// [B, T, d] -> [B, latents, d]
torch::Tensor perceiver_resampler(const Weights& weights, const torch::Tensor& context);

// Upstream's get_gpt_cond_latents: wav [1, samples] at 22.05 kHz -> [1, latents, d].
torch::Tensor gpt_conditioning_latents(const Weights& weights, const XttsConfig& config,
                                       const torch::Tensor& wav);

}  // namespace gpufleet::xtts
