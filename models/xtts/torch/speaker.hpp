#pragma once
// XTTS-v2's speaker embedding for the vocoder: the reference resampled to 16 kHz (torchaudio's windowed-sinc
// resampler), a pre-emphasised 64-band mel spectrogram, log and instance norm, an SE-ResNet whose depth and
// widths are read off the weights, attentive statistics pooling, a projection and L2 normalisation.

#include <torch/types.h>

#include "models/xtts/torch/weights.hpp"

namespace gpufleet::xtts {

// torchaudio.functional.resample with its defaults (sinc_interp_hann, lowpass_filter_width 6, rolloff 0.99).
// [B, samples] -> [B, ceil(samples * to / from)]
torch::Tensor resample(const torch::Tensor& wav, int64_t from_rate, int64_t to_rate);

// Intermediate stages, for checking against upstream.
struct SpeakerTrace {
  torch::Tensor audio_16k, torch_spec, log_mel_instnorm, layer4_out, asp_pooled, fc_out;
};

// wav [1, samples] at `rate` -> [1, d_vector, 1], L2-normalised.
torch::Tensor speaker_embedding(const Weights& weights, const torch::Tensor& wav, int64_t rate,
                                SpeakerTrace* trace = nullptr);

}  // namespace gpufleet::xtts
